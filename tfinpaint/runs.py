"""A training run's folder: its layout, its one writer, and the checks before a run starts.

`RunDir(path)` is the one owner of what a run folder holds (DESIGN.md, Checkpoints):
- `config.json`: every setting, written once a run starts training;
- `checkpoints/`: `ckpt-N.index` + `ckpt-N.data-*` (N = the step), `corrupt/` for damaged ones
  moved aside, never deleted;
- `metrics.jsonl`, `logs/`, `samples/`;
- at the end, `generator.json` + `generator.weights.h5`;
- `train.lock`: the lock of the process that trains the run.

The rules it enforces:
- **One writer.** `lock()` takes an OS file lock (`fcntl.flock`) on `train.lock`; the kernel
  releases it when the process ends, however it ends, so a killed run never leaves a stale lock.
  A second process is refused at once, with the holder's process id (written into the file).
- **Never silently restarted.** `check_start()` refuses a folder that holds traces of a run
  (config, metrics, a generator) but no checkpoint to resume from.
- **Rotation whatever happened before.** `prune_checkpoints(keep)` keeps the newest `keep`
  checkpoints found by file, so checkpoints from before a resume, a kill or a full disk rotate
  away like any other; `sweep_partial_saves()` moves aside the `ckpt-N_temp*` folders of a save
  that was killed.
- **Torn logs.** `read_metrics` drops a torn last line of `metrics.jsonl` (a kill or a full disk
  mid-write) with a warning naming the file; any other unreadable line is an error naming it.

Example:
```python
run_dir = RunDir("runs/pconv")
with run_dir.lock():
    run_dir.check_start()
    ...
```
"""

import contextlib
import errno
import glob
import json
import os
import socket
import threading

from absl import logging

from tfinpaint import checkpointing, json_files

__all__ = ["RUN_FILES", "RunDir", "RunLocked", "read_metrics"]

CONFIG = "config.json"
CHECKPOINTS = "checkpoints"
METRICS = "metrics.jsonl"
GENERATOR_JSON = "generator.json"
GENERATOR_WEIGHTS = "generator.weights.h5"
SAMPLES = "samples"
LOGS = "logs"
LOCK = "train.lock"

# What shows that a folder held a run: files that only training writes.
_TRACES = (CONFIG, METRICS, GENERATOR_JSON, GENERATOR_WEIGHTS)
# Everything a run writes (what an export into the run folder must never replace).
RUN_FILES = (CONFIG, GENERATOR_JSON, GENERATOR_WEIGHTS, CHECKPOINTS, LOGS, SAMPLES, METRICS)

# Locks this process holds: {real path of the lock file: [file object, count]}. A process may
# open the same run more than once (a test opens a run to look at it, then trains it), and
# `flock` locks of two descriptors of one process conflict, so the count makes it re-entrant.
_HELD = {}
_HELD_GUARD = threading.Lock()


class RunLocked(ValueError):
    """Another process is training the run."""


