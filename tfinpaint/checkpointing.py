"""Checkpoints of training runs: every variable under its own network's path, verified reads.

A training checkpoint (DESIGN.md, Checkpoints) must restore into freshly built objects: every
generator and discriminator variable has to sit under its own network's path, not only under an
optimizer that happens to reference it. Keras' own object graph does not guarantee that: it
finds sublayers through the Python attributes and containers a layer assigned, and a layer that
keeps sublayers in a list it rebuilds in `build()` (the cascade model's CD block did) leaves
them out of `tf.train.Checkpoint` while `model.weights` still lists them. So networks and
optimizers are saved through `VariablesByPath`, which names each variable by its Keras path
(`level_1_extract_cd_0/conv_dilation_2/kernel`), whatever containers hold the layers.

Reading checkpoints is verified too: `find_checkpoints` lists them from the files themselves
(not only from the `checkpoint` state file, which a crash or an editor can damage),
`verify_checkpoint` reads every tensor (which catches truncated, emptied and bit-flipped files
through TF's checksums) and checks that float values are finite, and `move_aside` keeps a bad
checkpoint under `corrupt/` instead of deleting it.
"""

import glob
import os
import re
import shutil

import numpy as np
import tensorflow as tf

__all__ = [
    "CheckpointError",
    "VariablesByPath",
    "find_checkpoints",
    "move_aside",
    "restore_networks",
    "verify_checkpoint",
    "write_state_file",
]

