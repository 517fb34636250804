"""Checkpoints hold every variable, damaged ones fall back, non-finite losses stop a run.

Every registered family is trained for a few tiny steps once per module; the checkpoint tests
then restore into freshly built objects (in this process and in a new one) and compare every
variable with the file, never relying on the absence of an error (STYLE.md rule 13).
"""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfinpaint import checkpointing, inference
from tfinpaint.models import registry
from tfinpaint.models.saving import load_saved_generator
from tfinpaint.training import reporting
from tfinpaint.training.config import TrainConfig
from tfinpaint.training.loop import TrainingStopped, open_run, run_training

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(REPO, "tools", "train.py")

# Few steps, yet every segment and step kind of each family runs once.
_RUN_SETTINGS = {
    "pconv": dict(steps=4, stage_steps=[2], image_size=32),
    "glcic": dict(steps=3, phase_steps=[1, 1], image_size=64),
    "cascade": dict(
        steps=4,
        stage_steps=[2],
        image_size=32,
        options={"generator_batches": 1, "discriminator_batches": 1},
    ),
    # Warm-up 1 step, then G D G in the main stage.
    "deepgin": dict(steps=4, stage_steps=[1], image_size=32),
    # One generator step, one critic step (with the gradient penalty).
    "gain": dict(steps=2, image_size=32),
}


def _config(family, workdir, **changes):
    settings = dict(
        model=family,
        preset="tiny",
        workdir=str(workdir),
        batch_size=2,
        val_batch_size=2,
        log_every=2,
        checkpoint_every=2,
        vgg_weights="none",
        **_RUN_SETTINGS[family],
    )
    settings.update(changes)
    return TrainConfig(**settings)


