"""DeepGIN generator (SPEC.md section 4): the paper's parameter counts, the dict contract on a
tiny width, the back projection against a numpy reference, config and save/load round trips."""

import os
import tempfile

import keras
import numpy as np
import pytest
from harness import json_round_trip, random_batch, run_generator_test
from test_deepgin_layers import reference_resize_align_corners

from tfinpaint import export
from tfinpaint.models.deepgin import DeepGINGenerator

TINY = {"base_filters": 8, "num_coarse_spd_blocks": 1, "num_refine_spd_blocks": 1}


@pytest.fixture(scope="module")
def tiny_generator():
    keras.utils.set_random_seed(0)
    return DeepGINGenerator(**TINY)


def test_paper_parameter_count():
    # Built only: a forward pass at 256 px is too slow for the default suite.
    generator = DeepGINGenerator()
    assert generator.count_params() == 42_930_186  # SPEC: the paper's 42.930 M

    def count(prefix):
        return sum(
            layer.count_params() for layer in generator.layers if layer.name.startswith(prefix)
        )

    assert count("coarse_") == 8_167_843  # G1
    assert count("refine_") == 34_762_343  # G2
    assert len(generator.non_trainable_weights) == 0


@pytest.mark.parametrize("training", [False, True])
def test_tiny_generator_contract(tiny_generator, training):
    outputs = run_generator_test(tiny_generator, random_batch(2, 32, 48), training=training)
    assert set(outputs) == {"raw", "inpainted", "coarse", "lr"}
    assert outputs["coarse"].shape == (2, 32, 48, 3)
    assert outputs["lr"].shape == (2, 8, 12, 3)
    assert all(outputs[key].dtype == np.float32 for key in outputs)


def test_back_projection_matches_numpy_reference(tiny_generator):
    batch = random_batch(2, 32, 32, seed=1)
    probe = keras.Model(
        tiny_generator.input,
        [
            tiny_generator.get_layer("refine_out").output,
            tiny_generator.get_layer("refine_alpha").output,
        ],
    )
    d5, alpha = (np.asarray(t, np.float64) for t in probe(batch))
    outputs = tiny_generator(batch)
    images, masks = batch["images"], batch["masks"]
    composited = d5 * masks + images * (1.0 - masks)
    residual = np.asarray(outputs["lr"], np.float64) - reference_resize_align_corners(
        composited, 8, 8
    )
    expected = composited + reference_resize_align_corners(residual, 32, 32) * alpha
    np.testing.assert_allclose(np.asarray(outputs["raw"]), expected, atol=1e-5)


def test_sizes_must_be_multiples_of_16(tiny_generator):
    assert tiny_generator.size_multiple == 16
    with pytest.raises(ValueError, match="divisible by 16"):
        tiny_generator(random_batch(1, 40, 32))


def test_config_errors():
    with pytest.raises(ValueError, match="base_filters"):
        DeepGINGenerator(base_filters=7)
    with pytest.raises(ValueError, match="num_refine_spd_blocks"):
        DeepGINGenerator(base_filters=8, num_refine_spd_blocks=-1)


@pytest.mark.parametrize("scale", [0.1, 1.0])
def test_kernel_init_scale_reaches_every_kernel(scale):
    # Every kernel (plain, SPD and attention convolutions) starts He-normal times `scale`:
    # std = scale * sqrt(2 / fan_in). 0.1, the default, is the reference code's.
    keras.utils.set_random_seed(1)
    generator = DeepGINGenerator(**TINY, kernel_init_scale=scale)
    kernels = [w for w in generator.weights if w.path.endswith("kernel")]
    assert len(kernels) == len(generator.weights) // 2  # one bias per kernel
    for kernel in kernels:
        values = np.asarray(kernel)
        if values.size < 2000:
            continue  # Too few draws for a tight estimate (the 3-channel heads).
        fan_in = int(np.prod(values.shape[:-1]))
        expected = scale * np.sqrt(2.0 / fan_in)
        assert abs(values.std() / expected - 1.0) < 0.1, kernel.path
        assert abs(values.mean()) < 0.1 * expected, kernel.path
    config = json_round_trip(generator.get_config())
    assert config["kernel_init_scale"] == scale
    assert DeepGINGenerator.from_config(config).count_params() == generator.count_params()


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), True, "1"])
def test_kernel_init_scale_refuses_bad_values(value):
    with pytest.raises(ValueError, match="kernel_init_scale=.*expected a finite number > 0"):
        DeepGINGenerator(**TINY, kernel_init_scale=value)


