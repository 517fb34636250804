"""GAIN generator and discriminators: gradient-augmented inpainting with two branches.

Zhang et al., "GAIN: Gradient Augmented Inpainting Network for Irregular Holes", ACM MM 2019
(seed 004; SPEC.md sections 5 and 6). No code was published: this module is a reference
implementation, and every choice the paper leaves open is named below (and in
`GAINGenerator`'s docstring), with a constructor option where it is a design choice.

Every convolution of the generator is a GAI block (`tfinpaint.layers.GAIBlock`) on an image
flow and a gradient flow sharing one hole mask; the first four dilation blocks of the structure
branch hold the mask back with the shrinkage priority; the content branch ends in DeepFill v1's
contextual attention (`tfinpaint.layers.ContextualAttention`). The generator returns `raw`,
`inpainted` and its predicted gradient map `gradients` (Sobel x, y of the grayscale image, the
units of the dataset's `gradients`).

The discriminators (`GAINDiscriminator`, registered as `image` and `gradient`) are DeepFill
v2's SN-PatchGAN (our choice: the paper says only "spectral normalization and a gradient
penalty").
"""

import keras
from keras import ops

from tfinpaint.layers.contextual_attention import ContextualAttention
from tfinpaint.layers.gradient import GAIStack, dilate_hole_mask, gray_sobel
from tfinpaint.layers.partial_conv import PartialConv2D
from tfinpaint.models.base import (
    InpaintingGenerator,
    check_init_scale,
    fill_size_multiple,
    harmonic_fill_layer,
)

ATTENTION_FLOWS = ("joint", "separate")
PAPER_DILATION_RATES = (2, 4, 8, 16)
KERNEL_INIT_SCALE = 0.25  # GAI kernels: VarianceScaling(0.25, fan_avg); see GAINGenerator.


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"Received {name}={value!r}; expected an int >= {minimum}.")
    return int(value)


