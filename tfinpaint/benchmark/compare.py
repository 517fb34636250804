"""Side by side with PyTorch: the same PConv U-Net, timed in one process, alternating builds.

`compare_torch_inference` and `compare_torch_train_step` build our generator (and, for the train
step, our trainer through the training loop's config, VGG terms off) and its PyTorch twin
(the module `twin`, which the caller passes: `benchmarks/torch_pconv.py` in the repository; the
package holds no PyTorch code) from the same preset; check that their
parameter counts agree; copy our weights into the twin (so the outputs can be compared too);
give PyTorch as many threads as TensorFlow's intra-op pool has; then time one call of each in
turn, `rounds` times, the first build alternating, and keep the minimum (and the median) of each:
on a shared machine the minimum is the figure least disturbed by other work.

bfloat16 is ours under `mixed_bfloat16` against PyTorch under `torch.autocast("cpu",
dtype=torch.bfloat16)`; both keep float32 weights and the float32 mask path.

torch is an optional extra (`pip install -e ".[bench]"`): `require_torch` says so in one
sentence when it is missing.
"""

import importlib.util
import os
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from tfinpaint import precision as precision_lib
from tfinpaint.benchmark.checks import check_image_sizes, check_positive, resolve_models
from tfinpaint.benchmark.timing import sync, synthetic_batch
from tfinpaint.benchmark.train_step import build_trainer
from tfinpaint.models import registry

COMPARE_CHOICES = ("none", "torch", "bfloat16")
# The families with a PyTorch twin.
TORCH_MODELS = ("pconv",)


def require_torch():
    """Imports and returns `torch`; a ValueError of one sentence when it is not installed."""
    if importlib.util.find_spec("torch") is None:
        raise ValueError(
            '--compare=torch needs PyTorch, which is not installed: pip install -e ".[bench]" '
            "(or pip install torch)."
        )
    import torch  # noqa: PLC0415 (optional extra, imported on demand)

    return torch


def tensorflow_threads():
    """Threads of TensorFlow's intra-op pool (oneDNN runs on it): its setting, else the cores."""
    threads = tf.config.threading.get_intra_op_parallelism_threads()
    if threads:
        return threads
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def plan_compare(what, models, preset="paper", image_sizes=(512,), batch_size=1, **settings):
    """Checks the settings of a `--compare=torch` run; returns one job per (model, size).

    Raises:
        ValueError: one sentence naming the bad setting (torch missing, a family without a
            PyTorch twin, an image size the preset cannot take, a bad count).
    """
    require_torch()
    models = resolve_models(models)
    others = [model for model in models if model not in TORCH_MODELS]
    if others:
        raise ValueError(
            f"--compare=torch has a PyTorch build of {', '.join(TORCH_MODELS)} only, got "
            f"--model={','.join(models)}."
        )
    if batch_size is not None:
        check_positive("batch_size", batch_size)
    check_positive("rounds", settings.get("rounds", 10))
    check_positive("warmup", settings.get("warmup", 1), minimum=0)
    precision = settings.get("precision", "float32")
    jobs = []
    for model in models:
        if what == "inference":
            registry.check_inference_precision(model, precision)
        else:
            precision_lib.policy_name(precision)
        check_image_sizes(model, preset, image_sizes)
        for image_size in image_sizes:
            if what == "train_step":
                _check_batch_norm_values(model, preset, image_size, batch_size)
            jobs.append(
                dict(
                    model=model,
                    preset=preset,
                    image_size=image_size,
                    batch_size=batch_size,
                    **settings,
                )
            )
    return jobs


