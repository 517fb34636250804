"""File-system failures (issue 30): one `Error:` line, and what was saved stays intact.

The class is every way a write or a read can fail under a tool: a full disk (ENOSPC), a
file-size limit (EFBIG, `ulimit -f`), a read-only file system (EROFS), a folder without
permission (EACCES), a path under a file (ENOTDIR), an empty path. One mechanism handles it
(`tfinpaint.cli.reports_file_errors` on every tool's `main`, `tfinpaint.files.describe_file_error`
for the sentence, `tfinpaint.files.atomic_write`/`atomic_folder` for the writes), so the tests
go over members and tools the report did not list: each fault is made for real in a child
process (a small tmpfs filled up, `RLIMIT_FSIZE` with SIGXFSZ ignored, a tmpfs remounted
read-only, `chmod 0o555`, immutable folders with `chattr +i` for EPERM), and the earlier
checkpoints, generator files and exports are compared byte for byte afterwards. Mounting and
chattr need root; permission bits do not bind root: those members are skipped with the reason
otherwise.
"""

import contextlib
import errno
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from harness import file_digests

from tfinpaint import cli, files

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_IS_ROOT = os.geteuid() == 0

# === The sentence =============================================================================

_MEMBERS = {  # errno -> words the sentence must hold.
    errno.ENOSPC: "no space left",
    errno.EDQUOT: "quota",
    errno.EFBIG: "file-size limit",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "not permitted",
    errno.ENOTDIR: "is a file, not a folder",
    errno.EISDIR: "is a folder",
    errno.ENAMETOOLONG: "too long",
}


@pytest.mark.parametrize("code", sorted(_MEMBERS))
def test_os_errors_become_one_sentence_with_path_and_reason(code):
    error = OSError(code, os.strerror(code), "/data/run/generator.json")
    sentence = files.describe_file_error(error)
    assert "/data/run/generator.json" in sentence and _MEMBERS[code] in sentence
    assert "\n" not in sentence and sentence.endswith(".")


@pytest.mark.parametrize(
    "error_class",
    [
        tf.errors.ResourceExhaustedError,
        tf.errors.OutOfRangeError,
        tf.errors.PermissionDeniedError,
        tf.errors.FailedPreconditionError,
        tf.errors.UnknownError,
    ],
)
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG, errno.EROFS, errno.ENOTDIR])
def test_tensorflow_file_errors_become_one_sentence(error_class, code):
    # The shapes of TF's messages: SaveV2 names its temporary shard, directory ops the folder.
    message = (
        "{{function_node __wrapped__SaveV2_dtypes_3_device_/job:localhost/replica:0/task:0/"
        "device:CPU:0}} /data/run/checkpoints/ckpt-5_temp/part-00000-of-00001.data-00000-of-"
        f"00001.tempstate8774407249254989585; {os.strerror(code)} [Op:SaveV2]"
    )
    sentence = files.describe_file_error(error_class(None, None, message))
    assert _MEMBERS[code] in sentence
    assert "/data/run/checkpoints/ckpt-5_temp/part-00000-of-00001.data-00000-of-00001:" in sentence
    short = files.describe_file_error(error_class(None, None, f"/data/run; {os.strerror(code)}"))
    assert short.startswith("Cannot") and "/data/run:" in short


def test_hdf5_messages_and_empty_paths():
    hdf5 = OSError(
        errno.EFBIG,
        "Can't synchronously write data (file write failed: time = Sun Dec  6 2026\n, filename = "
        "'/data/a.weights.h5', file descriptor = 3, errno = 27, error message = 'File too large')",
    )
    assert "/data/a.weights.h5: the file is too large" in files.describe_file_error(hdf5)
    empty = FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), "")
    assert files.describe_file_error(empty).startswith("An empty path was given")


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad value"),
        KeyError("x"),
        tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[9]"),
        tf.errors.InvalidArgumentError(None, None, "Incompatible shapes: [2] vs. [3]"),
    ],
)
def test_other_errors_stay_tracebacks(error):
    assert files.describe_file_error(error) is None

    @cli.reports_file_errors
    def main(argv):
        raise error

    with pytest.raises(type(error)):
        main(["tool.py"])