@keras.saving.register_keras_serializable(package="tfinpaint")
class GAINGenerator(InpaintingGenerator):
    """GAIN's generator: a structure branch and a content branch of GAI blocks.

    Reference: Zhang et al., "GAIN", ACM MM 2019, section 3 (seed 004); SPEC.md section 5. With
    a = `image_filters` and g = `gradient_filters` (64 and 128 in the paper), k = `kernel_size`:

    - Inputs: the image with its holes zeroed, I_1 (3 channels, mask M); the Sobel x, y map of
      its grayscale version, valid where the 3x3 stencil is known (the hole dilated by 1, reflect
      border as in the dataset's `gradients`), then a 3x3 partial convolution to
      `gradient_stem_filters` channels (linear), which restores the mask: dI_1. Both flows enter
      the first blocks with M (the stem's output is 0 where the stencil dilation left no valid
      input, the GAI blocks' convention for summands).
    - Structure branch: GAI blocks k/2 -> (a, g) and k/2 -> (2a, 2g), then
      `num_structure_blocks` dilation blocks of GAI blocks k/1 with `dilation_rates`; the first
      `num_priority_blocks` of them hold the mask update back with the shrinkage priority
      (`shrinkage_delta`).
    - Content branch: the same two downsampling blocks (own weights), `num_content_blocks`
      dilation blocks, then the contextual-attention block: `ContextualAttention` (DeepFill v1,
      SPEC.md section 6) against the input's hole mask max-pooled to the quarter scale (a
      background patch counts only where every pixel under it is known; our choice), followed by
      `num_attention_convs` GAI blocks k/1 (DeepFill v1 has two convolutions after the
      attention; our choice). With `attention_flows="joint"` (our choice) one attention matches
      and pastes the concatenated image and gradient features, so both flows move together;
      "separate" gives each flow its own attention. The attention fills the holes, so the
      content flow is known everywhere after it.
    - Merge: both flows concatenated (4a image, 4g gradient channels); a pixel is known where
      either branch knows it, so after the attention everywhere.
    - Decoder: twice bilinear x2 (half-pixel centres; the mask nearest x2) and a GAI block k/1,
      to (a, g) at half and (a/2, g/2) at full resolution: "halved at each upsampling" read as
      DeepFill v1's refinement decoder has it, from the width of one branch (128 -> 64 -> 32
      image channels in the paper preset). This 4a -> a -> a/2 reading is our choice: the paper
      gives no decoder widths. Then the heads, a GAI block k/1 -> (3, 2), linear: `raw` and
      `gradients`.

    Everything after the gradient stem is one layer, `GAINTrunk` (`get_layer("trunk")`): an
    eager call of a functional graph keeps every node's output until it ends, which passed 4 GB
    at 1024 px with a node per GAI block. Its branches and decoder are `GAIStack`s:
    `get_layer("trunk").structure.get_block("dilation_1_1")` and so on.
    Every GAI block but the heads ends in `activation` (ELU, DeepFill's, by default: our choice).
    Memory: the attention at the quarter scale compares (HW / (16 rate^2))^2 patch pairs; the
    layer chunks them at large sizes.

    Args:
        image_filters: int. Image-flow width after the first downsampling (64 in the paper).
        gradient_filters: int. Gradient-flow width after it (128 in the paper).
        num_structure_blocks: int. Dilation blocks of the structure branch (6).
        num_content_blocks: int. Dilation blocks of the content branch (2).
        dilation_rates: tuple of ints. The GAI blocks of one dilation block ((2, 4, 8, 16)).
        num_priority_blocks: int. Leading structure dilation blocks with the shrinkage priority
            (4).
        shrinkage_delta: float in [0, 1]. Their priority threshold (0.4; 0: the plain update).
        kernel_size: int. Window of every GAI block's main convolutions (3, our choice).
        activation: str. Activation after each GAI block but the heads ("elu", our choice).
        gradient_stem_filters: int. Width of the 3x3 partial convolution that restores the
            gradient map's mask (2: a gradient map again; our choice).
        attention_flows: str. "joint" or "separate" (see above; "joint", our choice).
        num_attention_convs: int. GAI blocks after the attention (2, our choice).
        attention_ksize, attention_rate, attention_fuse_k, attention_softmax_scale,
            attention_fuse: `ContextualAttention`'s ksize (3), rate (2), fuse_k (3),
            softmax_scale (10.0) and fuse (True), DeepFill v1's values.
        kernel_init_scale: float. The GAI blocks' kernels start from Keras' `VarianceScaling`
            (fan_avg, uniform) with this scale; 1.0 is Glorot uniform, Keras' default. The paper
            gives no initialisation; 0.25 (our choice) keeps the flows' magnitude roughly level
            through the blocks. Each block adds two convolutions per flow and feeds a Sobel
            gradient of the image flow back in, so at Glorot scale every block about doubled
            the flows' standard deviation, and the paper preset's raw output at initialisation
            reached ~1e8 on a photo (0.25: ~1.5).
        residual_init_scale: float or None. None (the paper's): every GAI block feeds the next.
            A float r (our choice, not the paper's): the GAI blocks of the dilation blocks and
            the attention's convolutions become residual (`GAIStack(residual=...)`: flows out
            = flows in + the block's) and their kernels start at r x the others' standard
            deviation, so that each starts near the identity, as DeepGIN's
            `residual_init_scale` after Fixup. The paper's plain stack of 24 + 8 dilated GAI
            blocks barely learnt on photos: a narrowed variant trained 650 steps at 256 px
            still gave a nearly constant `raw` (no holes: correlation 0.12 with the photo),
            while one without the dilation blocks learnt within 150 steps. The parameter
            count is unchanged.
        fill_input: bool. Not in the paper (off by default): build the network on the
            multi-scale harmonic fill `F` (`HarmonicFill`, no weights), as
            `PConvUNet(fill_input=True)` does. The image flow reads `F` and the gradient flow
            the Sobel map of `F`, both known everywhere, so their partial convolutions run with
            no holes (plain convolutions; the shrinkage priority then holds nothing back); the
            contextual attention still takes the real holes, so it pastes background patches
            into them. The heads start at zero and become corrections: `raw = F + head` and
            `gradients = Sobel(F) + head`. A new network is therefore exactly the fill. It
            trains from scratch (the heads' meaning changes).
        fill_levels: int. Levels of the harmonic fill (`fill_input` only); the size multiple
            becomes `max(4 * attention_rate, 2 ** fill_levels)`. Defaults to 6 (64 px).
        fill_iterations: int. Jacobi sweeps per level of the harmonic fill (`fill_input`
            only). Defaults to 32.
        **kwargs: `keras.Model` keyword arguments (`name`, `trainable`, `dtype`).

    Call inputs: dict with `images` (B, H, W, 3) in [0, 1] and `masks` (B, H, W, 1), 1 = hole,
    H and W divisible by 4 * `attention_rate` (8).
    Returns: dict with `raw`, `inpainted` (B, H, W, 3) and `gradients` (B, H, W, 2), float32;
    the heads are linear (not clipped).

    Example:
    >>> generator = GAINGenerator(image_filters=4, gradient_filters=8, num_structure_blocks=1,
    ...                           num_content_blocks=1, num_priority_blocks=1)
    >>> images = np.random.rand(2, 32, 32, 3).astype("float32")
    >>> masks = np.zeros((2, 32, 32, 1), "float32")
    >>> masks[:, 8:24, 8:24] = 1.0
    >>> generator({"images": images, "masks": masks})["gradients"].shape
    TensorShape([2, 32, 32, 2])
    """

    extra_output_names = ("gradients",)

    def __init__(
        self,
        image_filters=64,
        gradient_filters=128,
        num_structure_blocks=6,
        num_content_blocks=2,
        dilation_rates=PAPER_DILATION_RATES,
        num_priority_blocks=4,
        shrinkage_delta=0.4,
        kernel_size=3,
        activation="elu",
        gradient_stem_filters=2,
        attention_flows="joint",
        num_attention_convs=2,
        attention_ksize=3,
        attention_rate=2,
        attention_fuse_k=3,
        attention_softmax_scale=10.0,
        attention_fuse=True,
        kernel_init_scale=KERNEL_INIT_SCALE,
        residual_init_scale=None,
        fill_input=False,
        fill_levels=6,
        fill_iterations=32,
        **kwargs,
    ):
        harmonic_fill = harmonic_fill_layer(
            "GAINGenerator", fill_input, fill_levels, fill_iterations
        )
        image_filters = _check_int(image_filters, "image_filters", 1)
        gradient_filters = _check_int(gradient_filters, "gradient_filters", 1)
        num_structure_blocks = _check_int(num_structure_blocks, "num_structure_blocks", 0)
        num_content_blocks = _check_int(num_content_blocks, "num_content_blocks", 0)
        num_priority_blocks = _check_int(num_priority_blocks, "num_priority_blocks", 0)
        kernel_size = _check_int(kernel_size, "kernel_size", 1)
        gradient_stem_filters = _check_int(gradient_stem_filters, "gradient_stem_filters", 1)
        num_attention_convs = _check_int(num_attention_convs, "num_attention_convs", 0)
        attention_rate = _check_int(attention_rate, "attention_rate", 1)
        dilation_rates = tuple(_check_int(rate, "dilation_rates", 1) for rate in dilation_rates)
        if not dilation_rates:
            raise ValueError("Received dilation_rates=(); expected at least one rate.")
        if num_priority_blocks > num_structure_blocks:
            raise ValueError(
                f"Received num_priority_blocks={num_priority_blocks} with num_structure_blocks="
                f"{num_structure_blocks}; expected at most as many priority blocks."
            )
        if isinstance(shrinkage_delta, bool) or not 0.0 <= float(shrinkage_delta) <= 1.0:
            raise ValueError(
                f"Received shrinkage_delta={shrinkage_delta!r}; expected a float in [0, 1]."
            )
        if attention_flows not in ATTENTION_FLOWS:
            raise ValueError(
                f"Received attention_flows={attention_flows!r}; expected one of "
                f"{', '.join(ATTENTION_FLOWS)}."
            )
        shrinkage_delta = float(shrinkage_delta)
        kernel_init_scale = check_init_scale(
            kernel_init_scale, f"{KERNEL_INIT_SCALE} by default, 1.0 for Glorot uniform"
        )
        if residual_init_scale is not None:
            residual_init_scale = check_init_scale(
                residual_init_scale,
                "None by default, the paper's plain blocks; e.g. 0.1",
                "residual_init_scale",
            )

        # === Layers ===
        gradient_stem = PartialConv2D(gradient_stem_filters, 3, name="gradient_stem")
        trunk = GAINTrunk(
            image_filters=image_filters,
            gradient_filters=gradient_filters,
            num_structure_blocks=num_structure_blocks,
            num_content_blocks=num_content_blocks,
            dilation_rates=dilation_rates,
            num_priority_blocks=num_priority_blocks,
            shrinkage_delta=shrinkage_delta,
            kernel_size=kernel_size,
            activation=activation,
            attention_flows=attention_flows,
            num_attention_convs=num_attention_convs,
            attention_ksize=attention_ksize,
            attention_rate=attention_rate,
            attention_fuse_k=attention_fuse_k,
            attention_softmax_scale=attention_softmax_scale,
            attention_fuse=attention_fuse,
            kernel_init_scale=kernel_init_scale,
            residual_init_scale=residual_init_scale,
            fill_input=fill_input,
            name="trunk",
        )

        # === Functional Model ===
        inputs = InpaintingGenerator.make_inputs()
        images, hole_masks = inputs["images"], inputs["masks"]
        image_in = images * (1.0 - hole_masks)  # I_1 = I * M: the holes never reach the network.
        if harmonic_fill is None:
            gradient_hole_masks = dilate_hole_mask(hole_masks)  # M_0: the stencil's validity.
            gradient_in = gray_sobel(image_in) * (1.0 - gradient_hole_masks)  # (B, H, W, 2)
        else:
            # The fill reads no hole pixel either; it and its gradients are known everywhere.
            image_in = harmonic_fill([images, hole_masks])
            fill_gradients = gray_sobel(image_in)
            gradient_in, gradient_hole_masks = fill_gradients, ops.zeros_like(hole_masks)
        gradient_in, _ = gradient_stem([gradient_in, gradient_hole_masks])
        raw, gradients = trunk([image_in, gradient_in, hole_masks])
        gradients = ops.cast(gradients, "float32")
        if harmonic_fill is not None:
            raw = image_in + ops.cast(raw, "float32")
            gradients = fill_gradients + gradients
        super().__init__(inputs, raw, extra_outputs={"gradients": gradients}, **kwargs)

        # === Config ===
        self.image_filters = image_filters
        self.gradient_filters = gradient_filters
        self.num_structure_blocks = num_structure_blocks
        self.num_content_blocks = num_content_blocks
        self.dilation_rates = dilation_rates
        self.num_priority_blocks = num_priority_blocks
        self.shrinkage_delta = shrinkage_delta
        self.kernel_size = kernel_size
        self.activation = activation
        self.gradient_stem_filters = gradient_stem_filters
        self.attention_flows = attention_flows
        self.num_attention_convs = num_attention_convs
        self.attention_ksize = attention_ksize
        self.attention_rate = attention_rate
        self.attention_fuse_k = attention_fuse_k
        self.attention_softmax_scale = attention_softmax_scale
        self.attention_fuse = attention_fuse
        self.kernel_init_scale = kernel_init_scale
        self.residual_init_scale = residual_init_scale
        self.fill_input = fill_input
        self.fill_levels = fill_levels
        self.fill_iterations = fill_iterations

    @classmethod
    def size_multiple_for(cls, config):
        """4 * attention_rate: two stride-2 blocks, then the attention's downsampling (on the
        fill, 2 ** fill_levels when larger)."""
        return fill_size_multiple(config, 4 * int(config.get("attention_rate", 2)))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_filters": self.image_filters,
                "gradient_filters": self.gradient_filters,
                "num_structure_blocks": self.num_structure_blocks,
                "num_content_blocks": self.num_content_blocks,
                "dilation_rates": self.dilation_rates,
                "num_priority_blocks": self.num_priority_blocks,
                "shrinkage_delta": self.shrinkage_delta,
                "kernel_size": self.kernel_size,
                "activation": self.activation,
                "gradient_stem_filters": self.gradient_stem_filters,
                "attention_flows": self.attention_flows,
                "num_attention_convs": self.num_attention_convs,
                "attention_ksize": self.attention_ksize,
                "attention_rate": self.attention_rate,
                "attention_fuse_k": self.attention_fuse_k,
                "attention_softmax_scale": self.attention_softmax_scale,
                "attention_fuse": self.attention_fuse,
                "kernel_init_scale": self.kernel_init_scale,
                "residual_init_scale": self.residual_init_scale,
                "fill_input": self.fill_input,
                "fill_levels": self.fill_levels,
                "fill_iterations": self.fill_iterations,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="tfinpaint")