def test_every_registered_family_has_run_settings():
    assert sorted(_RUN_SETTINGS) == sorted(registry.list_models())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{family: workdir} of finished tiny runs."""
    workdirs = {}
    for family in registry.list_models():
        workdir = tmp_path_factory.mktemp(f"run_{family}")
        run_training(_config(family, workdir))
        workdirs[family] = str(workdir)
    return workdirs


def _probe():
    rng = np.random.default_rng(0)
    images = rng.random((1, 64, 64, 3), dtype=np.float32)
    hole_masks = np.zeros((1, 64, 64, 1), np.float32)
    hole_masks[:, 16:40, 20:48] = 1.0
    return images, hole_masks


def _latest(workdir):
    return checkpointing.find_checkpoints(os.path.join(workdir, "checkpoints"))[0]


def _is_optimizer(obj):
    return isinstance(obj, keras.optimizers.Optimizer)


def test_a_fresh_process_loads_each_workdir_exactly_like_its_generator_file(runs, tmp_path):
    """(a) load_generator(workdir) in a new process == the run's generator.weights.h5."""
    images, hole_masks = _probe()
    np.savez(tmp_path / "probe.npz", images=images, hole_masks=hole_masks)
    script = (
        "import sys, json, numpy as np\n"
        "from tfinpaint import inference\n"
        "runs = json.loads(sys.argv[1]); probe = np.load(sys.argv[2])\n"
        "out = {}\n"
        "for family, workdir in runs.items():\n"
        "    g = inference.load_generator(workdir)\n"
        "    raw = g({'images': probe['images'], 'masks': probe['hole_masks']})['raw']\n"
        "    out[family] = np.asarray(raw)\n"
        "np.savez(sys.argv[3], **out)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(runs), tmp_path / "probe.npz", tmp_path / "o"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = np.load(tmp_path / "o.npz")
    for family, workdir in runs.items():
        generator, _ = load_saved_generator(os.path.join(workdir, "generator.json"))
        expected = generator({"images": images, "masks": hole_masks})["raw"]
        np.testing.assert_array_equal(loaded[family], np.asarray(expected), err_msg=family)
        fresh = registry.build_generator(family, "tiny")  # A control: untrained differs.
        assert not np.array_equal(
            np.asarray(fresh({"images": images, "masks": hole_masks})["raw"]), loaded[family]
        )


@pytest.mark.parametrize("family", ["pconv", "glcic", "cascade"])
def test_networks_restore_from_the_file_alone_without_optimizers(runs, family):
    """(b) Fresh generator and discriminators, no optimizer: every variable from the file."""
    run = runs[family]
    prefix = _latest(run)
    reader = tf.train.load_checkpoint(prefix)
    keys = set(reader.get_variable_to_shape_map())
    config = TrainConfig.from_dict(json.load(open(os.path.join(run, "config.json"))))
    generator = registry.build_generator(family, "tiny", **config.generator_overrides)
    trainer = registry.get_family(family).load("trainer").create(generator, config)
    networks = {
        name: obj for name, obj in trainer.checkpoint_objects().items() if not _is_optimizer(obj)
    }
    assert "generator" in networks
    if family != "pconv":
        assert len(networks) >= 2, "the GAN families save their discriminators"
    checkpointing.restore_networks(prefix, networks)
    for name, network in networks.items():
        view = checkpointing.VariablesByPath(network)
        entries = view.keys(name)
        assert len(entries) == len(network.weights) > 0
        # Everything under the network's name is one of its variables, and vice versa.
        assert {key for key, _ in entries} == {k for k in keys if k.startswith(f"{name}/")}
        for key, variable in entries:
            np.testing.assert_array_equal(variable.numpy(), reader.get_tensor(key), err_msg=key)


@pytest.mark.parametrize("family", ["pconv", "glcic", "cascade"])
def test_a_resumed_run_holds_the_saved_networks_and_optimizer_slots(runs, family):
    """(c) open_run on a finished workdir restores every saved value, optimizers included."""
    run = open_run(_config(family, runs[family]))
    prefix = _latest(runs[family])
    assert run.resume_step == checkpointing.checkpoint_prefix_number(prefix)
    reader = tf.train.load_checkpoint(prefix)
    objects = run.trainer.checkpoint_objects()
    assert any(_is_optimizer(obj) for obj in objects.values())
    compared = 0
    for name, obj in objects.items():
        for key, variable in checkpointing.VariablesByPath(obj).keys(name):
            np.testing.assert_array_equal(variable.numpy(), reader.get_tensor(key), err_msg=key)
            compared += 1
    slots = [k for k in reader.get_variable_to_shape_map() if "momentum" in k or "velocity" in k]
    assert slots and compared >= len(slots)


def test_variables_in_rebuilt_sublayer_lists_are_saved(tmp_path):
    """The cause of the cascade bug: a layer that rebuilds its sublayer list in build()."""

    class Branches(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.branches = []

        def build(self, input_shape):
            self.branches = [keras.layers.Dense(2, name=f"dense_{i}") for i in range(2)]
            for branch in self.branches:
                branch.build(input_shape)

        def call(self, x):
            return sum(branch(x) for branch in self.branches)

    inputs = keras.Input((3,))
    model = keras.Model(inputs, Branches(name="branches")(inputs))
    view = checkpointing.VariablesByPath(model)
    assert len(view.keys("m")) == len(model.weights) == 4
    path = tf.train.Checkpoint(m=view).write(str(tmp_path / "ckpt"))
    saved = {k for k, _ in tf.train.list_variables(path)}
    assert {key for key, _ in view.keys("m")} <= saved


def test_optimizer_paths_do_not_depend_on_the_process_counter():
    generator = registry.build_generator("cascade", "tiny")
    first, second = keras.optimizers.Adam(), keras.optimizers.Adam()
    first.build(generator.trainable_variables)
    second.build(generator.trainable_variables)
    assert first.name != second.name  # Keras numbers optimizers per process...
    keys = [[k for k, _ in checkpointing.VariablesByPath(o).keys("opt")] for o in (first, second)]
    assert keys[0] == keys[1]  # ...which the checkpoint keys leave out.


# --- Damaged checkpoints --------------------------------------------------------------------


def _pconv_run_with_checkpoints(workdir, steps=6):
    run_training(_config("pconv", workdir, steps=steps, stage_steps=None, keep_checkpoints=5))
    return checkpointing.find_checkpoints(os.path.join(workdir, "checkpoints"))


def _truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def _flip_bytes(path):
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        chunk = bytearray(f.read(16))
        f.seek(os.path.getsize(path) // 2)
        f.write(bytes(b ^ 0xFF for b in chunk))


def _empty(path):
    open(path, "wb").close()


def _data_file(prefix):
    return next(p for p in checkpointing.checkpoint_files(prefix) if ".data-" in p)


_DAMAGE = {
    "data_truncated": lambda prefix: _truncate(_data_file(prefix)),
    "index_emptied": lambda prefix: _empty(prefix + ".index"),
    "data_deleted": lambda prefix: os.remove(_data_file(prefix)),
    "data_bytes_flipped": lambda prefix: _flip_bytes(_data_file(prefix)),
    "index_truncated": lambda prefix: _truncate(prefix + ".index"),
}


@pytest.fixture(scope="module")
def pconv_checkpoints(tmp_path_factory):
    """A finished 6-step pconv run with checkpoints at 2, 4 and 6 (copied per test)."""
    workdir = tmp_path_factory.mktemp("pconv_ckpts")
    prefixes = _pconv_run_with_checkpoints(workdir)
    assert [checkpointing.checkpoint_prefix_number(p) for p in prefixes] == [6, 4, 2]
    return str(workdir)


def _copy_run(source, target):
    import shutil  # noqa: PLC0415

    shutil.copytree(source, target)
    return str(target)


@pytest.mark.parametrize("damage", sorted(_DAMAGE))
def test_resume_falls_back_to_the_newest_readable_checkpoint(
    pconv_checkpoints, tmp_path, damage, caplog
):
    workdir = _copy_run(pconv_checkpoints, tmp_path / "run")
    newest = os.path.join(workdir, "checkpoints", "ckpt-6")
    original = {
        os.path.basename(p): open(p, "rb").read() for p in checkpointing.checkpoint_files(newest)
    }
    _DAMAGE[damage](newest)
    damaged = {
        os.path.basename(p): open(p, "rb").read() for p in checkpointing.checkpoint_files(newest)
    }
    assert damaged != original
    assert checkpointing.verify_checkpoint(newest) is not None
    with caplog.at_level("WARNING"):
        run = open_run(_config("pconv", workdir, steps=6, stage_steps=None, keep_checkpoints=5))
    assert run.resume_step == 4
    assert any("ckpt-6" in record.getMessage() for record in caplog.records)
    # Moved aside byte for byte, never deleted.
    corrupt = os.path.join(workdir, "checkpoints", "corrupt")
    assert {
        name: open(os.path.join(corrupt, name), "rb").read() for name in os.listdir(corrupt)
    } == damaged
    assert checkpointing.find_checkpoints(os.path.join(workdir, "checkpoints"))[0].endswith("4")


def test_a_damaged_run_trains_on_and_logs_each_step_once(pconv_checkpoints, tmp_path):
    workdir = _copy_run(pconv_checkpoints, tmp_path / "run")
    _truncate(_data_file(os.path.join(workdir, "checkpoints", "ckpt-6")))
    summary = run_training(_config("pconv", workdir, steps=8, stage_steps=None, keep_checkpoints=5))
    assert summary["step"] == 8
    steps = [r["step"] for r in reporting.read_metrics(os.path.join(workdir, "metrics.jsonl"))]
    assert steps == [2, 4, 6, 8]


def test_a_garbage_state_file_neither_restarts_nor_deletes(pconv_checkpoints, tmp_path):
    workdir = _copy_run(pconv_checkpoints, tmp_path / "run")
    checkpoints = os.path.join(workdir, "checkpoints")
    with open(os.path.join(checkpoints, "checkpoint"), "w") as f:
        f.write("\x00garbage {{{ not a proto\n")
    summary = run_training(
        _config("pconv", workdir, steps=10, stage_steps=None, keep_checkpoints=5)
    )
    assert summary["step"] == 10
    numbers = [
        checkpointing.checkpoint_prefix_number(p)
        for p in checkpointing.find_checkpoints(checkpoints)
    ]
    assert numbers == [10, 8, 6, 4, 2]  # Rotation knew the old ones: all five kept.
    steps = [r["step"] for r in reporting.read_metrics(os.path.join(workdir, "metrics.jsonl"))]
    assert steps == [2, 4, 6, 8, 10]


def test_no_readable_checkpoint_stops_with_one_sentence(pconv_checkpoints, tmp_path):
    workdir = _copy_run(pconv_checkpoints, tmp_path / "run")
    for prefix in checkpointing.find_checkpoints(os.path.join(workdir, "checkpoints")):
        _truncate(_data_file(prefix))
    with pytest.raises(checkpointing.CheckpointError, match="No readable checkpoint"):
        open_run(_config("pconv", workdir, steps=6, stage_steps=None))
    # Rerunning does not quietly start over either: the damaged files are still there.
    with pytest.raises(checkpointing.CheckpointError, match="move or delete"):
        open_run(_config("pconv", workdir, steps=6, stage_steps=None))
    assert len(os.listdir(os.path.join(workdir, "checkpoints", "corrupt"))) >= 6


def test_load_generator_names_the_unreadable_file(pconv_checkpoints, tmp_path):
    workdir = _copy_run(pconv_checkpoints, tmp_path / "run")
    newest = os.path.join(workdir, "checkpoints", "ckpt-6")
    _truncate(_data_file(newest))
    with pytest.raises(ValueError, match="ckpt-6") as error:
        inference.load_generator(workdir)
    assert "\n" not in str(error.value)
    assert os.path.exists(_data_file(newest))  # Inference moves nothing.
    older = inference.load_generator(os.path.join(workdir, "checkpoints", "ckpt-4"))
    assert older is not None


# --- Non-finite losses --------------------------------------------------------------------


def test_a_learning_rate_that_blows_up_stops_the_run(tmp_path):
    workdir = str(tmp_path / "run")
    # A learning rate this large makes the weights and then the loss overflow within steps.
    with pytest.raises(TrainingStopped, match=r"(NaN|Inf|non-finite).*step \d+"):
        run_training(
            _config(
                "pconv", workdir, steps=40, stage_steps=None, learning_rate=1e30, checkpoint_every=2
            )
        )
    for prefix in checkpointing.find_checkpoints(os.path.join(workdir, "checkpoints")):
        assert checkpointing.verify_checkpoint(prefix) is None  # Finite values only.


def _poison(monkeypatch, poison):
    from tfinpaint.training.pconv import PConvTrainer  # noqa: PLC0415

    original = PConvTrainer.train_step

    def poisoned(self, data):
        return original(self, poison(self, data))

    monkeypatch.setattr(PConvTrainer, "train_step", poisoned)


def test_injected_nan_names_the_step_and_the_term(tmp_path, monkeypatch):
    workdir = str(tmp_path / "run")
    run_training(_config("pconv", workdir, steps=4, stage_steps=[2]))
    newest = _latest(workdir)
    before = {p: open(p, "rb").read() for p in checkpointing.checkpoint_files(newest)}
    _poison(monkeypatch, lambda self, data: dict(data, images=data["images"] * float("nan")))
    with pytest.raises(TrainingStopped, match=r"'\w+' became NaN at step 5 \(stage 2\)") as error:
        run_training(_config("pconv", workdir, steps=8, stage_steps=[2]))
    assert "ckpt-4" in str(error.value) and "\n" not in str(error.value)
    assert checkpointing.find_checkpoints(os.path.join(workdir, "checkpoints"))[0] == newest
    for path, content in before.items():
        assert open(path, "rb").read() == content


def test_non_finite_weights_are_never_saved(tmp_path, monkeypatch):
    from tfinpaint.training.pconv import PConvTrainer  # noqa: PLC0415

    original = PConvTrainer.train_step

    def step_then_nan_weight(self, data):
        outputs = original(self, data)  # The losses stay finite; a weight does not.
        variable = self.generator.trainable_variables[0]
        variable.assign(tf.fill(variable.shape, float("nan")))
        return outputs

    monkeypatch.setattr(PConvTrainer, "train_step", step_then_nan_weight)
    workdir = str(tmp_path / "run")
    with pytest.raises(TrainingStopped, match="weights of generator became non-finite"):
        run_training(_config("pconv", workdir, steps=4, stage_steps=[2], checkpoint_every=1))
    assert not checkpointing.find_checkpoints(os.path.join(workdir, "checkpoints"))


def test_train_cli_reports_a_nan_in_one_line(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            TRAIN,
            "--model=pconv",
            "--preset=tiny",
            f"--workdir={tmp_path / 'r'}",
            "--image_size=32",
            "--batch_size=2",
            "--val_batch_size=2",
            "--steps=30",
            "--vgg_weights=none",
            "--learning_rate=1e30",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "step" in errors[0], result.stderr[-2000:]


# --- Kills --------------------------------------------------------------------------------


def test_sigkill_at_several_moments_then_resume_restores_the_checkpoint(tmp_path):
    """SIGKILL a CLI run at a few moments; each resume holds exactly the newest checkpoint."""
    workdir = tmp_path / "run"
    args = [
        sys.executable,
        TRAIN,
        "--model=cascade",
        "--preset=tiny",
        f"--workdir={workdir}",
        "--image_size=32",
        "--batch_size=2",
        "--val_batch_size=2",
        "--steps=400",
        "--stage_fractions=0.5,0.5",
        "--log_every=5",
        "--checkpoint_every=3",
        "--vgg_weights=none",
        "--keep_checkpoints=2",
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    rng = np.random.default_rng(0)
    checkpoints = str(workdir / "checkpoints")
    resumed = 0
    for _ in range(3):
        process = subprocess.Popen(
            args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # Wait for this process's first checkpoint, then kill it at a random later moment.
        deadline = time.time() + 240
        while time.time() < deadline and process.poll() is None:
            prefixes = checkpointing.find_checkpoints(checkpoints)
            if prefixes and checkpointing.checkpoint_prefix_number(prefixes[0]) > resumed:
                break
            time.sleep(0.05)
        time.sleep(float(rng.uniform(0.0, 0.8)))
        process.send_signal(signal.SIGKILL)
        process.wait()
        run = open_run(
            _config(
                "cascade",
                workdir,
                steps=400,
                stage_steps=None,
                stage_fractions=[0.5, 0.5],
                checkpoint_every=3,
                log_every=5,
                keep_checkpoints=2,
                options={},
            )
        )
        prefix = _latest(str(workdir))
        assert run.resume_step == checkpointing.checkpoint_prefix_number(prefix) > resumed
        resumed = run.resume_step
        reader = tf.train.load_checkpoint(prefix)
        for name, obj in run.trainer.checkpoint_objects().items():
            for key, variable in checkpointing.VariablesByPath(obj).keys(name):
                np.testing.assert_array_equal(variable.numpy(), reader.get_tensor(key))
    # Training on from the last kill logs every step once.
    summary = run_training(
        _config(
            "cascade",
            workdir,
            steps=resumed + 5,
            stage_steps=None,
            stage_fractions=[0.5, 0.5],
            checkpoint_every=3,
            log_every=5,
            keep_checkpoints=2,
            options={},
        )
    )
    assert summary["step"] == resumed + 5
    steps = [r["step"] for r in reporting.read_metrics(workdir / "metrics.jsonl")]
    assert steps == sorted(set(steps)) and steps[-1] == resumed + 5
