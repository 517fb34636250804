"""Pixel reconstruction and total-variation losses (SPEC.md sections 1 to 5).

- Hole / valid L1: `hole_l1`, `valid_l1` (PConv, Liu et al. ECCV 2018, eq. 1-2), `weighted_l1`
  (DeepGIN's 5 : 1 and GAIN's L1 terms).
- Hole-normalised: `hole_normalised_l1` / `hole_normalised_mse` (cascade generator),
  `hole_psnr_loss` (ours: minus the mean per-image hole PSNR),
  `masked_mse` and `glcic_completion_mse` (GLCIC, Iizuka et al. 2017, eq. 1).
- Hole masks at other resolutions: `resize_hole_mask` (area), `dilate_hole_mask` (3x3).
- Total variation: `tv_loss_dilated_hole` (PConv eq. 7), `tv_loss_squared` (DeepGIN's reference
  code, not its paper's eq. 6).

Conventions: `hole_mask` (B, H, W, 1), 1 = hole; every input is cast to float32 first, so the
losses return float32 scalars under mixed precision too.
"""

from keras import ops

from tfinpaint.losses._checks import check_hole_mask, check_rank4, check_same_shape, f32


# === Reconstruction ===
def hole_l1(y_true, y_pred, hole_mask):
    """L1 over the hole pixels, normalised by the element count of the whole image.

    PConv (Liu et al., ECCV 2018, eq. 1): `L_hole = ||M_h * (I_out - I_gt)||_1 / N_{I_gt}`, with
    `N` = B * H * W * C (every element, not just the hole's), i.e.
    `mean(|hole_mask * (y_pred - y_true)|)`. DeepGIN's L1 terms use the same normalisation.

    Args:
        y_true: (B, H, W, C) tensor. Ground truth.
        y_pred: (B, H, W, C) tensor. Prediction.
        hole_mask: (B, H, W, 1) tensor, 1 = hole; broadcast over channels.

    Returns:
        float32 scalar.
    """
    return _masked_l1_mean(y_true, y_pred, hole_mask, "hole_l1")


def valid_l1(y_true, y_pred, hole_mask):
    """L1 over the known pixels, normalised by the element count of the whole image.

    PConv (Liu et al., ECCV 2018, eq. 2): `L_valid = ||(1 - M_h) * (I_out - I_gt)||_1 / N_{I_gt}`
    = `mean(|(1 - hole_mask) * (y_pred - y_true)|)` over all B * H * W * C elements.

    Args:
        y_true: (B, H, W, C) tensor. Ground truth.
        y_pred: (B, H, W, C) tensor. Prediction.
        hole_mask: (B, H, W, 1) tensor, 1 = hole; the loss weights `valid_mask = 1 - hole_mask`.

    Returns:
        float32 scalar.
    """
    check_hole_mask(hole_mask, "valid_l1")
    return _masked_l1_mean(y_true, y_pred, 1.0 - f32(hole_mask), "valid_l1")


def weighted_l1(prediction, target, hole_mask, hole_weight=5.0, valid_weight=1.0):
    """Hole- and valid-weighted L1: `hole_weight * mean(m |p - t|) + valid_weight *
    mean((1 - m) |p - t|)`, i.e. `hole_weight * hole_l1 + valid_weight * valid_l1`.

    DeepGIN's L1 terms (5 : 1, the defaults) and GAIN's with its `hole_weight` option (1 : 1 is
    the plain mean |p - t|). Means over all B * H * W * C elements (not normalised by the hole
    area); `hole_mask` (B, H, W, 1), 1 = hole, may be soft (DeepGIN's x4-downsampled mask of
    its `lr` term). Computed in float32.
    """
    difference = ops.abs(ops.cast(prediction, "float32") - ops.cast(target, "float32"))
    hole_mask = ops.cast(hole_mask, "float32")
    return hole_weight * ops.mean(hole_mask * difference) + valid_weight * ops.mean(
        (1.0 - hole_mask) * difference
    )


