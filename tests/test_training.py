"""The shared training machinery, exercised through the PConv family.

CLI runs and resumes, the metrics.jsonl contract, a run killed midway, bad flags, stage
switching, and a MirroredStrategy step on two logical CPU devices.
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
from harness import run_trainer_test

from tfinpaint import checkpointing, inference
from tfinpaint.models import registry
from tfinpaint.training import reporting
from tfinpaint.training.config import TrainConfig
from tfinpaint.training.loop import DeferredInterrupt, run_training
from tfinpaint.training.pconv import PConvTrainer
from tfinpaint.training.strategy import make_strategy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(REPO, "tools", "train.py")


def _train_cli(*args):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    return subprocess.run(
        [sys.executable, TRAIN, *args], capture_output=True, text=True, env=env, timeout=600
    )


def _tiny_config(workdir, **overrides):
    values = dict(
        model="pconv",
        preset="tiny",
        workdir=str(workdir),
        image_size=32,
        batch_size=2,
        val_batch_size=2,
        steps=6,
        log_every=2,
        checkpoint_every=3,
        vgg_weights="none",
    )
    values.update(overrides)
    return TrainConfig(**values)


def test_cli_run_writes_the_contract_and_resumes(tmp_path):
    workdir = tmp_path / "run"
    common = [
        "--model=pconv",
        "--preset=tiny",
        f"--workdir={workdir}",
        "--image_size=32",
        "--batch_size=2",
        "--val_batch_size=2",
        "--log_every=2",
        "--checkpoint_every=3",
        "--vgg_weights=none",
        "--stage_steps=4",
    ]
    first = _train_cli(*common, "--steps=6")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Sample grid:" in first.stdout and "Validation hole PSNR" in first.stdout
    config = json.loads((workdir / "config.json").read_text())
    assert config["model"] == "pconv" and config["stage_steps"] == [4]
    assert (
        config["learning_rate"] == registry.get_preset("pconv", "tiny")["training"]["learning_rate"]
    )
    for name in ("generator.json", "generator.weights.h5", "checkpoints/checkpoint"):
        assert (workdir / name).exists(), name
    assert list((workdir / "logs").iterdir())
    assert (workdir / "samples" / "step_0000006.png").exists()

    second = _train_cli(*common, "--steps=8")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Resuming from step 6" in second.stderr
    records = reporting.read_metrics(workdir / "metrics.jsonl")
    assert [r["step"] for r in records] == [2, 4, 6, 8]
    assert [r["stage"] for r in records] == [1, 1, 2, 2]
    for record in records:
        for key in ("total", "valid", "hole", "tv", "val_psnr_hole", "steps_per_sec"):
            assert isinstance(record[key], float), (key, record)
        assert "perceptual" not in record  # dropped with --vgg_weights=none
    assert json.loads((workdir / "config.json").read_text())["steps"] == 8


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--model=pconv", "--preset=tiny", "--image_size=40"], "not a multiple of 16"),
        (["--model=pconv", "--preset=tiny", "--data=/no/such/folder"], "/no/such/folder"),
        (["--model=pconv", "--preset=huge"], "Unknown preset 'huge'"),
        (["--model=pconv", "--preset=tiny", "--phase_steps=3,3"], "trains in stages"),
        (["--model=glcic", "--preset=tiny", "--schedule=completion:2,joint"], "phase 2 'joint'"),
        (["--model=pconv", "--preset=tiny", "--vgg_weights=/no/vgg.h5"], "/no/vgg.h5"),
        (["--model=nope"], "nope"),
    ],
)
def test_bad_flags_fail_in_one_sentence_before_any_work(tmp_path, flags, message):
    workdir = tmp_path / "run"
    result = _train_cli(*flags, f"--workdir={workdir}", "--steps=4")
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workdir / "config.json").exists()


def test_changing_the_preset_of_an_existing_run_is_refused(tmp_path):
    run_training(_tiny_config(tmp_path, steps=4))
    with pytest.raises(ValueError, match="preset='tiny'.*preset='paper'"):
        run_training(_tiny_config(tmp_path, preset="paper"), explicit_names=["preset"])


class _SimulatedKill(Exception):
    pass


def test_a_run_killed_midway_resumes_from_its_last_checkpoint(tmp_path, monkeypatch):
    original_append = reporting.MetricsLog.append

    def append_then_die(self, record):
        if record["step"] == 6:
            raise _SimulatedKill()
        original_append(self, record)

    monkeypatch.setattr(reporting.MetricsLog, "append", append_then_die)
    with pytest.raises(_SimulatedKill):
        run_training(_tiny_config(tmp_path, steps=8))
    # Killed after logging step 4 and checkpointing step 3.
    assert [r["step"] for r in reporting.read_metrics(tmp_path / "metrics.jsonl")] == [2, 4]
    monkeypatch.setattr(reporting.MetricsLog, "append", original_append)

    summary = run_training(_tiny_config(tmp_path, steps=8))
    assert summary["step"] == 8
    records = reporting.read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records] == [2, 4, 6, 8]  # step 4 logged once, not twice


def test_ctrl_c_is_deferred_to_the_next_step_boundary(default_sigint):
    # run_training's first SIGINT only sets a flag; a second interrupts at once; the handler
    # is put back afterwards. (test_deepgin_training.py sends one in the middle of a real step.)
    with DeferredInterrupt() as interrupt:
        os.kill(os.getpid(), signal.SIGINT)
        assert interrupt.requested
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # Handled before the next bytecode.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_is_deferred_like_ctrl_c():
    with DeferredInterrupt() as interrupt:
        os.kill(os.getpid(), signal.SIGTERM)
        assert interrupt.requested
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    # An ignored SIGINT (a background job of a non-interactive shell) stays ignored.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with DeferredInterrupt():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_cli_run_terminated_with_sigterm_saves_a_checkpoint_and_resumes(tmp_path):
    workdir = tmp_path / "run"
    args = [
        "--model=pconv",
        "--preset=tiny",
        f"--workdir={workdir}",
        "--image_size=32",
        "--batch_size=2",
        "--val_batch_size=2",
        "--log_every=5",
        "--checkpoint_every=100000",
        "--vgg_weights=none",
    ]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    process = subprocess.Popen(
        [sys.executable, TRAIN, "--steps=100000", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # As a background job of a non-interactive shell: SIGINT ignored, SIGTERM default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    metrics = workdir / "metrics.jsonl"
    for _ in range(1200):  # Until the first log record (after tracing), at most 2 minutes.
        if metrics.exists() and metrics.stat().st_size:
            break
        assert process.poll() is None, process.communicate()[1][-2000:]
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "Stopped; run the same command to resume" in stdout
    assert "checkpoint saved; rerun to resume" in stderr and "Traceback" not in stderr
    prefixes = checkpointing.find_checkpoints(str(workdir / "checkpoints"))
    stopped = checkpointing.checkpoint_prefix_number(prefixes[0])  # newest first
    assert stopped >= 5
    resumed = _train_cli(f"--steps={stopped + 2}", *args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"Resuming from step {stopped}" in resumed.stderr


def test_stage_two_freezes_encoder_batchnorm(tmp_path):
    run_training(_tiny_config(tmp_path, steps=6, stage_steps=[3], checkpoint_every=3))

    def encoder_bn_values(step):
        generator = registry.build_generator("pconv", "tiny")
        checkpointing.restore_networks(
            str(tmp_path / "checkpoints" / f"ckpt-{step}"), {"generator": generator}
        )
        return [w.numpy() for bn in generator.encoder_batch_norms for w in bn.weights]

    def decoder_bn_values(step):
        generator = registry.build_generator("pconv", "tiny")
        checkpointing.restore_networks(
            str(tmp_path / "checkpoints" / f"ckpt-{step}"), {"generator": generator}
        )
        return [w.numpy() for bn in generator.decoder_batch_norms for w in bn.weights]

    for before, after in zip(encoder_bn_values(3), encoder_bn_values(6)):
        np.testing.assert_array_equal(before, after)
    assert any(not np.array_equal(a, b) for a, b in zip(decoder_bn_values(3), decoder_bn_values(6)))
    records = reporting.read_metrics(tmp_path / "metrics.jsonl")
    # A record is also written at the last step of each stage.
    assert [(r["step"], r["stage"]) for r in records] == [(2, 1), (3, 1), (4, 2), (6, 2)]


def test_pconv_augment_option_reaches_the_data_of_both_stages():
    # Our addition (the paper has only the pipeline's flip): "channels" shuffles each crop's
    # RGB channels in both stages; left out, no augmentation argument is passed at all.
    from harness import segment_data_arguments  # noqa: PLC0415

    assert "augment" not in segment_data_arguments("pconv", {}, 1, preset="tiny")
    for stage in (1, 2):
        arguments = segment_data_arguments("pconv", {"augment": "channels"}, stage, "tiny")
        assert arguments["augment"] == "channels"
    with pytest.raises(ValueError, match="augment"):
        PConvTrainer.Options.parse({"augment": 3}, "pconv")


def test_sixty_tiny_steps_on_the_samples_improve_hole_psnr_and_resume(tmp_path):
    config = TrainConfig(
        model="pconv",
        preset="tiny",
        workdir=str(tmp_path),
        steps=60,
        log_every=20,
        checkpoint_every=30,
        vgg_weights="none",
    )
    summary = run_training(config)
    assert summary["last_val_psnr_hole"] > summary["first_val_psnr_hole"] + 1.0
    resumed = run_training(
        TrainConfig(
            model="pconv", preset="tiny", workdir=str(tmp_path), steps=80, vgg_weights="none"
        ),
        explicit_names=["steps"],
    )
    assert resumed["step"] == 80
    records = reporting.read_metrics(tmp_path / "metrics.jsonl")
    # Stage 1 is 0.75 of the 60 steps (a record at its last step, 45); stage 2 runs to 80.
    assert [(r["step"], r["stage"]) for r in records] == [
        (20, 1),
        (40, 1),
        (45, 1),
        (60, 2),
        (80, 2),
    ]


def _one_step_weights(strategy, batch):
    keras.utils.set_random_seed(0)
    config = _tiny_config("unused").resolve(registry.get_preset("pconv", "tiny")["training"])
    with strategy.scope():
        generator = registry.build_generator("pconv", "tiny", use_batch_norm=False)
        trainer = PConvTrainer.create(generator, config)
    trainer.start_segment(1)
    dataset = tf.data.Dataset.from_tensors(batch)
    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    trainer.run_step(iterator)
    return [v.numpy() for v in generator.trainable_variables]


def test_mirrored_strategy_step_matches_a_single_device_step():
    devices = tf.config.list_logical_devices("CPU")
    assert len(devices) >= 2, "conftest.py splits the CPU into two logical devices"
    rng = np.random.default_rng(0)
    holes = np.zeros((4, 32, 32, 1), np.float32)
    holes[:, 8:20, 6:22] = 1
    batch = {"images": rng.random((4, 32, 32, 3)).astype(np.float32), "masks": holes}
    single = _one_step_weights(tf.distribute.get_strategy(), batch)
    mirrored_strategy = make_strategy("mirrored")
    assert mirrored_strategy.num_replicas_in_sync == 2
    mirrored = _one_step_weights(mirrored_strategy, batch)
    for a, b in zip(single, mirrored):
        np.testing.assert_allclose(a, b, atol=2e-6)


def test_cli_trains_under_mirrored_strategy(tmp_path):
    summary = run_training(_tiny_config(tmp_path, steps=4, strategy="mirrored"))
    assert summary["step"] == 4
    assert os.path.exists(tmp_path / "generator.weights.h5")


@pytest.mark.parametrize("mixed_precision", [True, "bfloat16"], ids=["float16", "bfloat16"])
def test_mixed_precision_run(tmp_path, mixed_precision):
    try:
        summary = run_training(_tiny_config(tmp_path, steps=4, mixed_precision=mixed_precision))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert summary["step"] == 4
    assert np.isfinite(summary["last_val_psnr_hole"])
    with open(tmp_path / "config.json", encoding="utf-8") as f:
        saved = json.load(f)["mixed_precision"]
    assert saved == ("float16" if mixed_precision is True else "bfloat16")


def test_loss_scaling_only_under_mixed_float16():
    from tfinpaint.training.trainer import InpaintingTrainer

    for policy, scaled in [("mixed_float16", True), ("mixed_bfloat16", False), ("float32", False)]:
        keras.mixed_precision.set_global_policy(policy)
        try:
            optimizer = InpaintingTrainer.wrap_optimizer(keras.optimizers.Adam())
        finally:
            keras.mixed_precision.set_global_policy("float32")
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer) == scaled, policy


def _free_ports(count):
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multiworker_strategy_with_two_workers_on_localhost(tmp_path):
    workers = [f"localhost:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = dict(os.environ, TF_CONFIG=json.dumps(tf_config), CUDA_VISIBLE_DEVICES="")
        args = [
            sys.executable,
            TRAIN,
            "--model=pconv",
            "--preset=tiny",
            f"--workdir={tmp_path / 'run'}",
            "--image_size=32",
            "--batch_size=4",
            "--val_batch_size=2",
            "--steps=4",
            "--log_every=2",
            "--checkpoint_every=2",
            "--vgg_weights=none",
            "--strategy=multiworker",
        ]
        processes.append(
            subprocess.Popen(
                args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    outputs = [p.communicate(timeout=600) for p in processes]
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
    assert "num_workers = 2" in outputs[0][1]
    records = reporting.read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in records] == [2, 3, 4]  # written once, by the chief
    leftovers = [name for name in os.listdir(tmp_path / "run") if name.startswith(".worker")]
    assert leftovers == []


def test_is_chief_reads_tf_config(monkeypatch):
    from tfinpaint.training.strategy import is_chief

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert is_chief(None)
    cluster = {"worker": ["a:1", "b:2"]}
    for index, expected in ((0, True), (1, False)):
        task = {"type": "worker", "index": index}
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
        assert is_chief(None) == expected
    with_chief = {"cluster": {"chief": ["c:0"], **cluster}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(with_chief))
    assert not is_chief(None)


@pytest.mark.parametrize(
    "model, schedule", [("glcic", "--phase_steps=2,1"), ("cascade", "--stage_steps=2")]
)
def test_cli_trains_the_gan_families(tmp_path, model, schedule):
    workdir = tmp_path / model
    result = _train_cli(
        f"--model={model}",
        "--preset=tiny",
        f"--workdir={workdir}",
        "--batch_size=2",
        "--val_batch_size=2",
        "--steps=4",
        "--log_every=2",
        "--checkpoint_every=2",
        "--vgg_weights=none",
        schedule,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    kind = "phase" if model == "glcic" else "stage"
    records = reporting.read_metrics(workdir / "metrics.jsonl")
    assert [r["step"] for r in records][-1] == 4 and records[-1][kind] in (2, 3)
    assert (workdir / "generator.json").exists()


def test_pconv_trainer_protocol():
    # BatchNorm normalises per replica, so the parity check runs without it.
    run_trainer_test(
        "pconv",
        {(1, None): {"generator"}, (2, None): {"generator"}},
        generator_overrides={"use_batch_norm": False},
    )


def test_init_from_starts_a_new_run_from_a_trained_generator(tmp_path):
    from tfinpaint.training.loop import open_run

    source = tmp_path / "source"
    run_training(_tiny_config(source, steps=4, checkpoint_every=2))
    trained = open_run(_tiny_config(source, steps=4)).trainer.generator.get_weights()

    finetune = _tiny_config(tmp_path / "finetune", init_from=str(source), learning_rate=5e-5)
    run = open_run(finetune)
    assert run.resume_step is None and int(run.step_var.numpy()) == 0
    for got, expected in zip(run.trainer.generator.get_weights(), trained, strict=True):
        np.testing.assert_array_equal(got, expected)
    # Optimizers start fresh.
    assert int(run.trainer.optimizers["generator_optimizer"].iterations.numpy()) == 0

    # Once the run has checkpoints it resumes from them, even with the source gone.
    run_training(
        _tiny_config(tmp_path / "finetune", init_from=str(source), steps=4, checkpoint_every=2)
    )
    assert json.load(open(tmp_path / "finetune" / "config.json"))["init_from"] == str(source)
    os.rename(source, tmp_path / "moved")
    resumed = open_run(_tiny_config(tmp_path / "finetune", init_from=str(source), steps=8))
    assert resumed.resume_step == 4

    # Bad sources: one sentence each, before any step.
    with pytest.raises(ValueError, match="--init_from=.*holds a pconv generator; this run trains"):
        open_run(
            TrainConfig(
                model="cascade",
                preset="tiny",
                workdir=str(tmp_path / "other"),
                vgg_weights="none",
                init_from=str(tmp_path / "moved"),
            )
        )
    with pytest.raises(ValueError, match="another architecture"):
        open_run(
            _tiny_config(
                tmp_path / "wider",
                init_from=str(tmp_path / "moved"),
                generator_overrides={"encoder_filters": [8, 16, 32, 48]},
            )
        )
    with pytest.raises(ValueError, match="--init_from=.*nowhere"):
        open_run(_tiny_config(tmp_path / "missing", init_from=str(tmp_path / "nowhere")))


def test_init_from_a_checkpoint_shipped_as_its_self_ensemble_takes_its_weights(tmp_path):
    from tfinpaint.training.loop import open_run

    source = tmp_path / "source"
    run_training(_tiny_config(source, steps=4, checkpoint_every=2))
    shipped = inference.ship_checkpoint(
        str(source), "tiny_ens", "A tiny test generator.", directory=str(tmp_path), ensemble=True
    )
    assert inference.load_generator(shipped["json"], with_info=True)[1]["ensemble"]
    trained = inference.load_generator(shipped["json"], ensemble=False).get_weights()
    run = open_run(_tiny_config(tmp_path / "finetune", init_from=shipped["json"]))
    for got, expected in zip(run.trainer.generator.get_weights(), trained, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_init_from_gives_a_variant_with_added_layers_the_source_weights_by_name(tmp_path):
    # The cascade's full-resolution head is added to a paper-design generator: every source
    # weight goes to the weight of the same name, the head keeps its initial values, and as
    # its last convolution starts at zero the variant's output is the source's.
    from tfinpaint.models import registry
    from tfinpaint.models.saving import save_generator
    from tfinpaint.training.loop import open_run

    keras.utils.set_random_seed(3)
    trained = registry.build_generator("cascade", "tiny")
    source = save_generator(trained, "cascade", "tiny", str(tmp_path / "source"))
    variant = open_run(
        _tiny_config(
            tmp_path / "variant",
            model="cascade",
            init_from=source,
            generator_overrides={"full_resolution_blocks": 1},
        )
    ).trainer.generator
    values = {w.path: w.numpy() for w in trained.weights}
    added = [w for w in variant.weights if w.path not in values]
    assert len(added) == len(variant.weights) - len(trained.weights) > 0
    assert all(w.path.startswith("full_resolution") for w in added)
    for weight in variant.weights:
        if weight.path in values:
            np.testing.assert_array_equal(weight.numpy(), values[weight.path])
    rng = np.random.default_rng(0)
    images = rng.random((2, 32, 32, 3)).astype("float32")
    masks = np.zeros((2, 32, 32, 1), "float32")
    masks[:, 8:20, 6:26] = 1.0
    inputs = {"images": images, "masks": masks}
    np.testing.assert_allclose(
        variant(inputs)["raw"].numpy(), trained(inputs)["raw"].numpy(), atol=1e-6
    )
    # The other way round, the head's weights have nowhere to go.
    back = save_generator(variant, "cascade", "tiny", str(tmp_path / "with_head"))
    with pytest.raises(ValueError, match="neither in order and shape nor by name"):
        open_run(_tiny_config(tmp_path / "back", model="cascade", init_from=back))


def test_hole_psnr_term_is_minus_the_mean_per_image_hole_psnr():
    # Our addition to PConv's loss (weight 0 in the paper's): numpy reference from the
    # definition, mean over images of 10 log10(hole MSE + 1e-6).
    from tfinpaint.losses import hole_psnr_loss  # noqa: PLC0415
    from tfinpaint.training.pconv import PConvLoss  # noqa: PLC0415

    rng = np.random.default_rng(0)
    truth = rng.random((3, 8, 8, 3)).astype(np.float32)
    raw = np.clip(truth + rng.normal(0, [[[[0.01]]], [[[0.1]]], [[[0.3]]]], truth.shape), 0, 1)
    raw = raw.astype(np.float32)
    hole = np.zeros((3, 8, 8, 1), np.float32)
    hole[:, 2:6, 1:5] = 1.0
    per_image_mse = [((raw[b] - truth[b]) ** 2 * hole[b]).sum() / (16 * 3) for b in range(3)]
    expected = np.mean([10 * np.log10(mse + 1e-6) for mse in per_image_mse])
    np.testing.assert_allclose(float(hole_psnr_loss(truth, raw, hole)), expected, rtol=1e-5)
    plain = PConvLoss()(truth, raw, hole)
    assert "hole_psnr" not in plain
    weighted = PConvLoss(weights={"hole_psnr": 0.5})(truth, raw, hole)
    np.testing.assert_allclose(
        float(weighted["total"]), float(plain["total"]) + 0.5 * expected, rtol=1e-5
    )
