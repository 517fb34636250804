"""Per-sample local crops around a hole, for GLCIC's local discriminator.

Iizuka et al., "Globally and Locally Consistent Image Completion", SIGGRAPH 2017, section 3.2:
the local discriminator sees a fixed-size patch (128x128 of a 256x256 image) centred on the
completed region. `local_crop_boxes` turns each sample's hole bounding box into such a crop box and
`crop_local` cuts the crops with one batched gather, so both run inside `tf.function`, under XLA,
and pass gradients back to the image (the generator learns through the local discriminator).
Boxes are int32 `[y0, x0, y1, x1]`, end-exclusive, as the data pipeline emits them.
"""

import keras
from keras import ops


def _pair(value, name):
    """Returns `(h, w)` from an int or a pair of ints (or scalar tensors)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(
                f"Received {name}={value!r}, expected an int or a pair (height, width)."
            )
        return value[0], value[1]
    return value, value


def local_crop_boxes(boxes, image_size, crop_size):
    """Square crop boxes of side `crop_size` centred on each hole and clipped to the image.

    The crop is centred on the hole's bounding box (to within half a pixel), then shifted, never
    shrunk, so that it lies inside the image. Whenever the hole fits (its height and width are at
    most `crop_size`) the crop contains the whole hole: centring leaves at least as much room on
    each side as the hole needs, and a shift towards the inside of the image only moves the crop
    edge that had room to spare. A hole larger than `crop_size` (a free-form mask's bounding box
    can be) is not an error: the crop stays centred on it and cuts its outer part off, so the local
    discriminator then sees the middle of the hole. That is the paper's behaviour in spirit (it
    only uses holes smaller than the crop) and keeps the op total.

    Args:
        boxes: int tensor or array, (B, 4). Hole bounding boxes `[y0, x0, y1, x1]`,
            end-exclusive, inside the image.
        image_size: int or pair of ints (height, width), or scalar int tensors. The size of the
            images the boxes refer to.
        crop_size: int. Side of the square crop; at most the image height and width.

    Returns:
        int32 tensor (B, 4): crop boxes `[y0, x0, y0 + crop_size, x0 + crop_size]`.

    Example:
    >>> local_crop_boxes([[0, 0, 20, 24]], image_size=64, crop_size=28)  # doctest: +SKIP
    [[0, 0, 28, 28]]
    """
    if not isinstance(crop_size, int) or crop_size < 1:
        raise ValueError(f"Received crop_size={crop_size!r}, expected a positive int.")
    height, width = _pair(image_size, "image_size")
    for side_name, side in (("height", height), ("width", width)):
        if isinstance(side, int) and side < crop_size:
            raise ValueError(
                f"Received an image {side_name} of {side} with crop_size={crop_size}, expected "
                f"crop_size to be at most the image {side_name}."
            )
    boxes = ops.convert_to_tensor(boxes, dtype="int32")
    y0, x0, y1, x1 = (boxes[:, i] for i in range(4))
    # floor((hole - crop) / 2) is <= 0 for a hole that fits: the crop starts that far before the
    # hole and ends at least at its end (crop - ceil((crop - hole) / 2) >= hole).
    top = y0 + ops.floor_divide((y1 - y0) - crop_size, 2)
    left = x0 + ops.floor_divide((x1 - x0) - crop_size, 2)
    top = ops.clip(top, 0, ops.cast(height, "int32") - crop_size)
    left = ops.clip(left, 0, ops.cast(width, "int32") - crop_size)
    return ops.stack([top, left, top + crop_size, left + crop_size], axis=1)


def crop_local(images, crop_boxes, crop_size):
    """Cuts one `crop_size` x `crop_size` patch per sample, differentiably.

    A single gather on the flattened batch: for sample b and crop pixel (i, j) the index is
    `(b * H + y0_b + i) * W + x0_b + j`. Gather's gradient is a scatter-add, so gradients reach
    the image pixels inside each crop (and only those); it needs no `tf.image` op and compiles
    under XLA with dynamic box values.

    Args:
        images: float tensor (B, H, W, C).
        crop_boxes: int tensor (B, 4) `[y0, x0, y1, x1]` from `local_crop_boxes`: square boxes of
            side `crop_size` inside the image. They are not clipped again here: an out-of-range
            box is an error on CPU (and reads zeros on GPU), so compute them with
            `local_crop_boxes`.
        crop_size: int. Side of the crops.

    Returns:
        Tensor (B, crop_size, crop_size, C), the dtype of `images`.

    Example:
    >>> images = np.random.rand(2, 64, 64, 3).astype("float32")
    >>> crops = crop_local(images, local_crop_boxes([[10, 10, 30, 30]] * 2, 64, 28), 28)
    >>> crops.shape
    TensorShape([2, 28, 28, 3])
    """
    if not isinstance(crop_size, int) or crop_size < 1:
        raise ValueError(f"Received crop_size={crop_size!r}, expected a positive int.")
    images = ops.convert_to_tensor(images)
    crop_boxes = ops.convert_to_tensor(crop_boxes, dtype="int32")
    shape = ops.shape(images)
    batch_size, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    offsets = ops.arange(crop_size, dtype="int32")
    rows = crop_boxes[:, 0:1] + offsets[None, :]  # (B, c)
    cols = crop_boxes[:, 1:2] + offsets[None, :]  # (B, c)
    sample = ops.arange(batch_size, dtype="int32")[:, None, None]  # (B, 1, 1)
    # (B, c, 1) and (B, 1, c) -> (B, c, c) flat pixel indices into (B*H*W, C).
    flat_index = (sample * height + rows[:, :, None]) * width + cols[:, None, :]
    flat_images = ops.reshape(images, (-1, channels))  # (B*H*W, C)
    crops = ops.take(flat_images, flat_index, axis=0)  # (B, c, c, C)
    static_channels = images.shape[-1]
    if static_channels is not None:
        crops = ops.reshape(crops, (-1, crop_size, crop_size, static_channels))
    return crops


@keras.saving.register_keras_serializable(package="tfinpaint")
class LocalCrop(keras.layers.Layer):
    """Crops a square patch centred on each sample's hole (GLCIC's local discriminator input).

    Iizuka et al., SIGGRAPH 2017, section 3.2. Combines `local_crop_boxes` (centre on the hole,
    clip to the image; holes larger than the crop are centred and truncated) and `crop_local` (a
    differentiable gather). No weights.

    Args:
        crop_size: int. Side of the square crop (128 for 256x256 images in the paper).
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: list `[images, hole_boxes]`: images (B, H, W, C) float, hole bounding boxes
            (B, 4) int `[y0, x0, y1, x1]` end-exclusive.

    Returns:
        Crops (B, crop_size, crop_size, C).

    Example:
    >>> layer = LocalCrop(crop_size=28)
    >>> crops = layer([np.zeros((2, 64, 64, 3), "float32"), [[0, 0, 20, 20], [40, 40, 64, 64]]])
    >>> crops.shape
    TensorShape([2, 28, 28, 3])
    """

    def __init__(self, crop_size, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(crop_size, int) or crop_size < 1:
            raise ValueError(f"Received crop_size={crop_size!r}, expected a positive int.")
        self.crop_size = crop_size

    def call(self, inputs):
        images, hole_boxes = inputs
        height, width = images.shape[1], images.shape[2]
        if height is None or width is None:
            shape = ops.shape(images)
            height, width = shape[1], shape[2]
        crop_boxes = local_crop_boxes(hole_boxes, (height, width), self.crop_size)
        return crop_local(images, crop_boxes, self.crop_size)

    def compute_output_shape(self, input_shape):
        images_shape = input_shape[0]
        return (images_shape[0], self.crop_size, self.crop_size, images_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"crop_size": self.crop_size})
        return config
