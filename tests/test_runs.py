"""The run folder (tfinpaint.runs.RunDir): one writer, never silently restarted, rotation that
holds across resumes, no-op and refused resumes that change nothing, torn logs.

Each class is tested over several of its members (issue 30, section 1): every kind of trace a
run leaves, every way a lock holder can end, rotation after a resume and after a killed save,
several ways a workdir and its data can overlap, several ways a log line can be torn.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest
from harness import file_digests

from tfinpaint import checkpointing, runs
from tfinpaint.training import reporting
from tfinpaint.training.config import TrainConfig
from tfinpaint.training.loop import TrainingStopped, open_run, prepare_config, run_training

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(REPO, "tools", "train.py")


def _config(workdir, **changes):
    settings = dict(
        model="pconv",
        preset="tiny",
        workdir=str(workdir),
        batch_size=2,
        val_batch_size=2,
        image_size=32,
        steps=6,
        stage_steps=[2],
        log_every=2,
        checkpoint_every=2,
        keep_checkpoints=5,
        vgg_weights="none",
    )
    settings.update(changes)
    return TrainConfig(**settings)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished 6-step tiny PConv run with checkpoints 2, 4, 6 (copy it before changing it)."""
    workdir = tmp_path_factory.mktemp("finished") / "run"
    run_training(_config(workdir))
    return str(workdir)


def _train_cli(workdir, steps):
    """tools/train.py resuming `workdir` to `steps`, as from a shell."""
    return subprocess.run(
        [sys.executable, TRAIN, "--model=pconv", f"--workdir={workdir}", f"--steps={steps}"],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )


def _copy(source, target):
    shutil.copytree(source, target)
    return str(target)


def _numbers(workdir):
    return [
        checkpointing.checkpoint_prefix_number(p)
        for p in checkpointing.find_checkpoints(os.path.join(workdir, "checkpoints"))
    ]


# --- Never silently restarted ------------------------------------------------------------------


def _delete_checkpoints(workdir):
    shutil.rmtree(os.path.join(workdir, "checkpoints"))


def _empty_checkpoints(workdir):
    folder = os.path.join(workdir, "checkpoints")
    for name in os.listdir(folder):
        os.remove(os.path.join(folder, name))


def _only(*keep):
    def damage(workdir):
        _delete_checkpoints(workdir)
        for name in os.listdir(workdir):
            if name not in keep:
                path = os.path.join(workdir, name)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)

    return damage


_TRACES_LEFT = {
    "checkpoints_deleted": _delete_checkpoints,
    "checkpoints_emptied": _empty_checkpoints,
    "only_config": _only("config.json"),
    "only_metrics": _only("metrics.jsonl"),
    "only_generator_weights": _only("generator.weights.h5"),
    "only_generator_json": _only("generator.json"),
}


@pytest.mark.parametrize("damage", sorted(_TRACES_LEFT))
def test_traces_of_a_run_without_a_checkpoint_are_refused_and_kept(finished_run, tmp_path, damage):
    workdir = _copy(finished_run, tmp_path / "run")
    _TRACES_LEFT[damage](workdir)
    before = file_digests(workdir, skip=[runs.LOCK])
    with pytest.raises(ValueError, match=r"holds a run's .* but no checkpoint") as error:
        run_training(_config(workdir, steps=6))
    message = str(error.value)
    assert "\n" not in message and f"--init_from={workdir}" in message
    assert file_digests(workdir, skip=[runs.LOCK]) == before


def test_an_empty_or_new_folder_starts_and_a_lock_file_alone_is_no_trace(tmp_path):
    runs.RunDir(tmp_path / "new").check_start()
    os.makedirs(tmp_path / "empty")
    runs.RunDir(tmp_path / "empty").check_start()
    with runs.RunDir(tmp_path / "locked_once").lock():
        pass
    runs.RunDir(tmp_path / "locked_once").check_start()


@pytest.mark.parametrize(
    "workdir, match",
    [
        ("", "--workdir is empty"),
        ("{file}", "is a file"),
        ("{file}/sub", "lies below .* which is a file"),
        ("{file}/sub/deeper", "lies below .* which is a file"),
    ],
)
def test_a_workdir_that_cannot_be_a_folder_is_refused(tmp_path, workdir, match):
    (tmp_path / "a_file").write_text("x")
    workdir = workdir.replace("{file}", str(tmp_path / "a_file"))
    with pytest.raises(ValueError, match=match):
        open_run(_config(workdir))
    assert (tmp_path / "a_file").read_text() == "x"


