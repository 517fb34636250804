"""FLOP counting: the floating-point operations of one traced call, by TF's profiler.

`count_flops` runs `tf.compat.v1.profiler` (`float_operation()`) on the concrete function's
graph. It sees the backward convolutions (`Conv2DBackpropInput`/`Filter`), so a train step is
counted, not estimated as three forward passes. Two corrections: ops that no output needs
(gradients the tape builds but no variable takes, which TF prunes before running) are left out,
and batched matmuls are recounted (TF's registry misreads their adjoint flag). A multiply-add
counts two FLOPs; element-wise ops one per element. Ops inside `tf.cond` branches are not seen
(the count then says it is a lower bound): here only spectral normalisation's power iteration.
`flops_fields` turns a count and a time into GFLOP/s and a share of the machine's peak.
"""

import tensorflow as tf

# Ops whose work happens in functions the profiler does not enter: if a graph holds any, the
# count misses their FLOPs.
_OPAQUE_OPS = (
    "PartitionedCall",
    "StatefulPartitionedCall",
    "If",
    "StatelessIf",
    "While",
    "StatelessWhile",
    "Case",
    "StatelessCase",
)
# The heavy ops the profiler needs static shapes for; with a dynamic shape it counts 0.
_SHAPED_OPS = (
    "Conv2D",
    "Conv2DBackpropInput",
    "Conv2DBackpropFilter",
    "DepthwiseConv2dNative",
    "MatMul",
    "BatchMatMulV2",
)
_BATCH_MATMUL_OPS = ("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")


def _live_ops(graph):
    """Names of the ops a function graph runs: those its outputs or control outputs need.

    TensorFlow prunes the rest when it instantiates the function (`PruneFunctionBody`), e.g. the
    kernel gradients of a discriminator that only passes the generator's gradient through.
    """
    pending = [tensor.op for tensor in graph.outputs] + list(graph.control_outputs)
    live = set()
    while pending:
        op = pending.pop()
        if op.name in live:
            continue
        live.add(op.name)
        pending.extend(tensor.op for tensor in op.inputs)
        pending.extend(op.control_inputs)
    return live


def _batch_matmul_flops(op):
    """2 * output elements * contracted size of a BatchMatMul, read from its adj_x attribute.

    TF's profiler registry reads a `transpose_a` attribute that BatchMatMul does not have (its
    attributes are `adj_x` and `adj_y`), so it takes the wrong contracted size whenever `adj_x`
    is set, as in the gradients of Gram matrices: (B, C, HW)^T @ (B, C, C) counted as HW^2 C.
    """
    a_shape = op.inputs[0].shape
    contracted = a_shape[-2] if op.get_attr("adj_x") else a_shape[-1]
    return 2 * contracted * op.outputs[0].shape.num_elements()


def _profile_nodes(node):
    yield node
    for child in node.children:
        yield from _profile_nodes(child)


def count_flops(fn, *args):
    """Floating-point operations of one call `fn(*args)`, counted by TF's profiler.

    The profiler gives each op of the traced graph its FLOPs (batched matmuls are recounted:
    see `_batch_matmul_flops`); the ops that no output depends on, which TensorFlow prunes
    before running the function, are left out of the sum.

    Args:
        fn: a Python callable or a `tf.function`; traced with `args` (tensors: their shapes and
            dtypes fix the graph, so give the real batch size and image size).
        *args: the call's arguments.

    Returns:
        dict with `flops` (int), `pruned_flops` (int: what the profiler gives the pruned ops),
        `flops_method` (a sentence: how they were counted, and that the count is a lower bound
        when the graph holds ops the profiler cannot see into) and `flops_missed_ops` (how many
        such ops).
    """
    if not isinstance(fn, tf.types.experimental.PolymorphicFunction):
        # Without autograph, as Keras traces its train step: Python control flow stays Python.
        fn = tf.function(fn, autograph=False)
    graph = fn.get_concrete_function(*args).graph
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    profile = tf.compat.v1.profiler.profile(graph, options=options)
    live = _live_ops(graph)
    flops = pruned = 0
    for node in _profile_nodes(profile):
        if not node.float_ops:
            continue
        op_flops = node.float_ops
        op = graph.get_operation_by_name(node.name)
        if op.type in _BATCH_MATMUL_OPS:
            op_flops = _batch_matmul_flops(op)
        if node.name in live:
            flops += op_flops
        else:
            pruned += op_flops
    missed = [
        op.type
        for op in graph.get_operations()
        if op.name in live
        and (
            op.type in _OPAQUE_OPS
            or (
                op.type in _SHAPED_OPS
                and not all(t.shape.is_fully_defined() for t in [*op.inputs, *op.outputs])
            )
        )
    ]
    method = (
        "tf profiler (float_operation) per op of the traced graph (BatchMatMul recounted), "
        "pruned ops left out"
    )
    if missed:
        method += f"; lower bound: {len(missed)} ops ({', '.join(sorted(set(missed)))}) not counted"
    return {
        "flops": flops,
        "pruned_flops": pruned,
        "flops_method": method,
        "flops_missed_ops": len(missed),
    }


def flops_fields(flops, seconds, peak):
    """GFLOPs, achieved GFLOP/s and the share of the peak, for `flops` done in `seconds`."""
    gflop_per_s = flops["flops"] / 1e9 / seconds
    return {
        "flops_method": flops["flops_method"],
        "gflop_per_s": gflop_per_s,
        "peak_gflop_per_s": peak,
        "peak_fraction": gflop_per_s / peak if peak else None,
    }