class RunDir:
    """A training run's folder. Paths, checks and the lock; no training logic.

    Args:
        path: str or path-like. The run folder (`--workdir`); it need not exist yet.
    """

    def __init__(self, path):
        self.path = os.fspath(path)

    def __repr__(self):
        return f"RunDir({self.path!r})"

    # --- Layout ----------------------------------------------------------------------------

    def file(self, name):
        return os.path.join(self.path, name)

    @property
    def config_path(self):
        return self.file(CONFIG)

    @property
    def checkpoints_dir(self):
        return self.file(CHECKPOINTS)

    @property
    def metrics_path(self):
        return self.file(METRICS)

    @property
    def generator_json(self):
        return self.file(GENERATOR_JSON)

    @property
    def generator_weights(self):
        return self.file(GENERATOR_WEIGHTS)

    @property
    def samples_dir(self):
        return self.file(SAMPLES)

    @property
    def logs_dir(self):
        return self.file(LOGS)

    @property
    def lock_path(self):
        return self.file(LOCK)

    def traces(self):
        """The names of the run files in the folder (config, metrics, generator), in order."""
        return [name for name in _TRACES if os.path.lexists(self.file(name))]

    def checkpoints(self):
        """Checkpoint prefixes found by their files, newest first (`corrupt/` not listed)."""
        return checkpointing.find_checkpoints(self.checkpoints_dir)

    def has_checkpoint_files(self):
        return checkpointing.has_checkpoint_files(self.checkpoints_dir)

    @classmethod
    def of_checkpoint(cls, prefix):
        """The run that holds the checkpoint `prefix` (`RUN/checkpoints/ckpt-N`)."""
        return cls(os.path.dirname(os.path.dirname(os.path.abspath(os.fspath(prefix)))))

    def has_config(self):
        """True when the folder holds a run's settings (`config.json`): it is a training run."""
        return os.path.isfile(self.config_path)

    def has_generator(self):
        """True when the folder holds a saved generator's description (`generator.json`)."""
        return os.path.isfile(self.generator_json)

    def read_config(self):
        """The run's settings: `config.json` as a `training.config.TrainConfig`.

        The file must be a JSON object naming the run's `model` and `preset` (strings) with
        `generator_overrides` an object where given, and every key a `TrainConfig` field. A
        config that does not record the run folder (written by hand) gets this folder as its
        `workdir`.

        Raises:
            ValueError: one sentence naming the file: missing, not a JSON object, without
                `model` or `preset`, a field of the wrong type, or an unknown setting.
        """
        # Deferred: training sits above runs (its loop owns a RunDir), and importing it here at
        # the top would make every reader of a run folder load the training code.
        from tfinpaint.training import config as config_lib  # noqa: PLC0415

        path = self.config_path
        if not os.path.isfile(path):
            raise ValueError(f"{self.path} is not a training run: it has no {CONFIG}.")
        values = json_files.load_json_object(path, "a training run's config object")
        for key in ("model", "preset"):
            if key not in values:
                raise ValueError(f"{path} is not a training config: it has no '{key}'.")
            json_files.check_field(values, key, str, path, f"the run's {key} name")
        json_files.check_field(
            values, "generator_overrides", dict, path, "an object", required=False
        )
        values.setdefault("workdir", self.path)
        try:
            return config_lib.TrainConfig.from_dict(values)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None

    # --- Checks before a run starts --------------------------------------------------------

    def check_folder(self):
        """Refuses a path that cannot be a run folder (empty, a file, below a file)."""
        if not self.path:
            raise ValueError("--workdir is empty; expected the path of a run folder.")
        if os.path.lexists(self.path) and not os.path.isdir(self.path):
            raise ValueError(f"--workdir={self.path} is a file; expected a folder.")
        parent = os.path.dirname(os.path.abspath(self.path))
        while not os.path.lexists(parent):
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent):
            raise ValueError(
                f"--workdir={self.path} lies below {parent}, which is a file; expected a folder."
            )

    def check_start(self):
        """Refuses a folder with traces of a run but no checkpoint to resume it from.

        Training there would start from step 0 and overwrite what the run left (its generator,
        its metrics), so the user chooses instead.

        Raises:
            ValueError: in one sentence naming what is there and what to do.
        """
        traces = self.traces()
        if traces and not self.has_checkpoint_files():
            raise ValueError(
                f"--workdir={self.path} holds a run's {', '.join(traces)} but no checkpoint to "
                f"resume from ({CHECKPOINTS}/ is missing or empty), so training would start "
                "over and overwrite them: train into a new --workdir (with "
                f"--init_from={self.path} to start from this run's generator), or restore "
                f"{CHECKPOINTS}/ from a backup."
            )

    def check_steps(self, step, steps):
        """Refuses a resume whose `--steps` lies below the step the run has reached."""
        if step > steps:
            raise ValueError(
                f"--workdir={self.path} is at step {step}, past --steps={steps}: give --steps "
                f"above {step} to train on (nothing was changed)."
            )

    # --- The lock --------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self):
        """Holds the run's lock for the block: the only process that writes this run.

        Creates the folder. Re-entrant within a process.

        Raises:
            RunLocked: another process holds it (its process id named where it wrote one).
        """
        self.acquire_lock()
        try:
            yield self
        finally:
            self.release_lock()

    def acquire_lock(self):
        import fcntl  # noqa: PLC0415 (POSIX only; imported where it is used)

        os.makedirs(self.path, exist_ok=True)
        key = os.path.realpath(self.lock_path)
        with _HELD_GUARD:
            if key in _HELD:
                _HELD[key][1] += 1
                return
            lock_file = open(key, "a+", encoding="utf-8")  # noqa: SIM115 (held until release)
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    lock_file.close()
                    raise
                lock_file.seek(0)
                holder = lock_file.read().strip()
                lock_file.close()
                raise RunLocked(
                    f"--workdir={self.path} is being trained by another process "
                    f"({holder or 'process id not recorded yet'}); wait for it to finish or "
                    "stop it, or train into another --workdir."
                ) from None
            lock_file.seek(0)
            lock_file.truncate()
            lock_file.write(f"process {os.getpid()} on {socket.gethostname()}\n")
            lock_file.flush()
            _HELD[key] = [lock_file, 1]

    def release_lock(self):
        key = os.path.realpath(self.lock_path)
        with _HELD_GUARD:
            held = _HELD.get(key)
            if held is None:
                return
            held[1] -= 1
            if held[1] == 0:
                del _HELD[key]
                held[0].close()  # Closing the descriptor releases the flock.

    # --- Checkpoint files ------------------------------------------------------------------

    def sweep_partial_saves(self):
        """Moves the `ckpt-N_temp*` leftovers of a killed save into `corrupt/`, with a note.

        Returns:
            The list of moved names.
        """
        directory = self.checkpoints_dir
        if not os.path.isdir(directory):
            return []
        partial = sorted(glob.glob(os.path.join(glob.escape(directory), "*_temp*")))
        checkpointing.move_into(partial, os.path.join(directory, checkpointing.CORRUPT_DIR))
        moved = [os.path.basename(path) for path in partial]
        if moved:
            logging.warning(
                "Moved %s, left by a checkpoint save that did not finish, into %s.",
                ", ".join(moved),
                os.path.join(directory, checkpointing.CORRUPT_DIR),
            )
        return moved

    def prune_checkpoints(self, keep):
        """Keeps the newest `keep` checkpoints on disk, whatever wrote the older ones.

        Checkpoints are found by file, so those of an earlier process (before a resume, a kill,
        a full disk) rotate away like this process's own; the state file is rewritten to list
        the ones kept. `corrupt/` is never touched.

        Returns:
            The prefixes deleted, newest first.
        """
        if keep is None or keep < 1:
            return []
        prefixes = self.checkpoints()
        removed = prefixes[keep:]
        for prefix in removed:
            for path in checkpointing.checkpoint_files(prefix):
                os.remove(path)
        if removed:
            checkpointing.write_state_file(self.checkpoints_dir, prefixes[:keep])
        return removed

    def restore_latest(self, checkpoint, manage_files=True):
        """Restores the newest readable checkpoint of the run into `checkpoint`.

        Checkpoints are found from their files (the `checkpoint` state file may be damaged) and
        read in full before use. A damaged one is moved into `checkpoints/corrupt/` with a
        warning naming it, and the next older one is tried; the state file is then rewritten to
        list the checkpoints left, so rotation never deletes a good one it did not know about.

        Args:
            checkpoint: tf.train.Checkpoint. The run's objects, built fresh.
            manage_files: bool. Move damaged checkpoints aside and rewrite the state file (the
                chief); False only reads (every other worker).

        Returns:
            The restored prefix, or None for a run without checkpoint files.

        Raises:
            checkpointing.CheckpointError: checkpoint files exist but none is readable (a run
                never restarts from step 0 silently), or a readable one does not fit the run's
                networks.
        """
        import tensorflow as tf  # noqa: PLC0415 (checkpointing has loaded it already)

        directory = self.checkpoints_dir
        if not checkpointing.has_checkpoint_files(directory):
            return None
        prefixes = checkpointing.find_checkpoints(directory)
        readable = []
        for prefix in prefixes:
            problem = checkpointing.verify_checkpoint(prefix)
            if problem is None:
                readable = prefixes[prefixes.index(prefix) :]
                break
            if manage_files:
                target = checkpointing.move_aside(prefix)
                logging.warning(
                    "Damaged checkpoint: %s. Moved its files to %s; trying an older one.",
                    problem,
                    target,
                )
            else:
                logging.warning("Damaged checkpoint: %s. Trying an older one.", problem)
        if manage_files:
            checkpointing.write_state_file(directory, readable)
        if not readable:
            raise checkpointing.CheckpointError(
                f"No readable checkpoint in {directory} (damaged ones are kept in "
                f"{os.path.join(directory, checkpointing.CORRUPT_DIR)}): to start this run from "
                "step 0, move or delete that checkpoints folder; to keep the work, restore it "
                "from a backup."
            )
        prefix = readable[0]
        try:
            checkpoint.restore(prefix).assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.OpError) as error:
            raise checkpointing.CheckpointError(
                f"The checkpoint {prefix} does not fit this run's networks ({str(error)[:200]}); "
                "was the workdir trained with another model or generator config?"
            ) from None
        return prefix

    def worker_checkpoints_dir(self, pid):
        """Where a non-chief worker's collective saves go (deleted when it finishes)."""
        return self.file(f".worker-{pid}")

    def sample_path(self, step):
        """The PNG grid of the validation batch at `step`."""
        return os.path.join(self.samples_dir, f"step_{step:07d}.png")

    def has_generator_files(self):
        """True when both generator files are there (a run killed between its last checkpoint
        and them lacks one)."""
        return os.path.exists(self.generator_json) and os.path.exists(self.generator_weights)


def read_metrics(path, warn_torn=True):
    """The records of a `metrics.jsonl` file, as a list of dicts.

    A torn last line (a kill or a full disk mid-write) is dropped, with a warning naming the
    file; any other line that is not a JSON object is an error naming the file and the line.

    Raises:
        ValueError: an unreadable line other than the last.
    """
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError:
        raise ValueError(
            f"{path} is not UTF-8 text; expected the metrics.jsonl of a run."
        ) from None
    numbered = [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]
    records = []
    for index, (number, line) in enumerate(numbered):
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("step"), int):
                raise ValueError("not a record")
        except (ValueError, RecursionError):
            if index == len(numbered) - 1:
                if warn_torn:
                    logging.warning(
                        "Dropped the torn last line %d of %s (a kill or a full disk cut it short).",
                        number,
                        path,
                    )
                break
            raise ValueError(
                f"Line {number} of {path} is not a JSON object with an integer 'step'; expected "
                "one record per line (move the file aside to start a new log)."
            ) from None
        records.append(record)
    return records
