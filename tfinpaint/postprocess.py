"""Classical post-processing and baselines: OpenCV inpainting and GLCIC's Poisson blending.

`telea_poisson_blend` is the optional post-processing of Iizuka et al., "Globally and Locally
Consistent Image Completion" (SIGGRAPH 2017, section 3.4: "simple post-processing ... fast
marching method [Telea 2004] followed by Poisson image blending [Perez et al. 2003]"), done as
the authors' release does it (`inpaint.lua`, option `--postproc`). `classical_inpaint` gives the
classical fills that the evaluation reports beside the models (`CLASSICAL_METHODS`): OpenCV's
Telea and Navier-Stokes (`opencv_inpaint`), scikit-image's biharmonic inpainting
(`biharmonic_inpaint`), OpenCV-contrib's frequency-selective reconstruction (`fsr_inpaint`) and
a multi-scale harmonic fill (`harmonic_inpaint`, the numpy twin of
`tfinpaint.layers.HarmonicFill`).

Pure numpy + OpenCV on single HxWx3 images; every function returns an image of the input's size
and dtype whose known pixels are exactly the input's.
"""

import cv2
import numpy as np
from skimage import restoration

from tfinpaint import imageops

__all__ = [
    "CLASSICAL_METHODS",
    "biharmonic_inpaint",
    "classical_inpaint",
    "fsr_inpaint",
    "harmonic_inpaint",
    "opencv_inpaint",
    "telea_poisson_blend",
]

_METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
# The classical fills the evaluation can run, cheapest first (per 256 px image on one CPU core:
# Telea and NS a few ms, harmonic under 0.1 s, biharmonic a fraction of a second to a few seconds
# with the hole area, FSR about 3 s).
CLASSICAL_METHODS = ("telea", "ns", "harmonic", "biharmonic", "fsr")


def classical_inpaint(image, hole_mask, method):
    """Fills the holes with the classical method named `method` (one of CLASSICAL_METHODS).

    Args:
        image: array (H, W, 3), (H, W, 1) or (H, W); uint8, or float in [0, 1].
        hole_mask: array (H, W) or (H, W, 1); hole where >= 0.5 (1 = hole).
        method: str. "telea", "ns" (`opencv_inpaint`), "harmonic" (`harmonic_inpaint`),
            "biharmonic" (`biharmonic_inpaint`) or "fsr" (`fsr_inpaint`).

    Returns:
        Array of the shape and dtype of `image`: holes filled, known pixels unchanged.

    Example:
    >>> filled = classical_inpaint(image_uint8, hole_mask, "fsr")
    """
    if method in _METHODS:
        return opencv_inpaint(image, hole_mask, method=method)
    if method == "biharmonic":
        return biharmonic_inpaint(image, hole_mask)
    if method == "harmonic":
        return harmonic_inpaint(image, hole_mask)
    if method == "fsr":
        return fsr_inpaint(image, hole_mask)
    raise ValueError(
        f"Unknown classical method {method!r}; expected one of {', '.join(CLASSICAL_METHODS)}."
    )


def biharmonic_inpaint(image, hole_mask):
    """Fills the holes with scikit-image's biharmonic inpainting (Damelin and Hoang, 2018).

    Each hole is the solution of the biharmonic equation with the surrounding known pixels as
    boundary values (`skimage.restoration.inpaint_biharmonic`, each colour channel
    independently). Float images are filled in float (not quantised); uint8 ones through
    [0, 1] floats and rounded back.

    Args:
        image: array (H, W, 3), (H, W, 1) or (H, W); uint8, or float in [0, 1].
        hole_mask: array (H, W) or (H, W, 1); hole where >= 0.5 (1 = hole).

    Returns:
        Array of the shape and dtype of `image`: holes filled, known pixels unchanged.

    Raises:
        ValueError: every pixel is a hole (nothing to draw from).
    """
    image, holes = _image_and_holes(image, hole_mask, "biharmonic")
    if not holes.any():
        return image.copy()
    planes = image.reshape(image.shape[0], image.shape[1], -1)
    unit = planes.astype(np.float64) / 255.0 if image.dtype == np.uint8 else planes
    filled = restoration.inpaint_biharmonic(unit, holes, channel_axis=-1)
    if image.dtype == np.uint8:
        filled = imageops.from_unit_float(filled, np.uint8)
    filled = filled.reshape(image.shape).astype(image.dtype)
    return imageops.paste_holes(image, holes, filled)


def _pad_to_even(values):
    """Replicates the last row and column where H or W is odd."""
    return np.pad(values, [(0, values.shape[0] % 2), (0, values.shape[1] % 2), (0, 0)], "edge")


