"""tfinpaint.benchmark and tools/benchmark.py: train-step and inference records, FLOP counts,
the CPU peak, the JSON output and the tool's flag errors.

Everything runs on the tiny presets at 32 px with one or two timed calls; the figures are
checked for shape and sign, never for speed.
"""

import json
import math
import os
import subprocess
import sys

import keras
import pytest
import tensorflow as tf

from tfinpaint import benchmark
from tfinpaint.models import registry

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(REPO, "tools", "benchmark.py")

_TRAIN_TIMES = (
    "first_call_s",
    "step_ms_median",
    "step_ms_p90",
    "steps_per_s",
    "images_per_s",
    "cpu_ms_per_step",
)
_TRAIN_FLOPS = ("gflops_per_step", "gflop_per_s")
_INFERENCE_POSITIVE = (
    "params",
    "first_call_s",
    "latency_ms_median",
    "latency_ms_p90",
    "images_per_s",
    "cpu_ms_per_image",
    "gflops_per_image",
    "gflop_per_s",
    "baseline_rss_mib",
    "peak_rss_mib",
)
# (segment, step kind) of each family, in the order a run trains them; a family registered
# later is checked against its trainer's segment count only.
_EXPECTED_STEPS = {
    "pconv": [(1, None), (2, None)],
    "glcic": [(1, None), (2, None), (3, None)],
    "cascade": [(1, "generator"), (1, "discriminator"), (2, "generator"), (2, "discriminator")],
    "gain": [(1, "generator"), (1, "discriminator")],
}


def _assert_positive_finite(record, keys):
    for key in keys:
        value = record[key]
        assert isinstance(value, int | float) and not isinstance(value, bool), (key, value)
        assert math.isfinite(value) and value > 0, (key, value)


@pytest.mark.parametrize("model", registry.list_models())
def test_train_step_times_every_stage_and_step_kind(model):
    # FLOPs are counted in the next test only: counting traces every step once more.
    records = benchmark.benchmark_train_step(
        model, "tiny", image_size=32, batch_size=2, steps=1, warmup=0, count=False
    )
    steps = [(record["segment"], record["step_kind"]) for record in records]
    num_segments = registry.get_family(model).load("trainer").num_segments
    assert sorted({segment for segment, _ in steps}) == list(range(1, num_segments + 1))
    if model in _EXPECTED_STEPS:
        assert steps == _EXPECTED_STEPS[model]
    for record in records:
        assert (record["what"], record["model"], record["preset"]) == ("train_step", model, "tiny")
        assert (record["image_size"], record["batch_size"]) == (32, 2)
        assert record["jit_compile_effective"] is False
        assert record["vgg_weights"] == "none"
        _assert_positive_finite(record, _TRAIN_TIMES)
        assert record["images_per_s"] == pytest.approx(2 * record["steps_per_s"])
        assert record["step_ms_p90"] >= record["step_ms_median"]
        assert "gflops_per_step" not in record
        assert benchmark.table_row(record).split()[0] == model


def test_train_step_with_xla_and_flops():
    records = benchmark.benchmark_train_step(
        "pconv", "tiny", image_size=32, batch_size=1, jit_compile=True, steps=2, warmup=0,
        segments=[2],
    )  # fmt: skip
    assert [(record["segment"], record["jit_compile_effective"]) for record in records] == [
        (2, True)
    ]
    record = records[0]
    _assert_positive_finite(record, _TRAIN_TIMES + _TRAIN_FLOPS)
    assert record["gflop_per_s"] == pytest.approx(
        record["gflops_per_step"] * 1000.0 / record["step_ms_median"]
    )
    # The forward pass alone of this generator at 32 px: a train step counts about 3 times it.
    generator = registry.build_generator("pconv", "tiny")
    batch = benchmark.synthetic_batch(32, 1)
    forward = benchmark.count_flops(
        lambda b: generator({"images": b["images"], "masks": b["masks"]}), batch
    )
    assert 2.0 < record["gflops_per_step"] * 1e9 / forward["flops"] < 4.5


@pytest.mark.parametrize("model", registry.list_models())
def test_inference_record_through_tf_function(model):
    record = benchmark.benchmark_inference(
        model, "tiny", image_size=32, batch_size=2, mode="function", runs=2, warmup=1
    )
    assert (record["what"], record["model"], record["mode"]) == ("inference", model, "function")
    _assert_positive_finite(record, _INFERENCE_POSITIVE)
    assert record["images_per_s"] == pytest.approx(2000.0 / record["latency_ms_median"])
    assert record["peak_rss_mib"] >= record["baseline_rss_mib"]
    assert record["gpu_peak_mib"] is None or record["gpu_peak_mib"] > 0
    assert record["isolated"] is False


