"""Converts torchvision VGG16/VGG19 weights to the layout of Keras' VGG (`VGGFeatures`).

The PConv loss (NVIDIA's code, PConv-Keras) and DeepGIN use torchvision's ImageNet VGG, fed
[0, 1] RGB images normalised by the ImageNet mean and std; their loss weights (PConv's 0.05
perceptual and 120 style) were tuned on those features. Keras' own VGG weights were converted from
Caffe and expect BGR on the 0-255 scale: other weights, other feature magnitudes. This module
reads a torchvision state dict (`.pth` through PyTorch when it is installed, or `.npz`), maps
`features.N.weight` / `features.N.bias` to Keras' `blockK_convM` layers, transposes the kernels
from torch's (out, in, kh, kw) to Keras' (kh, kw, in, out), and writes a Keras `.weights.h5`
whose HDF5 root records the flavour ("torchvision") and the architecture, so that
`VGGFeatures(weights=PATH)` (`--vgg_weights=PATH`) applies torchvision's normalisation by itself.

`torchvision.models.vgg16(...).state_dict()` and `vgg19` are supported (the `classifier.*`
entries of a full model are ignored); batch-norm variants (`vgg16_bn`) are not.
"""

import io
import os

import numpy as np

from tfinpaint import files
from tfinpaint.losses import perceptual
from tfinpaint.models import saving

# torchvision's configurations "D" (VGG16) and "E" (VGG19): channels per conv, "M" for max-pool.
_TORCHVISION_CONFIGS = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M")
    + (512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M")
    + (512, 512, 512, 512, "M"),
}
_IGNORED_PREFIXES = ("classifier.",)


def torchvision_layer_map(arch):
    """[(torchvision features index, Keras layer name, in channels, out channels)] per conv.

    torchvision's `features` is a Sequential of Conv2d, ReLU (and MaxPool2d at each "M"), so the
    convolutions sit at indices 0, 2, 5, 7, 10, ... ; Keras names them block1_conv1, block1_conv2,
    block2_conv1, ...
    """
    if arch not in _TORCHVISION_CONFIGS:
        raise ValueError(f"VGG conversion got arch={arch!r}; expected 'vgg16' or 'vgg19'.")
    layers, index, block, conv, channels = [], 0, 1, 1, 3
    for item in _TORCHVISION_CONFIGS[arch]:
        if item == "M":
            index, block, conv = index + 1, block + 1, 1
            continue
        layers.append((index, f"block{block}_conv{conv}", channels, item))
        index, conv, channels = index + 2, conv + 1, item
    return layers


