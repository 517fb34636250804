"""Test-time self-ensemble of any generator, as one Keras model.

DeepGIN's authors' test code runs the network on the image as it is, rotated by 90, 180 and 270
degrees and flipped left-right, turns the five outputs back and averages them. `SelfEnsemble`
does that inside the graph, so everything that calls a generator (evaluation, `inpaint`, the
SavedModel and TFLite exports) runs the ensemble when it is given one. A shipped checkpoint
whose JSON says `"ensemble": true` is loaded wrapped (`inference.load_generator`).
"""

import keras
from keras import ops

from tfinpaint.models.base import blend

# (k, flip): the view is the input rotated counter-clockwise by k quarter turns in the (H, W)
# plane, then flipped left-right when flip is True. Order: identity, three rotations, a flip.
VIEWS = ((0, False), (1, False), (2, False), (3, False), (0, True))


def rot90(x, k):
    """`np.rot90(x, k, axes=(1, 2))` for a (B, H, W, C) tensor, from transposes and flips.

    Not `keras.ops.rot90`: Keras 3.15's TensorFlow version gets k = 2 wrong on non-square
    inputs.
    """
    k %= 4
    if k == 2:
        return ops.flip(ops.flip(x, axis=1), axis=2)
    if k == 1:
        return ops.flip(ops.transpose(x, (0, 2, 1, 3)), axis=1)
    if k == 3:
        return ops.transpose(ops.flip(x, axis=1), (0, 2, 1, 3))
    return x


def to_view(x, view):
    """The view `(k, flip)` of a (B, H, W, C) tensor."""
    k, flip = view
    x = rot90(x, k)
    return ops.flip(x, axis=2) if flip else x


def from_view(x, view):
    """Inverse of `to_view`: turns a view's (B, H', W', C) output back."""
    k, flip = view
    if flip:
        x = ops.flip(x, axis=2)
    return rot90(x, -k)


class SelfEnsemble(keras.Model):
    """A generator's mean raw output over the identity, three rotations and a left-right flip.

    Five times the generator's compute. The views whose shapes agree (all five for a square
    input; otherwise the identity, half turn and flip, and the two quarter turns) run as one
    batch. The output dict has the generator's keys: `raw` is the mean of the five views' raw
    outputs turned back, `inpainted` blends it with the input (known pixels exact), and any
    extra output (DeepGIN's `coarse`, GAIN's `gradients`) is the identity view's, because
    some of them are not rotation-equivariant quantities (a Sobel map's channels change
    meaning under a rotation).

    Args:
        generator: a tfinpaint generator (`InpaintingGenerator`), or any Keras model called
            with a dict of `images` and `masks` that returns at least `raw`.
        **kwargs: `keras.Model` arguments.

    Call inputs and outputs: as the generator's; its input checks run first.

    Example:
    >>> ensemble = SelfEnsemble(load_generator("pconv_small_photos"))
    >>> ensemble({"images": images, "masks": masks})["inpainted"]
    """

    def __init__(self, generator, **kwargs):
        if isinstance(generator, SelfEnsemble):
            raise ValueError("SelfEnsemble received a SelfEnsemble; expected a single generator.")
        kwargs.setdefault("name", f"{generator.name}_self_ensemble")
        kwargs.setdefault("dtype", generator.dtype_policy)
        super().__init__(**kwargs)
        self.generator = generator
        self.built = generator.built

    @property
    def size_multiple(self):
        """Input heights and widths must be multiples of this (the generator's)."""
        return self.generator.size_multiple

    def __call__(self, inputs, *args, **kwargs):
        # A tfinpaint generator checks its inputs (one sentence) before any work; stand-ins in
        # tests need not.
        check = getattr(self.generator, "_checked_inputs", None)
        return super().__call__(check(inputs) if check else inputs, *args, **kwargs)

    # Views of one network call hold at most this many pixels together (five 256 px views), so
    # that large inputs run view by view: a 512 px crop window of a camera photo as DeepGIN's
    # ensemble needed 3.8 GiB with its three views in one call, 1.9 GiB for one.
    MAX_CALL_PIXELS = 5 * 256 * 256

    @classmethod
    def views_per_call(cls, batch, height, width):
        """How many views of a (batch, height, width) input one network call runs: all that
        share a shape (5 for a square input, 3 then 2 for another) while they stay within
        `MAX_CALL_PIXELS`, and at least one; all of them when a size is unknown (a traced
        graph with dynamic shapes)."""
        group = 5 if height == width else 3
        if batch is None or height is None or width is None:
            return group
        return max(1, min(group, cls.MAX_CALL_PIXELS // max(1, batch * height * width)))

    def call(self, inputs, training=False):
        images, hole_masks = inputs["images"], inputs["masks"]
        batch = ops.shape(images)[0]
        height, width = images.shape[1], images.shape[2]
        square = height is not None and height == width
        groups = [VIEWS] if square else [VIEWS[0::2], VIEWS[1::2]]  # (H, W) and (W, H) views
        size = self.views_per_call(images.shape[0], height, width)
        calls = [group[i : i + size] for group in groups for i in range(0, len(group), size)]
        total, first = None, None
        for group in calls:
            outputs = self.generator(
                {
                    "images": ops.concatenate([to_view(images, v) for v in group], axis=0),
                    "masks": ops.concatenate([to_view(hole_masks, v) for v in group], axis=0),
                },
                training=training,
            )
            for index, view in enumerate(group):
                raw = from_view(outputs["raw"][index * batch : (index + 1) * batch], view)
                total = raw if total is None else total + raw
                if view == VIEWS[0]:
                    first = {name: value[:batch] for name, value in outputs.items()}
        raw = total / float(len(VIEWS))
        # A generator may return `raw` in float32 under a mixed policy (GAIN does): blend in
        # its dtype, not the inputs' (bfloat16 * float32 is an error).
        images, hole_masks = ops.cast(images, raw.dtype), ops.cast(hole_masks, raw.dtype)
        return dict(first, raw=raw, inpainted=blend(raw, images, hole_masks))
