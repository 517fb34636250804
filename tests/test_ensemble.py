"""The test-time self-ensemble as a model (`models.SelfEnsemble`): a numpy reference of the
five views, known pixels, extra outputs, checkpoints shipped with `ensemble=True`, the tools'
--ensemble / --noensemble, and a TFLite export. Tiny presets at 32-64 px."""

import json
import os

import cv2
import keras
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from test_shipping import _run_tool

from tfinpaint import export, inference
from tfinpaint.models import SelfEnsemble, registry
from tfinpaint.models.ensemble import rot90
from tfinpaint.models.saving import save_generator

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def cascade():
    keras.utils.set_random_seed(11)
    return registry.build_generator("cascade", "tiny")


def _batch(height, width, seed=0, batch=2):
    rng = np.random.default_rng(seed)
    images = rng.random((batch, height, width, 3), dtype=np.float32)
    masks = np.zeros((batch, height, width, 1), np.float32)
    masks[:, height // 4 : 3 * height // 4, width // 5 : width // 2] = 1.0
    masks[:, 2:6, -10:-2] = 1.0
    return images, masks


def _numpy_ensemble_raw(generator, images, masks):
    """The definition: the raw outputs for the input rotated by k quarter turns (k = 0..3) and
    flipped left-right, each turned back with numpy, averaged."""

    def raw(x, m):
        inputs = {"images": np.ascontiguousarray(x), "masks": np.ascontiguousarray(m)}
        return np.asarray(generator(inputs, training=False)["raw"], np.float64)

    total = sum(
        np.rot90(raw(np.rot90(images, k, (1, 2)), np.rot90(masks, k, (1, 2))), -k, (1, 2))
        for k in range(4)
    )
    total = total + raw(images[:, :, ::-1], masks[:, :, ::-1])[:, :, ::-1]
    return total / 5.0


@pytest.mark.parametrize("k", [-3, -2, -1, 0, 1, 2, 3, 4, 5])
def test_rot90_is_numpys_on_non_square_batches(k):
    x = np.arange(2 * 3 * 5 * 2, dtype=np.float32).reshape(2, 3, 5, 2)
    np.testing.assert_array_equal(np.asarray(rot90(x, k)), np.rot90(x, k, axes=(1, 2)))


@pytest.mark.parametrize("size", [(32, 32), (32, 64), (64, 40)])
def test_self_ensemble_is_the_mean_of_the_turned_back_views(cascade, size):
    images, masks = _batch(*size)
    ensemble = SelfEnsemble(cascade)
    out = ensemble({"images": images, "masks": masks})
    expected = _numpy_ensemble_raw(cascade, images, masks)
    np.testing.assert_allclose(np.asarray(out["raw"]), expected, atol=2e-6)
    single = np.asarray(cascade({"images": images, "masks": masks})["raw"])
    assert np.abs(single - expected).max() > 1e-3  # The views do differ.
    inpainted = np.asarray(out["inpainted"])
    np.testing.assert_array_equal(inpainted[masks[..., 0] == 0], images[masks[..., 0] == 0])
    np.testing.assert_allclose(inpainted, expected * masks + images * (1 - masks), atol=2e-6)
    assert set(out) == {"raw", "inpainted"}
    assert ensemble.size_multiple == cascade.size_multiple
    assert ensemble.count_params() == cascade.count_params()


def test_extra_outputs_are_the_identity_views():
    # A stand-in with an orientation-dependent extra output (a horizontal difference, the
    # kind of quantity a rotation changes the meaning of).
    images_in = keras.Input((None, None, 3), name="images")
    masks_in = keras.Input((None, None, 1), name="masks")
    raw = keras.layers.Conv2D(3, 3, padding="same", name="conv")(images_in)
    diff = keras.layers.Conv2D(1, (1, 2), padding="same", name="diff")(images_in)
    stand_in = keras.Model(
        {"images": images_in, "masks": masks_in}, {"raw": raw, "inpainted": raw, "diff": diff}
    )
    images, masks = _batch(16, 24, seed=3)
    out = SelfEnsemble(stand_in)({"images": images, "masks": masks})
    direct = stand_in({"images": images, "masks": masks})
    np.testing.assert_allclose(np.asarray(out["diff"]), np.asarray(direct["diff"]), atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(out["raw"]), _numpy_ensemble_raw(stand_in, images, masks), atol=2e-6
    )


@pytest.mark.parametrize("name", registry.list_models())
def test_every_family_runs_as_a_bfloat16_ensemble(name):
    # The ensemble takes the generator's mixed_bfloat16 policy, so its inputs arrive in
    # bfloat16; GAIN returns `raw` in float32, and the blend once multiplied the two (Mul:
    # float vs bfloat16), which made GAIN's bfloat16 evaluation fail.
    generator = registry.build_generator(name, "tiny", dtype="mixed_bfloat16")
    images, masks = _batch(32, 32, seed=4)
    out = SelfEnsemble(generator)({"images": images, "masks": masks})
    known = np.broadcast_to(np.asarray(masks) < 0.5, images.shape)
    inpainted = np.asarray(keras.ops.cast(out["inpainted"], "float32"))
    bf16_images = np.asarray(keras.ops.cast(keras.ops.cast(images, "bfloat16"), "float32"))
    np.testing.assert_array_equal(inpainted[known], bf16_images[known])


@pytest.mark.parametrize("size", [(32, 32), (32, 48)])
def test_large_inputs_run_view_by_view_with_the_same_result(cascade, size, monkeypatch):
    images, masks = _batch(*size, seed=6)
    together = np.asarray(SelfEnsemble(cascade)({"images": images, "masks": masks})["raw"])
    calls = []
    original = cascade.__class__.__call__

    def counting(self, inputs, *args, **kwargs):
        calls.append(int(inputs["images"].shape[0]))
        return original(self, inputs, *args, **kwargs)

    monkeypatch.setattr(SelfEnsemble, "MAX_CALL_PIXELS", 2 * size[0] * size[1])
    monkeypatch.setattr(cascade.__class__, "__call__", counting)
    apart = np.asarray(SelfEnsemble(cascade)({"images": images, "masks": masks})["raw"])
    assert calls == [2] * 5  # A batch of 2 images: one view per call.
    np.testing.assert_allclose(apart, together, atol=1e-5)
    assert SelfEnsemble.views_per_call(None, 32, 32) == 5  # Unknown sizes: one call per shape.


def test_self_ensemble_refuses_bad_inputs_in_one_sentence(cascade):
    ensemble = SelfEnsemble(cascade)
    with pytest.raises(ValueError, match="divisible by 8"):
        ensemble({"images": np.zeros((1, 36, 32, 3)), "masks": np.zeros((1, 36, 32, 1))})
    with pytest.raises(ValueError, match="expected a single generator"):
        SelfEnsemble(ensemble)


def test_shipped_with_ensemble_loads_as_the_ensemble(cascade, tmp_path, monkeypatch):
    folder = tmp_path / "shipped"
    monkeypatch.setenv(inference.CHECKPOINTS_DIR_ENV, str(folder))
    pair = tmp_path / "pair"
    save_generator(cascade, "cascade", "tiny", str(pair), extra={"image_size": 32, "step": 5})
    result = inference.ship_checkpoint(
        str(pair), "ens", "Tiny cascade, self-ensemble.", ensemble=True
    )
    assert result["ensemble"] is True
    with open(folder / "ens.json", encoding="utf-8") as f:
        assert json.load(f)["ensemble"] is True

    generator, info = inference.load_generator("ens", with_info=True)
    assert isinstance(generator, SelfEnsemble) and info["ensemble"] is True
    single, info = inference.load_generator("ens", with_info=True, ensemble=False)
    assert not isinstance(single, SelfEnsemble) and info["ensemble"] is False
    plain, info = inference.load_generator(str(pair), with_info=True)
    assert not isinstance(plain, SelfEnsemble) and info["ensemble"] is False
    assert isinstance(inference.load_generator(str(pair), ensemble=True), SelfEnsemble)

    image = (np.random.default_rng(2).random((40, 56, 3)) * 255).astype(np.uint8)
    holes = np.zeros((40, 56), bool)
    holes[8:30, 10:40] = True
    by_name = inference.inpaint(generator, image, holes)
    # ensemble=True on a generator that is already the ensemble does not run it twice.
    np.testing.assert_array_equal(
        by_name, inference.inpaint(generator, image, holes, ensemble=True)
    )
    np.testing.assert_array_equal(by_name, inference.inpaint(single, image, holes, ensemble=True))
    assert np.abs(by_name.astype(int) - inference.inpaint(single, image, holes)).max() > 0
    np.testing.assert_array_equal(by_name[~holes], image[~holes])

    # Shipping again from the ensemble checkpoint copies the single network's weights.
    again = inference.ship_checkpoint(str(folder / "ens.json"), "ens2", "Copy, no ensemble.")
    assert again["ensemble"] is False and again["max_difference"] == 0.0
    assert not isinstance(inference.load_generator("ens2"), SelfEnsemble)

    for bad in ("yes", 1):
        with pytest.raises(ValueError, match="expected None, True or False"):
            inference.load_generator("ens", ensemble=bad)
    with pytest.raises(ValueError, match="expected True or False"):
        inference.ship_checkpoint(str(pair), "ens3", "Bad.", ensemble=None)
    assert not (folder / "ens3.json").exists()


def test_tools_ship_inpaint_and_evaluate_with_and_without_the_ensemble(trained_run, tmp_path):
    folder = tmp_path / "shipped"
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([_ROOT, os.environ.get("PYTHONPATH", "")]),
        **{inference.CHECKPOINTS_DIR_ENV: str(folder)},
    )
    shipped = _run_tool(
        "ship_checkpoint.py", f"--workdir={trained_run}", "--name=demo_ens",
        "--description=Tiny PConv, self-ensemble.", "--ensemble", env=env,
    )  # fmt: skip
    assert shipped.returncode == 0, shipped.stderr[-2000:]
    assert "loads as its self-ensemble" in shipped.stdout

    image = (np.random.default_rng(5).random((40, 48, 3)) * 255).astype(np.uint8)
    holes = np.zeros((40, 48), bool)
    holes[5:25, 10:30] = True
    cv2.imwrite(str(tmp_path / "photo.png"), image[..., ::-1])
    cv2.imwrite(str(tmp_path / "holes.png"), holes.astype(np.uint8) * 255)
    single = inference.load_generator(trained_run)
    for flag, ensemble in (None, True), ("--noensemble", False):
        output = tmp_path / f"out_{ensemble}.png"
        result = _run_tool(
            "inpaint.py", "--checkpoint=demo_ens", f"--image={tmp_path / 'photo.png'}",
            f"--mask={tmp_path / 'holes.png'}", f"--output={output}", *([flag] if flag else []),
            "--strategy=pad", env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        assert ("float32, self-ensemble)" in result.stdout) == ensemble
        got = cv2.imread(str(output))[..., ::-1]
        expected = inference.inpaint(single, image, holes, ensemble=ensemble)
        assert np.abs(got.astype(int) - expected).max() <= 1  # Another process may round.

    scores = {}
    for flag in ("--ensemble", "--noensemble"):
        output = tmp_path / f"eval{flag}.json"
        result = _run_tool(
            "evaluate.py", f"--workdir={trained_run}", flag, "--data=samples", "--num_images=2",
            "--image_size=32", "--baselines=", f"--output_json={output}", env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        settings = json.loads(output.read_text())
        assert settings["settings"]["ensemble"] is (flag == "--ensemble")
        assert ("self-ensemble" in result.stdout) is (flag == "--ensemble")
        scores[flag] = settings["summary"]
    assert scores["--ensemble"] != scores["--noensemble"]


def test_tflite_export_of_the_ensemble_has_builtin_ops_and_matches_keras(cascade, tmp_path):
    ensemble = SelfEnsemble(cascade)
    path = str(tmp_path / "ens.tflite")
    result = export.export_tflite(ensemble, path, (32, 48))
    assert all(not op.startswith(("CUSTOM", "Flex")) for op in result["ops"])
    images, masks = _batch(32, 48, seed=8, batch=1)
    got = Interpreter(model_path=path).get_signature_runner()(images=images, masks=masks)
    expected = np.clip(_numpy_ensemble_raw(cascade, images, masks), 0.0, 1.0)
    expected = expected * masks + images * (1 - masks)
    assert np.abs(got["inpainted"] - expected).max() < 1e-4