class GAINTrunk(keras.layers.Layer):
    """GAIN's two branches, the contextual-attention block and the decoder, as one layer.

    One layer, not a functional graph of them, because a Keras functional model called eagerly
    keeps every node's output alive until the call ends: as one layer, an eager call holds only
    what the next step needs (the paper generator at 1024 x 1024 px; see `GAINGenerator`).
    The arguments are `GAINGenerator`'s of the same names (see there). Sublayers: `structure`,
    `content`, `content_attention_convs` (`GAIStack`s, the last None without convolutions),
    `decoder` (a `GAIStack` with the heads) and `attentions` (one or two
    `ContextualAttention`s).

    Call inputs: list `[image, gradient, hole_mask]`: (B, H, W, 3) with its holes zeroed (the
    fill with `fill_input`), the gradient stem's output (B, H, W, C) and the (B, H, W, 1) hole
    mask.
    Returns: tuple `(raw, gradients)`: (B, H, W, 3) and (B, H, W, 2), linear heads.
    """

    def __init__(
        self,
        image_filters,
        gradient_filters,
        num_structure_blocks,
        num_content_blocks,
        dilation_rates,
        num_priority_blocks,
        shrinkage_delta,
        kernel_size,
        activation,
        attention_flows,
        num_attention_convs,
        attention_ksize,
        attention_rate,
        attention_fuse_k,
        attention_softmax_scale,
        attention_fuse,
        kernel_init_scale=KERNEL_INIT_SCALE,
        residual_init_scale=None,
        fill_input=False,
        **kwargs,
    ):
        super().__init__(**kwargs)

        # === Config ===
        self.image_filters = image_filters
        self.gradient_filters = gradient_filters
        self.num_structure_blocks = num_structure_blocks
        self.num_content_blocks = num_content_blocks
        self.dilation_rates = tuple(dilation_rates)
        self.num_priority_blocks = num_priority_blocks
        self.shrinkage_delta = shrinkage_delta
        self.kernel_size = kernel_size
        self.activation = activation
        self.attention_flows = attention_flows
        self.num_attention_convs = num_attention_convs
        self.attention_ksize = attention_ksize
        self.attention_rate = attention_rate
        self.attention_fuse_k = attention_fuse_k
        self.attention_softmax_scale = attention_softmax_scale
        self.attention_fuse = attention_fuse
        self.kernel_init_scale = kernel_init_scale
        self.residual_init_scale = residual_init_scale
        self.fill_input = fill_input
        a, g = image_filters, gradient_filters

        # Glorot uniform (Keras' default) at kernel_init_scale 1.0.
        def initializer(scale):
            return {
                "class_name": "VarianceScaling",
                "config": {"scale": scale, "mode": "fan_avg", "distribution": "uniform"},
            }

        kernel_initializer = initializer(kernel_init_scale)
        residual = residual_init_scale is not None
        # A residual block's kernels start at residual_init_scale x the others' std.
        residual_kwargs = (
            {"kernel_initializer": initializer(kernel_init_scale * residual_init_scale**2)}
            if residual
            else {}
        )

        def gai(image_width, gradient_width, name, **block_kwargs):
            block_kwargs.setdefault("activation", activation)
            block_kwargs.setdefault("kernel_initializer", kernel_initializer)
            return dict(
                image_filters=image_width,
                gradient_filters=gradient_width,
                kernel_size=kernel_size,
                name=name,
                **block_kwargs,
            )

        def down_blocks():
            return [gai(a, g, "down_1", strides=2), gai(2 * a, 2 * g, "down_2", strides=2)]

        def dilation_blocks(num_blocks, num_priority=0):
            return [
                gai(
                    2 * a,
                    2 * g,
                    f"dilation_{block}_{index}",
                    dilation_rate=rate,
                    shrinkage_delta=shrinkage_delta if block <= num_priority else None,
                    **residual_kwargs,
                )
                for block in range(1, num_blocks + 1)
                for index, rate in enumerate(self.dilation_rates, start=1)
            ]

        def attention(name):
            return ContextualAttention(
                ksize=attention_ksize,
                stride=1,
                rate=attention_rate,
                fuse_k=attention_fuse_k,
                softmax_scale=attention_softmax_scale,
                fuse=attention_fuse,
                dtype=self.dtype_policy,
                name=name,
            )

        def stack(blocks, name, num_down=None, **stack_kwargs):
            # With residual_init_scale, every block after the first num_down is residual (the
            # dilation blocks and the attention's convolutions; None: none, the decoder).
            if residual and num_down is not None:
                stack_kwargs["residual"] = [index >= num_down for index in range(len(blocks))]
            return GAIStack(blocks, dtype=self.dtype_policy, name=name, **stack_kwargs)

        # === Layers ===
        self.structure = stack(
            down_blocks() + dilation_blocks(num_structure_blocks, num_priority_blocks),
            "structure",
            num_down=2,
        )
        self.content = stack(
            down_blocks() + dilation_blocks(num_content_blocks), "content", num_down=2
        )
        if attention_flows == "joint":
            self.attentions = [attention("content_attention")]
        else:
            self.attentions = [
                attention("content_attention_image"),
                attention("content_attention_gradient"),
            ]
        self.content_attention_convs = None
        if num_attention_convs:
            self.content_attention_convs = stack(
                [
                    gai(2 * a, 2 * g, f"conv_{index}", **residual_kwargs)
                    for index in range(1, num_attention_convs + 1)
                ],
                "content_attention_convs",
                num_down=0,
            )
        # Widths 4a -> a -> a/2 (and 4g -> g -> g/2): our reading of the paper's "halved at each
        # upsampling" (DeepFill v1's refinement decoder, from one branch's width), a choice, not
        # a width the paper states.
        self.decoder = stack(
            [
                gai(a, g, "up_1"),
                gai(max(a // 2, 1), max(g // 2, 1), "up_2"),
                # On the fill the heads are corrections of it, zero at the start.
                gai(
                    3,
                    2,
                    "head",
                    activation=None,
                    **({"kernel_initializer": "zeros"} if fill_input else {}),
                ),
            ],
            "decoder",
            upsample=(True, True, False),
        )

    def build(self, input_shape):
        image_shape, gradient_shape, mask_shape = (tuple(shape) for shape in input_shape)
        flows = [image_shape, gradient_shape, mask_shape]
        self.structure.build(flows)
        self.content.build(flows)
        quarter = self.content.compute_output_shape(flows)  # (B, H/4, W/4, 2a), (.., 2g), ..
        a2, g2 = self.image_filters * 2, self.gradient_filters * 2
        mask = (*quarter[0][:3], 1)
        if self.attention_flows == "joint":
            joint = (*quarter[0][:3], a2 + g2)
            self.attentions[0].build([joint, joint, mask])
        else:
            self.attentions[0].build([quarter[0], quarter[0], mask])
            self.attentions[1].build([quarter[1], quarter[1], mask])
        if self.content_attention_convs is not None:
            self.content_attention_convs.build([quarter[0], quarter[1], mask])
        self.decoder.build([(*quarter[0][:3], 2 * a2), (*quarter[0][:3], 2 * g2), mask])

    def call(self, inputs):
        image, gradient, hole_mask = inputs
        a2 = 2 * self.image_filters
        # On the fill the flows know every pixel; only the attention takes the real holes.
        flow_holes = ops.zeros_like(hole_mask) if self.fill_input else hole_mask
        # Names are rebound or deleted as soon as a map is used up (eager memory, see above).
        structure_flows = self.structure([image, gradient, flow_holes])  # (B, H/4, W/4, ..)
        x, dx, _ = self.content([image, gradient, flow_holes])
        attention_holes = ops.max_pool(hole_mask, 4, strides=4, padding="valid")
        if self.attention_flows == "joint":
            joint = ops.concatenate([x, dx], axis=-1)  # (B, H/4, W/4, 2a + 2g)
            del x, dx
            joint = self.attentions[0]([joint, joint, attention_holes])
            x, dx = joint[..., :a2], joint[..., a2:]
            del joint
        else:
            x = self.attentions[0]([x, x, attention_holes])
            dx = self.attentions[1]([dx, dx, attention_holes])
        holes = ops.zeros_like(attention_holes)  # The attention filled the holes.
        if self.content_attention_convs is not None:
            x, dx, holes = self.content_attention_convs([x, dx, holes])

        x = ops.concatenate([structure_flows[0], x], axis=-1)  # (B, H/4, W/4, 4a)
        dx = ops.concatenate([structure_flows[1], dx], axis=-1)  # (B, H/4, W/4, 4g)
        holes = structure_flows[2] * holes  # A hole only where both branches have one.
        del structure_flows
        flows = [x, dx, holes]
        del x, dx, holes
        raw, gradients, _ = self.decoder(flows)
        return raw, gradients

    def compute_output_shape(self, input_shape):
        image_shape = tuple(input_shape[0])
        return (*image_shape[:3], 3), (*image_shape[:3], 2)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                name: getattr(self, name)
                for name in (
                    "image_filters",
                    "gradient_filters",
                    "num_structure_blocks",
                    "num_content_blocks",
                    "dilation_rates",
                    "num_priority_blocks",
                    "shrinkage_delta",
                    "kernel_size",
                    "activation",
                    "attention_flows",
                    "num_attention_convs",
                    "attention_ksize",
                    "attention_rate",
                    "attention_fuse_k",
                    "attention_softmax_scale",
                    "attention_fuse",
                    "kernel_init_scale",
                    "residual_init_scale",
                    "fill_input",
                )
            }
        )
        return config