def _check_batch_norm_values(model, preset, image_size, batch_size):
    """PyTorch's BatchNorm refuses a training batch with one value per channel: the U-Net's
    bottleneck is (image_size / size multiple)^2 positions per image."""
    if batch_size is None:
        return
    positions = (image_size // registry.size_multiple(model, preset)) ** 2
    if batch_size * positions < 2:
        raise ValueError(
            f"--compare=torch train steps need more than one value per channel at the "
            f"{model} ({preset}) bottleneck for PyTorch's BatchNorm, and {image_size} px at "
            f"batch {batch_size} leaves one: use --batch_size >= 2 or a larger --image_size."
        )


def _twin(torch, twin, generator_config, generator, channels_last):
    """The twin module's network from `generator_config`, with `generator`'s weights."""
    model = twin.build_pconv_unet(generator_config)
    trainable, statistics = twin.count_parameters(model)
    ours_trainable = sum(int(np.prod(w.shape)) for w in generator.trainable_weights)
    ours_statistics = sum(int(np.prod(w.shape)) for w in generator.non_trainable_weights)
    if (trainable, statistics) != (ours_trainable, ours_statistics):
        raise RuntimeError(
            f"The PyTorch PConv U-Net has {trainable:,} parameters and {statistics:,} BatchNorm "
            f"statistics, ours {ours_trainable:,} and {ours_statistics:,}: not the same network."
        )
    twin.copy_keras_weights(model, generator)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def _torch_inputs(torch, batch, channels_last):
    def convert(value):
        tensor = torch.from_numpy(value.numpy().transpose(0, 3, 1, 2).copy())
        return tensor.contiguous(memory_format=torch.channels_last) if channels_last else tensor

    return convert(batch["images"]), convert(batch["masks"])


def step_call(built, segment=1):
    """The first step kind of `segment` of a `build_trainer` result, as a timed call.

    Returns:
        (call, step_kind, first_loss): `call()` runs one step and waits for its outputs;
        `first_loss` is the total loss of the one call made here (None when the step logs
        none, e.g. a discriminator-only phase).
    """
    trainer = built.trainer
    trainer.start_segment(segment)
    kind = trainer.segment_step_kinds(segment)[0]
    step = trainer.step_function(kind)

    def call():
        outputs = step(built.iterator)
        sync(outputs)
        return outputs

    logs = call()
    loss = float(np.asarray(logs["total"]).reshape(-1)[0]) if "total" in logs else None
    return call, kind, loss


def alternate(calls, rounds):
    """Times each of `calls` (name -> callable that waits for its result) once per round, in
    turn, the first of them alternating between rounds; returns name -> list of seconds."""
    names = list(calls)
    times = {name: [] for name in names}
    for round_index in range(rounds):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            start = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - start)
    return times


def _timing_fields(times):
    """`NAME_ms_min` and `NAME_ms_median` of each build's alternated times."""
    fields = {}
    for name, values in times.items():
        fields[f"{name}_ms_min"] = 1000.0 * min(values)
        fields[f"{name}_ms_median"] = 1000.0 * statistics.median(values)
    return fields


def _record(what, job, threads, params, times, extra):
    ours, theirs = min(times["ours"]), min(times["torch"])
    return {
        "what": f"compare_{what}",
        "model": job["model"],
        "preset": job["preset"],
        "image_size": job["image_size"],
        "batch_size": job["batch_size"],
        "precision": job["precision"],
        "threads": threads,
        "params": params,
        "rounds": job["rounds"],
        **_timing_fields(times),
        "torch_over_ours": theirs / ours,
        "load_average": os.getloadavg()[0],
        **extra,
    }