def harmonic_inpaint(image, hole_mask, levels=None, iterations=32):
    """Fills the holes with a multi-scale harmonic (membrane) fill.

    Laplace's equation inside the holes with the known pixels as boundary values (Chan and
    Shen's harmonic inpainting), solved coarse to fine: a pull-push pyramid of 2x2 weighted
    means gives each hole an estimate from its surroundings, then at every level `iterations`
    Jacobi sweeps (each hole pixel becomes the mean of its 4 neighbours, edges replicated)
    smooth it. The definition is `tfinpaint.layers.harmonic_fill`'s, step for step; here sizes
    need not divide by `2**levels` (an odd level is padded by one replicated row or column
    before averaging, and the upsampled level cropped back); float32, and the sweeps run over the
    holes' bounding box only. 0.04-0.08 s per 256 px image with 10-50 % free-form holes.

    Args:
        image: array (H, W, 3), (H, W, 1) or (H, W); uint8, or float in [0, 1].
        hole_mask: array (H, W) or (H, W, 1); hole where >= 0.5 (1 = hole).
        levels: int or None. Levels of 2x2 averaging; None: as many as keep the coarsest short
            side at 4 px or more (6 for 256 px).
        iterations: int. Jacobi sweeps per level.

    Returns:
        Array of the shape and dtype of `image`: holes filled, known pixels unchanged.

    Raises:
        ValueError: every pixel is a hole (nothing to draw from).
    """
    image, holes = _image_and_holes(image, hole_mask, "harmonic")
    if not holes.any():
        return image.copy()
    if levels is None:
        levels = max(0, int(np.floor(np.log2(min(holes.shape) / 4.0))))
    planes = image.reshape(image.shape[0], image.shape[1], -1)
    # float32: the layer's precision, and half the memory of float64 on large photos.
    values = planes.astype(np.float32) / 255.0 if image.dtype == np.uint8 else planes
    values = values.astype(np.float32)
    weights = (~holes).astype(np.float32)[..., None]
    pyramid = [(values * weights, weights)]
    for _ in range(levels):
        values, weights = (_pad_to_even(a) for a in pyramid[-1])
        height, width = values.shape[0] // 2, values.shape[1] // 2
        # (2h, 2w, C) -> (h, 2, w, 2, C) -> mean over each 2x2 cell.
        numerator = (values * weights).reshape(height, 2, width, 2, -1).mean(axis=(1, 3))
        weight = weights.reshape(height, 2, width, 2, -1).mean(axis=(1, 3))
        has_known = (weight > 0).astype(np.float32)
        ratio = np.divide(numerator, weight, out=np.zeros_like(numerator), where=weight > 0)
        pyramid.append((ratio, has_known))
    known, weights = pyramid[-1]
    global_mean = (known * weights).sum(axis=(0, 1)) / weights.sum()
    filled = known * weights + global_mean * (1.0 - weights)
    for level in range(levels, -1, -1):
        known, weights = pyramid[level]
        known = known * weights
        if level < levels:
            # OpenCV's bilinear x2 (half-pixel centres, edges clamped) is the layer's
            # `upsample_bilinear_2x`; it drops a single channel's axis, hence the reshape.
            height, width = 2 * filled.shape[0], 2 * filled.shape[1]
            upsampled = cv2.resize(filled, (width, height), interpolation=cv2.INTER_LINEAR)
            upsampled = upsampled.reshape(height, width, -1)[: known.shape[0], : known.shape[1]]
            filled = known + upsampled * (1.0 - weights)
        _jacobi_sweeps(filled, known, weights, iterations)
    if image.dtype == np.uint8:
        filled = imageops.from_unit_float(filled, np.uint8)
    filled = filled.reshape(image.shape).astype(image.dtype)
    return imageops.paste_holes(image, holes, filled)


def _jacobi_sweeps(filled, known, weights, iterations):
    """`iterations` Jacobi sweeps of Laplace's equation on the holes of `filled`, in place.

    Only the holes' bounding box and a 1 px ring around it are computed: a sweep changes hole
    pixels only, and each reads its 4 neighbours, so the result is the whole image's (the ring
    is known; where it would leave the image, the image's replicated edge is the box's).
    """
    rows, cols = np.nonzero(weights[..., 0] == 0)
    if rows.size == 0:
        return
    top, left = max(rows.min() - 1, 0), max(cols.min() - 1, 0)
    bottom, right = min(rows.max() + 2, filled.shape[0]), min(cols.max() + 2, filled.shape[1])
    box = (slice(top, bottom), slice(left, right))
    part, part_known, part_weights = filled[box], known[box], weights[box]
    for _ in range(iterations):
        padded = np.pad(part, [(1, 1), (1, 1), (0, 0)], "edge")
        neighbours = 0.25 * (
            padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
        )
        part = part_known + neighbours * (1.0 - part_weights)
    filled[box] = part