@keras.saving.register_keras_serializable(package="tfinpaint")
class GAINDiscriminator(keras.Model):
    """SN-PatchGAN discriminator in the DeepFill v2 style, GAIN's image and gradient critic.

    Yu et al., "Free-Form Image Inpainting with Gated Convolution" (DeepFill v2), ICCV 2019,
    section 3.3; our choice for GAIN, whose paper names only spectral normalization and a
    gradient penalty. `num_layers` spectral-normalised convolutions `kernel_size` x
    `kernel_size`, stride 2, "same" padding, widths f, 2f, 4f, 4f, ... (f = `filters`), each
    followed by LeakyReLU(0.2), the last one included, as in DeepFill v2. The output is the
    (B, h, w, 4f) map of patch scores (DeepFill v2 flattens it; the hinge loss averages it).

    Input: the image, or the gradient map, with the hole mask beside it (DeepFill v2's
    `gan_with_mask`): `input_channels` = 4 for the image critic, 3 for the gradient critic.

    Args:
        input_channels: int. Channels of the input (4: RGB + mask, 3: gradient x, y + mask).
        filters: int. Width f of the first convolution (64 in DeepFill v2).
        num_layers: int. Number of convolutions (6 in DeepFill v2).
        kernel_size: int. Their window (5 in DeepFill v2).
        **kwargs: `keras.Model` keyword arguments (`name`, `trainable`, `dtype`).

    Example:
    >>> d = GAINDiscriminator(input_channels=4, filters=8, num_layers=3)
    >>> d(np.zeros((2, 32, 32, 4), "float32"), training=True).shape
    TensorShape([2, 4, 4, 32])
    """

    def __init__(self, input_channels=4, filters=64, num_layers=6, kernel_size=5, **kwargs):
        input_channels = _check_int(input_channels, "input_channels", 1)
        filters = _check_int(filters, "filters", 1)
        num_layers = _check_int(num_layers, "num_layers", 1)
        kernel_size = _check_int(kernel_size, "kernel_size", 1)
        inputs = keras.Input((None, None, input_channels))
        x = inputs
        for index in range(1, num_layers + 1):
            width = filters * min(2 ** (index - 1), 4)
            x = keras.layers.SpectralNormalization(
                keras.layers.Conv2D(
                    width, kernel_size, strides=2, padding="same", name=f"conv_{index}"
                ),
                name=f"sn_conv_{index}",
            )(x)
            x = keras.layers.LeakyReLU(0.2, name=f"lrelu_{index}")(x)
        super().__init__(inputs, x, **kwargs)
        self.input_channels = input_channels
        self.filters = filters
        self.num_layers = num_layers
        self.kernel_size = kernel_size

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "input_channels": self.input_channels,
            "filters": self.filters,
            "num_layers": self.num_layers,
            "kernel_size": self.kernel_size,
        }