def read_state_dict(path):
    """{name: float32 numpy array} of a torchvision state dict saved as `.npz` or `.pth`.

    `.npz`: one array per state-dict key (e.g. written by
    `np.savez(path, **{k: v.numpy() for k, v in model.state_dict().items()})`).
    `.pth` / `.pt`: read with `torch.load(..., weights_only=True)` when PyTorch is installed; a
    checkpoint dict holding the weights under "state_dict" is accepted too.

    Raises:
        ValueError: a missing or unreadable file, an unknown extension, or `.pth` without torch.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{path} is not an existing file; expected a torchvision state dict.")
    extension = os.path.splitext(path)[1].lower()
    if extension == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: np.asarray(data[name]) for name in data.files}
        except (OSError, ValueError) as error:
            raise ValueError(
                f"{path} is not a readable .npz file ({error}); expected a torchvision state "
                "dict saved with numpy.savez."
            ) from None
    if extension in (".pth", ".pt"):
        try:
            import torch  # Optional: only `.pth` files need it.
        except ImportError:
            raise ValueError(
                f"{path} is a PyTorch file and PyTorch is not installed; pip install torch, or "
                "save the state dict as .npz (np.savez(out, **{k: v.numpy() for k, v in "
                "state_dict.items()})) and convert that."
            ) from None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many types for a bad file; one message.
            raise ValueError(
                f"{path} could not be read by torch.load ({type(error).__name__}); expected a "
                "torchvision VGG state dict."
            ) from None
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise ValueError(
                f"{path} holds a {type(state).__name__}; expected a state dict (a dict of "
                "tensors, e.g. torchvision.models.vgg16().state_dict())."
            )
        return {name: value.detach().cpu().numpy() for name, value in state.items()}
    raise ValueError(
        f"{path} has the extension {extension or '(none)'!r}; expected a torchvision state dict "
        "as .pth, .pt or .npz."
    )


def detect_arch(state_dict):
    """`"vgg16"` or `"vgg19"` from the convolutions a torchvision state dict holds."""
    indices = set()
    for name in state_dict:
        name = name.removeprefix("module.")
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "features" and parts[1].isdigit():
            indices.add(int(parts[1]))
    for arch in _TORCHVISION_CONFIGS:
        if indices == {index for index, _, _, _ in torchvision_layer_map(arch)}:
            return arch
    raise ValueError(
        f"The state dict holds features.N entries at N = {sorted(indices) or 'none'}, which "
        "match neither torchvision's vgg16 nor vgg19 (batch-norm variants are not supported); "
        "expected a torchvision VGG16/VGG19 state dict."
    )


def torchvision_to_keras(state_dict, arch=None):
    """{Keras layer name: [kernel (kh, kw, in, out), bias (out,)]} from a torchvision state dict.

    Args:
        state_dict: dict of name -> array, torchvision's keys (`features.0.weight`, ...); a
            `module.` prefix (DataParallel) is dropped and `classifier.*` entries are ignored.
        arch: optional str. `"vgg16"` or `"vgg19"`; None detects it from the keys.

    Raises:
        ValueError: one sentence for missing, unexpected or mis-shaped entries.
    """
    state = {name.removeprefix("module."): value for name, value in state_dict.items()}
    arch = arch or detect_arch(state)
    layer_map = torchvision_layer_map(arch)
    expected = {f"features.{i}.{kind}" for i, _, _, _ in layer_map for kind in ("weight", "bias")}
    unexpected = sorted(
        name for name in state if name not in expected and not name.startswith(_IGNORED_PREFIXES)
    )
    if unexpected:
        raise ValueError(
            f"The state dict has entries a torchvision {arch} does not have ({len(unexpected)}, "
            f"first: {unexpected[0]}); expected only features.N.weight/bias (and classifier.*)."
        )
    missing = sorted(expected - set(state))
    if missing:
        raise ValueError(
            f"The state dict lacks {len(missing)} entries of a torchvision {arch} (first: "
            f"{missing[0]}); expected every features.N.weight and features.N.bias."
        )
    converted = {}
    for index, keras_name, in_channels, out_channels in layer_map:
        weight = np.asarray(state[f"features.{index}.weight"], "float32")
        bias = np.asarray(state[f"features.{index}.bias"], "float32")
        if weight.shape != (out_channels, in_channels, 3, 3) or bias.shape != (out_channels,):
            raise ValueError(
                f"The state dict's features.{index} has weight {weight.shape} and bias "
                f"{bias.shape}; expected ({out_channels}, {in_channels}, 3, 3) and "
                f"({out_channels},) for {arch}'s {keras_name}."
            )
        # torch (out, in, kh, kw) -> Keras (kh, kw, in, out); both cross-correlate, no flip.
        converted[keras_name] = [np.transpose(weight, (2, 3, 1, 0)), bias]
    return arch, converted


def check_output(output, overwrite=False):
    """The output path as a str, or a one-sentence ValueError: a `.weights.h5` name (Keras'
    `save_weights` needs it) in an existing folder, not an existing file unless `overwrite`."""
    output = os.fspath(output)
    if not output.endswith(".weights.h5"):
        raise ValueError(
            f"The output {output} does not end in .weights.h5; expected a Keras weights file name."
        )
    if os.path.isdir(output):
        raise ValueError(f"The output {output} is a folder; expected a .weights.h5 file name.")
    if os.path.exists(output) and not overwrite:
        raise ValueError(f"The output {output} exists; pass --overwrite to replace it.")
    directory = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(directory):
        raise ValueError(f"The output folder {directory} does not exist; create it first.")
    return output


def write_keras_weights(arch, layer_weights, output, overwrite=False):
    """Writes a Keras VGG `.weights.h5` tagged with the torchvision flavour; returns the path.

    The file is written next to `output` and moved into place (`files.atomic_write`), so a
    failure never leaves a half-written file under the output name.
    """
    output = check_output(output, overwrite)
    vgg = perceptual.VGGFeatures(arch, ("block5_pool",), weights=None)
    for name, values in layer_weights.items():
        vgg.backbone.get_layer(name).set_weights(values)
    import h5py  # Keras' own dependency.

    # Built and tagged in memory, then written with a guarded write: a full disk or a file-size
    # limit gives an OSError naming `output` (HDF5 writing to disk would crash at exit) and
    # never a half-written file.
    buffer = io.BytesIO(saving.weights_file_bytes(vgg.backbone))
    with h5py.File(buffer, "a") as f:
        f.attrs[perceptual.VGG_FLAVOUR_ATTR] = "torchvision"
        f.attrs[perceptual.VGG_ARCH_ATTR] = arch
    with files.atomic_write(output, suffix=".weights.h5") as tmp_path:
        with open(tmp_path, "wb") as f:
            f.write(buffer.getvalue())
    return output


def convert_torchvision_vgg(source, output, arch=None, overwrite=False):
    """Reads a torchvision VGG state dict and writes it as a torchvision-flavour Keras file.

    Args:
        source: path of a `.pth`/`.pt` (needs PyTorch) or `.npz` state dict.
        output: path ending in `.weights.h5`.
        arch: optional `"vgg16"` / `"vgg19"`; None detects it from the state dict.
        overwrite: bool. Replace an existing output.

    Returns:
        (output path, arch).

    Raises:
        ValueError: one sentence for a bad source, state dict or output, before writing.
    """
    output = check_output(output, overwrite)
    if os.path.abspath(output) == os.path.abspath(os.fspath(source)):
        raise ValueError(f"The output {output} is the source; expected a different file.")
    arch, layer_weights = torchvision_to_keras(read_state_dict(source), arch)
    return write_keras_weights(arch, layer_weights, output, overwrite), arch
