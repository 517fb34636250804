"""DeepGIN's discriminators, losses and two-stage training (warm-up, then hinge GAN)."""

import os
import shutil
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf
from harness import run_trainer_test
from test_deepgin_layers import reference_resize_align_corners

from tfinpaint import checkpointing
from tfinpaint.losses import weighted_l1
from tfinpaint.models import registry
from tfinpaint.models.deepgin import DeepGINDiscriminator, average_pool_exclude_pad
from tfinpaint.training import reporting
from tfinpaint.training.config import TrainConfig
from tfinpaint.training.deepgin import SCALES, DeepGINTrainer
from tfinpaint.training.loop import dataset_arguments, open_run, run_training
from tfinpaint.training.lr_schedules import HoldThenLinearDecay

# The training tests use the tiny generator without SPD blocks: tracing the steps is most of
# their time, and the blocks (tested in test_deepgin_model.py) change nothing in the protocol.
_LEAN = {"num_coarse_spd_blocks": 0, "num_refine_spd_blocks": 0}


def test_paper_discriminators_shapes_and_parameter_counts():
    discriminators = registry.build_discriminators("deepgin", "paper")
    assert list(discriminators) == ["scale_1", "scale_2"]
    images = np.zeros((1, 256, 256, 6), "float32")
    shapes = {}
    for name, discriminator in discriminators.items():
        # 6*64*16+64 + 64*128*16+128 + 128*256*16+256 + 256*256*16+256.
        trainable = sum(int(np.prod(v.shape)) for v in discriminator.trainable_weights)
        assert trainable == 1_710_784
        shapes[name] = tuple(discriminator(images, training=True).shape)
    # Zero padding 2, 4x4 kernels: 256 -> 129 -> 65 -> 66 -> 67; on the pooled 128: 35.
    assert shapes == {"scale_1": (1, 67, 67, 256), "scale_2": (1, 35, 35, 256)}


def test_discriminator_convolutions_are_spectral_normalised():
    discriminator = DeepGINDiscriminator(filters=4, output_channels=3)
    wrappers = [
        layer
        for layer in discriminator.layers
        if isinstance(layer, keras.layers.SpectralNormalization)
    ]
    assert len(wrappers) == 4
    discriminator(np.random.default_rng(0).random((2, 32, 32, 6), "float32"), training=True)
    for wrapper in wrappers:
        kernel = keras.ops.convert_to_numpy(wrapper.layer.kernel)
        sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
        # One power iteration per call from a random u: close to, not exactly, 1.
        assert 0.3 < sigma < 1.5, (wrapper.name, sigma)
    assert discriminator.get_config()["output_channels"] == 3
    with pytest.raises(ValueError, match="scale_factor"):
        DeepGINDiscriminator(scale_factor=3)


def test_average_pool_leaves_the_padding_out_of_the_count():
    x = np.random.default_rng(0).random((1, 6, 6, 1)).astype("float32")
    pooled = keras.ops.convert_to_numpy(average_pool_exclude_pad(x))[0, :, :, 0]
    padded = np.pad(x[0, :, :, 0], 1, constant_values=np.nan)
    expected = np.array(
        [
            [np.nanmean(padded[2 * i : 2 * i + 3, 2 * j : 2 * j + 3]) for j in range(3)]
            for i in range(3)
        ]
    )
    np.testing.assert_allclose(pooled, expected, rtol=1e-6)


def test_weighted_l1_is_five_to_one_over_all_elements():
    rng = np.random.default_rng(0)
    prediction = rng.random((2, 8, 8, 3)).astype("float32")
    target = rng.random((2, 8, 8, 3)).astype("float32")
    hole = (rng.random((2, 8, 8, 1)) > 0.5).astype("float32")
    difference = np.abs(prediction - target)
    expected = 5 * np.mean(hole * difference) + np.mean((1 - hole) * difference)
    value = keras.ops.convert_to_numpy(weighted_l1(prediction, target, hole))
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    soft = rng.random((2, 8, 8, 1)).astype("float32")  # the lr term's downsampled mask
    expected = 5 * np.mean(soft * difference) + np.mean((1 - soft) * difference)
    value = keras.ops.convert_to_numpy(weighted_l1(prediction, target, soft))
    np.testing.assert_allclose(value, expected, rtol=1e-6)


