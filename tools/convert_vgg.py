"""Converts torchvision VGG16/VGG19 ImageNet weights for the perceptual and style losses.

PConv's loss weights (0.05 perceptual, 120 style) were tuned on torchvision's VGG16 features
(RGB on [0, 1] normalised by the ImageNet mean and std), not on Keras' Caffe-converted VGG. This
tool writes a torchvision state dict as a Keras `.weights.h5` that records its flavour, so that
`tools/train.py --vgg_weights=OUTPUT` applies torchvision's normalisation by itself
(tfinpaint.losses.vgg_convert does the work).

Usage:

    # On a machine with PyTorch: save torchvision's weights, then convert them.
    python -c "import torch, torchvision; torch.save(torchvision.models.vgg16(
        weights='IMAGENET1K_V1').state_dict(), 'vgg16.pth')"
    python tools/convert_vgg.py --input=vgg16.pth --output=vgg16_torchvision.weights.h5

    # Without PyTorch here: a state dict saved as .npz (np.savez(path, **{k: v.numpy() ...})).
    python tools/convert_vgg.py --input=vgg19.npz --output=vgg19_torchvision.weights.h5 \
        --arch=vgg19

    python tools/train.py --model=pconv --vgg_weights=vgg16_torchvision.weights.h5 ...

The architecture is detected from the state dict unless --arch is given; an existing output is
kept unless --overwrite.
"""

import sys

from absl import flags

from tfinpaint import cli

cli.import_tensorflow_quietly()  # Before anything imports TensorFlow.

from tfinpaint.losses import vgg_convert  # noqa: E402

_INPUT = flags.DEFINE_string("input", None, "torchvision VGG state dict: .pth/.pt (torch) or .npz.")
_OUTPUT = flags.DEFINE_string("output", None, "Keras weights file to write (*.weights.h5).")
_ARCH = flags.DEFINE_enum("arch", "auto", ["auto", "vgg16", "vgg19"], "VGG architecture.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing output file.")


@cli.reports_file_errors
def main(argv):
    if len(argv) > 1:
        sys.exit(f"Error: unexpected arguments: {' '.join(argv[1:])}; every input is a flag.")
    if not _INPUT.value or not _OUTPUT.value:
        sys.exit("Error: pass --input (a torchvision state dict) and --output (*.weights.h5).")
    arch = None if _ARCH.value == "auto" else _ARCH.value
    try:
        path, arch = vgg_convert.convert_torchvision_vgg(
            _INPUT.value, _OUTPUT.value, arch=arch, overwrite=_OVERWRITE.value
        )
    except ValueError as error:
        sys.exit(f"Error: {error}")
    print(f"{arch} weights (torchvision flavour) written to {path}")
    print(f"Use them with: python tools/train.py --vgg_weights={path} ...")


if __name__ == "__main__":
    cli.run(main)