def test_decorated_main_exits_with_one_error_line():
    @cli.reports_file_errors
    def main(argv):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/full/x")

    with pytest.raises(SystemExit) as exit_:
        main(["tool.py"])
    assert exit_.value.code.startswith("Error: Cannot write /full/x: no space left")
    assert cli.reports_file_errors(main) is main  # Applied once, however often it is asked.


# === Output paths, checked before any work ====================================================


def test_check_writable_members(tmp_path):
    (tmp_path / "a_file").write_text("x")
    for path, words in [
        ("", "empty"),
        (str(tmp_path / "a_file" / "sub"), "is a file, not a folder"),
        (str(tmp_path / "a_file" / "deeper" / "out.json"), "is a file, not a folder"),
    ]:
        with pytest.raises(ValueError, match=words):
            files.check_writable(path, "--output")
    files.check_writable(str(tmp_path / "new" / "folders" / "out.json"))  # Created later.
    assert not (tmp_path / "new").exists()
    assert os.listdir(tmp_path) == ["a_file"]  # The probe file is gone.


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_folder_that_refuses_files_despite_its_permission_bits_is_refused():
    # /proc passes os.access for root, yet no file can be created there: the probe tells.
    with pytest.raises(ValueError, match="a file cannot be created in /proc"):
        files.check_writable("/proc/tfinpaint_report.json", "--output_json")


# === Guarded writes ===========================================================================


def test_atomic_write_keeps_the_previous_file_on_failure(tmp_path):
    target = tmp_path / "generator.json"
    target.write_text("previous")
    with pytest.raises(OSError):
        with files.atomic_write(str(target)) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), tmp)
    assert target.read_text() == "previous"
    assert sorted(os.listdir(tmp_path)) == ["generator.json"]
    files.write_json(str(target), {"psnr": float("nan")})
    assert json.loads(target.read_text()) == {"psnr": None}


def test_atomic_folder_replaces_a_symlink_without_entering_it(tmp_path):
    target = tmp_path / "project"
    target.mkdir()
    (target / "notes.txt").write_text("keep")
    link = tmp_path / "link"
    link.symlink_to(target)
    with files.atomic_folder(str(link)) as tmp:
        (open(os.path.join(tmp, "saved_model.pb"), "w")).close()
    assert not link.is_symlink() and (link / "saved_model.pb").exists()
    assert (target / "notes.txt").read_text() == "keep" and os.listdir(target) == ["notes.txt"]


# === Strict JSON: every writer ================================================================