def _masked_l1_mean(y_true, y_pred, weight_mask, where):
    check_rank4(y_true, "y_true", where)
    check_same_shape(y_true, y_pred, where)
    check_hole_mask(weight_mask, where)
    diff = f32(y_pred) - f32(y_true)
    return ops.mean(ops.abs(f32(weight_mask) * diff))


def hole_normalised_mean(elementwise, y_true, y_pred, hole_mask, where, per_image=False):
    """`sum(hole * elementwise(y_pred - y_true)) / (C * sum(hole))` pooled over the batch (or,
    with `per_image`, a (B,) vector of each image's), 0 when there is no hole; `where` names the
    caller in errors. The core of `hole_normalised_l1`, `hole_normalised_mse`, `masked_mse`,
    `hole_psnr_loss` and `hole_feature_loss`."""
    check_rank4(y_true, "y_true", where)
    check_same_shape(y_true, y_pred, where)
    check_hole_mask(hole_mask, where)
    hole_mask = f32(hole_mask)
    channels = ops.cast(ops.shape(y_true)[-1], "float32")
    axis = (1, 2, 3) if per_image else None
    total = ops.sum(hole_mask * elementwise(f32(y_pred) - f32(y_true)), axis=axis)
    num_hole_elements = ops.sum(hole_mask, axis=axis) * channels
    # Without a hole the numerator is 0 too: divide by 1 there (not 0, which gives NaN values
    # and gradients). A plain clamp max(n, 1) would be wrong for soft masks with n < 1.
    safe_count = ops.where(num_hole_elements > 0, num_hole_elements, 1.0)
    return total / safe_count


def hole_normalised_l1(y_true, y_pred, hole_mask):
    """Mean absolute error over the hole elements of the batch (cascade generator).

    Shatokhin's `l_rec * ||M * (X_rec - X)||_1`, "normalised by the hole area so the mask size does
    not scale the loss". Our definition, pooled over the batch:

        sum_{b,h,w,c} hole[b,h,w] * |y_pred - y_true|  /  (C * sum_{b,h,w} hole[b,h,w])

    i.e. the mean of |y_pred - y_true| over the batch's hole elements. A soft (non-binary) mask
    weights elements by its value (numerator and denominator alike). With no hole at all the
    loss is 0 (not 0 / 0).

    Args:
        y_true: (B, H, W, C) tensor. Ground truth.
        y_pred: (B, H, W, C) tensor. Prediction.
        hole_mask: (B, H, W, 1) tensor, 1 = hole.

    Returns:
        float32 scalar.
    """
    return hole_normalised_mean(ops.abs, y_true, y_pred, hole_mask, "hole_normalised_l1")


def hole_normalised_mse(y_true, y_pred, hole_mask):
    """Mean squared error over the hole elements of the batch.

    `sum(hole * (y_pred - y_true)^2) / (C * sum(hole))`, pooled over the batch as in
    `hole_normalised_l1`; 0 when there is no hole.

    Args:
        y_true: (B, H, W, C) tensor. Ground truth.
        y_pred: (B, H, W, C) tensor. Prediction.
        hole_mask: (B, H, W, 1) tensor, 1 = hole.

    Returns:
        float32 scalar.
    """
    return hole_normalised_mean(ops.square, y_true, y_pred, hole_mask, "hole_normalised_mse")