def _unstepped_trainer(vgg=None, **settings):
    """A trainer on the lean tiny generator and the tiny discriminators, nothing traced."""
    config = TrainConfig(
        model="deepgin", preset="tiny", workdir="", vgg_weights="none", **settings
    ).resolve(registry.get_preset("deepgin", "tiny")["training"])
    keras.utils.set_random_seed(0)
    return DeepGINTrainer(
        registry.build_generator("deepgin", "tiny", **_LEAN),
        config,
        vgg=vgg,
        discriminators=registry.build_discriminators("deepgin", "tiny"),
    )


def _batch(size=32, seed=0):
    rng = np.random.default_rng(seed)
    hole_masks = np.zeros((1, size, size, 1), np.float32)
    hole_masks[:, size // 4 : 3 * size // 4, size // 8 : size // 2] = 1.0
    return rng.random((1, size, size, 3), dtype=np.float32), hole_masks


def test_discriminators_see_the_masked_image_beside_the_image():
    # The reference code's convention: concat(masked image with holes = 1, real or completed).
    trainer = _unstepped_trainer()
    seen = {}
    for scale in SCALES:
        network = trainer.discriminators[scale]

        def record(x, training=False, scale=scale, network=network):
            seen.setdefault(scale, []).append(np.asarray(x))
            return network(x, training=training)

        trainer.discriminators[scale] = record
    images, hole_masks = _batch()
    outputs = trainer.as_float32(trainer.generator({"images": images, "masks": hole_masks}))
    trainer.generator_terms(images, hole_masks, outputs, adversarial=True)
    masked = images * (1 - hole_masks) + hole_masks
    for scale in SCALES:
        (fake_pair,) = seen[scale]
        assert fake_pair.shape == (1, 32, 32, 6)
        np.testing.assert_array_equal(fake_pair[..., :3], masked)
        assert np.all(fake_pair[..., :3][np.broadcast_to(hole_masks > 0, masked.shape)] == 1.0)
        np.testing.assert_array_equal(fake_pair[..., 3:], np.asarray(outputs["inpainted"]))
        trainer._discriminate(scale, masked)(images)  # What the D step's real half calls.
        np.testing.assert_array_equal(seen[scale][1], np.concatenate([masked, images], -1))


def _numpy_vgg_terms(vgg, predictions, target):
    """[(perceptual, style) of each prediction] from the definitions: an aligned-corners resize
    to 224, torchvision's normalisation, the backbone's own layer outputs, conv5_1 before its
    ReLU by hand, layer weights 1/32 .. 1, L1 of features and MSE of C H W-normalised Grams."""
    names = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block4_pool")
    taps = keras.Model(vgg.backbone.input, [vgg.backbone.get_layer(n).output for n in names])
    conv5_1 = vgg.backbone.get_layer("block5_conv1")
    kernel, bias = (np.asarray(w, np.float64) for w in conv5_1.weights)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])

    def features(images):
        resized = reference_resize_align_corners(images.astype(np.float64), 224, 224)
        outputs = [np.asarray(f, np.float64) for f in taps(((resized - mean) / std).astype("f4"))]
        pooled = np.pad(outputs[-1], ((0, 0), (1, 1), (1, 1), (0, 0)))
        preact = bias + sum(
            pooled[:, i : i + 14, j : j + 14] @ kernel[i, j] for i in range(3) for j in range(3)
        )
        return outputs[:-1] + [preact]

    def gram(f):
        flat = f.reshape(f.shape[0], -1, f.shape[-1])
        return flat.transpose(0, 2, 1) @ flat / flat[0].size

    weights = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
    real = features(target)
    terms = []
    for ours in map(features, predictions):
        perceptual = sum(w * np.mean(np.abs(a - b)) for w, a, b in zip(weights, ours, real))
        style = sum(w * np.mean((gram(a) - gram(b)) ** 2) for w, a, b in zip(weights, ours, real))
        terms.append((perceptual, style))
    return terms


