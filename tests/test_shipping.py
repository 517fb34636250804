"""Shipping checkpoints: float16 weights files, names resolved in the checkpoints folder,
list_checkpoints, ship_checkpoint, and the tools (ship_checkpoint.py, inpaint.py
--checkpoint=NAME / --list_checkpoints). Tiny presets in temporary folders; the folder names
resolve in is moved with $TFINPAINT_CHECKPOINTS_DIR. tests/test_shipped_checkpoints.py checks
the checkpoints that actually ship."""

import json
import os
import subprocess
import sys

import cv2
import h5py
import keras
import numpy as np
import pytest

from tfinpaint import checkpointing, inference
from tfinpaint.models import registry
from tfinpaint.models.saving import load_saved_generator, save_generator

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_MODELS = registry.list_models()


def _h5_float_arrays(path):
    """{dtype name: total bytes} of the floating-point arrays in an HDF5 file."""
    found = {}

    def visit(_, item):
        if isinstance(item, h5py.Dataset) and item.dtype.kind == "f":
            found[item.dtype.name] = found.get(item.dtype.name, 0) + item.nbytes

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return found


def _photo_and_holes(height=45, width=61):
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 4, y * 5, (x + y) * 2], axis=-1).astype(np.uint8)
    holes = np.zeros((height, width), bool)
    holes[10:30, 15:40] = True
    return image, holes


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """An empty checkpoints folder that bare names resolve in."""
    folder = tmp_path / "shipped"
    folder.mkdir()
    monkeypatch.setenv(inference.CHECKPOINTS_DIR_ENV, str(folder))
    return folder


@pytest.fixture(scope="module")
def cascade_pair(tmp_path_factory):
    """A tiny cascade generator and the folder of its saved float32 generator.json pair."""
    keras.utils.set_random_seed(3)
    generator = registry.build_generator("cascade", "tiny")
    folder = tmp_path_factory.mktemp("cascade_pair")
    save_generator(generator, "cascade", "tiny", str(folder), extra={"image_size": 32, "step": 9})
    return generator, str(folder)


# === float16 weights ===


_FLOAT16_LEVELS = {"gain": 8}