def hole_psnr_loss(y_true, y_pred, hole_mask, floor=1e-6):
    """Minus the mean over the batch of each image's hole PSNR in dB (ours, not a paper's).

    `mean_b 10 log10(MSE_b + floor)`, MSE_b over image b's hole elements
    (`hole_normalised_mean(..., per_image=True)`). L1 and MSE terms pooled over a batch weigh
    each image by its error, so smooth images, whose errors are small, barely steer training,
    while an evaluation's mean PSNR weighs every image alike and punishes small errors on them
    in decibels; this term weighs them as the evaluation does. `floor` caps a perfect fill at
    60 dB; an image without a hole contributes the floor.

    Args:
        y_true: (B, H, W, C) tensor. Ground truth.
        y_pred: (B, H, W, C) tensor. Prediction.
        hole_mask: (B, H, W, 1) tensor, 1 = hole.
        floor: float. Added to each MSE before the logarithm.

    Returns:
        float32 scalar.
    """
    mse = hole_normalised_mean(
        ops.square, y_true, y_pred, hole_mask, "hole_psnr_loss", per_image=True
    )
    return ops.mean(10.0 * ops.log(mse + floor) / ops.log(10.0))


def masked_mse(y_true, y_pred, hole_mask, region="hole"):
    """GLCIC reconstruction loss: weighted MSE (Iizuka et al., SIGGRAPH 2017, eq. 1).

    `L(x, M_c) = ||M_c * (C(x, M_c) - x)||^2`. With `region="hole"` (the paper) it is the mean
    squared error over the hole elements of the batch, as `hole_normalised_mse` (0 without a
    hole); `region="image"` (seed 001's variant) is the plain mean over every element.

    Args:
        y_true: (B, H, W, C) tensor. Ground truth.
        y_pred: (B, H, W, C) tensor. Completion network output.
        hole_mask: (B, H, W, 1) tensor, 1 = hole.
        region: str. `"hole"` or `"image"`.

    Returns:
        float32 scalar.
    """
    if region == "hole":
        return hole_normalised_mean(ops.square, y_true, y_pred, hole_mask, "masked_mse")
    if region == "image":
        check_rank4(y_true, "y_true", "masked_mse")
        check_same_shape(y_true, y_pred, "masked_mse")
        return ops.mean(ops.square(f32(y_pred) - f32(y_true)))
    raise ValueError(f"masked_mse got region={region!r}; expected 'hole' or 'image'.")


def resize_hole_mask(hole_mask, size):
    """Resizes a hole mask to `size` = (h, w) by area averaging: each cell's hole fraction.

    Used to bring a (B, H, W, 1) mask to the resolution of a feature map; the result is a soft
    mask in [0, 1]. Needs a static `size` (Keras' resize does not take symbolic sizes).
    """
    hole_mask = f32(hole_mask)
    if tuple(hole_mask.shape[1:3]) == tuple(size):
        return hole_mask
    return ops.image.resize(hole_mask, tuple(size), interpolation="area")


def glcic_completion_mse(y_true, y_pred, hole_mask, region="hole", normalisation="all_elements"):
    """GLCIC's completion loss with a choice of normalisation (Iizuka et al. 2017, eq. 1).

    The paper writes a sum, `||M_c * (C(x, M_c) - x)||^2`; GLCIC-PyTorch takes
    `mse_loss(output * mask, x * mask)`, the mean of the masked squared error over **all**
    B*H*W*C elements (`normalisation="all_elements"`), which is the paper's sum divided by a
    constant. `normalisation="hole"` divides the same sum by the number of hole elements
    instead (`masked_mse(..., region="hole")`): with 96-128 px holes in 256 px images that is
    about 5x larger, so a given adversarial weight acts about 5x weaker against it.
    `region="image"` (seed 001's variant) is the plain mean over every element and takes only
    `normalisation="all_elements"`.

    Args:
        y_true: (B, H, W, C) tensor. Ground truth.
        y_pred: (B, H, W, C) tensor. Completion network output.
        hole_mask: (B, H, W, 1) tensor, 1 = hole.
        region: str. "hole" or "image".
        normalisation: str. "all_elements" (GLCIC-PyTorch) or "hole".

    Returns:
        float32 scalar.
    """
    if normalisation not in ("all_elements", "hole"):
        raise ValueError(
            f"glcic_completion_mse got normalisation={normalisation!r}; expected "
            "'all_elements' or 'hole'."
        )
    if region == "image" and normalisation == "hole":
        raise ValueError(
            "glcic_completion_mse got region='image' with normalisation='hole'; the whole-image "
            "MSE is a mean over all elements: use normalisation='all_elements'."
        )
    if region == "hole" and normalisation == "all_elements":
        check_rank4(y_true, "y_true", "glcic_completion_mse")
        check_same_shape(y_true, y_pred, "glcic_completion_mse")
        check_hole_mask(hole_mask, "glcic_completion_mse")
        # (B, H, W, 1) * (B, H, W, C): the mean runs over all B*H*W*C elements.
        return ops.mean(ops.square(f32(hole_mask) * (f32(y_pred) - f32(y_true))))
    return masked_mse(y_true, y_pred, hole_mask, region=region)


