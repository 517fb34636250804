"""Shared pytest set-up: quiet TensorFlow, two logical CPUs, and the `slow` marker."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from tfinpaint import cli  # noqa: E402

# TensorFlow loaded as the tools load it: start-up log lines filtered (no cuInit error).
cli.import_tensorflow_quietly()

import tensorflow as tf  # noqa: E402

# Split the CPU into two logical devices before TensorFlow initialises its runtime, so that
# MirroredStrategy tests can replicate across two devices on a CPU-only machine.
_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
    )
except RuntimeError:  # Already initialised (e.g. a plugin touched TF first): tests that
    pass  # need two devices check for them and say so.


@pytest.fixture
def default_sigint():
    """SIGINT with Python's default handler (KeyboardInterrupt) for the test, the previous one
    after it. A suite started as a background job of a non-interactive shell (`pytest ... &`)
    inherits an ignored SIGINT, which `DeferredInterrupt` rightly leaves alone; the tests that
    send themselves a Ctrl-C need the handler a terminal gives."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run slow tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow test: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A 4-step tiny PConv run at 32 px, trained once per session; its workdir path."""
    from tfinpaint.training.config import TrainConfig
    from tfinpaint.training.loop import run_training

    workdir = tmp_path_factory.mktemp("trained_pconv_tiny")
    run_training(
        TrainConfig(model="pconv", preset="tiny", workdir=str(workdir), steps=4, log_every=2,
                    checkpoint_every=2, vgg_weights="none", image_size=32, batch_size=2,
                    val_batch_size=2)
    )
    return str(workdir)