def compare_torch_inference(
    model="pconv",
    preset="paper",
    image_size=512,
    batch_size=1,
    precision="float32",
    rounds=10,
    warmup=1,
    channels_last=True,
    seed=0,
    *,
    twin,
):
    """Inference latency of our generator (`tf.function`) and its PyTorch twin, alternating.

    Args:
        model, preset: the family (one of `TORCH_MODELS`) and its preset.
        image_size, batch_size: int. Square random images with a centred square hole.
        precision: "float32" or "bfloat16".
        rounds: int. Timed calls of each build, alternating.
        warmup: int. Untimed calls of each after the first.
        channels_last: bool. Run PyTorch in its channels_last memory format (NHWC in memory,
            what its oneDNN convolutions prefer on CPUs) rather than NCHW.
        seed: int. Seeds the weights (copied from ours into the twin) and the inputs.
        twin: module. The PyTorch twin (`build_pconv_unet`, `count_parameters`,
            `copy_keras_weights`, `pconv_loss`): `benchmarks/torch_pconv.py`.

    Returns:
        dict with the settings, `threads`, `params`, `ours_ms_min`, `torch_ms_min`, the medians,
        `torch_over_ours` (> 1: ours is faster), `max_abs_diff` (between the two `inpainted`
        outputs) and `load_average`.
    """
    torch = require_torch()
    threads = tensorflow_threads()
    torch.set_num_threads(threads)
    keras.utils.set_random_seed(seed)
    torch.manual_seed(seed)
    config = registry.generator_config(model, preset)
    with precision_lib.global_policy(precision):
        generator = registry.build_generator(model, preset)
    network = _twin(torch, twin, config, generator, channels_last)
    network.eval()
    batch = synthetic_batch(image_size, batch_size, seed=seed)
    inputs = {"images": batch["images"], "masks": batch["masks"]}
    images, masks = _torch_inputs(torch, batch, channels_last)
    forward = tf.function(lambda inputs: generator(inputs, training=False)["inpainted"])

    def ours():
        return forward(inputs).numpy()

    def theirs():
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, precision == "bfloat16"):
            return network(images, masks)["inpainted"].numpy()

    ours_out, torch_out = ours(), theirs()
    for _ in range(warmup):
        ours(), theirs()
    times = alternate({"ours": ours, "torch": theirs}, rounds)
    diff = float(np.abs(ours_out - torch_out.transpose(0, 2, 3, 1)).max())
    job = dict(
        model=model,
        preset=preset,
        image_size=image_size,
        batch_size=batch_size,
        precision=precision,
        rounds=rounds,
    )
    extra = {"channels_last": channels_last, "max_abs_diff": diff}
    return _record("inference", job, threads, int(generator.count_params()), times, extra)


def compare_torch_train_step(
    model="pconv",
    preset="paper",
    image_size=256,
    batch_size=1,
    precision="float32",
    rounds=10,
    warmup=1,
    channels_last=True,
    seed=0,
    *,
    twin,
):
    """One train step of our trainer (stage 1, VGG terms off) and of the PyTorch twin, alternating.

    Ours is the family's real step (`build_trainer`: the trainer as `run_training` builds it,
    Adam at the preset's rate, `--mixed_precision=bfloat16` for bfloat16), fed one synthetic
    in-memory batch; PyTorch's is forward, `twin.pconv_loss` (valid L1 + 6 hole L1 +
    0.1 TV, as our PConvLoss without VGG), backward and `torch.optim.Adam` at the same rate,
    under `torch.autocast` for bfloat16. Both start from the same weights.

    Returns:
        dict as `compare_torch_inference`'s, with `loss_ours` and `loss_torch` (the first
        step's total loss of each: equal up to rounding when the builds agree) instead of
        `max_abs_diff`.
    """
    torch = require_torch()
    threads = tensorflow_threads()
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    built = build_trainer(model, preset, image_size, batch_size, precision=precision, seed=seed)
    config = registry.generator_config(model, preset, **built.config.generator_overrides)
    network = _twin(torch, twin, config, built.trainer.generator, channels_last)
    network.train()
    optimizer = torch.optim.Adam(network.parameters(), lr=built.config.learning_rate)
    images, masks = _torch_inputs(torch, built.batch, channels_last)
    autocast = precision == "bfloat16"

    def theirs():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", torch.bfloat16, autocast):
            raw = network(images, masks)["raw"]
        loss = twin.pconv_loss(images, raw, masks)["total"]
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    # Ours: the trackers' mean after one step is the first step's loss, before any update.
    ours, _, loss_ours = step_call(built)
    loss_torch = theirs()
    for _ in range(warmup):
        ours(), theirs()
    times = alternate({"ours": ours, "torch": theirs}, rounds)
    job = dict(
        model=model,
        preset=preset,
        image_size=built.config.image_size,
        batch_size=built.config.batch_size,
        precision=precision,
        rounds=rounds,
    )
    extra = {"channels_last": channels_last, "loss_ours": loss_ours, "loss_torch": loss_torch}
    return _record(
        "train_step", job, threads, int(built.trainer.generator.count_params()), times, extra
    )