def fsr_inpaint(image, hole_mask, quality="fast"):
    """Fills the holes with OpenCV-contrib's frequency-selective reconstruction (FSR).

    `cv2.xphoto.inpaint(..., INPAINT_FSR_FAST)` (Seiler et al., "Resampling Images to a Regular
    Grid From a Non-Regular Subset of Pixel Positions Using Frequency Selective Reconstruction",
    IEEE TIP 2015): each block is modelled as a sparse sum of Fourier basis functions fitted to
    its known pixels. Two traps that this
    function hides: xphoto's mask marks the *valid* pixels (non-zero = known, the opposite of
    `cv2.inpaint`'s), and it takes 8-bit images, BGR for colour. Float images are therefore
    filled as uint8 (hole pixels quantised to 1/255; known pixels keep their float values), and
    FSR's output, which moves known pixels by up to 1/255, is pasted into the input's holes only.
    About 3 s per 256 px image on one CPU core ("fast"; "best" is much slower).

    Args:
        image: array (H, W, 3), (H, W, 1) or (H, W); uint8, or float in [0, 1].
        hole_mask: array (H, W) or (H, W, 1); hole where >= 0.5 (1 = hole).
        quality: str. "fast" (`INPAINT_FSR_FAST`) or "best" (`INPAINT_FSR_BEST`).

    Returns:
        Array of the shape and dtype of `image`: holes filled, known pixels unchanged.

    Raises:
        ValueError: an unknown `quality`, an image that is not 1- or 3-channel, or every pixel a
            hole.
    """
    flags = {"fast": cv2.xphoto.INPAINT_FSR_FAST, "best": cv2.xphoto.INPAINT_FSR_BEST}
    if quality not in flags:
        raise ValueError(f"Received quality={quality!r}, expected one of {sorted(flags)}.")
    image, holes = _image_and_holes(image, hole_mask, "FSR")
    if not holes.any():
        return image.copy()
    planes = image.reshape(image.shape[0], image.shape[1], -1)
    if planes.shape[-1] not in (1, 3):
        raise ValueError(
            f"Received an image of shape {image.shape}, expected (H, W, 3), (H, W, 1) or (H, W)."
        )
    source = _to_uint8(planes)
    source = np.ascontiguousarray(source[..., ::-1] if source.shape[-1] == 3 else source[..., 0])
    valid_mask = (~holes).astype(np.uint8)  # xphoto: non-zero = known pixel.
    filled = np.zeros_like(source)
    cv2.xphoto.inpaint(source, valid_mask, filled, flags[quality])
    filled = filled[..., ::-1] if filled.ndim == 3 else filled
    if image.dtype != np.uint8:
        filled = filled.astype(np.float32) / 255.0
    filled = filled.reshape(image.shape).astype(image.dtype)
    return imageops.paste_holes(image, holes, filled)


def _image_and_holes(image, hole_mask, name):
    """`image` as an array and its (H, W) bool holes; a ValueError in one sentence if every
    pixel is a hole (method `name` needs known pixels to draw from)."""
    image = np.asarray(image)
    holes = imageops.binary_holes(hole_mask, image.shape)
    if holes.all():
        raise ValueError(
            f"Every pixel is a hole: {name} inpainting needs known pixels to draw from."
        )
    return image, holes


def opencv_inpaint(image, hole_mask, method="telea", radius=3):
    """Fills the holes with OpenCV's classical inpainting (a baseline without learning).

    Telea's fast marching method (`cv2.INPAINT_TELEA`, Telea 2004) or the Navier-Stokes based
    method (`cv2.INPAINT_NS`, Bertalmio et al. 2001). uint8 images are inpainted as they are;
    float images channel by channel in float32 on a 0-255 scale (OpenCV takes float only
    single-channel), so they are not quantised.

    Args:
        image: array (H, W, 3), (H, W, 1) or (H, W); uint8, or float in [0, 1].
        hole_mask: array (H, W) or (H, W, 1); bool or numbers, hole where >= 0.5 (so 0/1 and
            0/255 masks both work).
        method: str. "telea" or "ns".
        radius: int. Neighbourhood radius in pixels that each filled pixel draws from.

    Returns:
        Array of the shape and dtype of `image`: holes filled, known pixels unchanged.

    Example:
    >>> filled = opencv_inpaint(image_uint8, hole_mask, method="ns")
    """
    if method not in _METHODS:
        raise ValueError(f"Received method={method!r}, expected one of {sorted(_METHODS)}.")
    image = np.asarray(image)
    holes = imageops.binary_holes(hole_mask, image.shape)
    if not holes.any():
        return image.copy()
    mask_u8 = holes.astype(np.uint8) * 255
    flag = _METHODS[method]
    if image.dtype == np.uint8:
        filled = cv2.inpaint(np.ascontiguousarray(image), mask_u8, radius, flag)
        filled = filled.reshape(image.shape)
    else:
        # OpenCV's float Telea misbehaves on [0, 1] data (it returns values far outside the
        # image's range: its numeric constants assume 8-bit magnitudes), so work on a 0-255 scale.
        planes = image.reshape(image.shape[0], image.shape[1], -1).astype(np.float32) * 255.0
        filled = np.stack(
            [
                cv2.inpaint(np.ascontiguousarray(planes[..., c]), mask_u8, radius, flag)
                for c in range(planes.shape[-1])
            ],
            axis=-1,
        )
        filled = (filled / 255.0).reshape(image.shape).astype(image.dtype)
    return imageops.paste_holes(image, holes, filled)