def test_inference_modes_count_the_same_forward_pass():
    records = {
        mode: benchmark.benchmark_inference(
            "cascade", "tiny", image_size=32, batch_size=1, mode=mode, runs=1, warmup=0
        )
        for mode in ("eager", "xla")
    }
    for record in records.values():
        _assert_positive_finite(record, _INFERENCE_POSITIVE)
    assert records["eager"]["gflops_per_image"] == records["xla"]["gflops_per_image"]


def test_inference_in_a_fresh_process_reports_its_own_peak_memory():
    record = benchmark.benchmark_inference_isolated(
        model="cascade", preset="tiny", image_size=32, batch_size=1, mode="function", runs=1,
        warmup=0,
    )  # fmt: skip
    assert record["isolated"] is True
    _assert_positive_finite(record, _INFERENCE_POSITIVE)
    # The TensorFlow runtime alone holds well over 100 MiB.
    assert record["peak_rss_mib"] >= record["baseline_rss_mib"] > 100


def test_synthetic_batch_has_what_trainers_read():
    batch = benchmark.synthetic_batch(32, 2, with_gradients=True)
    assert batch["images"].shape == (2, 32, 32, 3) and batch["gradients"].shape == (2, 32, 32, 2)
    assert batch["boxes"].numpy().tolist() == [[8, 8, 24, 24]] * 2
    hole_masks = batch["masks"].numpy()
    assert hole_masks.shape == (2, 32, 32, 1) and hole_masks.sum() == 2 * 16 * 16
    assert hole_masks[:, 8:24, 8:24].min() == 1.0
    assert "gradients" not in benchmark.synthetic_batch(32, 1)


def test_count_flops_matches_a_hand_count_for_one_conv():
    inputs = keras.Input((24, 24, 5))
    model = keras.Model(inputs, keras.layers.Conv2D(7, 3, padding="same")(inputs))
    images = tf.zeros((2, 24, 24, 5))
    # One multiply-add (2 FLOPs) per output element and kernel tap and input channel.
    hand_count = 2 * (2 * 24 * 24 * 7) * (3 * 3 * 5)
    flops = benchmark.count_flops(lambda x: model(x), images)
    assert hand_count / 2 <= flops["flops"] <= 2 * hand_count
    assert flops["flops_missed_ops"] == 0
    assert "lower bound" not in flops["flops_method"]

    # A train step adds the kernel gradient; the input gradient, which TensorFlow builds but
    # prunes (no variable needs it), is left out.
    optimizer = keras.optimizers.SGD()
    optimizer.build(model.trainable_variables)

    def train_step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x)))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    step_flops = benchmark.count_flops(train_step, images)
    assert 1.9 * hand_count <= step_flops["flops"] <= 2.2 * hand_count
    assert step_flops["pruned_flops"] == pytest.approx(hand_count, rel=0.05)


def test_count_flops_of_a_batched_matmul_with_an_adjoint():
    # The gradient of a Gram matrix multiplies by an adjoint: TF's own registry miscounts it.
    features = tf.ones((2, 64, 5))  # (B, HW, C)
    flops = benchmark.count_flops(lambda f: tf.matmul(f, f, adjoint_a=True), features)
    assert flops["flops"] == 2 * (2 * 5 * 5) * 64


def test_count_flops_says_when_it_cannot_see_into_a_branch():
    def branchy(x):
        return tf.cond(tf.reduce_sum(x) > 0, lambda: tf.matmul(x, x), lambda: x)

    flops = benchmark.count_flops(branchy, tf.ones((8, 8)))
    assert flops["flops_missed_ops"] == 1
    assert "lower bound: 1 ops (" in flops["flops_method"]


def test_cpu_peak_from_cpuinfo_flags():
    header = "processor : 0\nmodel name : Test CPU\ncpu MHz : 2000.000\n"
    avx512 = benchmark.cpu_peak(header + "flags : sse avx avx2 fma avx512f\n", num_cores=2)
    assert avx512["cpu_model"] == "Test CPU"
    assert avx512["cpu_peak_gflop_per_s"] == pytest.approx(2 * 2.0 * 64)
    avx2 = benchmark.cpu_peak(header + "flags : sse avx avx2 fma\n", num_cores=4)
    assert avx2["cpu_peak_gflop_per_s"] == pytest.approx(4 * 2.0 * 32)
    assert "32 fp32 FLOPs/cycle" in avx2["peak_assumption"]
    assert benchmark.cpu_peak("flags : avx2 fma\n", num_cores=2)["cpu_peak_gflop_per_s"] is None


