"""The contract every generator keeps, as one base class (STYLE.md rule 12, DESIGN.md).

`InpaintingGenerator` plays the part of keras-hub's `Backbone`: a family writes its network as a
functional graph from the two inputs the base class makes, hands the raw output (and any extra
outputs) to `super().__init__`, and inherits the rest:
- input checks before any work, in one sentence each (a dict with `images` (B, H, W, 3) and
  `masks` (B, H, W, 1) of the same size, sides divisible by `size_multiple`); extra keys of a
  dataset batch (`boxes`, `gradients`, ...) are dropped;
- the known-pixel blend `inpainted = raw * m + images * (1 - m)` (m = 1 in holes), in float32;
- `size_multiple` from the config alone (`size_multiple_for(config)`), so nobody builds a
  network to learn which input sides work;
- `get_config` with name, trainable and dtype, chained by every family, and `from_config`.

Outputs are a dict with at least `raw` and `inpainted`; families may add more (DeepGIN `coarse`
and `lr`, GAIN `gradients`), listed in their class attribute `extra_output_names`.
"""

import math

import keras
from keras import ops

from tfinpaint import precision
from tfinpaint.layers.harmonic_fill import HarmonicFill


class InpaintingGenerator(keras.Model):
    """Base class of every tfinpaint generator.

    Subclasses build their graph in `__init__` from `InpaintingGenerator.make_inputs()` and
    finish with `super().__init__(inputs, raw, extra_outputs=..., **kwargs)`; they override
    `size_multiple_for` when their input sides must be multiples of something, and chain
    `get_config`.

    Args:
        inputs: dict with the `images` and `masks` `keras.Input`s of `make_inputs()`.
        raw: symbolic tensor (B, H, W, 3). The network's output image in [0, 1].
        extra_outputs: dict of name -> symbolic tensor or None. Further outputs.
        **kwargs: `keras.Model` arguments (`name`, `trainable`, `dtype`).

    Call inputs: dict with `images` (B, H, W, 3) float in [0, 1] and `masks` (B, H, W, 1),
    1 = hole; other keys are ignored.
    Returns: dict with `raw` (B, H, W, 3) float32, `inpainted` (B, H, W, 3) float32 (raw in the
    holes, the input elsewhere, exactly) and the family's extra outputs.

    Example:
    >>> class Fill(InpaintingGenerator):
    ...     def __init__(self, **kwargs):
    ...         inputs = InpaintingGenerator.make_inputs()
    ...         raw = keras.layers.Conv2D(3, 3, padding="same")(inputs["images"])
    ...         super().__init__(inputs, raw, **kwargs)
    """

    extra_output_names = ()

    def __init__(self, inputs, raw, extra_outputs=None, **kwargs):
        images, hole_masks = inputs["images"], inputs["masks"]
        raw = ops.cast(raw, "float32")
        outputs = {"raw": raw, "inpainted": blend(raw, images, hole_masks)}
        outputs.update(extra_outputs or {})
        super().__init__(inputs={"images": images, "masks": hole_masks}, outputs=outputs, **kwargs)

    @staticmethod
    def make_inputs():
        """The two `keras.Input`s every generator takes: `images` and `masks` (1 = hole)."""
        return {
            "images": keras.Input(shape=(None, None, 3), name="images"),
            "masks": keras.Input(shape=(None, None, 1), name="masks"),
        }

    @classmethod
    def size_multiple_for(cls, config):
        """Input heights and widths must be multiples of this, for constructor `config`."""
        del config
        return 1

    @property
    def size_multiple(self):
        """Input heights and widths must be multiples of this."""
        return type(self).size_multiple_for(self.get_config())

    def __call__(self, inputs, *args, **kwargs):
        # Checked before Keras' call machinery, so the error comes before any work and reads as
        # one sentence; a functional model's dict inputs must match its Inputs exactly.
        inputs = self._checked_inputs(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def _checked_inputs(self, inputs):
        name = type(self).__name__
        if not isinstance(inputs, dict) or not {"images", "masks"} <= set(inputs):
            keys = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
            raise ValueError(
                f"{name} received inputs {keys}; expected a dict with 'images' and 'masks'."
            )
        images, hole_masks = inputs["images"], inputs["masks"]
        image_shape, mask_shape = tuple(images.shape), tuple(hole_masks.shape)
        if len(image_shape) != 4 or len(mask_shape) != 4:
            raise ValueError(
                f"{name} received images of shape {image_shape} and masks of shape "
                f"{mask_shape}; expected (B, H, W, 3) and (B, H, W, 1)."
            )
        if image_shape[-1] not in (None, 3) or mask_shape[-1] not in (None, 1):
            raise ValueError(
                f"{name} received images of shape {image_shape} and masks of shape "
                f"{mask_shape}; expected 3 image channels and 1 mask channel."
            )
        image_size, mask_size = image_shape[1:3], mask_shape[1:3]
        if None not in image_size + mask_size and image_size != mask_size:
            raise ValueError(
                f"{name} received images of size {image_size[0]}x{image_size[1]} and masks of "
                f"size {mask_size[0]}x{mask_size[1]}; expected the same size."
            )
        multiple = self.size_multiple
        if any(side is not None and side % multiple for side in image_size):
            raise ValueError(
                f"{name} received images of size {image_size[0]}x{image_size[1]}; expected a "
                f"height and width divisible by {multiple}: pad or resize the input."
            )
        return {"images": images, "masks": hole_masks}

    def get_config(self):
        # Not keras.Model's: that would serialise the functional graph, which the constructor
        # rebuilds from the family's arguments. Families add theirs to this dict.
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls.build_under_policy(config)

    @classmethod
    def build_under_policy(cls, config):
        """`cls(**config)`, built under the global dtype policy `config["dtype"]` when given.

        Families hand `dtype` to `keras.Model` and let their layers take the global policy, so
        a `dtype` argument alone would set the model's policy but leave the layers float32;
        building under it gives every layer that policy (variables stay float32 under mixed
        policies, so float32 weights load as they are).
        """
        dtype = config.get("dtype")
        if dtype is None:
            return cls(**config)
        with precision.dtype_policy(dtype):
            return cls(**config)


def check_init_scale(value, hint, name="kernel_init_scale"):
    """An initialisation scale option (`name`) as a float, or ValueError in one sentence: a
    finite number > 0.

    `hint` ends the message, e.g. "0.1 in the reference code"."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        valid = False
    else:
        valid = 0.0 < value < math.inf
    if not valid:
        raise ValueError(f"Received {name}={value!r}; expected a finite number > 0 ({hint}).")
    return float(value)


def harmonic_fill_layer(name, fill_input, fill_levels, fill_iterations):
    """The `HarmonicFill` layer of a family built on the fill (`fill_input`, not in any paper),
    None without it; ValueError in one sentence unless `fill_input` is a bool and the two
    others ints >= 1. `name` is the class's. The layer reads no hole pixel: pass the images as
    they are."""
    if not isinstance(fill_input, bool):
        raise ValueError(f"{name} received fill_input={fill_input!r}; expected a bool.")
    for option, value in (("fill_levels", fill_levels), ("fill_iterations", fill_iterations)):
        if type(value) is not int or value < 1:  # Not bool.
            raise ValueError(f"{name} received {option}={value!r}; expected an int >= 1.")
    return HarmonicFill(fill_levels, fill_iterations, name="harmonic_fill") if fill_input else None


def fill_size_multiple(config, multiple):
    """A family's size multiple `multiple`, or `2 ** fill_levels` when it is built on the fill
    (`config["fill_input"]`) and that is larger: the fill halves the image `fill_levels` times."""
    if config.get("fill_input", False):
        return max(multiple, 2 ** config.get("fill_levels", 6))
    return multiple


def blend(raw, images, hole_masks):
    """Raw in the holes, the input elsewhere: `raw * m + images * (1 - m)` (m = 1 in holes)."""
    return raw * hole_masks + images * (1.0 - hole_masks)