# --- One writer --------------------------------------------------------------------------------

_HOLDER = textwrap.dedent(
    """
    import signal, sys, time
    from tfinpaint import runs
    # Ctrl-C as a terminal gives it, even when the suite runs as a background job of a
    # non-interactive shell (which starts children with SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    runs.RunDir(sys.argv[1]).acquire_lock()
    print("locked", flush=True)
    time.sleep(120)
    """
)


def _start_holder(workdir):
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(workdir)],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert process.stdout.readline().strip() == "locked"
    return process


@pytest.mark.parametrize("ending", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_a_second_writer_is_refused_and_a_dead_holder_leaves_no_lock(
    finished_run, tmp_path, ending
):
    workdir = _copy(finished_run, tmp_path / "run")
    before = file_digests(workdir, skip=[runs.LOCK])
    holder = _start_holder(workdir)
    try:
        with pytest.raises(runs.RunLocked, match=f"another process \\(process {holder.pid} "):
            run_training(_config(workdir, steps=8))
        with pytest.raises(runs.RunLocked):
            runs.RunDir(workdir).acquire_lock()
    finally:
        holder.send_signal(ending)
        holder.wait(timeout=60)
    assert file_digests(workdir, skip=[runs.LOCK]) == before
    # However the holder ended, the kernel released its lock: the run resumes.
    assert run_training(_config(workdir, steps=8))["step"] == 8


def test_the_lock_is_reentrant_in_one_process_and_released_after_training(tmp_path):
    run_dir = runs.RunDir(tmp_path / "run")
    with run_dir.lock(), run_dir.lock():
        pass
    holder = _start_holder(tmp_path / "run")  # Free again once the outer block ended.
    holder.kill()
    holder.wait(timeout=60)


def test_two_train_cli_processes_on_one_workdir(finished_run, tmp_path):
    workdir = _copy(finished_run, tmp_path / "run")
    holder = _start_holder(workdir)
    try:
        result = _train_cli(workdir, steps=8)
    finally:
        holder.kill()
        holder.wait(timeout=60)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and str(holder.pid) in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert _numbers(workdir) == [6, 4, 2]


# --- Rotation whatever happened before ---------------------------------------------------------


@pytest.mark.parametrize(
    "before_resume",
    ["plain", "state_file_deleted", "state_file_garbage", "partial_save_left", "lower_keep"],
)
def test_rotation_keeps_the_newest_n_across_resumes(finished_run, tmp_path, before_resume, caplog):
    workdir = _copy(finished_run, tmp_path / "run")
    folder = os.path.join(workdir, "checkpoints")
    keep = 4  # Not TrainConfig's default, so that the library call counts it as given.
    if before_resume == "state_file_deleted":
        os.remove(os.path.join(folder, "checkpoint"))
    elif before_resume == "state_file_garbage":
        with open(os.path.join(folder, "checkpoint"), "w") as f:
            f.write("\x00 not a proto {{{")
    elif before_resume == "partial_save_left":
        # What a save killed midway leaves: its temporary folder of shards.
        partial = os.path.join(folder, "ckpt-8_temp", "part-00000-of-00001")
        os.makedirs(partial)
        with open(os.path.join(partial, "shard.data-00000-of-00001"), "wb") as f:
            f.write(b"half")
    elif before_resume == "lower_keep":
        keep = 2
    with caplog.at_level("WARNING"):
        summary = run_training(_config(workdir, steps=10, keep_checkpoints=keep))
    assert summary["step"] == 10
    assert _numbers(workdir) == [10, 8, 6, 4, 2][:keep]
    assert not [name for name in os.listdir(folder) if "_temp" in name]
    if before_resume == "partial_save_left":
        assert os.listdir(os.path.join(folder, "corrupt")) == ["ckpt-8_temp"]
        assert any("ckpt-8_temp" in record.getMessage() for record in caplog.records)
    # The state file lists exactly what is on disk, so the next resume starts from the newest.
    assert open_run(_config(workdir, steps=10, keep_checkpoints=keep)).resume_step == 10


# --- Refused and no-op resumes change nothing --------------------------------------------------


@pytest.mark.parametrize("steps", [3, 4, 5])
def test_steps_below_the_run_are_refused_and_nothing_is_rewritten(finished_run, tmp_path, steps):
    workdir = _copy(finished_run, tmp_path / "run")
    before = file_digests(workdir, skip=[runs.LOCK])
    with pytest.raises(ValueError, match=f"is at step 6, past --steps={steps}"):
        run_training(_config(workdir, steps=steps))
    assert json.load(open(os.path.join(workdir, "config.json")))["steps"] == 6
    assert file_digests(workdir, skip=[runs.LOCK]) == before


def test_steps_equal_to_the_run_is_a_no_op_that_says_so(finished_run, tmp_path):
    workdir = _copy(finished_run, tmp_path / "run")
    before = file_digests(workdir, skip=[runs.LOCK])
    summary = run_training(_config(workdir, steps=6, log_every=3))
    assert summary["nothing_to_do"] and summary["step"] == 6
    assert file_digests(workdir, skip=[runs.LOCK]) == before
    # Killed between the last checkpoint and the generator files: only those are written.
    os.remove(os.path.join(workdir, "generator.weights.h5"))
    run_training(_config(workdir, steps=6))
    assert os.path.isfile(os.path.join(workdir, "generator.weights.h5"))
    assert file_digests(workdir)["config.json"] == before["config.json"]


def test_the_cli_says_there_is_nothing_to_train(finished_run, tmp_path):
    workdir = _copy(finished_run, tmp_path / "run")
    result = _train_cli(workdir, steps=6)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Nothing to train" in result.stdout


# --- The workdir and its data never overlap ----------------------------------------------------


def _write_images(folder, count=2):
    import cv2  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        path = os.path.join(folder, f"img{index}.png")
        cv2.imwrite(path, rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))
        paths.append(path)
    return paths


