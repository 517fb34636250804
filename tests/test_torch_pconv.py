"""The PyTorch twin of the PConv U-Net (benchmarks/torch_pconv.py) is the same network as
ours: parameter counts agree, and with our weights copied in it gives our outputs and our loss.
Also the `--compare=torch` records and the one-sentence error without torch. Tiny presets at
32-64 px; skipped where torch is not installed (it is the optional `bench` extra).
"""

import importlib.util
import os

import keras
import numpy as np
import pytest

from tfinpaint import benchmark
from tfinpaint.benchmark import compare
from tfinpaint.models import registry
from tfinpaint.training.pconv import PConvLoss

torch = pytest.importorskip(
    "torch", reason="the PyTorch twin needs torch, the optional bench extra"
)
# The twin lives beside the benchmarks, outside the package (which holds no PyTorch code); it is
# loaded by its path as tools/benchmark.py loads it, so a missing file fails instead of skipping.
_TWIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
_spec = importlib.util.spec_from_file_location("torch_pconv", os.path.join(_TWIN, "torch_pconv.py"))
torch_pconv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(torch_pconv)

# The tiny preset ("same" padding, biases only where there is no BN), the paper's choices at a
# tiny width ("symmetric", every bias), and the union decoder masks.
_CONFIGS = {
    "tiny": {},
    "symmetric_biases": {"padding": "symmetric", "use_bias_with_batch_norm": True},
    "union": {"decoder_mask_mode": "union"},
}


def _pair(overrides, seed=0):
    keras.utils.set_random_seed(seed)
    config = registry.generator_config("pconv", "tiny", **overrides)
    generator = registry.build_generator("pconv", "tiny", **overrides)
    # Non-trivial BatchNorm statistics, so inference mode is checked too.
    rng = np.random.default_rng(seed)
    for weight in generator.non_trainable_weights:
        values = rng.uniform(0.5, 1.5, weight.shape) if "variance" in weight.path else None
        if values is None:
            values = rng.normal(0.0, 0.1, weight.shape)
        weight.assign(values.astype("float32"))
    twin = torch_pconv.build_pconv_unet(config)
    torch_pconv.copy_keras_weights(twin, generator)
    return generator, twin


def _inputs(size=64, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(size=(batch, size, size, 3)).astype("float32")
    masks = np.zeros((batch, size, size, 1), "float32")
    masks[0, 8:40, 12:52] = 1.0
    masks[1] = (rng.uniform(size=(size, size, 1)) < 0.3).astype("float32")
    return images, masks


def _nchw(array):
    return torch.from_numpy(array.transpose(0, 3, 1, 2).copy())


@pytest.mark.parametrize("name", sorted(_CONFIGS))
def test_parameter_counts_agree(name):
    generator, twin = _pair(_CONFIGS[name])
    trainable, statistics = torch_pconv.count_parameters(twin)
    assert trainable == sum(int(np.prod(w.shape)) for w in generator.trainable_weights)
    assert statistics == sum(int(np.prod(w.shape)) for w in generator.non_trainable_weights)
    assert trainable + statistics == generator.count_params()


def test_paper_preset_parameter_count_agrees_without_building_ours():
    twin = torch_pconv.build_pconv_unet(registry.generator_config("pconv", "paper"))
    # The paper preset's figures, pinned by tests/test_pconv_model.py for our build.
    assert torch_pconv.count_parameters(twin) == (32_865_236, 10_880)


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("name", sorted(_CONFIGS))
def test_outputs_agree_with_copied_weights(name, training):
    generator, twin = _pair(_CONFIGS[name])
    images, masks = _inputs()
    ours = generator({"images": images, "masks": masks}, training=training)
    twin.train(training)
    with torch.no_grad():
        theirs = twin(_nchw(images), _nchw(masks))
    for key in ("raw", "inpainted"):
        np.testing.assert_allclose(
            theirs[key].numpy().transpose(0, 2, 3, 1), ours[key].numpy(), rtol=1e-4, atol=2e-5
        )


def test_bfloat16_autocast_stays_close_and_keeps_known_pixels():
    generator, twin = _pair({})
    images, masks = _inputs()
    ours = generator({"images": images, "masks": masks}, training=False)["inpainted"].numpy()
    twin.eval()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        theirs = twin(_nchw(images), _nchw(masks))["inpainted"]
    assert theirs.dtype == torch.float32
    theirs = theirs.numpy().transpose(0, 2, 3, 1)
    known = masks[..., 0] == 0
    np.testing.assert_array_equal(theirs[known], images[known])
    np.testing.assert_allclose(theirs, ours, atol=0.05)


def test_loss_without_vgg_equals_pconv_loss():
    images, masks = _inputs(size=32)
    raw = np.random.default_rng(3).uniform(-0.2, 1.2, images.shape).astype("float32")
    ours = PConvLoss(vgg=None)(images, raw, masks)
    theirs = torch_pconv.pconv_loss(_nchw(images), _nchw(raw), _nchw(masks))
    for key in ("valid", "hole", "tv", "total"):
        np.testing.assert_allclose(float(theirs[key]), float(ours[key]), rtol=1e-5)


def test_compare_records_agree_and_time_both_builds():
    inference = benchmark.compare_torch_inference(
        "pconv", "tiny", image_size=32, batch_size=1, rounds=2, warmup=0, twin=torch_pconv
    )
    assert inference["params"] == registry.build_generator("pconv", "tiny").count_params()
    assert inference["max_abs_diff"] < 1e-4
    train = benchmark.compare_torch_train_step(
        "pconv", "tiny", image_size=32, batch_size=2, rounds=1, warmup=0, twin=torch_pconv
    )
    assert train["loss_ours"] == pytest.approx(train["loss_torch"], rel=1e-4)
    for record in (inference, train):
        assert record["ours_ms_min"] > 0 and record["torch_ms_min"] > 0
        assert record["torch_over_ours"] == pytest.approx(
            record["torch_ms_min"] / record["ours_ms_min"]
        )
        assert record["threads"] == compare.tensorflow_threads()
        benchmark.table_row(record)  # Its table knows every column.


def test_missing_torch_is_one_sentence(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "torch" else real_find_spec(name, *args),
    )
    with pytest.raises(ValueError, match=r"^--compare=torch needs PyTorch, which is not installed"):
        benchmark.plan_compare("inference", ["pconv"], preset="tiny", image_sizes=[64])


def test_plan_refuses_families_without_a_twin():
    with pytest.raises(ValueError, match="has a PyTorch build of pconv only"):
        benchmark.plan_compare("inference", ["glcic"], preset="tiny", image_sizes=[64])


def test_plan_refuses_train_steps_with_one_value_per_channel_at_the_bottleneck():
    # The paper U-Net halves 8 times: 256 px leaves a 1x1 bottleneck, and batch 1 one value.
    with pytest.raises(ValueError, match="more than one value per channel.*--batch_size >= 2"):
        benchmark.plan_compare("train_step", ["pconv"], image_sizes=[256], batch_size=1)
    assert benchmark.plan_compare("train_step", ["pconv"], image_sizes=[256], batch_size=2)
    assert benchmark.plan_compare("inference", ["pconv"], image_sizes=[256], batch_size=1)
