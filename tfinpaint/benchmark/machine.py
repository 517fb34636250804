"""Machine probing: where the figures were taken and the peak GFLOP/s they are measured against.

`cpu_peak` reckons a CPU's fp32 peak from /proc/cpuinfo (cores x clock x FLOPs per cycle of its
widest vector extension); `machine_info` adds the date, memory, GPUs, load and versions that
every table heading and JSON file carries.
"""

import datetime
import os
import platform

import keras
import tensorflow as tf

from tfinpaint import precision

# FLOPs per cycle per core of a fused multiply-add unit pair, by the widest vector extension.
_FLOPS_PER_CYCLE = (
    ("avx512f", 64, "AVX-512: 2 FMA units x 16 fp32 lanes x 2"),
    ("avx2+fma", 32, "AVX2+FMA: 2 FMA units x 8 fp32 lanes x 2"),
    ("avx", 16, "AVX: 8 fp32 lanes x (1 add + 1 mul)"),
    ("", 8, "SSE: 4 fp32 lanes x (1 add + 1 mul)"),
)


def cpu_peak(cpuinfo_text, num_cores):
    """The CPU's peak fp32 GFLOP/s as cores x GHz x FLOPs/cycle, from /proc/cpuinfo's text.

    Args:
        cpuinfo_text: str. The contents of /proc/cpuinfo ("" where there is none).
        num_cores: int. Cores this process may run on.

    Returns:
        dict with `cpu_model`, `cpu_ghz` (the first `cpu MHz` entry: the clock when read, not a
        boost clock; None if absent), `flops_per_cycle` (per core), `cpu_peak_gflop_per_s` (None
        without a clock) and `peak_assumption` (a sentence saying how the peak was reckoned).
    """
    fields = {}
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    cpu_flags = set(fields.get("flags", "").split())
    if "fma" in cpu_flags and "avx2" in cpu_flags:
        cpu_flags.add("avx2+fma")
    _, flops_per_cycle, reason = next(
        entry for entry in _FLOPS_PER_CYCLE if not entry[0] or entry[0] in cpu_flags
    )
    try:
        ghz = float(fields["cpu MHz"]) / 1000.0
    except (KeyError, ValueError):
        ghz = None
    peak = num_cores * ghz * flops_per_cycle if ghz else None
    clock = f"{ghz:.2f} GHz (cpu MHz in /proc/cpuinfo)" if ghz else "unknown GHz"
    return {
        "cpu_model": fields.get("model name", platform.processor() or "unknown"),
        "cpu_ghz": ghz,
        "flops_per_cycle": flops_per_cycle,
        "cpu_peak_gflop_per_s": peak,
        "peak_assumption": (
            f"CPU peak = {num_cores} cores x {clock} x {flops_per_cycle} fp32 FLOPs/cycle "
            f"({reason}); cores may be hyperthreads and some CPUs run 512-bit FMAs at half "
            "rate, so the true peak can be lower."
        ),
    }


def machine_info():
    """Where the figures were taken: date, CPU, cores, assumed peak, GPUs and versions."""
    cpuinfo_text = precision.read_cpuinfo()
    num_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpus = [
        tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
        for gpu in tf.config.list_physical_devices("GPU")
    ]
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "num_cores": num_cores,
        "memory_gib": _total_memory_gib(),
        "gpus": gpus,
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
    info.update(cpu_peak(cpuinfo_text, num_cores))
    return info


def describe_machine(info):
    """One line naming the machine of `machine_info()`, for a table's heading."""
    devices = f"GPU {', '.join(info['gpus'])}; " if info["gpus"] else "no GPU; "
    memory = f"{info['memory_gib']:.0f} GiB RAM; " if info["memory_gib"] else ""
    return (
        f"{info['date']} | {info['cpu_model']}, {info['num_cores']} cores, {memory}{devices}"
        f"TF {info['tensorflow']}, Keras {info['keras']}; load average "
        f"{' '.join(f'{load:.2f}' for load in info['load_average'])}"
    )


def _total_memory_gib():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return None


def peak_gflop_per_s():
    """The CPU peak when the work runs on the CPU; None on a GPU (see its datasheet)."""
    if tf.config.list_physical_devices("GPU"):
        return None
    return machine_info()["cpu_peak_gflop_per_s"]