def test_vgg_terms_match_a_numpy_reference_on_raw_and_inpainted():
    # VGG19 with random weights (no download here) and random biases, so that ReLU and
    # pre-activation taps differ; DeepGIN's (torchvision) normalisation.
    vgg = DeepGINTrainer.make_vgg(None, "torchvision")
    assert (vgg.input_size, vgg.align_corners, vgg.flavour) == ((224, 224), True, "torchvision")
    rng = np.random.default_rng(1)
    for layer in vgg.backbone.layers:
        if isinstance(layer, keras.layers.Conv2D):
            layer.bias.assign(rng.normal(scale=0.05, size=layer.bias.shape).astype("f4"))
    trainer = _unstepped_trainer(vgg=vgg)
    assert "perceptual" in trainer.active_loss_names() and "style" in trainer.active_loss_names()
    images, hole_masks = _batch(seed=2)
    outputs = trainer.as_float32(trainer.generator({"images": images, "masks": hole_masks}))
    terms = {
        k: float(v) for k, v in trainer.generator_terms(images, hole_masks, outputs, True).items()
    }
    raw, inpainted = _numpy_vgg_terms(
        vgg, [np.asarray(outputs["raw"]), np.asarray(outputs["inpainted"])], images
    )
    assert terms["perceptual"] == pytest.approx(raw[0] + inpainted[0], rel=1e-3)
    assert terms["style"] == pytest.approx(raw[1] + inpainted[1], rel=1e-3)
    assert raw[0] > inpainted[0] > 0  # Both outputs count; the composite is the closer one.
    rest = terms["l1_coarse"] + terms["l1_raw"] + terms["l1_lr"]
    rest += 0.1 * terms["tv"] + 0.001 * terms["adversarial"]
    expected = 0.05 * (raw[0] + inpainted[0]) + 80 * (raw[1] + inpainted[1])
    assert terms["total"] - rest == pytest.approx(expected, rel=1e-3)


# The schedule the stepped trainer and the interrupted run share: a warm-up of 2 steps, then a
# main stage of 2 (one generator and one discriminator update) decaying from its first update.
# (The decay's shape over longer stages: test_learning_rates_hold_then_fall_linearly_to_zero.)
_SCHEDULE = dict(steps=4, stage_steps=[2])
_HOLD = {"lr_hold_fraction": 0.0}
_CLIP = 1e-3  # Far below the gradients' norm, so the clipping shows in Adam's first moments.


@pytest.fixture(scope="module")
def stepped():
    """The harness's trainer test, once per module: (changes per step kind, the trainer).

    The trainer has traced every step kind (it sits in stage 2), so the tests below step it
    without tracing again.
    """
    # Stage 1 (warm-up) has generator steps only. A generator step of stage 2 calls both
    # discriminators with training=True, and Keras' SpectralNormalization then writes W / sigma
    # into their kernels: they change (normalised, not trained).
    return run_trainer_test(
        "deepgin",
        {
            (1, "generator"): {"generator"},
            (2, "generator"): {"generator", "discriminator_scale_1", "discriminator_scale_2"},
            (2, "discriminator"): {"discriminator_scale_1", "discriminator_scale_2"},
        },
        generator_overrides=_LEAN,
        options={**_HOLD, "generator_clip_norm": _CLIP},
        config_overrides=_SCHEDULE,
        return_trainer=True,
    )


def test_trainer_steps_change_the_expected_networks(stepped):
    changes, trainer = stepped
    assert changes[(1, "generator")] == {"generator"}
    assert trainer.segment == 2


def _reset(optimizer, iterations=0):
    for variable in optimizer.variables:
        variable.assign(np.zeros(variable.shape, variable.dtype))
    optimizer.iterations.assign(iterations)


def _global_norm(variables):
    return float(np.sqrt(sum(np.sum(np.square(np.asarray(v, np.float64))) for v in variables)))


def test_generator_gradients_are_clipped_to_the_global_norm(stepped):
    _, trainer = stepped
    optimizer = trainer.optimizers["generator_optimizer"]
    _reset(optimizer)
    batch = {
        "images": np.random.default_rng(1).random((2, 32, 32, 3), dtype=np.float32),
        "masks": np.pad(np.ones((2, 16, 16, 1), np.float32), ((0, 0), (8, 8), (8, 8), (0, 0))),
        "boxes": np.array([[8, 8, 24, 24]] * 2, "int32"),
    }
    trainer.run_step(iter(tf.data.Dataset.from_tensors(batch).repeat()), 0)
    assert trainer.kind == "generator"
    # From zero, Adam's first moments are (1 - beta_1) * the applied gradients: of norm
    # 0.5 * _CLIP exactly when clipped (unclipped, this batch's gradient norm is ~1000x more).
    momentums = [v for v in optimizer.variables if "momentum" in v.path]
    assert len(momentums) == len(trainer.generator.trainable_variables)
    assert _global_norm(momentums) == pytest.approx(0.5 * _CLIP, rel=1e-3)