def _discriminators(filters, num_layers):
    return {
        "image": {"input_channels": 4, "filters": filters, "num_layers": num_layers},
        "gradient": {"input_channels": 3, "filters": filters, "num_layers": num_layers},
    }


PRESETS = {
    # The paper's network: widths 64 (image flow) and 128 (gradient flow); 256 px, batch 8,
    # Adam 1e-4. The paper trains 10^6 iterations; `steps` counts generator and critic steps
    # alike, so 1_000_000 steps at the default 1 G : 1 D are 5 x 10^5 generator updates (half
    # the paper's iterations if one iteration is one G and one D update; give --steps=2000000
    # for 10^6 of each). The free-form training masks are our choice: the paper (seed 004's
    # summary of it) names no training masks, only irregular holes.
    "paper": {
        "generator": {"image_filters": 64, "gradient_filters": 128},
        "discriminators": _discriminators(64, 6),
        "training": {
            "image_size": 256,
            "batch_size": 8,
            "masks": "freeform",
            "steps": 1_000_000,
            "learning_rate": 1e-4,
            "d_learning_rate": 1e-4,
            "log_every": 200,
            "checkpoint_every": 5000,
            "val_batch_size": 8,
            "options": {},
        },
    },
    # Seconds on a CPU: for tests and demos. One priority block, the attention, nothing more.
    "tiny": {
        "generator": {
            "image_filters": 4,
            "gradient_filters": 8,
            "num_structure_blocks": 1,
            "num_content_blocks": 0,
            "dilation_rates": (2,),
            "num_priority_blocks": 1,
            "num_attention_convs": 0,
        },
        "discriminators": _discriminators(8, 3),
        "training": {
            "image_size": 32,
            "batch_size": 2,
            "masks": "freeform:scaled",
            "steps": 8,
            "learning_rate": 1e-3,
            "d_learning_rate": 1e-3,
            "log_every": 2,
            "checkpoint_every": 4,
            "val_batch_size": 2,
            "options": {},
        },
    },
}
