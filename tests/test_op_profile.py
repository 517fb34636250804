"""tfinpaint.benchmark.op_profile: time per TF op type from TF's profiler.

The self-time arithmetic is checked on a hand-built trace; the profiler itself on a small
function whose ops are known, and through the train-step benchmark.
"""

import pytest
import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from tfinpaint import benchmark
from tfinpaint.benchmark import op_profile


def _space(lines):
    """An XSpace with one host plane; `lines` is a list of [(name, start_ps, duration_ps)]."""
    space = xplane_pb2.XSpace()
    plane = space.planes.add(name="/host:CPU")
    ids = {}
    for events in lines:
        line = plane.lines.add(name="tf_Compute")
        for name, start, duration in events:
            if name not in ids:
                ids[name] = len(ids) + 1
                plane.event_metadata[ids[name]].id = ids[name]
                plane.event_metadata[ids[name]].name = name
            line.events.add(metadata_id=ids[name], offset_ps=start, duration_ps=duration)
    # A device plane's events are not host ops and are left out.
    device = space.planes.add(name="/device:TPU:0")
    device.event_metadata[1].name = "x:Conv2D"
    device.lines.add().events.add(metadata_id=1, offset_ps=0, duration_ps=10**12)
    return space


def test_self_times_subtract_nested_ops_and_skip_non_op_events():
    ms = 10**9  # picoseconds
    space = _space(
        [
            [
                ("ExecutorState::Process", 0, 200 * ms),
                ("while:While", 0, 100 * ms),
                ("while/conv:_MklNativeConv2D", 10 * ms, 30 * ms),
                ("while/mul:Mul", 50 * ms, 10 * ms),
                ("mul_1:Mul", 120 * ms, 5 * ms),
            ],
            [("EagerLocalExecute: __inference_f_1", 0, 300 * ms), ("relu:Relu", 0, 7 * ms)],
        ]
    )
    totals = op_profile.op_self_times(space)
    assert set(totals) == {"While", "_MklNativeConv2D", "Mul", "Relu"}
    assert totals["While"] == [pytest.approx(0.060), 1]
    assert totals["_MklNativeConv2D"] == [pytest.approx(0.030), 1]
    assert totals["Mul"] == [pytest.approx(0.015), 2]
    assert totals["Relu"] == [pytest.approx(0.007), 1]


@pytest.mark.parametrize(
    "op_type, group",
    [
        ("_MklNativeConv2DBackpropFilter", "convolution"),
        ("Conv2DBackpropInput", "convolution"),
        ("DepthwiseConv2dNative", "convolution"),
        ("_MklFusedBatchNormGradV3", "batchnorm"),
        ("FusedBatchNormV3", "batchnorm"),
        ("_MklBatchMatMulV2", "matmul"),
        ("Cast", "cast"),
        ("ResourceApplyAdam", "optimizer"),
        ("AssignVariableOp", "optimizer"),
        ("_FusedConv2D", "convolution"),
        ("BroadcastTo", "other"),
        ("Mul", "other"),
    ],
)
def test_op_groups(op_type, group):
    assert op_profile.op_group(op_type) == group


def test_profile_of_a_convolution_and_its_gradient():
    x = tf.random.normal((1, 32, 32, 8))
    w = tf.Variable(tf.random.normal((3, 3, 8, 8)))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.relu(tf.nn.conv2d(x, w, 1, "SAME")))
        return tape.gradient(loss, w)

    step()
    profile = benchmark.profile_op_types(lambda: step().numpy(), calls=3)
    assert profile["calls"] == 3
    assert profile["wall_ms_per_call"] > 0 and profile["op_ms_per_call"] > 0
    assert profile["groups"]["convolution"] > 0
    assert sum(op["share"] for op in profile["ops"]) == pytest.approx(1.0)
    by_type = {op["op_type"]: op for op in profile["ops"]}
    # One forward convolution and one filter gradient per call, whichever kernel runs them.
    forward = [t for t in by_type if t.endswith("Conv2D")]
    backward = [t for t in by_type if t.endswith("Conv2DBackpropFilter")]
    assert len(forward) == 1 and len(backward) == 1
    assert by_type[forward[0]]["calls_per_call"] == 1
    assert by_type[backward[0]]["calls_per_call"] == 1
    times = [op["ms_per_call"] for op in profile["ops"]]
    assert times == sorted(times, reverse=True)
    lines = benchmark.format_profile(profile, "conv")
    assert lines[0].startswith("conv: ") and "convolution" in lines[1]
    assert len(lines) == 4 + len(profile["ops"])
    with pytest.raises(ValueError, match="at least 1 call"):
        benchmark.profile_op_types(lambda: None, calls=0)


def test_train_step_benchmark_keeps_the_costliest_op_types():
    (record,) = benchmark.benchmark_train_step(
        "pconv", "tiny", image_size=32, batch_size=1, steps=1, warmup=0, segments=[2],
        count=False, op_profile=4,
    )  # fmt: skip
    profile = record["op_profile"]
    assert len(profile["ops"]) == 4
    assert profile["groups"]["convolution"] > 0
    assert any("Conv2D" in op["op_type"] for op in profile["ops"])
    with pytest.raises(ValueError, match="--op_profile needs --jit_compile=off"):
        benchmark.plan_train_step(["pconv"], preset="tiny", jit_compile="both", op_profile=5)
    with pytest.raises(ValueError, match="--op_profile must be an integer >= 0"):
        benchmark.plan_train_step(["pconv"], preset="tiny", jit_compile="off", op_profile=-1)