@pytest.mark.parametrize("name", _MODELS)
def test_float16_weights_load_into_a_float32_network(tmp_path, name):
    keras.utils.set_random_seed(0)
    generator = registry.build_generator(name, "tiny")
    full = save_generator(generator, name, "tiny", str(tmp_path), stem="full")
    half = save_generator(
        generator, name, "tiny", str(tmp_path), weights_dtype="float16", stem="half"
    )
    full_weights, half_weights = tmp_path / "full.weights.h5", tmp_path / "half.weights.h5"
    # The arrays take half the bytes (small files are dominated by HDF5's per-group overhead).
    full_bytes = _h5_float_arrays(full_weights)["float32"]
    assert _h5_float_arrays(half_weights) == {"float16": full_bytes // 2}
    assert json.loads(open(full).read())["weights_dtype"] == "float32"

    loaded, description = load_saved_generator(half)
    assert description["weights_dtype"] == "float16"
    assert len(loaded.weights) == len(generator.weights)
    for original, restored in zip(generator.weights, loaded.weights, strict=True):
        assert restored.dtype == "float32", restored.path
        # Each weight is its float16 rounding, cast back: nothing else changed on the way.
        expected = np.asarray(original.numpy(), np.float16).astype(np.float32)
        np.testing.assert_array_equal(restored.numpy(), expected, err_msg=restored.path)

    image, holes = _photo_and_holes(48, 64)
    ours = inference.inpaint(loaded, image, holes)
    reference = inference.inpaint(generator, image, holes)
    np.testing.assert_array_equal(ours[~holes], image[~holes])  # Known pixels exact.
    # Outputs close, in 8-bit levels. Random tiny GAIN weights give raw outputs spanning ~70
    # (two summed partial convolutions per GAI block, no normalisation), which magnifies
    # float16's rounding of the weights: 4 levels seen there, at most 3 elsewhere.
    assert np.abs(ours.astype(int) - reference).max() <= _FLOAT16_LEVELS.get(name, 3)


def test_float16_refuses_weights_it_cannot_hold(tmp_path, cascade_pair):
    generator = keras.models.clone_model(cascade_pair[0])
    kernel = generator.weights[0]
    kernel.assign(np.full(kernel.shape, 1e6, np.float32))
    with pytest.raises(ValueError, match=r"up to 1e\+06, beyond float16's 6.55e\+04"):
        save_generator(generator, "cascade", "tiny", str(tmp_path), weights_dtype="float16")
    with pytest.raises(ValueError, match="expected one of float32, float16"):
        save_generator(generator, "cascade", "tiny", str(tmp_path), weights_dtype="bfloat16")
    assert os.listdir(tmp_path) == []  # No half-written file, no temporary left behind.


# === Names in the checkpoints folder ===


def test_default_folder_is_the_package_folder_and_the_repository_link(monkeypatch):
    monkeypatch.delenv(inference.CHECKPOINTS_DIR_ENV, raising=False)
    folder = inference.checkpoints_dir()
    assert folder == inference.PACKAGE_CHECKPOINTS_DIR
    assert folder == os.path.join(_ROOT, "tfinpaint", "checkpoints")
    assert os.path.samefile(os.path.join(_ROOT, "checkpoints"), folder)
    assert os.path.isfile(os.path.join(folder, "README.md"))


def test_load_and_list_by_name(shipped, cascade_pair, tmp_path, monkeypatch):
    generator, source = cascade_pair
    assert inference.list_checkpoints() == {}
    written = inference.ship_checkpoint(
        source, "beta", "Tiny cascade, float16.", weights_dtype="float16"
    )
    inference.ship_checkpoint(source, "alpha", "  Tiny cascade, float32.  ")
    assert written["json"] == str(shipped / "beta.json")
    assert written["model"] == "cascade" and written["step"] == 9
    assert 0 < written["max_difference"] < 0.01
    # Files that are not checkpoints are not listed.
    (shipped / "alpha.md").write_text("# alpha\n")
    (shipped / "data_manifest.json").write_text(json.dumps({"files": []}))
    (shipped / "curve.png").write_bytes(b"png")
    assert inference.list_checkpoints() == {
        "alpha": "Tiny cascade, float32.",
        "beta": "Tiny cascade, float16.",
    }
    assert inference.list_checkpoints(shipped) == inference.list_checkpoints()
    text = inference.format_checkpoint_list()
    assert "alpha  Tiny cascade, float32." in text and str(shipped) in text

    loaded, info = inference.load_generator("beta", with_info=True)
    assert info["source"] == "shipped" and info["name"] == "beta"
    assert info["description"] == "Tiny cascade, float16."
    assert info["model"] == "cascade" and info["preset"] == "tiny"
    assert info["image_size"] == 32 and info["step"] == 9
    assert info["files"] == [str(shipped / "beta.json"), str(shipped / "beta.weights.h5")]
    by_path = inference.load_generator(str(shipped / "beta.weights.h5"))
    image, holes = _photo_and_holes()
    result = inference.inpaint(loaded, image, holes)
    np.testing.assert_array_equal(result, inference.inpaint(by_path, image, holes))
    np.testing.assert_array_equal(result[~holes], image[~holes])
    alpha = inference.load_generator("alpha")
    np.testing.assert_array_equal(
        inference.inpaint(alpha, image, holes), inference.inpaint(generator, image, holes)
    )

    # A shipped name wins over a folder of that name in the working directory; ./NAME is the
    # folder.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "alpha").mkdir()
    assert inference.load_generator("alpha", with_info=True)[1]["source"] == "shipped"
    with pytest.raises(ValueError, match="neither config.json"):
        inference.load_generator(os.path.join(".", "alpha"))


def test_name_errors_are_one_sentence_naming_the_fix(shipped, cascade_pair, monkeypatch):
    with pytest.raises(ValueError, match=r"Unknown checkpoint name 'nope' .* holds no checkpoint"):
        inference.load_generator("nope")
    inference.ship_checkpoint(cascade_pair[1], "alpha", "A.")
    inference.ship_checkpoint(cascade_pair[1], "beta", "B.")
    with pytest.raises(ValueError, match=r"Unknown checkpoint name 'nope' .*: alpha, beta\.$"):
        inference.load_generator("nope")
    # Paths keep their own message.
    with pytest.raises(ValueError, match="Cannot load a generator from"):
        inference.load_generator(str(shipped / "nope.json"))

    os.remove(shipped / "beta.weights.h5")
    with pytest.raises(ValueError, match=r"'beta' is incomplete: .*beta\.weights\.h5 is missing"):
        inference.load_generator("beta")
    assert inference.list_checkpoints()["beta"] == "(incomplete: beta.weights.h5 is missing)"
    os.replace(shipped / "alpha.json", shipped / "gamma.json")
    with pytest.raises(ValueError, match=r"'alpha' is incomplete: .*alpha\.json is missing"):
        inference.load_generator("alpha")
    # gamma.json names alpha's weights file: refused, a name reads only its own weights.
    os.replace(shipped / "alpha.weights.h5", shipped / "gamma.weights.h5")
    with pytest.raises(ValueError, match=r"names the weights file 'alpha.weights.h5'"):
        inference.load_generator("gamma")
    (shipped / "delta.json").write_text("{broken")
    (shipped / "delta.weights.h5").write_bytes(b"")
    assert inference.list_checkpoints()["delta"].startswith("(unreadable")
    with pytest.raises(ValueError, match="delta.json is not valid JSON"):
        inference.load_generator("delta")

    monkeypatch.setenv(inference.CHECKPOINTS_DIR_ENV, str(shipped / "missing"))
    with pytest.raises(ValueError, match=r"missing does not exist\.$"):
        inference.load_generator("nope")
    assert inference.list_checkpoints() == {}


def test_ship_checkpoint_checks_everything_before_writing(shipped, cascade_pair):
    source = cascade_pair[1]
    bad = [
        ({"name": "a/b"}, "checkpoint name 'a/b'"),
        ({"name": "a.b"}, "checkpoint name 'a.b'"),
        ({"name": ""}, "checkpoint name ''"),
        ({"description": ""}, "one non-empty line"),
        ({"description": "two\nlines"}, "one non-empty line"),
        ({"weights_dtype": "int8"}, "expected one of float32, float16"),
        ({"source": str(shipped / "nowhere")}, "Cannot load a generator"),
    ]
    for change, message in bad:
        arguments = {"source": source, "name": "ok", "description": "One line."} | change
        with pytest.raises(ValueError, match=message):
            inference.ship_checkpoint(**arguments)
        assert os.listdir(shipped) == []
    inference.ship_checkpoint(source, "ok", "One line.")
    before = {name: (shipped / name).read_bytes() for name in os.listdir(shipped)}
    with pytest.raises(ValueError, match="already exists .*--overwrite"):
        inference.ship_checkpoint(source, "ok", "Another line.")
    with pytest.raises(ValueError, match="over its own source"):
        inference.ship_checkpoint("ok", "ok", "Another line.", overwrite=True)
    assert {name: (shipped / name).read_bytes() for name in os.listdir(shipped)} == before
    inference.ship_checkpoint(source, "ok", "Another line.", overwrite=True)
    assert inference.list_checkpoints() == {"ok": "Another line."}


# === The tools ===


def _run_tool(tool, *args, env):
    return subprocess.run(
        [sys.executable, os.path.join(_ROOT, "tools", tool), *args],
        capture_output=True,
        text=True,
        cwd=_ROOT,
        env=env,
        timeout=300,
    )


def _ship_tool(run, name, description, *args):
    """tools/ship_checkpoint.py on `run` (must succeed); its completed process and the env."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([_ROOT, os.environ.get("PYTHONPATH", "")]))
    result = _run_tool(
        "ship_checkpoint.py",
        f"--workdir={run}",
        f"--name={name}",
        f"--description={description}",
        *args,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result, env


def test_ship_tool_then_inpaint_tool_by_name(tmp_path, trained_run, shipped):
    result, env = _ship_tool(trained_run, "demo", "Tiny PConv demo (4 steps).", "--float16")
    assert f"Wrote {shipped / 'demo.json'}" in result.stdout
    assert "pconv (tiny), step 4" in result.stdout and "Now write" in result.stdout
    assert set(_h5_float_arrays(shipped / "demo.weights.h5")) == {"float16"}

    # (--list_checkpoints prints format_checkpoint_list(): tested above and in the campaign.)
    image, holes = _photo_and_holes()
    cv2.imwrite(str(tmp_path / "photo.png"), image[..., ::-1])
    cv2.imwrite(str(tmp_path / "holes.png"), holes.astype(np.uint8) * 255)
    result = _run_tool(
        "inpaint.py",
        "--checkpoint=demo",
        f"--image={tmp_path / 'photo.png'}",
        f"--mask={tmp_path / 'holes.png'}",
        f"--output={tmp_path / 'out.png'}",
        "--strategy=pad",  # What `inference.inpaint` runs by default, compared below.
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (
        "Loaded demo (pconv, the tiny preset's network; " in result.stdout
        and f"parameters, float32) from {shipped / 'demo.json'}." in result.stdout
    )
    output = cv2.imread(str(tmp_path / "out.png"))[..., ::-1]
    np.testing.assert_array_equal(output[~holes], image[~holes])
    expected = inference.inpaint(inference.load_generator("demo"), image, holes)
    assert np.abs(output.astype(int) - expected).max() <= 1  # Another process may round.


# === Checkpoint averaging (average_last) ===


def _weights_of(path):
    return [np.asarray(w) for w in inference.load_generator(path).weights]


def test_average_last_is_the_mean_of_the_newest_checkpoints(trained_run):
    prefixes = checkpointing.find_checkpoints(os.path.join(trained_run, "checkpoints"))[:2]
    newest, older = (_weights_of(prefix) for prefix in prefixes)
    assert any(np.abs(a - b).max() > 0 for a, b in zip(newest, older))  # They differ.

    generator, info = inference.load_generator(trained_run, with_info=True, average_last=2)
    for variable, a, b in zip(generator.weights, newest, older):
        np.testing.assert_allclose(np.asarray(variable), (a + b) / 2, rtol=1e-6, atol=1e-7)
    steps = [inference.load_generator(p, with_info=True)[1]["step"] for p in prefixes]
    assert info["step"] == 4 and info["averaged_steps"] == steps and steps[1] < 4
    assert info["path"] == prefixes[0]
    assert set(info["files"]) >= {f"{prefixes[1]}.index", f"{prefixes[0]}.index"}
    # Naming the newest prefix is the same as naming the run; 1 (or None) is no averaging.
    by_prefix = inference.load_generator(prefixes[0], average_last=2)
    for a, b in zip(by_prefix.weights, generator.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    plain, info = inference.load_generator(trained_run, with_info=True, average_last=1)
    assert info["averaged_steps"] is None
    for a, b in zip(plain.weights, newest):
        np.testing.assert_array_equal(np.asarray(a), b)


@pytest.mark.parametrize("value", [0, -2, 1.5, True, "2"])
def test_average_last_refuses_a_non_positive_integer(trained_run, value):
    with pytest.raises(ValueError, match=r"^Received average_last=.*positive integer"):
        inference.load_generator(trained_run, average_last=value)


def test_average_last_refuses_what_it_cannot_average(trained_run, cascade_pair, shipped):
    found = checkpointing.find_checkpoints(os.path.join(trained_run, "checkpoints"))
    with pytest.raises(ValueError, match=rf"more checkpoints than .* \({len(found)}\); train with"):
        inference.load_generator(trained_run, average_last=len(found) + 1)
    oldest = found[-1]
    with pytest.raises(ValueError, match=rf"at or before {os.path.basename(oldest)} \(1\)"):
        inference.load_generator(oldest, average_last=2)
    with pytest.raises(ValueError, match=r"is not a run directory or a checkpoint prefix"):
        inference.load_generator(cascade_pair[1], average_last=2)
    inference.ship_checkpoint(cascade_pair[1], "pair", "A saved tiny cascade.")
    with pytest.raises(ValueError, match=r"is not a run directory or a checkpoint prefix"):
        inference.load_generator("pair", average_last=2)
    assert inference.load_generator("pair", with_info=True)[1]["averaged_steps"] is None


def test_ship_tool_average_last_records_the_steps(trained_run, shipped):
    result, _ = _ship_tool(
        trained_run, "mean2", "Tiny PConv demo, mean of two checkpoints.", "--average_last=2"
    )
    steps = inference.load_generator(trained_run, with_info=True, average_last=2)[1][
        "averaged_steps"
    ]
    assert f"step 4 (mean of the checkpoints of steps {steps[0]}, {steps[1]})" in result.stdout
    with open(shipped / "mean2.json", encoding="utf-8") as f:
        assert json.load(f)["averaged_steps"] == steps
    generator, info = inference.load_generator("mean2", with_info=True)
    assert info["averaged_steps"] == steps
    expected = inference.load_generator(trained_run, average_last=2)
    for a, b in zip(generator.weights, expected.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
