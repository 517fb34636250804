"""Output: the aligned text tables the tool prints and the JSON files it writes.

A record (a dict from `benchmark_train_step` or `benchmark_inference`) names its table by
`what`; `write_json` stores the records with the machine they were measured on.
"""

from tfinpaint import files
from tfinpaint.benchmark.machine import machine_info


def _segment_label(record):
    if record["segment_kind"] is None:
        return "-"
    return f"{record['segment_kind']} {record['segment']}"


def _number(value, spec):
    return "-" if value is None else format(value, spec)


def _flops(value):
    """GFLOP figures from 0.001 (tiny presets) to thousands, three significant digits or more."""
    if value is None:
        return "-"
    return format(value, ".0f" if value >= 100 else ".3g")


_TRAIN_COLUMNS = (
    ("model", 8, lambda r: r["model"]),
    ("preset", 7, lambda r: r["preset"]),
    ("size", 5, lambda r: str(r["image_size"])),
    ("batch", 5, lambda r: str(r["batch_size"])),
    ("segment", 8, _segment_label),
    ("step", 13, lambda r: r["step_kind"] or "-"),
    ("xla", 4, lambda r: "on" if r["jit_compile_effective"] else "off"),
    ("precision", 9, lambda r: r.get("precision", "float32")),
    ("first s", 8, lambda r: _number(r["first_call_s"], ".1f")),
    ("ms/step", 9, lambda r: _number(r["step_ms_median"], ".0f")),
    ("p90 ms", 8, lambda r: _number(r["step_ms_p90"], ".0f")),
    ("CPU ms", 8, lambda r: _number(r["cpu_ms_per_step"], ".0f")),
    ("steps/s", 8, lambda r: _number(r["steps_per_s"], ".3g")),
    ("img/s", 7, lambda r: _number(r["images_per_s"], ".3g")),
    ("GFLOP/step", 10, lambda r: _flops(r.get("gflops_per_step"))),
    ("GFLOP/s", 8, lambda r: _flops(r.get("gflop_per_s"))),
    ("% peak", 7, lambda r: _number(_percent(r.get("peak_fraction")), ".1f")),
)
_INFERENCE_COLUMNS = (
    ("model", 8, lambda r: r["model"]),
    ("preset", 7, lambda r: r["preset"]),
    ("size", 5, lambda r: str(r["image_size"])),
    ("batch", 5, lambda r: str(r["batch_size"])),
    ("mode", 8, lambda r: r["mode"]),
    ("precision", 9, lambda r: r.get("precision", "float32")),
    ("first s", 8, lambda r: _number(r["first_call_s"], ".1f")),
    ("median ms", 10, lambda r: _number(r["latency_ms_median"], ".1f")),
    ("p90 ms", 9, lambda r: _number(r["latency_ms_p90"], ".1f")),
    ("CPU ms/img", 10, lambda r: _number(r["cpu_ms_per_image"], ".1f")),
    ("img/s", 7, lambda r: _number(r["images_per_s"], ".3g")),
    ("GFLOP/img", 9, lambda r: _flops(r.get("gflops_per_image"))),
    ("GFLOP/s", 8, lambda r: _flops(r.get("gflop_per_s"))),
    ("% peak", 7, lambda r: _number(_percent(r.get("peak_fraction")), ".1f")),
    ("peak RSS MiB", 12, lambda r: _number(r["peak_rss_mib"], ".0f")),
    ("GPU peak MiB", 12, lambda r: _number(r["gpu_peak_mib"], ".0f")),
)
_COMPARE_COLUMNS = (
    ("model", 8, lambda r: r["model"]),
    ("preset", 7, lambda r: r["preset"]),
    ("size", 5, lambda r: str(r["image_size"])),
    ("batch", 5, lambda r: str(r["batch_size"])),
    ("precision", 9, lambda r: r["precision"]),
    ("threads", 7, lambda r: str(r["threads"])),
    ("params", 11, lambda r: f"{r['params']:,}"),
    ("ours min ms", 11, lambda r: _number(r["ours_ms_min"], ".1f")),
    ("torch min ms", 12, lambda r: _number(r["torch_ms_min"], ".1f")),
    ("torch/ours", 10, lambda r: _number(r["torch_over_ours"], ".2f")),
    ("ours med ms", 11, lambda r: _number(r["ours_ms_median"], ".1f")),
    ("torch med ms", 12, lambda r: _number(r["torch_ms_median"], ".1f")),
    ("agreement", 22, lambda r: _agreement(r)),
)
_PRECISION_COLUMNS = (
    ("model", 8, lambda r: r["model"]),
    ("preset", 7, lambda r: r["preset"]),
    ("size", 5, lambda r: str(r["image_size"])),
    ("batch", 5, lambda r: str(r["batch_size"])),
    ("threads", 7, lambda r: str(r["threads"])),
    ("fp32 min ms", 11, lambda r: _number(r["float32_ms_min"], ".1f")),
    ("bf16 min ms", 11, lambda r: _number(r["bfloat16_ms_min"], ".1f")),
    ("speed-up", 8, lambda r: _number(r["speedup"], ".2f")),
    ("fp32 med ms", 11, lambda r: _number(r["float32_ms_median"], ".1f")),
    ("bf16 med ms", 11, lambda r: _number(r["bfloat16_ms_median"], ".1f")),
    ("agreement", 26, lambda r: _precision_agreement(r)),
)
_COLUMNS = {
    "precision_inference": _PRECISION_COLUMNS,
    "precision_train_step": _PRECISION_COLUMNS,
    "train_step": _TRAIN_COLUMNS,
    "inference": _INFERENCE_COLUMNS,
    "compare_inference": _COMPARE_COLUMNS,
    "compare_train_step": _COMPARE_COLUMNS,
}


def _precision_agreement(record):
    """bfloat16 against float32: hole PSNR of the outputs, or both first losses."""
    if "hole_psnr_db" in record:
        return f"hole PSNR vs fp32 {record['hole_psnr_db']:.1f} dB"
    if record.get("loss_float32") is None:
        return "-"
    return f"loss {record['loss_float32']:.5g} / {record['loss_bfloat16']:.5g}"


def _agreement(record):
    """How close the two builds' results are: max |difference| of outputs, or both losses."""
    if "max_abs_diff" in record:
        return f"max |diff| {record['max_abs_diff']:.2g}"
    return f"loss {record['loss_ours']:.5g} / {record['loss_torch']:.5g}"


def _percent(fraction):
    return None if fraction is None else 100.0 * fraction


def table_header(what):
    """The header line of the `what` table ("train_step", "inference", "compare_*")."""
    return "  ".join(f"{name:>{width}}" for name, width, _ in _COLUMNS[what])


def table_row(record):
    """One record as a line of its table (columns aligned with `table_header`)."""
    return "  ".join(f"{cell(record):>{width}}" for _, width, cell in _COLUMNS[record["what"]])


def write_json(path, what, records, command=None):
    """Writes {date, machine, what, command, records} to `path` as JSON (non-finite -> null)."""

    machine = machine_info()
    payload = {
        "date": machine["date"],
        "machine": machine,
        "what": what,
        "command": command,
        "records": records,
    }
    files.write_json(path, payload, indent=2)