def _strict_load(text):
    def refuse(constant):
        raise ValueError(f"non-strict JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def test_strict_json_dumps_converts_undefined_numbers():
    text = files.strict_json_dumps(
        {
            "nan": float("nan"),
            "inf": [float("inf"), -float("inf")],
            "np": np.float32("nan"),
            "array": np.array([1.5, np.nan]),
            "int": np.int64(3),
            "nested": {"t": (1.0, float("nan"))},
        }
    )
    assert _strict_load(text) == {
        "nan": None,
        "inf": [None, None],
        "np": None,
        "array": [1.5, None],
        "int": 3,
        "nested": {"t": [1.0, None]},
    }


def test_every_json_writer_is_strict(tmp_path):
    from tfinpaint.benchmark import output as benchmark_output
    from tfinpaint.data import mask_sets
    from tfinpaint.models import registry, saving
    from tfinpaint.training import config as config_lib
    from tfinpaint.training import reporting

    nan = float("nan")
    # metrics.jsonl
    log = reporting.MetricsLog(str(tmp_path / "metrics.jsonl"))
    log.append({"step": 1, "loss": np.float32(nan), "val_psnr_hole": float("inf")})
    line = (tmp_path / "metrics.jsonl").read_text().strip()
    assert _strict_load(line) == {"step": 1, "loss": None, "val_psnr_hole": None}
    # A resume rewrites the kept records strictly, even a file an older version wrote with NaN.
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": NaN}\n{"step": 3, "loss": 1}\n')
    reporting.MetricsLog(str(tmp_path / "metrics.jsonl"), resume_step=2)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [_strict_load(line) for line in lines] == [{"step": 1, "loss": None}]
    # config.json
    config = config_lib.TrainConfig(model="pconv", preset="tiny", workdir=str(tmp_path / "run"))
    config_lib.save_config(config, str(tmp_path / "config.json"))
    _strict_load((tmp_path / "config.json").read_text())
    # generator.json with an undefined number in its extra keys.
    generator = registry.build_generator("pconv", "tiny")
    saving.save_generator(
        generator, "pconv", "tiny", str(tmp_path / "gen"), extra={"val_psnr": nan}
    )
    assert _strict_load((tmp_path / "gen" / "generator.json").read_text())["val_psnr"] is None
    # Benchmark output.
    benchmark_output.write_json(str(tmp_path / "bench.json"), "inference", [{"ms": nan}])
    assert _strict_load((tmp_path / "bench.json").read_text())["records"] == [{"ms": None}]
    # Mask-set manifest.
    mask_sets.write_mask_set("rect", 32, 2, 0, str(tmp_path / "masks"))
    _strict_load((tmp_path / "masks" / mask_sets.MANIFEST).read_text())
    # Photo-set manifest.
    import cv2

    from tfinpaint.data import photos

    rng = np.random.default_rng(0)
    (tmp_path / "photos").mkdir()
    for index in range(3):
        cv2.imwrite(str(tmp_path / "photos" / f"{index}.png"), rng.integers(0, 255, (40, 48, 3)))
    photos.prepare_photos(
        [str(tmp_path / "photos")], str(tmp_path / "prepared"), short_side=32, min_short_side=1
    )
    _strict_load((tmp_path / "prepared" / "manifest.json").read_text())


# === Real faults, in child processes ==========================================================


def _fill(folder, leave=0):
    """Writes a filler file into `folder` until its file system has only `leave` bytes left."""
    filler = os.path.join(folder, "filler")
    with open(filler, "wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError as error:
                assert error.errno == errno.ENOSPC
    os.truncate(filler, max(0, os.path.getsize(filler) - leave))


def _mount_tmpfs(folder, size="24m"):
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", folder], check=True)


@contextlib.contextmanager
def _fault(kind, folder, populate, fsize=32 * 1024):
    """Makes `folder` (populated by `populate(folder)`) fail writes the way `kind` says.

    Yields the RLIMIT_FSIZE for the child (`fsize` for "efbig", else None).
    """
    if kind in ("enospc", "enospc_at_save", "erofs", "eperm") and not _IS_ROOT:
        pytest.skip(f"{kind}: mounting a small tmpfs needs root")
    if kind == "eacces" and _IS_ROOT:
        pytest.skip("eacces: root bypasses permission bits (erofs covers an unwritable folder)")
    os.makedirs(folder)
    mounted = kind in ("enospc", "enospc_at_save", "erofs", "eperm")
    if mounted:
        _mount_tmpfs(folder)
    try:
        populate(folder)
        if kind == "enospc":
            _fill(folder)
        elif kind == "enospc_at_save":  # Room for logs and samples, not for a checkpoint.
            _fill(folder, leave=256 * 1024)
        elif kind == "erofs":
            subprocess.run(["mount", "-o", "remount,ro", folder], check=True)
        elif kind == "eacces":
            for parent, _, _ in os.walk(folder):
                os.chmod(parent, 0o555)
        elif kind == "eperm":  # Immutable folders: not even root may add or rename entries.
            _chattr("+i", folder)
        yield fsize if kind == "efbig" else None
    finally:
        if kind == "eacces":
            for parent, _, _ in os.walk(folder):
                os.chmod(parent, 0o755)
        if kind == "eperm":
            _chattr("-i", folder)
        if mounted:
            subprocess.run(["umount", "-l", folder], check=False)


def _chattr(flag, folder):
    folders = [parent for parent, _, _ in os.walk(folder)]
    subprocess.run(["chattr", flag, *folders], check=True, capture_output=True)


def _run_tool(tool, args, fsize=None, timeout=600):
    def limit():
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # The write gets EFBIG instead.
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join([_ROOT, env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, os.path.join(_ROOT, "tools", f"{tool}.py"), *args],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        env=env,
        timeout=timeout,
    )


def _output_and_errors(result):
    output = (
        f"rc={result.returncode}\nstdout:\n{result.stdout[-2000:]}\n"
        f"stderr:\n{result.stderr[-3000:]}"
    )
    lines = (result.stdout + result.stderr).splitlines()
    return output, [line for line in lines if line.startswith("Error:")]


_REASONS = {
    "enospc": "no space left",
    "enospc_at_save": "no space left.*ckpt|ckpt.*no space left",
    "efbig": "file-size limit",
    "erofs": "read-only file system",
    "eacces": "not writable|permission denied",
    "eperm": "not writable|not permitted",
}


def _previous_export(folder):
    path = os.path.join(folder, "serving", "1")
    os.makedirs(os.path.join(path, "variables"))
    with open(os.path.join(path, "saved_model.pb"), "wb") as f:
        f.write(b"an earlier export")
    files.write_json(os.path.join(path, ".tfinpaint-export.json"), {"format": "saved_model"})


def _previous_tflite(folder):
    with open(os.path.join(folder, "model.tflite"), "wb") as f:
        f.write(b"\x1c\x00\x00\x00TFL3" + b"an earlier model")


def _previous_generator(folder):
    for name, data in (("shipped.json", b"{}\n"), ("shipped.weights.h5", b"earlier weights")):
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)


def _scenarios(trained_run):
    """name -> (populate(folder), argv(folder)): a tool writing over earlier results in folder."""

    def copy_run(folder):
        shutil.copytree(trained_run, os.path.join(folder, "run"))

    return {
        "export_saved_model": (
            _previous_export,
            lambda d: [
                f"--workdir={trained_run}",
                "--format=saved_model",
                "--version=1",
                f"--output={d}/serving",
                "--overwrite",
            ],
        ),
        "export_tflite": (
            _previous_tflite,
            lambda d: [
                f"--workdir={trained_run}",
                "--format=tflite",
                "--image_size=32",
                f"--output={d}/model.tflite",
                "--overwrite",
            ],
        ),
        "ship_checkpoint": (
            _previous_generator,
            lambda d: [
                f"--workdir={trained_run}",
                "--name=shipped",
                "--description=test",
                f"--output_dir={d}",
                "--overwrite",
            ],
        ),
        "train_resume": (
            copy_run,
            lambda d: [
                "--model=pconv",
                "--preset=tiny",
                f"--workdir={d}/run",
                "--steps=8",
                "--checkpoint_every=2",
                "--log_every=2",
                "--vgg_weights=none",
                "--image_size=32",
                "--batch_size=2",
                "--val_batch_size=2",
            ],
        ),
        "train_fresh": (
            lambda d: None,
            lambda d: [
                "--model=pconv",
                "--preset=tiny",
                f"--workdir={d}/new_run",
                "--steps=4",
                "--vgg_weights=none",
                "--image_size=32",
                "--batch_size=2",
            ],
        ),
        "make_masks": (
            lambda d: None,
            lambda d: ["--masks=rect", "--image_size=64", "--num=200", f"--output={d}/masks"],
            2048,  # Below the manifest's size: the masks themselves are ~200-byte PNGs.
        ),
    }


_SCENARIO_TOOLS = {
    "export_saved_model": "export",
    "export_tflite": "export",
    "ship_checkpoint": "ship_checkpoint",
    "train_resume": "train",
    "train_fresh": "train",
    "make_masks": "make_masks",
}
# What must stay byte-identical: everything, except in a resumed run, which legitimately
# appends to metrics.jsonl, rewrites config.json with the new settings and takes its lock.
_KEPT = dict.fromkeys(_SCENARIO_TOOLS, lambda path: True)
_KEPT["train_resume"] = lambda path: path.startswith(("run/checkpoints/", "run/generator."))
_FAULT_CASES = [
    ("export_saved_model", "enospc"),
    ("export_saved_model", "efbig"),
    ("export_saved_model", "erofs"),
    ("export_saved_model", "eacces"),
    ("export_tflite", "enospc"),
    ("export_tflite", "efbig"),
    ("ship_checkpoint", "enospc"),
    ("ship_checkpoint", "efbig"),
    ("train_resume", "enospc"),
    ("train_resume", "enospc_at_save"),
    ("train_resume", "efbig"),
    ("train_resume", "erofs"),
    ("train_fresh", "erofs"),
    ("train_fresh", "eacces"),
    ("export_tflite", "eperm"),
    ("ship_checkpoint", "eperm"),
    ("train_resume", "eperm"),
    ("make_masks", "efbig"),
    ("make_masks", "erofs"),
]


@pytest.mark.parametrize("scenario,kind", _FAULT_CASES, ids=[f"{s}-{k}" for s, k in _FAULT_CASES])
def test_file_system_faults_give_one_error_and_keep_what_was_saved(
    trained_run, tmp_path, scenario, kind
):
    populate, argv, *limit = _scenarios(trained_run)[scenario]
    folder = str(tmp_path / "disk")
    with _fault(kind, folder, populate, *limit) as fsize:
        before = file_digests(folder)
        before.pop("filler", None)
        result = _run_tool(_SCENARIO_TOOLS[scenario], argv(folder), fsize=fsize)
        after = file_digests(folder)
        after.pop("filler", None)
        leftovers = [
            os.path.join(parent, name)
            for parent, dirs, names in os.walk(folder)
            for name in dirs + names
            if ".tmp-" in name
        ]
    output, errors = _output_and_errors(result)
    assert result.returncode not in (0, -signal.SIGSEGV, -signal.SIGXFSZ), output
    assert "Traceback (most recent call last)" not in result.stderr, output
    assert len(errors) == 1, output
    assert re.search(_REASONS[kind], errors[0]), output
    assert "/" in errors[0], output  # The path is named.
    saved = [path for path in before if _KEPT[scenario](path)]
    changed = sorted(path for path in saved if before[path] != after.get(path))
    assert changed == [], f"earlier files changed: {changed}\n{output}"
    assert leftovers == [], output


@pytest.mark.parametrize(
    "tool,args,words",
    [
        ("train", ["--model=pconv", "--preset=tiny", "--workdir={file}/sub"], "is a file"),
        ("train", ["--model=pconv", "--preset=tiny", "--workdir="], "empty|--workdir"),
        ("export", ["--workdir={run}", "--format=tflite", "--output="], "empty"),
        (
            "export",
            ["--workdir={run}", "--format=tflite", "--output={file}/m.tflite"],
            "not a folder",
        ),
        ("make_masks", ["--masks=rect", "--num=2", "--output={file}/masks"], "not a folder"),
    ],
)
def test_bad_paths_are_refused_in_one_sentence(trained_run, tmp_path, tool, args, words):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    args = [arg.replace("{file}", str(a_file)).replace("{run}", trained_run) for arg in args]
    result = _run_tool(tool, args)
    output, errors = _output_and_errors(result)
    assert result.returncode != 0 and len(errors) == 1, output
    assert "Traceback (most recent call last)" not in result.stderr, output
    assert re.search(words, errors[0]), output
    assert a_file.read_text() == "x"


def test_evaluate_output_json_is_strict(trained_run, tmp_path):
    """evaluate.py's report: the tool runs as from a shell, with one metric made undefined."""
    output = tmp_path / "eval.json"
    child = (
        "import runpy, sys\n"
        "from tfinpaint import evaluation\n"
        "real = evaluation.evaluate\n"
        "def evaluate(*args, **kwargs):\n"
        "    result = real(*args, **kwargs)\n"
        "    result['records'][0]['undefined_metric'] = float('nan')\n"
        "    result['records'][0]['infinite_metric'] = float('inf')\n"
        "    return result\n"
        "evaluation.evaluate = evaluate\n"
        "sys.argv = sys.argv[1:]\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join([_ROOT, env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            child,
            os.path.join(_ROOT, "tools", "evaluate.py"),
            f"--workdir={trained_run}",
            "--data=samples",
            "--image_size=32",
            "--num_images=2",
            "--batch_size=2",
            f"--output_json={output}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    record = _strict_load(output.read_text())["records"][0]
    assert record["undefined_metric"] is None and record["infinite_metric"] is None