def test_write_json_keeps_the_records_and_describes_the_machine(tmp_path):
    record = {"what": "inference", "model": "cascade", "latency_ms_median": 3.5, "bad": math.nan}
    path = tmp_path / "out" / "records.json"
    benchmark.write_json(str(path), "inference", [record], command="tools/benchmark.py ...")
    payload = json.loads(path.read_text())
    assert payload["what"] == "inference" and payload["command"] == "tools/benchmark.py ..."
    assert payload["records"] == [dict(record, bad=None)]
    machine = payload["machine"]
    assert machine["num_cores"] >= 1 and machine["tensorflow"] == tf.__version__
    assert {"cpu_model", "cpu_peak_gflop_per_s", "peak_assumption", "gpus"} <= set(machine)
    assert payload["date"] == machine["date"]


def test_plan_checks_settings_before_any_work():
    jobs = benchmark.plan_train_step(["all"], preset="tiny", jit_compile="both")
    assert len(jobs) == 2 * len(registry.list_models())
    assert {job["image_size"] for job in jobs if job["model"] == "pconv"} == {64}
    with pytest.raises(ValueError, match="--segments=3 does not fit model 'pconv'"):
        benchmark.plan_train_step(["pconv"], preset="tiny", segments=[3])
    with pytest.raises(ValueError, match="vgg_weights got"):
        benchmark.plan_train_step(["pconv"], preset="tiny", vgg_weights="/no/such.h5")
    with pytest.raises(ValueError, match="--image_size takes comma-separated positive"):
        benchmark.parse_image_sizes(["256", "x"])
    with pytest.raises(ValueError, match="--runs must be an integer >= 1, got 0"):
        benchmark.plan_inference(["cascade"], preset="tiny", image_sizes=[64], runs=0)
    with pytest.raises(ValueError, match="--generator_config key.*DeepGINGenerator.*nosuch"):
        benchmark.plan_inference(["deepgin"], preset="tiny", generator_overrides={"nosuch": 1})
    overrides = {"max_attention_logits_per_image": None}
    (job,) = benchmark.plan_inference(
        ["deepgin"], preset="tiny", modes="eager", generator_overrides=overrides
    )
    assert job["generator_overrides"] == overrides


def _tool(*args):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    return subprocess.run(
        [sys.executable, TOOL, *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_tool_rejects_bad_flags_in_one_sentence():
    unknown = _tool("--what=inference", "--model=nosuch")
    assert unknown.returncode != 0
    assert "Error: Unknown model 'nosuch': expected one of pconv" in unknown.stderr
    bad_size = _tool("--what=train_step", "--model=pconv", "--preset=tiny", "--image_size=40")
    assert bad_size.returncode != 0
    assert "Error: --image_size=40 is not a multiple of 16" in bad_size.stderr
    bad_overrides = _tool("--what=inference", "--model=deepgin", "--generator_config=[1]")
    assert "Error: --generator_config must be a JSON object" in bad_overrides.stderr
    bad_quantize = _tool("--what=tflite", "--model=cascade", "--quantize=int4")
    assert bad_quantize.returncode != 0
    assert "Error: --quantize takes none, float16, dynamic_int8, got 'int4'." in bad_quantize.stderr
    for result in (unknown, bad_size, bad_overrides, bad_quantize):
        assert "Traceback" not in result.stderr
        assert result.stdout == ""  # No table: nothing was timed.


def test_forward_peak_memory_in_a_fresh_process(tmp_path):
    output = tmp_path / "peak.json"
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "peak_memory.py"),
            "--model=cascade",
            "--preset=tiny",
            "--image_size=64",
            f"--json_output={output}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (
        "cascade (tiny," in result.stdout and "at 64 px, eager, float32: peak RSS" in result.stdout
    )
    record = json.loads(output.read_text())
    assert record["peak_rss_mib"] >= record["baseline_rss_mib"] > 100
    assert record["params"] == registry.build_generator("cascade", "tiny").count_params()
    with pytest.raises(ValueError, match="mode must be eager or function"):
        benchmark.forward_peak_memory("cascade", "tiny", 64, mode="xla")
    with pytest.raises(ValueError):
        benchmark.forward_peak_memory("cascade", "tiny", 63)