def _layout(tmp_path, kind):
    data = tmp_path / "data"
    if kind == "same":
        _write_images(data)
        return str(data), str(data)
    if kind == "workdir_inside_data":
        _write_images(data)
        return str(data / "runs" / "r1"), str(data)
    if kind == "workdir_deep_inside_data":
        _write_images(data / "a")
        return str(data / "a" / "b" / "c"), str(data)
    if kind == "data_inside_workdir":
        _write_images(tmp_path / "run" / "photos")
        return str(tmp_path / "run"), str(tmp_path / "run" / "photos")
    if kind == "workdir_through_a_link_into_data":
        _write_images(data)
        os.symlink(data, tmp_path / "link")
        return str(tmp_path / "link" / "run"), str(data)
    if kind == "list_file_naming_images_inside_workdir":
        paths = _write_images(tmp_path / "run" / "img")
        (tmp_path / "list.txt").write_text("\n".join(paths) + "\n")
        return str(tmp_path / "run"), str(tmp_path / "list.txt")
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "same",
        "workdir_inside_data",
        "workdir_deep_inside_data",
        "data_inside_workdir",
        "workdir_through_a_link_into_data",
        "list_file_naming_images_inside_workdir",
    ],
)
def test_a_workdir_overlapping_its_data_is_refused_before_any_write(tmp_path, kind):
    workdir, data = _layout(tmp_path, kind)
    before = file_digests(tmp_path)
    with pytest.raises(ValueError, match="workdir"):
        run_training(_config(workdir, data=data))
    assert file_digests(tmp_path) == before


def test_neighbouring_folders_with_a_common_prefix_are_not_an_overlap(tmp_path):
    _write_images(tmp_path / "data")
    prepare_config(_config(tmp_path / "data_run", data=str(tmp_path / "data")))


# --- Torn and unreadable logs ------------------------------------------------------------------

_TORN_ENDINGS = {
    "cut_in_a_string": '{"step": 8, "loss": 0.5, "val_psnr_hole": 1',
    "cut_in_a_key": '{"step": 8, "lo',
    "one_brace": "{",
    "nul_bytes": "\x00\x00\x00\x00",
    "not_an_object": "[8, 0.5]",
}


@pytest.mark.parametrize("ending", sorted(_TORN_ENDINGS))
def test_a_torn_last_line_is_dropped_with_a_warning_naming_the_file(tmp_path, ending, caplog):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 2, "loss": 1.0}\n{"step": 4, "loss": 0.8}\n' + _TORN_ENDINGS[ending])
    with caplog.at_level("WARNING"):
        assert [r["step"] for r in reporting.read_metrics(str(path))] == [2, 4]
    assert any(str(path) in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("ending", sorted(_TORN_ENDINGS))
def test_a_line_unreadable_before_the_last_names_the_file(tmp_path, ending):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 2}\n' + _TORN_ENDINGS[ending] + '\n{"step": 6}\n')
    with pytest.raises(ValueError, match=f"Line 2 of {path}"):
        reporting.read_metrics(str(path))