# === Total variation ===
def dilate_hole_mask(hole_mask):
    """Dilates the hole by one pixel in all 8 directions (3x3 square structuring element)."""
    return ops.max_pool(f32(hole_mask), pool_size=3, strides=1, padding="same")


def tv_loss_dilated_hole(image, hole_mask):
    """PConv total-variation loss over the 1-pixel dilation P of the hole region.

    Liu et al. 2018, eq. 7:

        L_tv = sum_{(i,j) in P, (i,j+1) in P} |I(i,j+1) - I(i,j)|_1 / N
             + sum_{(i,j) in P, (i+1,j) in P} |I(i+1,j) - I(i,j)|_1 / N

    with P = the hole dilated by one pixel (3x3 square: every pixel with a hole pixel among its 8
    neighbours or itself) and N = B * H * W * C, the element count of the image. A horizontal
    (vertical) pair counts when *both* of its pixels lie in P, as in the paper's equation; pairs
    that would leave the image do not exist. Differences are summed over channels.

    Args:
        image: (B, H, W, C) tensor, I_comp in PConv.
        hole_mask: (B, H, W, 1) tensor, 1 = hole.

    Returns:
        float32 scalar.
    """
    check_rank4(image, "image", "tv_loss_dilated_hole")
    check_hole_mask(hole_mask, "tv_loss_dilated_hole")
    image = f32(image)
    region = dilate_hole_mask(hole_mask)
    pairs_x = region[:, :, 1:, :] * region[:, :, :-1, :]  # both of (i, j), (i, j+1) in P
    pairs_y = region[:, 1:, :, :] * region[:, :-1, :, :]  # both of (i, j), (i+1, j) in P
    diff_x = ops.abs(image[:, :, 1:, :] - image[:, :, :-1, :])
    diff_y = ops.abs(image[:, 1:, :, :] - image[:, :-1, :, :])
    count = ops.cast(ops.size(image), "float32")
    return (ops.sum(pairs_x * diff_x) + ops.sum(pairs_y * diff_y)) / count


def tv_loss_squared(image):
    """DeepGIN total variation: mean squared differences of adjacent pixels.

    `mean((I[:, :, j+1] - I[:, :, j])^2) + mean((I[:, i+1, :] - I[:, i, :])^2)`, each mean over its
    own difference array (B * H * (W-1) * C and B * (H-1) * W * C elements).

    This is the authors' reference code (`TVLoss`), not the paper's eq. 6. Eq. 6 takes the L1
    norm of each adjacent-pixel difference of I_compltd (summed over channels) and divides by
    the pixel count without the last row / column; the code *squares* the differences, averages
    over every element (channels included) and doubles the sum. The factor 2 is the DeepGIN
    trainer's (`2 * tv_loss_squared(inpainted)`), not this function's.

    Args:
        image: (B, H, W, C) tensor, DeepGIN's `inpainted`.

    Returns:
        float32 scalar.
    """
    check_rank4(image, "image", "tv_loss_squared")
    image = f32(image)
    diff_x = image[:, :, 1:, :] - image[:, :, :-1, :]
    diff_y = image[:, 1:, :, :] - image[:, :-1, :, :]
    return ops.mean(ops.square(diff_x)) + ops.mean(ops.square(diff_y))