def plan_compare_precision(what, models, preset="paper", image_sizes=(512,), batch_size=1, **kw):
    """Checks the settings of a `--compare=bfloat16` run; returns one job per (model, size).

    Raises:
        ValueError: one sentence naming the bad setting.
    """
    models = resolve_models(models)
    if batch_size is not None:
        check_positive("batch_size", batch_size)
    check_positive("rounds", kw.get("rounds", 10))
    check_positive("warmup", kw.get("warmup", 1), minimum=0)
    jobs = []
    for model in models:
        check_image_sizes(model, preset, image_sizes)
        for image_size in image_sizes:
            jobs.append(
                dict(model=model, preset=preset, image_size=image_size, batch_size=batch_size, **kw)
            )
    return jobs


def _hole_psnr(reference, other, hole_masks):
    """PSNR (dB, peak 1) of `other` against `reference` over the hole pixels."""
    holes = np.broadcast_to(np.asarray(hole_masks) > 0.5, reference.shape)
    error = np.mean((reference[holes] - other[holes]) ** 2) if holes.any() else 0.0
    return float("inf") if error == 0 else float(10.0 * np.log10(1.0 / error))


def _precision_record(what, job, times, extra):
    float32, bfloat16 = min(times["float32"]), min(times["bfloat16"])
    return {
        "what": f"precision_{what}",
        "model": job["model"],
        "preset": job["preset"],
        "image_size": job["image_size"],
        "batch_size": job["batch_size"],
        "threads": tensorflow_threads(),
        "rounds": job["rounds"],
        **_timing_fields(times),
        "speedup": float32 / bfloat16,
        "load_average": os.getloadavg()[0],
        **extra,
    }


def compare_precision_inference(
    model="pconv", preset="paper", image_size=512, batch_size=1, rounds=10, warmup=1, seed=0
):
    """Our generator in float32 and in bfloat16 (same weights), `tf.function`, alternating.

    Returns:
        dict with the settings, `float32_ms_min`, `bfloat16_ms_min`, the medians, `speedup`
        (float32 / bfloat16 minima), `hole_psnr_db` (PSNR of the bfloat16 `inpainted` output
        against the float32 one over the hole pixels) and `load_average`.
    """
    keras.utils.set_random_seed(seed)
    float32 = registry.build_generator(model, preset)
    with precision_lib.global_policy("bfloat16"):
        bfloat16 = registry.build_generator(model, preset)
    bfloat16.set_weights(float32.get_weights())
    batch = synthetic_batch(image_size, batch_size, seed=seed)
    inputs = {"images": batch["images"], "masks": batch["masks"]}
    calls = {}
    for name, generator in (("float32", float32), ("bfloat16", bfloat16)):
        forward = tf.function(lambda inputs, g=generator: g(inputs, training=False)["inpainted"])
        calls[name] = lambda forward=forward: forward(inputs).numpy()
    outputs = {name: call() for name, call in calls.items()}
    for _ in range(warmup):
        for call in calls.values():
            call()
    times = alternate(calls, rounds)
    job = dict(
        model=model, preset=preset, image_size=image_size, batch_size=batch_size, rounds=rounds
    )
    psnr = _hole_psnr(outputs["float32"], outputs["bfloat16"], batch["masks"])
    return _precision_record("inference", job, times, {"hole_psnr_db": psnr})


def compare_precision_train_step(
    model="pconv", preset="paper", image_size=256, batch_size=None, rounds=10, warmup=1, seed=0
):
    """The family's first train step kind in float32 and with `--mixed_precision=bfloat16`,
    two trainers from the same initial weights, alternating.

    Returns:
        dict as `compare_precision_inference`'s, with `loss_float32` and `loss_bfloat16` (each
        first step's total loss) instead of `hole_psnr_db`.
    """
    calls, losses = {}, {}
    built = {}
    for name in ("float32", "bfloat16"):
        built[name] = build_trainer(
            model, preset, image_size, batch_size, precision=name, seed=seed
        )
    built["bfloat16"].trainer.generator.set_weights(
        built["float32"].trainer.generator.get_weights()
    )
    for name, b in built.items():
        calls[name], _, losses[name] = step_call(b)
    for _ in range(warmup):
        for call in calls.values():
            call()
    times = alternate(calls, rounds)
    config = built["float32"].config
    job = dict(
        model=model,
        preset=preset,
        image_size=config.image_size,
        batch_size=config.batch_size,
        rounds=rounds,
    )
    extra = {"loss_float32": losses["float32"], "loss_bfloat16": losses["bfloat16"]}
    return _precision_record("train_step", job, times, extra)