def test_learning_rates_hold_then_fall_linearly_to_zero():
    # Warm-up 4 steps, main stage 16: 8 generator and 8 discriminator updates, half of them held.
    trainer = _unstepped_trainer(steps=20, stage_steps=[4], options={"lr_hold_fraction": 0.5})
    schedules = trainer.learning_rate_schedules()
    assert schedules["generator_optimizer"].get_config() == {
        "initial_learning_rate": 1e-3,
        "decay_start": 8,
        "decay_end": 12,
    }
    for scale in SCALES:
        assert schedules[f"discriminator_optimizer_{scale}"].get_config() == {
            "initial_learning_rate": 1e-3,
            "decay_start": 4,
            "decay_end": 8,
        }

    def rates(optimizer, counts):
        values = []
        for count in counts:
            optimizer.iterations.assign(count)
            values.append(float(optimizer.learning_rate) / 1e-3)
        return values

    # The optimizers carry the schedules, driven by their own update counts: the warm-up (0..3)
    # and the held half (4..7) at the initial rate, then linear to 0 at the stage's end (12).
    generator_rates = rates(trainer.optimizers["generator_optimizer"], range(14))
    np.testing.assert_allclose(generator_rates[:9], 1.0)
    np.testing.assert_allclose(generator_rates[8:], [1, 0.75, 0.5, 0.25, 0, 0], atol=1e-6)
    d_rates = rates(trainer.optimizers["discriminator_optimizer_scale_2"], range(10))
    np.testing.assert_allclose(d_rates, [1, 1, 1, 1, 1, 0.75, 0.5, 0.25, 0, 0], atol=1e-6)
    # Without a hold the decay starts with the main stage; the warm-up keeps the initial rate.
    trainer = _unstepped_trainer(steps=20, stage_steps=[4], options={"lr_hold_fraction": 0.0})
    np.testing.assert_allclose(
        rates(trainer.optimizers["generator_optimizer"], range(6)),
        [1, 1, 1, 1, 1, 7 / 8],
        atol=1e-6,
    )
    # The rule itself: constant, then a straight line through (decay_start, 1) and (end, 0).
    schedule = HoldThenLinearDecay(2.0, decay_start=10, decay_end=30)
    values = np.array([float(schedule(step)) for step in range(40)])
    assert np.all(values[:11] == 2.0) and np.all(values[30:] == 0.0)
    np.testing.assert_allclose(np.diff(values[10:31]), -0.1, atol=1e-6)
    with pytest.raises(ValueError, match="decay_start"):
        HoldThenLinearDecay(1.0, decay_start=5, decay_end=4)
    with pytest.raises(ValueError, match="lr_hold_fraction"):
        DeepGINTrainer.Options.parse({"lr_hold_fraction": 1.5}, "deepgin")


def _uninterrupted_main_stage_rates(trainer):
    """{step: (lr, d_lr) logged after it} over the main stage, stepping `trainer` for real.

    The optimizers start the stage as an uninterrupted run's do: the generator after its 2
    warm-up updates, the discriminators fresh.
    """
    _reset(trainer.optimizers["generator_optimizer"], iterations=2)
    for scale in SCALES:
        _reset(trainer.optimizers[f"discriminator_optimizer_{scale}"])
    dataset = tf.data.Dataset.from_tensors(
        {
            "images": np.random.default_rng(2).random((2, 32, 32, 3), dtype=np.float32),
            "masks": np.ones((2, 32, 32, 1), np.float32),
            "boxes": np.array([[0, 0, 32, 32]] * 2, "int32"),
        }
    ).repeat()
    iterator = iter(dataset)
    rates = {}
    for step in range(3, _SCHEDULE["steps"] + 1):
        trainer.run_step(iterator, step - 3)
        values = trainer.current_learning_rates()
        rates[step] = (values["learning_rate"], values["d_learning_rate"])
    return rates


def test_paper_preset_data_and_optimizers():
    config = TrainConfig(model="deepgin", preset="paper", workdir="unused").resolve(
        registry.get_preset("deepgin", "paper")["training"]
    )
    arguments = dataset_arguments(config, DeepGINTrainer, 1)
    assert (config.batch_size, config.masks, config.image_size) == (12, "deepgin", 256)
    assert arguments["augment"] == "rot90,polyphase,flip"
    assert arguments["resize_short_side"] == (512, 512)
    assert dataset_arguments(config, DeepGINTrainer, 2)["augment"] == "rot90,polyphase,flip"
    trainer = DeepGINTrainer(registry.build_generator("deepgin", "tiny"), config)
    generator_adam = trainer.optimizers["generator_optimizer"]
    assert trainer.gradient_clip_norm(generator_adam) == 3.0
    assert generator_adam.global_clipnorm is None  # Clipped by the trainer, across replicas.
    assert (generator_adam.beta_1, generator_adam.beta_2) == (0.5, 0.999)
    assert float(generator_adam.learning_rate) == pytest.approx(1e-4)
    for scale in ("scale_1", "scale_2"):
        adam = trainer.optimizers[f"discriminator_optimizer_{scale}"]
        assert float(adam.learning_rate) == pytest.approx(4e-4)
        assert adam.beta_1 == 0.5 and trainer.gradient_clip_norm(adam) is None
    assert trainer.segment_step_kinds(1) == ("generator",)
    trainer.start_segment(2)
    assert [trainer.step_kind(i) for i in range(4)] == ["generator", "discriminator"] * 2


