"""What inpainting and training need in memory, and the checks that refuse, before any work,
what cannot fit.

`estimate_inpaint_bytes` adds a generator's weights, the image's float32 working copies and
the network's activations (`activation_bytes`: a measured bound per pixel, or the generator's
own traced graph) for the largest input an `inference.inpaint` strategy feeds it;
`check_inpaint_memory` (tools/inpaint.py) and `check_batch_memory` (tools/evaluate.py and
tools/train.py) compare that with `available_memory_bytes()` and refuse in one sentence that
names what fits, instead of std::bad_alloc or a killed process mid-run.

Example:
```python
from tfinpaint import inference
inference.check_inpaint_memory(generator, [(4000, 6000)], "tile", 512)
```
"""

import tensorflow as tf

from tfinpaint.models.ensemble import SelfEnsemble

__all__ = [
    "ACTIVATION_BYTES_PER_PIXEL",
    "TRAINING_MEMORY_FACTOR",
    "activation_bytes",
    "available_memory_bytes",
    "check_batch_memory",
    "check_inpaint_memory",
    "estimate_inpaint_bytes",
]

# Peak bytes of network activations per pixel the network sees, per view, in eager float32
# inference, for networks whose graph cannot be traced (and for training before a generator
# exists): the largest measured among the paper presets (WORKSPACE.md, inference tables:
# PConv 4.1 KiB, DeepGIN 4.7 KiB, GAIN 2.7 KiB per pixel between 256 and 1024 px), rounded up.
ACTIVATION_BYTES_PER_PIXEL = 5 * 1024
# A training step: forward activations kept for the backward pass, plus their gradients.
TRAINING_MEMORY_FACTOR = 2
# float32 working copies of the whole image that inference holds besides the network: the
# pixels, the raw output, the tile sums and weights, the blended result (~12 floats / pixel).
_IMAGE_BYTES_PER_PIXEL = 48
# The side of the probe `activation_bytes` traces a generator at (rounded up to its size
# multiple), and the factor from the graph walk's live-tensor peak to the peak RSS measured in
# eager inference (what the walk does not see: Keras holding layer outputs longer, kernel
# scratch space, the allocator). Measured at 1024 px, one view, on 2026-12-06 (the session's
# /tmp/mem_probe.py: RSS high-water mark over a warmed-up process): pconv_small_photos
# 1229 B/px against a walk of 283, deepgin_narrow_photos 1293 against 530, glcic_narrow_photos
# 2842 against 253; 4 covers the first two and halves GLCIC's shortfall, so the traced
# estimate refuses what certainly cannot fit rather than all that might not.
_PROBE_SIDE = 128
_ACTIVATION_MARGIN = 4.0
# Ops whose outputs are weights, constants or inputs, counted elsewhere or not at all.
_NOT_ACTIVATIONS = frozenset(
    ("Const", "Placeholder", "VarHandleOp", "ReadVariableOp", "NoOp", "Identity", "Shape")
)
_TRACED_BYTES_PER_PIXEL = {}


