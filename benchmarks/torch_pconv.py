"""A PyTorch twin of the PConv U-Net, for the side-by-side benchmark (`--compare=torch`) only.

The same network as `tfinpaint.models.pconv.PConvUNet` (SPEC.md section 1), built from the same
constructor arguments (a registry preset's generator config), written in plain PyTorch so that
`tools/benchmark.py --what=inference|train_step --model=pconv --compare=torch` can time both on
one machine: the partial convolution with NVIDIA's semantics and our float32 mask path, the
stride-2 encoder with BatchNorm and ReLU, the nearest-upsampling decoder with channel-wise
(grouped) or union masks, BatchNorm and LeakyReLU(0.2), and the known-pixel blend. Tensors are
NCHW as PyTorch wants them (`channels_last` memory format optional). `copy_keras_weights` copies
a Keras generator's weights in, so the tests can check that both give the same outputs.

It lives beside the benchmarks, outside the package: torch is an optional extra
(`pip install -e ".[bench]"`), never a dependency of tfinpaint, and the package holds no PyTorch
code. `tools/benchmark.py --compare=torch` loads this file by its path (only when a comparison
is asked for) and hands it to `tfinpaint.benchmark.compare` as `twin=`; tests/test_torch_pconv.py
loads it the same way.
"""

import torch
import torch.nn.functional as F
from torch import nn

_SUPPORTED = {
    "encoder_filters",
    "encoder_kernel_sizes",
    "decoder_filters",
    "decoder_kernel_size",
    "use_batch_norm",
    "use_bias_with_batch_norm",
    "decoder_mask_mode",
    "batch_norm_momentum",
    "batch_norm_epsilon",
    "padding",
}


