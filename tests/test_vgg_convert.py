"""Tests for the torchvision VGG converter (tfinpaint.losses.vgg_convert, tools/convert_vgg.py)
and the VGG flavours of tfinpaint.losses: random state dicts written by the tests, no download."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tfinpaint import losses
from tfinpaint.losses import vgg_convert
from tfinpaint.models import registry
from tfinpaint.training import loop
from tfinpaint.training.config import TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RNG = np.random.default_rng(0)


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def random_state_dict(arch, seed=0):
    """A torchvision-layout VGG state dict: He-normal kernels (out, in, 3, 3), small biases."""
    rng = np.random.default_rng(seed)
    state = {}
    for index, _, in_channels, out_channels in vgg_convert.torchvision_layer_map(arch):
        std = np.sqrt(2.0 / (9 * out_channels))  # torchvision: kaiming_normal_, fan_out, relu
        weight = rng.standard_normal((out_channels, in_channels, 3, 3)) * std
        state[f"features.{index}.weight"] = weight.astype("float32")
        state[f"features.{index}.bias"] = (rng.standard_normal(out_channels) * 0.1).astype(
            "float32"
        )
    return state


@pytest.fixture(scope="module")
def vgg16_files(tmp_path_factory):
    """(state dict, its .npz, the converted .weights.h5)."""
    folder = tmp_path_factory.mktemp("vgg16")
    state = random_state_dict("vgg16")
    state["classifier.0.weight"] = np.zeros((4, 2), "float32")  # a full model's head: ignored
    npz = folder / "vgg16.npz"
    np.savez(npz, **state)
    converted = folder / "vgg16_torchvision.weights.h5"
    assert vgg_convert.convert_torchvision_vgg(npz, converted) == (str(converted), "vgg16")
    return state, npz, converted


# === numpy reference: torchvision's features on its own layout ===
def _torch_conv3x3_relu(x, weight, bias):
    """conv3x3, padding 1 (cross-correlation, torch layout (out, in, kh, kw)) + ReLU, NHWC."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    height, width = x.shape[1:3]
    out = np.zeros(x.shape[:3] + (weight.shape[0],), "float64")
    for di in range(3):
        for dj in range(3):
            window = padded[:, di : di + height, dj : dj + width]
            out += np.einsum("bhwi,oi->bhwo", window, weight[:, :, di, dj])
    return np.maximum(out + bias, 0.0)


def _maxpool2(x):
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def _reference_pool1_pool2(state, images):
    """torchvision's vgg16 features[:10] (up to pool2) on normalised RGB, from the definition."""
    mean = np.array(losses.IMAGENET_TORCH_RGB_MEAN)
    std = np.array(losses.IMAGENET_TORCH_RGB_STD)
    x = (images.astype("float64") - mean) / std
    for index in (0, 2):
        x = _torch_conv3x3_relu(
            x, state[f"features.{index}.weight"], state[f"features.{index}.bias"]
        )
    pool1 = _maxpool2(x)
    x = pool1
    for index in (5, 7):
        x = _torch_conv3x3_relu(
            x, state[f"features.{index}.weight"], state[f"features.{index}.bias"]
        )
    return pool1, _maxpool2(x)


def test_converted_vgg16_matches_the_numpy_reference(vgg16_files):
    state, _, converted = vgg16_files
    vgg = losses.VGGFeatures("vgg16", ("block1_pool", "block2_pool"), weights=str(converted))
    assert vgg.flavour == "torchvision"
    images = RNG.random((2, 16, 16, 3), dtype="float32")
    expected = _reference_pool1_pool2(state, images)
    for got, want in zip(vgg(images), expected):
        assert got.shape == want.shape
        np.testing.assert_allclose(_np(got), want, rtol=1e-4, atol=1e-4)


def test_layer_map_and_kernel_layout(vgg16_files):
    state, _, converted = vgg16_files
    assert [i for i, _, _, _ in vgg_convert.torchvision_layer_map("vgg16")] == [
        0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28
    ]  # fmt: skip
    vgg19 = vgg_convert.torchvision_layer_map("vgg19")
    assert (vgg19[-1][0], vgg19[-1][1]) == (34, "block5_conv4")
    vgg = losses.VGGFeatures("vgg16", ("block5_pool",), weights=str(converted))
    conv = vgg.backbone.get_layer("block5_conv3")  # the deepest: features.28
    np.testing.assert_array_equal(
        _np(conv.kernel), state["features.28.weight"].transpose(2, 3, 1, 0)
    )
    np.testing.assert_array_equal(_np(conv.bias), state["features.28.bias"])