def telea_poisson_blend(image, hole_mask, telea_radius=1):
    """GLCIC post-processing: Poisson-blends the network's completion into a Telea fill.

    Follows the authors' release (`inpaint.lua`, `--postproc`): with `out` the network's
    composited output, `dst = cv.inpaint(out, mask, inpaintRadius=1, INPAINT_TELEA)` and the
    result is `cv.seamlessClone(src=out, dst=dst, mask, p, NORMAL_CLONE)` with `p` the centre of
    the holes' bounding box, so the clone lands where it came from. Why the Telea fill is the
    destination: `seamlessClone` erodes the mask (by 3 px) and solves the Poisson equation over
    the mask's bounding box with the source's gradients inside the eroded mask and the
    destination's gradients elsewhere. Near the hole boundary the guidance therefore comes from
    the Telea fill, which continues the surrounding colours smoothly, and deeper inside from the
    network's content, whose colours are shifted to match; known pixels act as the boundary.
    One call covers all holes, like the release.

    Differences from the release, for robustness: `p` is computed from the bounding box the
    way OpenCV reads it (no off-by-one shift; checked: any other centre blends worse); the images
    are padded by 2 px of reflection (the mask by zeros) before cloning, because `seamlessClone`
    clears the mask's outermost pixel ring and needs the mask's bounding box inside the image,
    so a hole touching the border would be cloned only in part, with no Poisson boundary on
    that side; and the known pixels of the input are pasted back at the end, so they are
    exactly unchanged. Float images are
    processed as uint8 (OpenCV's cloning is 8-bit only), so hole pixels are quantised to 1/255;
    known pixels keep their float values.

    Args:
        image: array (H, W, 3) (or (H, W), (H, W, 1) grayscale), uint8 or float in [0, 1]: the
            inpainted image (the network's output composited over the known pixels).
        hole_mask: array (H, W) or (H, W, 1); bool or numbers, hole where >= 0.5.
        telea_radius: int. Radius of the Telea fill (1 in the release).

    Returns:
        Array of the shape and dtype of `image`: blended holes, known pixels unchanged.

    Example:
    >>> out = telea_poisson_blend(inpainted_uint8, hole_mask)
    """
    image = np.asarray(image)
    holes = imageops.binary_holes(hole_mask, image.shape)
    if not holes.any():
        return image.copy()
    if image.ndim == 2 or image.shape[-1] == 1:
        rgb = np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=-1)
    elif image.ndim == 3 and image.shape[-1] == 3:
        rgb = image
    else:
        raise ValueError(
            f"Received an image of shape {image.shape}, expected (H, W, 3), (H, W, 1) or (H, W)."
        )
    src = _to_uint8(rgb)
    mask_u8 = holes.astype(np.uint8) * 255
    dst = cv2.inpaint(src, mask_u8, telea_radius, cv2.INPAINT_TELEA)

    # Two pixels of padding: seamlessClone zeroes the mask's outer ring, and the Poisson
    # problem needs a Dirichlet boundary (taken from `dst`) all around the hole.
    pad = 2
    src_p = cv2.copyMakeBorder(src, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    dst_p = cv2.copyMakeBorder(dst, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    mask_p = cv2.copyMakeBorder(mask_u8, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    x, y, w, h = cv2.boundingRect(mask_p)
    # OpenCV places the mask's bounding box at (p.x - w // 2, p.y - h // 2): keep it in place.
    centre = (x + w // 2, y + h // 2)
    blended = cv2.seamlessClone(src_p, dst_p, mask_p, centre, cv2.NORMAL_CLONE)
    blended = blended[pad:-pad, pad:-pad]

    if image.dtype == np.uint8:
        result = blended
    else:
        result = (blended.astype(np.float32) / 255.0).astype(image.dtype)
    result = result[..., :1] if rgb is not image else result
    return imageops.paste_holes(image, holes, result.reshape(image.shape))


def _to_uint8(image):
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(
            f"Received an image of dtype {image.dtype}, expected uint8 or float in [0, 1]."
        )
    return imageops.from_unit_float(image, np.uint8)
