"""Where a step's time goes, per TensorFlow op type, from TF's own profiler.

`profile_op_types(fn, calls)` runs `fn()` `calls` times under `tf.profiler.experimental` and
reads back the trace it writes (an XSpace protobuf): every op the executor runs is one event
named `NAME:TYPE` on a compute thread, e.g. `gradient_tape/Conv2DBackpropFilter:
_MklNativeConv2DBackpropFilter`. The events are summed per op type. An op's time is its *self*
time: what nested op events on the same thread (a `While` loop's body, a function call) take is
counted under their own types, not twice.

The op types keep TF's names, so the profile shows which ops go through oneDNN (`_Mkl...`) and
which run TF's own Eigen kernels (`FusedBatchNormGradV3`, `Cast`, element-wise ops), which is
what it is for (WORKSPACE.md, "Training throughput"). Ops can run on two threads at once, so the
summed op time may exceed the wall time of the calls; `op_ms_per_call / wall_ms_per_call` says
how much.
"""

import collections
import glob
import os
import tempfile
import time

import tensorflow as tf

# Coarse groups of op types for the summary line: the raw types are kept in the records.
_GROUPS = (
    ("convolution", ("Conv2D", "Conv3D", "DepthwiseConv", "Conv2DBackprop")),
    ("matmul", ("MatMul", "BatchMatMul", "Einsum")),
    ("batchnorm", ("FusedBatchNorm",)),
    ("cast", ("Cast",)),
    ("optimizer", ("ResourceApply", "AssignVariableOp", "AssignAddVariableOp", "AssignSub")),
)


def op_group(op_type):
    """The coarse group of an op type: convolution, matmul, batchnorm, cast, optimizer, other.

    oneDNN's names (`_MklNativeConv2D`, `_MklFusedBatchNormGradV3`) and fused ops
    (`_FusedConv2D`) fall into their op's group.
    """
    for group, stems in _GROUPS:
        if any(stem in op_type for stem in stems):
            return group
    return "other"


def _read_space(logdir):
    # The XSpace proto ships inside TensorFlow (TSL); it is only needed here.
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    paths = sorted(glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb")))
    if not paths:
        raise RuntimeError(f"TF's profiler wrote no trace under {logdir}.")
    space = xplane_pb2.XSpace()
    with open(paths[-1], "rb") as f:
        space.ParseFromString(f.read())
    return space


def _is_op_event(name):
    # "NAME:TYPE" without spaces; the executor's own events are "Class::method" and the
    # Python thread's are "EagerLocalExecute: __inference_f_36" (the whole call).
    return ":" in name and "::" not in name and not any(c.isspace() for c in name)


def op_self_times(space):
    """Self time (seconds) and call count per op type over every host thread of a trace.

    Returns:
        dict op_type -> [seconds, count].
    """
    totals = collections.defaultdict(lambda: [0.0, 0])
    for plane in space.planes:
        if not plane.name.startswith("/host:"):
            continue
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            events = []
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if _is_op_event(name):
                    events.append((event.offset_ps, event.duration_ps, name.rsplit(":", 1)[1]))
            events.sort(key=lambda e: (e[0], -e[1]))
            # A stack of open events: [end_ps, op_type, self_ps].
            stack = []

            def close(entry):
                totals[entry[1]][0] += entry[2] / 1e12
                totals[entry[1]][1] += 1

            for start, duration, op_type in events:
                while stack and stack[-1][0] <= start:
                    close(stack.pop())
                if stack:
                    stack[-1][2] -= duration
                stack.append([start + duration, op_type, duration])
            while stack:
                close(stack.pop())
    return dict(totals)


def profile_op_types(fn, calls=3, top=None):
    """Runs `fn()` `calls` times under TF's profiler; the time per op type.

    Call `fn` once before (tracing and the first call's one-off work are not what this
    measures). `fn` must wait for its results (e.g. read them with `.numpy()`).

    Args:
        fn: callable of no arguments.
        calls: int. Profiled calls.
        top: int or None. Keep the `top` op types by time (all by default); the groups and
            totals always count every op.

    Returns:
        dict with `calls`, `wall_ms_per_call`, `op_ms_per_call` (summed self time of all ops,
        per call), `groups` ({group: ms per call}) and `ops`, a list of
        {`op_type`, `group`, `ms_per_call`, `calls_per_call`, `share`} by time, largest first
        (`share` of the summed op time).
    """
    if calls < 1:
        raise ValueError(f"profile_op_types needs at least 1 call, got {calls}.")
    with tempfile.TemporaryDirectory(prefix="tfinpaint_profile_") as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        try:
            for _ in range(calls):
                fn()
        finally:
            wall = time.perf_counter() - start
            tf.profiler.experimental.stop()
        totals = op_self_times(_read_space(logdir))
    op_seconds = sum(seconds for seconds, _ in totals.values())
    ops = [
        {
            "op_type": op_type,
            "group": op_group(op_type),
            "ms_per_call": 1000.0 * seconds / calls,
            "calls_per_call": count / calls,
            "share": seconds / op_seconds if op_seconds else 0.0,
        }
        for op_type, (seconds, count) in totals.items()
    ]
    ops.sort(key=lambda op: -op["ms_per_call"])
    groups = collections.defaultdict(float)
    for op in ops:
        groups[op["group"]] += op["ms_per_call"]
    return {
        "calls": calls,
        "wall_ms_per_call": 1000.0 * wall / calls,
        "op_ms_per_call": 1000.0 * op_seconds / calls,
        "groups": dict(sorted(groups.items(), key=lambda item: -item[1])),
        "ops": ops[:top] if top else ops,
    }


def format_profile(profile, title):
    """A profile as printable lines: a heading, the groups, then one line per op type."""
    groups = ", ".join(f"{group} {ms:.1f}" for group, ms in profile["groups"].items())
    lines = [
        f"{title}: {profile['wall_ms_per_call']:.1f} ms wall per call, "
        f"{profile['op_ms_per_call']:.1f} ms of op time (mean of {profile['calls']} calls)",
        f"  by group (ms): {groups}",
        "  | op type | group | ms/call | ops/call | share |",
        "  |---|---|---|---|---|",
    ]
    for op in profile["ops"]:
        lines.append(
            f"  | {op['op_type']} | {op['group']} | {op['ms_per_call']:.2f} | "
            f"{op['calls_per_call']:.0f} | {100 * op['share']:.1f}% |"
        )
    return lines
