"""What a training run writes besides checkpoints: metrics.jsonl, PNG sample grids, TensorBoard.

`metrics.jsonl` holds one JSON object per log interval: `step`, the family's `stage` or `phase`
where it has them, every loss term, and the validation metrics (`val_psnr_hole`, ...) of the
fixed validation batch.
"""

import json
import math
import os

import numpy as np
import tensorflow as tf

from tfinpaint.data import imageio


def _jsonable(value):
    value = float(value) if isinstance(value, (np.floating, np.integer, float)) else value
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


class MetricsLog:
    """Appends records to metrics.jsonl; on resume, drops records past the restored step.

    A run killed after logging but before its next checkpoint has lines the resumed run will
    write again; keeping them would leave two records for one step.
    """

    def __init__(self, path, resume_step=None):
        self.path = path
        if resume_step is not None and os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                lines = [line for line in f if line.strip()]
            kept = [line for line in lines if json.loads(line)["step"] <= resume_step]
            tmp_path = path + ".tmp"
            with open(tmp_path, "w", encoding="utf-8") as f:
                f.writelines(kept)
            os.replace(tmp_path, path)

    def append(self, record):
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({k: _jsonable(v) for k, v in record.items()}) + "\n")


def read_metrics(path):
    """The records of a metrics.jsonl file, as a list of dicts."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def sample_grid(images, hole_masks, raw, inpainted):
    """A uint8 RGB grid: one row per sample; columns input-with-holes, raw, inpainted, truth.

    Holes in the input column are drawn white so they stand out whatever the photo.
    """
    images, hole_masks = np.asarray(images, np.float32), np.asarray(hole_masks, np.float32)
    masked = images * (1.0 - hole_masks) + hole_masks
    columns = [masked, np.asarray(raw, np.float32), np.asarray(inpainted, np.float32), images]
    rows = [np.concatenate([c[i] for c in columns], axis=1) for i in range(images.shape[0])]
    grid = np.concatenate(rows, axis=0)
    return (np.clip(grid, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


# Sample grids are written by the package's one image writer (atomic, RGB, by extension).
write_png = imageio.write_image


class TensorBoardWriter:
    """Scalars and image grids for TensorBoard under WORKDIR/logs."""

    def __init__(self, log_dir):
        self.writer = tf.summary.create_file_writer(log_dir)

    def scalars(self, step, values):
        with self.writer.as_default(step=step):
            for name, value in values.items():
                if value is not None and np.isfinite(value):
                    tf.summary.scalar(name, value)
        self.writer.flush()

    def image(self, step, name, rgb_uint8):
        with self.writer.as_default(step=step):
            tf.summary.image(name, rgb_uint8[None], max_outputs=1)
        self.writer.flush()
