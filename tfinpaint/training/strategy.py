"""Distribution strategies and numeric precision for training.

`auto` picks MirroredStrategy when more than one GPU is visible and the default strategy
otherwise; `mirrored` replicates over every GPU (or, on a machine without GPUs, over every
logical CPU device, which is how the tests exercise it); `multiworker` reads the cluster from
TF_CONFIG (MultiWorkerMirroredStrategy).
"""

import json
import os

import keras
import tensorflow as tf
from absl import logging

from tfinpaint import precision

_PROCESS_STRATEGIES = {}


def make_strategy(name):
    """Returns the tf.distribute strategy called `name` (auto, default, mirrored, multiworker)."""
    if name == "auto":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy(devices=[d.name for d in gpus])
        # Collective all-reduce on CPU devices breaks when a process builds a second strategy
        # (instance keys collide); reducing on one device is plenty for CPU replicas.
        return tf.distribute.MirroredStrategy(
            devices=[d.name for d in tf.config.list_logical_devices("CPU")],
            cross_device_ops=tf.distribute.ReductionToOneDevice(),
        )
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "--strategy=multiworker needs the cluster in the TF_CONFIG environment variable "
                "(see the tf.distribute.MultiWorkerMirroredStrategy docs); it is not set."
            )
        # It configures collective ops, which TF allows once, before any other op runs: the
        # run creates it first thing and every later call gets the same one.
        if "multiworker" not in _PROCESS_STRATEGIES:
            _PROCESS_STRATEGIES["multiworker"] = tf.distribute.MultiWorkerMirroredStrategy()
        return _PROCESS_STRATEGIES["multiworker"]
    raise ValueError(
        f"Unknown strategy '{name}': expected one of auto, default, mirrored, multiworker."
    )


def is_chief(strategy):
    """True on the worker that writes checkpoints, logs and samples.

    With TF_CONFIG, that is the "chief" task, or worker 0 when the cluster has no chief.
    """
    del strategy  # The cluster comes from TF_CONFIG, whatever the strategy.
    if not os.environ.get("TF_CONFIG"):
        return True
    tf_config = json.loads(os.environ["TF_CONFIG"])
    task = tf_config.get("task", {})
    task_type, task_index = task.get("type"), int(task.get("index", 0))
    if task_type in (None, "chief"):
        return True
    return task_type == "worker" and task_index == 0 and "chief" not in tf_config.get("cluster", {})


def set_precision(mixed_precision):
    """Sets Keras' global dtype policy for `--mixed_precision` ("none", "float16", "bfloat16")."""
    keras.mixed_precision.set_global_policy(precision.policy_name(mixed_precision))
    warning = precision.slow_bfloat16_warning(mixed_precision)
    if warning:
        logging.warning("--mixed_precision=%s: %s", mixed_precision, warning)