def _network_side(side, multiple):
    return -(-side // multiple) * multiple


def _graph_peak_bytes(generator, side):
    """The peak bytes of live tensors when `generator`'s graph runs one side x side view.

    Walks the traced graph's ops in order (a topological order), adding each op's outputs when
    it runs and dropping each tensor after its last reader: the liveness peak of sequential
    execution. Weights and constants are not counted.
    """
    spec = {
        "images": tf.TensorSpec((1, side, side, 3), tf.float32),
        "masks": tf.TensorSpec((1, side, side, 1), tf.float32),
    }
    graph = (
        tf.function(lambda batch: generator(batch, training=False))
        .get_concrete_function(spec)
        .graph
    )
    operations = graph.get_operations()
    last_reader = {}
    for index, operation in enumerate(operations):
        for tensor in operation.inputs:
            last_reader[tensor.name] = index
    live, peak, sizes = 0, 0, {}
    for index, operation in enumerate(operations):
        if operation.type not in _NOT_ACTIVATIONS:
            for tensor in operation.outputs:
                shape = tensor.shape
                if tensor.dtype.is_floating and shape.is_fully_defined():
                    sizes[tensor.name] = shape.num_elements() * tensor.dtype.size
                    live += sizes[tensor.name]
        peak = max(peak, live)
        for tensor in list(operation.inputs) + list(operation.outputs):
            if last_reader.get(tensor.name, index) <= index and tensor.name in sizes:
                live -= sizes.pop(tensor.name)
    return peak


def activation_bytes(generator, network_pixels, traced=False):
    """Estimated peak bytes of one view's activations for an input of `network_pixels`.

    By default the bound `ACTIVATION_BYTES_PER_PIXEL * N`, which costs nothing. With
    `traced=True`, from the generator's own graph: its live-tensor peak per pixel at one
    probe size, times a margin, cached per generator. Tracing takes seconds (tens for GAIN),
    so the checks only trace when the bound says an image might not fit: a narrow network
    needs several times less than the bound (pconv_small_photos: 1080p by pad fits in about
    8 GB, five times less than the bound says).
    """
    if not traced:
        return ACTIVATION_BYTES_PER_PIXEL * network_pixels
    network = getattr(generator, "generator", generator)  # A SelfEnsemble's single network.
    key = id(network)
    if key not in _TRACED_BYTES_PER_PIXEL:
        try:
            multiple = int(getattr(network, "size_multiple", 1) or 1)
            side = _network_side(_PROBE_SIDE, multiple)
            per_pixel = _graph_peak_bytes(network, side) / (side * side) * _ACTIVATION_MARGIN
        except Exception:  # noqa: BLE001 (an untraceable network: the measured bound)
            per_pixel = ACTIVATION_BYTES_PER_PIXEL
        _TRACED_BYTES_PER_PIXEL[key] = per_pixel
    return _TRACED_BYTES_PER_PIXEL[key] * network_pixels


def _ensemble_views(generator, height, width):
    """Views a network call runs at once (`SelfEnsemble.views_per_call` of one image)."""
    if not isinstance(generator, SelfEnsemble):
        return 1
    return SelfEnsemble.views_per_call(1, height, width)


def estimate_inpaint_bytes(
    generator, image_size, strategy="pad", max_size=None, views=None, traced=False
):
    """A conservative estimate of the peak memory `inpaint` needs for one image, in bytes.

    The sum of the generator's weights (4 bytes per parameter), the whole image's float32
    working copies, and the network's activations (`activation_bytes`: a bound, or with
    `traced=True` from the generator's own graph) for the largest input the chosen strategy
    feeds the network (pad: the whole image padded to the size multiple; tile: one tile of at
    most `max_size`; resize and polyphase: at most `max_size` per side), times the views run
    in one batch (5 for a self-ensemble).

    Args:
        generator: keras.Model with `size_multiple` (a `SelfEnsemble` counts its views).
        image_size: (height, width).
        strategy: "pad", "tile", "resize" or "polyphase".
        max_size: int or None (for tile, resize and polyphase).
        views: int or None. Views per network call (default: a `SelfEnsemble` batches 5 views
            of a square image, 3 of another; a single network 1).
        traced: bool. Trace the generator's graph for its activations (`activation_bytes`).
    """
    height, width = (int(v) for v in image_size)
    multiple = int(getattr(generator, "size_multiple", 1) or 1)
    if views is None:
        views = _ensemble_views(generator, height, width)
    if strategy == "pad" or max_size is None or max(height, width) <= max_size:
        network_pixels = _network_side(height, multiple) * _network_side(width, multiple)
    else:
        side = _network_side(int(max_size), multiple)
        network_pixels = side * side
    weights = 4 * int(generator.count_params()) if generator.built else 0
    return int(
        weights
        + _IMAGE_BYTES_PER_PIXEL * height * width
        + activation_bytes(generator, network_pixels, traced) * views
    )


def available_memory_bytes():
    """Memory the system can give this process now (psutil's `available`, else MemAvailable
    of /proc/meminfo), or None when unknown.

    None too when TensorFlow sees a GPU: the network then runs in the GPU's memory, which this
    does not measure (TensorFlow reports its own out-of-memory errors there), so the memory
    checks step aside.
    """
    try:
        if tf.config.list_physical_devices("GPU"):
            return None
    except Exception:  # noqa: BLE001 (no device list: treat as CPU only)
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 (psutil missing or failing: try /proc)
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_inpaint_memory(
    generator, sizes, strategy="pad", max_size=None, available=None, views=None
):
    """Refuses, before any work, an inpainting run whose estimate exceeds the memory available.

    Args:
        generator: the loaded generator (or its `SelfEnsemble`).
        sizes: iterable of (height, width), e.g. `check_jobs(...)["sizes"]`.
        strategy, max_size: as for `inpaint`.
        available: int bytes, or None for `available_memory_bytes()` (nothing is checked when
            that is unknown).
        views: as for `estimate_inpaint_bytes`.

    Raises:
        ValueError: one sentence naming the image size, the estimate, the memory available and
            a strategy that fits (`--strategy=tile --max_size=N`), or saying none does.
    """
    sizes = [tuple(size) for size in sizes]
    if not sizes:
        return
    available = available_memory_bytes() if available is None else int(available)
    if available is None:
        return
    largest = max(sizes, key=lambda size: size[0] * size[1])

    def need(strategy, max_size):  # The free bound first; the traced graph only past it.
        bound = estimate_inpaint_bytes(generator, largest, strategy, max_size, views)
        if bound <= available:
            return bound
        return estimate_inpaint_bytes(generator, largest, strategy, max_size, views, traced=True)

    needed = need(strategy, max_size)
    if needed <= available:
        return
    gib = 1024.0**3
    multiple = int(getattr(generator, "size_multiple", 1) or 1)
    fits = None
    for tile in (2048, 1024, 512, 256, 128):
        tile = max(multiple, tile // multiple * multiple)
        if need("tile", tile) <= available:
            fits = tile
            break
    advice = (
        f"use --strategy=tile --max_size={fits} (or --strategy=resize --max_size={fits}), "
        "which bound what the network sees"
        if fits
        else "no strategy fits: downscale the image or free memory"
    )
    raise ValueError(
        f"Inpainting the {largest[0]}x{largest[1]} (HxW) image with --strategy={strategy}"
        + (f" --max_size={max_size}" if max_size else "")
        + f" needs about {needed / gib:.1f} GiB by estimate, but {available / gib:.1f} GiB of "
        f"memory is available; {advice}."
    )


def check_batch_memory(
    generator,
    batch_size,
    image_size,
    available=None,
    views=None,
    flag="--batch_size",
    training=False,
):
    """Refuses, before any work, a batch whose network activations cannot fit in memory.

    The estimate is `estimate_inpaint_bytes`' for one `image_size` square image, with the
    activations times `batch_size` (evaluation runs the generator on a whole batch at once):
    a batch too large for memory is one sentence naming the largest that fits, instead of
    std::bad_alloc or a killed process mid-run.

    Args:
        generator: the loaded generator (or its `SelfEnsemble`).
        batch_size: int.
        image_size: int. Side of the square images.
        available: int bytes, or None for `available_memory_bytes()` (unknown: no check).
        views: as for `estimate_inpaint_bytes`.
        flag: str. The flag named in the message.
        training: bool. A training step keeps every activation for the backward pass and
            holds their gradients too: the activations count `TRAINING_MEMORY_FACTOR` times
            (discriminators and the VGG loss add more; the estimate is a floor there).
            `generator` may then be None (not built yet: its weights are not counted).

    Raises:
        ValueError: the estimate exceeds the memory available.
    """
    available = available_memory_bytes() if available is None else int(available)
    if available is None:
        return

    factor = TRAINING_MEMORY_FACTOR if training else 1

    def need(batch):  # The free bound first; the traced graph only past it.
        per_image = 5 if isinstance(generator, SelfEnsemble) else 1
        batch_views = (per_image if views is None else views) * batch * factor
        if generator is None:
            return ACTIVATION_BYTES_PER_PIXEL * image_size * image_size * batch_views
        size = (image_size, image_size)
        bound = estimate_inpaint_bytes(generator, size, views=batch_views)
        if bound <= available:
            return bound
        return estimate_inpaint_bytes(generator, size, views=batch_views, traced=True)

    if need(batch_size) <= available:
        return
    fits = batch_size
    while fits > 1 and need(fits) > available:
        fits //= 2
    gib = 1024.0**3
    advice = (
        f"pass {flag}={fits} or less"
        if need(fits) <= available
        else "even one image does not fit: use a smaller --image_size or free memory"
    )
    raise ValueError(
        f"{flag}={batch_size} at {image_size} px needs about {need(batch_size) / gib:.1f} GiB "
        f"by estimate, but {available / gib:.1f} GiB of memory is available; {advice}."
    )