CORRUPT_DIR = "corrupt"
_PREFIX_RE = re.compile(r"^(?P<prefix>.+-(?P<number>\d+))\.index$")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or that lacks variables the objects need."""


class VariablesByPath(tf.Module):
    """A checkpointable view of a Keras network's or optimizer's variables, keyed by path.

    Saving `tf.train.Checkpoint(generator=VariablesByPath(generator))` writes every variable in
    `generator.weights` (trainable and not: BatchNorm statistics, spectral-norm vectors) under
    `generator/<its Keras path>` (the layer names given in the model's code, not counters a
    process assigns); restoring into a freshly built network of the same config
    fills each of them, and `assert_existing_objects_matched()` fails if one is missing from
    the file. For an optimizer the view holds `optimizer.variables` (iterations, learning rate,
    slots), so the networks' weights are saved once, under the networks.

    Args:
        source: keras.Model, keras.layers.Layer or keras.optimizers.Optimizer. It must be built
            (generators are functional, optimizers are built by the trainer before saving).

    Example:
    >>> view = VariablesByPath(generator)
    >>> tf.train.Checkpoint(generator=view).write("/tmp/ckpt")
    """

    def __init__(self, source):
        super().__init__(name=None)
        is_optimizer = _is_optimizer(source)
        variables = source.variables if is_optimizer else source.weights
        if not variables and not getattr(source, "built", True):
            raise ValueError(f"{type(source).__name__} is not built; build it before saving.")
        # One trackable node per path component, so checkpoint keys read like the Keras
        # paths: `generator/level_1_extract_cd_0/conv_dilation_2/kernel/.ATTRIBUTES/...`.
        nodes = {(): self}
        taken = {(): set()}
        entries = []
        for variable in variables:
            *folders, leaf = variable.path.split("/")
            if is_optimizer:
                # An optimizer's own name comes first ("adam_3/..."), and Keras numbers those
                # per process: drop it so a checkpoint restores in any process.
                folders = folders[1:]
            parent = ()
            for folder in folders:
                child = (*parent, folder)
                if child not in nodes:
                    nodes[child] = _PathNode()
                    taken[child] = set()
                    nodes[parent]._track_trackable(nodes[child], name=folder)
                    taken[parent].add(folder)
                parent = child
            name, copy = leaf, 0
            while name in taken[parent]:  # Two variables with one path (custom layers can).
                copy += 1
                name = f"{leaf}_{copy}"
            taken[parent].add(name)
            nodes[parent]._track_trackable(variable, name=name)
            entries.append(("/".join((*parent, name)), variable))
        self.num_variables = len(entries)
        # Bypasses tf.Module's attribute tracking: the variables are tracked above, once.
        object.__setattr__(self, "_entries", entries)

    def keys(self, name):
        """[(checkpoint key, variable)] of this view saved as `name` in a tf.train.Checkpoint."""
        return [(f"{name}/{path}/.ATTRIBUTES/VARIABLE_VALUE", var) for path, var in self._entries]


class _PathNode(tf.Module):
    """One folder of a variable path inside `VariablesByPath`."""


def _is_optimizer(source):
    import keras  # noqa: PLC0415 (keras loads after tfinpaint's backend choice)

    return isinstance(source, keras.optimizers.Optimizer)


def checkpoint_prefix_number(prefix):
    """The step number at the end of a checkpoint prefix (`ckpt-400` -> 400)."""
    match = re.search(r"-(\d+)$", prefix)
    return int(match.group(1)) if match else -1


def find_checkpoints(directory):
    """Checkpoint prefixes in `directory`, newest (highest number) first, found by file.

    The `checkpoint` state file is not consulted: a prefix counts when its `.index` file
    exists. Files moved aside into `corrupt/` are not listed.
    """
    prefixes = []
    for path in glob.glob(os.path.join(glob.escape(directory), "*.index")):
        match = _PREFIX_RE.match(path)
        if match:
            prefixes.append(match.group("prefix"))
    return sorted(prefixes, key=checkpoint_prefix_number, reverse=True)


def checkpoint_files(prefix):
    """Every file that belongs to the checkpoint `prefix` (index and data shards)."""
    return sorted(glob.glob(glob.escape(prefix) + ".*"))


def has_checkpoint_files(directory):
    """Whether `directory` holds any checkpoint file or a `corrupt/` folder of moved ones."""
    if not os.path.isdir(directory):
        return False
    for name in os.listdir(directory):
        if name == CORRUPT_DIR or ".index" in name or ".data-" in name:
            return True
    return False


def verify_checkpoint(prefix):
    """Reads every tensor of `prefix`; returns None when it is sound, else the problem.

    Returns:
        None, or a str naming the problem and the file it is in (one sentence, no period).
    """
    index = prefix + ".index"
    if not os.path.isfile(index):
        return f"{index} is missing"
    if os.path.getsize(index) == 0:
        return f"{index} is empty"
    try:
        reader = tf.train.load_checkpoint(prefix)
        dtypes = reader.get_variable_to_dtype_map()
        for key, dtype in dtypes.items():
            value = reader.get_tensor(key)
            if dtype.is_floating and not np.all(np.isfinite(value)):
                return f"{_data_file(prefix)} holds non-finite values in {key}"
    except Exception as error:  # noqa: BLE001 (any failure to read is a damaged checkpoint)
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        files = ", ".join(os.path.basename(path) for path in checkpoint_files(prefix))
        return (
            f"{prefix} cannot be read ({type(error).__name__}: {first_line[:160]}; files: "
            f"{files or 'none'})"
        )
    return None


def _data_file(prefix):
    data = [path for path in checkpoint_files(prefix) if ".data-" in path]
    return data[0] if data else prefix


def move_aside(prefix):
    """Moves the files of checkpoint `prefix` into `corrupt/` beside it; returns that folder.

    Nothing is deleted: a file whose name is already taken there gets a numbered suffix.
    """
    target = os.path.join(os.path.dirname(prefix), CORRUPT_DIR)
    move_into(checkpoint_files(prefix), target)
    return target


def move_into(paths, folder):
    """Moves files or folders into `folder` (created), never over an existing name: a taken
    name gets a numbered suffix. Returns the new paths (the folder is made only when needed)."""
    if paths:
        os.makedirs(folder, exist_ok=True)
    moved = []
    for path in paths:
        destination = os.path.join(folder, os.path.basename(path))
        suffix = 1
        while os.path.lexists(destination):
            destination = os.path.join(folder, f"{os.path.basename(path)}.{suffix}")
            suffix += 1
        shutil.move(path, destination)
        moved.append(destination)
    return moved


def write_state_file(directory, prefixes):
    """Rewrites `directory/checkpoint` to list `prefixes` (newest first), so that
    `tf.train.CheckpointManager` rotates exactly the checkpoints on disk."""
    if not prefixes:
        state = os.path.join(directory, "checkpoint")
        if os.path.exists(state):
            os.remove(state)
        return
    oldest_first = [os.path.basename(path) for path in reversed(prefixes)]
    if _state_file_lists(directory) == oldest_first:  # Left as it is: a resume changes nothing.
        return
    # The text format of tf.train.CheckpointState, written atomically.
    lines = [f'model_checkpoint_path: "{oldest_first[-1]}"']
    lines += [f'all_model_checkpoint_paths: "{name}"' for name in oldest_first]
    state = os.path.join(directory, "checkpoint")
    with open(state + ".tmp", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(state + ".tmp", state)


def _state_file_lists(directory):
    """The checkpoint names `directory/checkpoint` lists, oldest first (its newest last), or
    None when it is missing or unreadable."""
    try:
        state = tf.train.get_checkpoint_state(directory)
    except Exception:  # noqa: BLE001 (a damaged state file is rewritten, whatever the damage)
        return None
    if state is None:
        return None
    names = [os.path.basename(path) for path in state.all_model_checkpoint_paths]
    if not names or names[-1] != os.path.basename(state.model_checkpoint_path):
        return None
    return names


def restore_networks(prefix, networks, verify=True):
    """Restores `networks` ({name: keras object}) from `prefix`, every variable or an error.

    Only the named objects are read (the file may hold more: optimizers, step, other
    networks). Each must find every one of its variables in the file.

    Args:
        prefix: str. Checkpoint prefix.
        networks: dict of name -> keras.Model / Layer / Optimizer, as saved by the trainer.
        verify: bool. Read the whole file first (False when the caller just verified it).

    Raises:
        CheckpointError: the file cannot be read, or lacks a variable of one of the networks.
    """
    problem = verify_checkpoint(prefix) if verify else None
    if problem:
        raise CheckpointError(f"The checkpoint is unreadable: {problem}.")
    views = {name: VariablesByPath(network) for name, network in networks.items()}
    saved = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    for name, view in views.items():
        missing = [key for key, _ in view.keys(name) if key not in saved]
        if missing:
            raise CheckpointError(
                f"The checkpoint {prefix} lacks {len(missing)} of the {view.num_variables} "
                f"variables of {name}, first {missing[0].split('/.ATTRIBUTES')[0]} (it was "
                "written by another model configuration or an older tfinpaint)."
            )
    # Every variable has a value in the file (checked above); the rest of the file is unused.
    tf.train.Checkpoint(**views).restore(prefix).expect_partial()