def _is_residual_output(path):
    # The last convolution of each residual branch: SPD fuse convs, attention output convs.
    return "/fuse/" in path or "/output_conv/" in path


@pytest.mark.parametrize("residual_scale", [None, 0.1])
def test_residual_init_scale_reaches_only_the_residual_branch_outputs(residual_scale):
    # Fixup-style start: every kernel He-normal x kernel_init_scale, but the last convolution
    # of every residual branch (SPD fuse, self-attention output) x residual_init_scale; None
    # leaves them as the rest.
    keras.utils.set_random_seed(2)
    generator = DeepGINGenerator(
        base_filters=16,
        num_coarse_spd_blocks=1,
        num_refine_spd_blocks=1,
        kernel_init_scale=1.0,
        residual_init_scale=residual_scale,
    )
    residual_paths = []
    for kernel in (w for w in generator.weights if w.path.endswith("kernel")):
        values = np.asarray(kernel)
        if values.size < 2000:
            continue  # Too few draws for a tight estimate.
        residual = _is_residual_output(kernel.path)
        residual_paths += [kernel.path] if residual else []
        scale = residual_scale if residual and residual_scale is not None else 1.0
        expected = scale * np.sqrt(2.0 / int(np.prod(values.shape[:-1])))
        assert abs(values.std() / expected - 1.0) < 0.1, kernel.path
    # 2 SPD blocks' fuse convs and 3 attentions' output convs, all large enough to measure.
    assert len(residual_paths) == 5, residual_paths
    config = json_round_trip(generator.get_config())
    assert config["residual_init_scale"] == residual_scale
    restored = DeepGINGenerator.from_config(config)
    assert restored.residual_init_scale == residual_scale
    assert restored.count_params() == generator.count_params()


@pytest.mark.parametrize("value", [0, -0.5, float("nan"), True, "0.1"])
def test_residual_init_scale_refuses_bad_values(value):
    with pytest.raises(ValueError, match="residual_init_scale=.*expected a finite number > 0"):
        DeepGINGenerator(**TINY, residual_init_scale=value)


def test_config_round_trip_and_save_load(tiny_generator):
    config = tiny_generator.get_config()
    assert config["coarse_dilation_rates"] == (2, 3, 4, 5, 6, 8, 10, 1)
    restored = DeepGINGenerator.from_config(json_round_trip(config))
    assert json_round_trip(restored.get_config()) == json_round_trip(config)
    batch = random_batch(2, 32, 32)
    expected = tiny_generator(batch)
    with tempfile.TemporaryDirectory() as tmp_dir:
        path = os.path.join(tmp_dir, "deepgin.keras")
        tiny_generator.save(path)
        loaded = keras.saving.load_model(path)
    assert isinstance(loaded, DeepGINGenerator)
    actual = loaded(batch)
    for key in ("raw", "inpainted", "coarse", "lr"):
        np.testing.assert_array_equal(actual[key], expected[key])


def test_mixed_precision_keeps_known_pixels_exact():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        generator = DeepGINGenerator(**TINY)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    outputs = run_generator_test(generator, random_batch(2, 32, 32))
    assert outputs["inpainted"].dtype == np.float32


def test_tiny_generator_converts_to_builtin_tflite_ops(tiny_generator, tmp_path):
    # Replicate padding (TILE, CONCATENATION), the aligned-corners resize (GATHER) and the
    # attention (BATCH_MATMUL, SOFTMAX) must all lower to builtin ops.
    result = export.export_tflite(tiny_generator, str(tmp_path / "deepgin.tflite"), 64)
    assert all(not op.startswith("CUSTOM") and not op.startswith("Flex") for op in result["ops"])
    assert {"TILE", "GATHER", "BATCH_MATMUL", "SOFTMAX"} <= set(result["ops"])
    assert result["probe_max_abs_error"] < 1e-4