def test_pth_state_dict_converts_like_the_npz(tmp_path, vgg16_files):
    torch = pytest.importorskip("torch", reason="reading .pth state dicts needs PyTorch")
    state, _, converted = vgg16_files
    pth = tmp_path / "vgg16.pth"
    torch.save({"state_dict": {k: torch.from_numpy(v) for k, v in state.items()}}, pth)
    output = tmp_path / "from_pth.weights.h5"
    vgg_convert.convert_torchvision_vgg(pth, output)
    a = losses.VGGFeatures("vgg16", ("block5_pool",), weights=str(converted))
    b = losses.VGGFeatures("vgg16", ("block5_pool",), weights=str(output))
    for x, y in zip(a.backbone.get_weights(), b.backbone.get_weights()):
        np.testing.assert_array_equal(x, y)


def test_pth_without_torch_says_how_to_convert(tmp_path, monkeypatch):
    pth = tmp_path / "vgg16.pth"
    pth.write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    with pytest.raises(ValueError, match="PyTorch is not installed; pip install torch, or save"):
        vgg_convert.read_state_dict(pth)


# === Flavours ===
def test_torchvision_normalisation():
    images = RNG.random((2, 4, 4, 3), dtype="float32")
    expected = (images - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    got = _np(losses.vgg_preprocess(images, "torchvision"))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    caffe = images[..., ::-1] * 255.0 - np.array(losses.IMAGENET_CAFFE_BGR_MEAN)
    np.testing.assert_allclose(_np(losses.vgg_preprocess(images)), caffe, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="flavour='torch'"):
        losses.vgg_preprocess(images, "torch")


def test_flavour_is_read_from_the_weights(tmp_path, vgg16_files):
    converted = str(vgg16_files[2])
    assert losses.resolve_vgg_flavour("auto", converted) == "torchvision"
    assert losses.resolve_vgg_flavour("auto", "imagenet") == "keras_caffe"
    assert losses.resolve_vgg_flavour("auto", None) == "keras_caffe"
    assert losses.resolve_vgg_flavour("torchvision", None) == "torchvision"  # random: either
    # A Keras file without the record (save_weights of Keras' layout) is keras_caffe.
    keras_file = tmp_path / "keras_vgg16.weights.h5"
    losses.VGGFeatures("vgg16", ("block1_pool",), weights=None).backbone.save_weights(keras_file)
    assert losses.resolve_vgg_flavour("auto", str(keras_file)) == "keras_caffe"
    with pytest.raises(ValueError, match="contradicts the VGG weights .* torchvision weights"):
        losses.resolve_vgg_flavour("keras_caffe", converted)
    with pytest.raises(ValueError, match="contradicts the VGG weights 'imagenet'"):
        losses.resolve_vgg_flavour("torchvision", "imagenet")
    with pytest.raises(ValueError, match="vgg_flavour got 'caffe'"):
        losses.resolve_vgg_flavour("caffe", None)
    with pytest.raises(ValueError, match="hold a vgg16; expected weights of a vgg19"):
        losses.VGGFeatures("vgg19", ("block1_pool",), weights=converted)
    vgg = losses.VGGFeatures("vgg16", ("block1_pool",), weights=converted)
    assert vgg.get_config()["flavour"] == "torchvision"


def test_feature_scale_of_the_two_flavours_as_documented(vgg16_files):
    # VGGFeatures' docstring: the same weights fed Caffe's input give features ~56x larger
    # (mean |f|), Gram matrices ~3100x. Measured here at 64 px with this file's weights.
    converted = str(vgg16_files[2])
    torch_vgg = losses.VGGFeatures("vgg16", losses.VGG16_POOL_LAYERS, weights=converted)
    caffe_vgg = losses.VGGFeatures("vgg16", losses.VGG16_POOL_LAYERS, weights=None)
    caffe_vgg.backbone.set_weights(torch_vgg.backbone.get_weights())
    images = RNG.random((2, 64, 64, 3), dtype="float32")
    for a, b in zip(caffe_vgg(images), torch_vgg(images)):
        ratio = np.mean(np.abs(_np(a))) / np.mean(np.abs(_np(b)))
        gram_ratio = np.mean(np.abs(_np(losses.gram_matrix(a)))) / np.mean(
            np.abs(_np(losses.gram_matrix(b)))
        )
        assert 40 < ratio < 75, ratio
        assert 1600 < gram_ratio < 5600, gram_ratio


# === Bad input ===
def test_bad_state_dicts_get_one_sentence_errors(vgg16_files):
    state = vgg16_files[0]
    missing = {k: v for k, v in state.items() if k != "features.28.bias"}
    with pytest.raises(ValueError, match=r"lacks 1 entries .*first: features.28.bias"):
        vgg_convert.torchvision_to_keras(missing)
    batch_norm = {**state, "features.1.running_mean": np.zeros(64, "float32")}
    with pytest.raises(ValueError, match="match neither torchvision's vgg16 nor vgg19"):
        vgg_convert.torchvision_to_keras(batch_norm)
    extra = {**state, "features.0.weight_orig": np.zeros(1, "float32")}
    with pytest.raises(ValueError, match="first: features.0.weight_orig"):
        vgg_convert.torchvision_to_keras(extra, arch="vgg16")
    transposed = {**state, "features.0.weight": state["features.0.weight"].transpose(2, 3, 1, 0)}
    with pytest.raises(ValueError, match=r"features.0 has weight \(3, 3, 3, 64\)"):
        vgg_convert.torchvision_to_keras(transposed)
    with pytest.raises(ValueError, match="a torchvision vgg19 does not have"):  # vgg16 as vgg19
        vgg_convert.torchvision_to_keras(state, arch="vgg19")
    with pytest.raises(ValueError, match="N = none"):
        vgg_convert.torchvision_to_keras({"fc.weight": np.zeros(1)})
    # DataParallel's "module." prefix is dropped; a VGG19's keys are recognised.
    assert vgg_convert.detect_arch({f"module.{k}": v for k, v in state.items()}) == "vgg16"
    assert vgg_convert.detect_arch(random_state_dict("vgg19")) == "vgg19"


def test_bad_files_and_outputs(tmp_path, vgg16_files):
    npz, converted = vgg16_files[1], vgg16_files[2]
    with pytest.raises(ValueError, match="not an existing file"):
        vgg_convert.read_state_dict(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    with pytest.raises(ValueError, match="not a readable .npz file"):
        vgg_convert.read_state_dict(bad)
    text = tmp_path / "vgg16.txt"
    text.write_text("x")
    with pytest.raises(ValueError, match="expected a torchvision state dict as .pth, .pt or .npz"):
        vgg_convert.read_state_dict(text)
    with pytest.raises(ValueError, match="does not end in .weights.h5"):
        vgg_convert.convert_torchvision_vgg(npz, tmp_path / "out.h5")
    with pytest.raises(ValueError, match="exists; pass --overwrite"):
        vgg_convert.convert_torchvision_vgg(npz, converted)
    with pytest.raises(ValueError, match="does not exist; create it first"):
        vgg_convert.convert_torchvision_vgg(npz, tmp_path / "no" / "out.weights.h5")


def test_training_checks_the_vgg_flavour_option(vgg16_files):
    converted = str(vgg16_files[2])
    pconv = registry.get_family("pconv").load("trainer")
    glcic = registry.get_family("glcic").load("trainer")

    def config(model, weights, **options):
        return TrainConfig(model=model, workdir="unused", vgg_weights=weights, options=options)

    assert loop.check_vgg_settings(config("pconv", converted), pconv) == "torchvision"
    assert loop.check_vgg_settings(config("pconv", "imagenet"), pconv) == "keras_caffe"
    with pytest.raises(ValueError, match="contradicts"):
        loop.check_vgg_settings(config("pconv", converted, vgg_flavour="keras_caffe"), pconv)
    with pytest.raises(ValueError, match="model 'glcic' has none"):
        loop.check_vgg_settings(config("glcic", "imagenet", vgg_flavour="torchvision"), glcic)
    vgg = loop.build_vgg(pconv, config("pconv", converted))
    assert vgg.flavour == "torchvision" and vgg.layer_names == losses.VGG16_POOL_LAYERS


# === The tool ===
def _run_tool(*args):
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "convert_vgg.py"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ROOT},
        timeout=300,
        check=False,
    )


def test_tool_converts_and_never_overwrites(tmp_path, vgg16_files):
    npz = vgg16_files[1]
    output = tmp_path / "out.weights.h5"
    result = _run_tool(f"--input={npz}", f"--output={output}")
    assert result.returncode == 0, result.stderr
    assert "vgg16 weights (torchvision flavour) written to" in result.stdout
    assert losses.resolve_vgg_flavour("auto", str(output)) == "torchvision"
    before = output.read_bytes()
    result = _run_tool(f"--input={npz}", f"--output={output}", "--arch=vgg19")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Error: The output")
    assert "pass --overwrite" in result.stderr and "Traceback" not in result.stderr
    assert output.read_bytes() == before