def _tf_same_pads(size, kernel_size, stride):
    """(before, after) zeros of TensorFlow's "same" padding along one axis of length `size`."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


class PartialConv2d(nn.Module):
    """`tfinpaint.layers.PartialConv2D` in PyTorch (single-channel or grouped masks).

    `forward(x, hole_mask)` with x (B, C_in, H, W) and hole_mask (B, G, H, W), 1 = hole (G = 1,
    or `len(mask_groups)`); returns `(y, new_hole_mask)` with a one-channel mask. The mask path
    (counts, ratio) runs in float32 outside autocast, as ours does under mixed precision.
    """

    def __init__(
        self,
        in_channels,
        filters,
        kernel_size,
        stride,
        padding,
        use_bias,
        mask_groups=None,
        epsilon=1e-8,
    ):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.weight = nn.Parameter(torch.empty(filters, in_channels, kernel_size, kernel_size))
        nn.init.xavier_uniform_(self.weight)  # Keras' glorot_uniform.
        self.bias = nn.Parameter(torch.zeros(filters)) if use_bias else None
        self.mask_groups = list(mask_groups) if mask_groups else None
        sizes = torch.tensor(self.mask_groups or [1], dtype=torch.float32)
        count_kernel = sizes.view(1, -1, 1, 1).expand(1, len(sizes), kernel_size, kernel_size)
        self.register_buffer("count_kernel", count_kernel.contiguous(), persistent=False)
        self.window = kernel_size * kernel_size * (in_channels if self.mask_groups else 1)
        self.epsilon = epsilon

    def _conv(self, inputs, weight):
        k, s = self.kernel_size, self.stride
        if self.padding == "symmetric":  # NVIDIA's / PyTorch's padding=k // 2 for odd k.
            return F.conv2d(inputs, weight, stride=s, padding=(k - 1) // 2)
        top, bottom = _tf_same_pads(inputs.shape[2], k, s)
        left, right = _tf_same_pads(inputs.shape[3], k, s)
        if top == bottom and left == right:
            return F.conv2d(inputs, weight, stride=s, padding=(top, left))
        return F.conv2d(F.pad(inputs, (left, right, top, bottom)), weight, stride=s)

    def forward(self, x, hole_mask):
        with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
            valid = 1.0 - hole_mask.float()
            count = self._conv(valid, self.count_kernel)
            new_valid = count.clamp(0.0, 1.0)
            safe_count = torch.where(count > 0.0, count, torch.ones_like(count))
            ratio = self.window / (safe_count + self.epsilon) * new_valid
        if self.mask_groups:
            sizes = torch.tensor(self.mask_groups, device=valid.device)
            valid = valid.repeat_interleave(sizes, dim=1)
        # The feature path in the compute dtype (bfloat16 under autocast), as ours.
        compute_dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled() else x.dtype
        raw = self._conv(x.to(compute_dtype) * valid.to(compute_dtype), self.weight)
        outputs = raw * ratio.to(raw.dtype)
        if self.bias is not None:
            outputs = outputs + self.bias.to(raw.dtype).view(1, -1, 1, 1)
        outputs = outputs * new_valid.to(raw.dtype)
        return outputs, 1.0 - new_valid


class PConvUNet(nn.Module):
    """`tfinpaint.models.pconv.PConvUNet` in PyTorch, from the same constructor arguments.

    `forward(images, masks)` with images (B, 3, H, W) in [0, 1] and masks (B, 1, H, W), 1 =
    hole; returns a dict with `raw` and `inpainted` (B, 3, H, W) float32.
    """

    def __init__(
        self,
        encoder_filters,
        encoder_kernel_sizes,
        decoder_filters,
        decoder_kernel_size=3,
        use_batch_norm=True,
        use_bias_with_batch_norm=False,
        decoder_mask_mode="channelwise",
        batch_norm_momentum=0.9,
        batch_norm_epsilon=1e-5,
        padding="same",
    ):
        super().__init__()
        depth = len(encoder_filters)
        self.channelwise = decoder_mask_mode == "channelwise"
        self.use_batch_norm = use_batch_norm

        def batch_norm(channels):
            # PyTorch's momentum weighs the new batch: 1 - Keras' momentum.
            return nn.BatchNorm2d(
                channels, eps=batch_norm_epsilon, momentum=1.0 - batch_norm_momentum
            )

        self.encoder_convs = nn.ModuleList()
        self.encoder_batch_norms = nn.ModuleDict()
        channels = 3
        for index, (filters, kernel_size) in enumerate(zip(encoder_filters, encoder_kernel_sizes)):
            has_batch_norm = use_batch_norm and index > 0
            self.encoder_convs.append(
                PartialConv2d(
                    channels,
                    filters,
                    kernel_size,
                    2,
                    padding,
                    use_bias=use_bias_with_batch_norm or not has_batch_norm,
                )
            )
            if has_batch_norm:
                self.encoder_batch_norms[str(index)] = batch_norm(filters)
            channels = filters
        below = [encoder_filters[-1], *decoder_filters[:-1]]
        skip_channels = [*reversed(encoder_filters[:-1]), 3]
        self.decoder_convs = nn.ModuleList()
        self.decoder_batch_norms = nn.ModuleDict()
        for index, filters in enumerate(decoder_filters):
            has_batch_norm = use_batch_norm and index < depth - 1
            groups = [below[index], skip_channels[index]]
            self.decoder_convs.append(
                PartialConv2d(
                    sum(groups),
                    filters,
                    decoder_kernel_size,
                    1,
                    padding,
                    use_bias=use_bias_with_batch_norm or not has_batch_norm,
                    mask_groups=groups if self.channelwise else None,
                )
            )
            if has_batch_norm:
                self.decoder_batch_norms[str(index)] = batch_norm(filters)

    def forward(self, images, masks):
        masked_images = images * (1.0 - masks)
        features, hole_mask = masked_images, masks
        skips = [(masked_images, masks)]
        for index, conv in enumerate(self.encoder_convs):
            features, hole_mask = conv(features, hole_mask)
            if str(index) in self.encoder_batch_norms:
                features = self.encoder_batch_norms[str(index)](features)
            features = F.relu(features)
            skips.append((features, hole_mask))
        skips.pop()
        last = len(self.decoder_convs) - 1
        for index, conv in enumerate(self.decoder_convs):
            skip_features, skip_hole_mask = skips.pop()
            features = F.interpolate(features, scale_factor=2, mode="nearest")
            hole_mask = F.interpolate(hole_mask, scale_factor=2, mode="nearest")
            if self.channelwise:
                hole_mask = torch.cat([hole_mask, skip_hole_mask], dim=1)
            else:
                hole_mask = torch.minimum(hole_mask, skip_hole_mask)
            features = torch.cat([features, skip_features.to(features.dtype)], dim=1)
            features, hole_mask = conv(features, hole_mask)
            if index < last:
                if str(index) in self.decoder_batch_norms:
                    features = self.decoder_batch_norms[str(index)](features)
                features = F.leaky_relu(features, 0.2)
        raw = features.float()
        return {"raw": raw, "inpainted": raw * masks + images * (1.0 - masks)}


def build_pconv_unet(generator_config):
    """The twin of the Keras generator built from `generator_config` (a registry config dict).

    Raises:
        ValueError: for constructor arguments the twin does not implement (e.g. a dtype).
    """
    config = {k: v for k, v in generator_config.items() if k not in ("name", "trainable")}
    unknown = sorted(set(config) - _SUPPORTED)
    if config.get("dtype") is None:
        unknown = [name for name in unknown if name != "dtype"]
    if unknown:
        raise ValueError(
            f"The PyTorch PConv U-Net does not implement {unknown}; expected arguments among "
            f"{sorted(_SUPPORTED)}."
        )
    config.pop("dtype", None)
    return PConvUNet(**config)


def count_parameters(module):
    """(trainable parameters, BatchNorm running statistics) of a torch module."""
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    statistics = sum(
        buffer.numel()
        for name, buffer in module.named_buffers()
        if name.endswith(("running_mean", "running_var"))
    )
    return trainable, statistics


def copy_keras_weights(torch_model, generator):
    """Copies the weights of a Keras `PConvUNet` into its twin (kernels HWIO -> OIHW).

    Raises:
        ValueError: when a layer's shapes differ (the two were built from different configs).
    """

    def put(parameter, value, name):
        value = torch.as_tensor(value)
        if tuple(parameter.shape) != tuple(value.shape):
            raise ValueError(
                f"{name} has shape {tuple(value.shape)} in Keras but {tuple(parameter.shape)} in "
                "PyTorch; expected the same network."
            )
        with torch.no_grad():
            parameter.copy_(value)

    def copy_conv(conv, layer):
        # (kh, kw, in, out) -> (out, in, kh, kw)
        kernel = layer.kernel.numpy().transpose(3, 2, 0, 1)
        put(conv.weight, kernel.copy(), layer.name)
        if (conv.bias is None) != (layer.bias is None):
            raise ValueError(
                f"{layer.name} has a bias in one build only; expected the same network."
            )
        if conv.bias is not None:
            put(conv.bias, layer.bias.numpy(), layer.name)

    def copy_batch_norm(batch_norm, layer):
        put(batch_norm.weight, layer.gamma.numpy(), layer.name)
        put(batch_norm.bias, layer.beta.numpy(), layer.name)
        put(batch_norm.running_mean, layer.moving_mean.numpy(), layer.name)
        put(batch_norm.running_var, layer.moving_variance.numpy(), layer.name)

    for index, conv in enumerate(torch_model.encoder_convs):
        copy_conv(conv, generator.get_layer(f"encoder_pconv_{index + 1}"))
    for index, batch_norm in torch_model.encoder_batch_norms.items():
        copy_batch_norm(batch_norm, generator.get_layer(f"encoder_bn_{int(index) + 1}"))
    for index, conv in enumerate(torch_model.decoder_convs):
        copy_conv(conv, generator.get_layer(f"decoder_pconv_{index + 1}"))
    for index, batch_norm in torch_model.decoder_batch_norms.items():
        copy_batch_norm(batch_norm, generator.get_layer(f"decoder_bn_{int(index) + 1}"))


def pconv_loss(images, raw, masks, weights=None):
    """Our PConv loss without VGG: valid L1 + 6 hole L1 + 0.1 TV (NCHW, float32).

    L1 terms are normalised by the image's element count; TV over pairs of pixels both in the
    hole dilated by one pixel (3x3), divided by the element count.
    """
    weights = {"valid": 1.0, "hole": 6.0, "tv": 0.1, **(weights or {})}
    images, raw, masks = images.float(), raw.float(), masks.float()
    diff = raw - images
    valid = torch.mean(torch.abs((1.0 - masks) * diff))
    hole = torch.mean(torch.abs(masks * diff))
    comp = masks * raw + (1.0 - masks) * images
    region = F.max_pool2d(masks, 3, stride=1, padding=1)
    pairs_x = region[:, :, :, 1:] * region[:, :, :, :-1]
    pairs_y = region[:, :, 1:, :] * region[:, :, :-1, :]
    diff_x = torch.abs(comp[:, :, :, 1:] - comp[:, :, :, :-1])
    diff_y = torch.abs(comp[:, :, 1:, :] - comp[:, :, :-1, :])
    tv = (torch.sum(pairs_x * diff_x) + torch.sum(pairs_y * diff_y)) / comp.numel()
    total = weights["valid"] * valid + weights["hole"] * hole + weights["tv"] * tv
    return {"total": total, "valid": valid, "hole": hole, "tv": tv}