def test_a_run_interrupted_in_either_stage_resumes_with_the_uninterrupted_rates(
    stepped, tmp_path, monkeypatch, default_sigint
):
    # The loop saves a checkpoint when interrupted (Ctrl-C) and a rerun resumes from the newest
    # one. Interrupted after step 3 (the main stage's first step), with checkpoints after every
    # step, the run can resume inside either stage.
    settings = dict(
        model="deepgin",
        preset="tiny",
        workdir=str(tmp_path / "run"),
        vgg_weights="none",
        batch_size=3,
        val_batch_size=3,
        log_every=1,
        checkpoint_every=1,
        sample_every=4,  # A PNG grid only at the end.
        keep_checkpoints=5,
        generator_overrides=_LEAN,
        options=_HOLD,
        **_SCHEDULE,
    )
    run_step = DeepGINTrainer.run_step
    calls = []

    def interrupted(self, iterator, step_in_segment):
        if len(calls) == 2:  # Ctrl-C in the middle of step 3: the loop stops after it.
            os.kill(os.getpid(), signal.SIGINT)
        outputs = run_step(self, iterator, step_in_segment)
        calls.append((self.segment, step_in_segment))
        return outputs

    monkeypatch.setattr(DeepGINTrainer, "run_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_training(TrainConfig(**settings))
    monkeypatch.setattr(DeepGINTrainer, "run_step", run_step)
    assert calls == [(1, 0), (1, 1), (2, 0)]
    records = reporting.read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3]
    prefixes = checkpointing.find_checkpoints(tmp_path / "run" / "checkpoints")
    assert sorted(os.path.basename(p) for p in prefixes) == ["ckpt-1", "ckpt-2", "ckpt-3"]

    # Inside the warm-up: a copy of the run with only the step-1 checkpoint reopens in stage 1,
    # its generator optimizer after one update, the discriminators' untouched.
    shutil.copytree(tmp_path / "run", tmp_path / "early")
    for name in os.listdir(tmp_path / "early" / "checkpoints"):
        if name.startswith(("ckpt-2", "ckpt-3")):
            os.remove(tmp_path / "early" / "checkpoints" / name)
    early = open_run(TrainConfig(**dict(settings, workdir=str(tmp_path / "early"))))
    assert (early.resume_step, int(early.segment_var.numpy())) == (1, 1)
    optimizers = early.trainer.optimizers
    assert int(optimizers["generator_optimizer"].iterations.numpy()) == 1
    assert int(optimizers["discriminator_optimizer_scale_1"].iterations.numpy()) == 0

    # Inside the main stage: the rerun resumes at step 3 (stage 2) and finishes.
    summary = run_training(TrainConfig(**settings))
    assert summary["step"] == _SCHEDULE["steps"]
    records = reporting.read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert [r["stage"] for r in records] == [1, 1, 2, 2]
    assert all("adversarial" not in r and "d_loss" not in r for r in records[:2])
    assert all("adversarial" in r for r in records[2::2])
    assert all("d_loss" in r for r in records[3::2])
    assert all(np.isfinite(r["total"]) for r in records if "total" in r)
    # The rates logged before and after the resume are those of an uninterrupted trainer.
    for record in records[:2]:
        assert (record["learning_rate"], record["d_learning_rate"]) == pytest.approx((1e-3, 1e-3))
    expected = _uninterrupted_main_stage_rates(stepped[1])
    for record in records[2:]:
        assert (record["learning_rate"], record["d_learning_rate"]) == pytest.approx(
            expected[record["step"]], abs=1e-9
        ), record["step"]
    # The generator's one main-stage update is step 3, the discriminators' step 4: each rate
    # is 0 once its optimizer has made the stage's last update.
    assert expected[3] == pytest.approx((0.0, 1e-3)) and expected[4] == (0.0, 0.0)