def test_a_run_with_a_torn_metrics_line_resumes(finished_run, tmp_path, caplog):
    workdir = _copy(finished_run, tmp_path / "run")
    with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
        f.write('{"step": 8, "loss": 0.')  # A kill while logging step 8 (no checkpoint 8).
    with caplog.at_level("WARNING"):
        assert run_training(_config(workdir, steps=8))["step"] == 8
    steps = [r["step"] for r in reporting.read_metrics(os.path.join(workdir, "metrics.jsonl"))]
    assert steps == [2, 4, 6, 8]


# --- A diverged run is never saved -------------------------------------------------------------


def test_a_huge_learning_rate_never_saves_exploded_weights(tmp_path):
    workdir = str(tmp_path / "run")
    with pytest.raises(TrainingStopped) as error:
        run_training(
            _config(workdir, steps=4, stage_steps=[3], checkpoint_every=1, learning_rate=1e30)
        )
    assert "\n" not in str(error.value)
    for prefix in checkpointing.find_checkpoints(os.path.join(workdir, "checkpoints")):
        reader = checkpointing.tf.train.load_checkpoint(prefix)
        for key, dtype in reader.get_variable_to_dtype_map().items():
            if key.startswith("generator/") and dtype.is_floating:
                assert abs(reader.get_tensor(key)).max() <= 1e6, (prefix, key)


# --- Unreadable run files name the file --------------------------------------------------------

_BAD_CONFIGS = {
    "a_list": "[1, 2]",
    "a_string": '"pconv"',
    "null": "null",
    "empty": "",
    "truncated": '{"model": "pconv", "steps": ',
    "nested_deep": "[" * 50_000 + "]" * 50_000,
    "steps_a_string": '{"model": "pconv", "workdir": "w", "steps": "six"}',
    "options_a_list": '{"model": "pconv", "workdir": "w", "options": [1]}',
    "seed_null": '{"model": "pconv", "workdir": "w", "seed": null}',
    "unknown_setting": '{"model": "pconv", "workdir": "w", "stepz": 6}',
    "not_utf8": b"\xff\xfe{\x00",
}


@pytest.mark.parametrize("content", sorted(_BAD_CONFIGS))
def test_an_unreadable_config_json_is_one_sentence_naming_it(finished_run, tmp_path, content):
    workdir = _copy(finished_run, tmp_path / "run")
    path = os.path.join(workdir, "config.json")
    value = _BAD_CONFIGS[content]
    with open(path, "wb") as f:
        f.write(value if isinstance(value, bytes) else value.encode())
    before = file_digests(workdir, skip=[runs.LOCK])
    with pytest.raises(ValueError) as error:
        run_training(_config(workdir, steps=8))
    assert path in str(error.value) and "\n" not in str(error.value)
    assert file_digests(workdir, skip=[runs.LOCK]) == before


# === The run's settings ===


def test_read_config_is_the_runs_train_config_in_one_sentence_per_problem(tmp_path):
    run_dir = runs.RunDir(tmp_path)
    with pytest.raises(ValueError, match="is not a training run: it has no config.json"):
        run_dir.read_config()
    config = _config(str(tmp_path), generator_overrides={"decoder_mask_mode": "union"})
    with open(run_dir.config_path, "w", encoding="utf-8") as f:
        json.dump(config.to_dict(), f)
    assert run_dir.read_config() == config
    # Written by hand without the folder: the folder is the run's workdir.
    by_hand = {"model": "pconv", "preset": "tiny"}
    for content, match in (
        (dict(by_hand), None),
        ({"model": "pconv"}, "it has no 'preset'"),
        (dict(by_hand, preset=3), "'preset' in .* is a number"),
        (dict(by_hand, generator_overrides=[1]), "'generator_overrides' in .* is a list"),
        (dict(by_hand, bogus=1), r"config\.json: Unknown training settings \['bogus'\]"),
    ):
        with open(run_dir.config_path, "w", encoding="utf-8") as f:
            json.dump(content, f)
        if match is None:
            read = run_dir.read_config()
            assert (read.model, read.preset, read.workdir) == ("pconv", "tiny", str(tmp_path))
        else:
            with pytest.raises(ValueError, match=match):
                run_dir.read_config()


def test_of_checkpoint_names_the_run_that_holds_a_prefix(tmp_path):
    prefix = os.path.join(tmp_path, "run", runs.CHECKPOINTS, "ckpt-4")
    assert runs.RunDir.of_checkpoint(prefix).path == str(tmp_path / "run")
