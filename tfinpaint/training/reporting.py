"""What a training run writes besides checkpoints: metrics.jsonl, PNG sample grids, TensorBoard.

`metrics.jsonl` holds one JSON object per log interval: `step`, the family's `stage` or `phase`
where it has them, every loss term, and the validation metrics (`val_psnr_hole`, ...) of the
fixed validation batch.
"""

import math
import os

import numpy as np
import tensorflow as tf
from absl import logging

from tfinpaint import files, metrics, runs
from tfinpaint.data import imageio, pipeline
from tfinpaint.training import config as config_lib


class MetricsLog:
    """Appends records to metrics.jsonl; on resume, drops records past the restored step.

    A run killed after logging but before its next checkpoint has lines the resumed run will
    write again; keeping them would leave two records for one step.
    """

    def __init__(self, path, resume_step=None):
        self.path = path
        if resume_step is not None and os.path.exists(path):
            # A torn last line is dropped here (with a warning), so appends start on a new line.
            kept = [r for r in runs.read_metrics(path) if r["step"] <= resume_step]
            # Atomic, and a full disk names the file (a failed write alone names none).
            with files.atomic_write(path) as tmp_path, open(tmp_path, "w", encoding="utf-8") as f:
                f.writelines(files.strict_json_dumps(record) + "\n" for record in kept)

    def append(self, record):
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(files.strict_json_dumps(record) + "\n")  # Undefined numbers: null.
        except OSError as error:
            if error.filename is None:  # A failed write or close names no file.
                error.filename = self.path
            raise


def read_metrics(path):
    """The records of a metrics.jsonl file, as a list of dicts (`tfinpaint.runs.read_metrics`:
    a torn last line is dropped with a warning)."""
    return runs.read_metrics(path)


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


# BGR colours of the curves, cycled.
_CURVE_COLOURS = ((180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148))


def plot_metrics(records, path, keys=("val_psnr_hole",), width=640, height=240):
    """Writes a PNG line chart of `metrics.jsonl` records: one panel per key, step on x.

    Drawn with OpenCV (matplotlib is not a dependency). Records without a key are skipped for
    that panel; segment (stage/phase) changes are drawn as vertical grey lines.

    Args:
        records: list of dicts, as `read_metrics` returns.
        path: str. PNG file to write.
        keys: names of the logged values to draw.
        width, height: int. Size of one panel in pixels.

    Returns:
        The image written, (H, W, 3) uint8 BGR.

    Raises:
        ValueError: no record holds any of the keys, or the file cannot be written.
    """
    import cv2  # Only the plot needs OpenCV here.

    font, black, grey = cv2.FONT_HERSHEY_SIMPLEX, (0, 0, 0), (200, 200, 200)
    left, right, top, bottom = 70, width - 20, 30, height - 35
    segment_key = next((k for k in ("stage", "phase") if any(k in r for r in records)), None)
    panels = []
    for index, key in enumerate(keys):
        points = [
            (r["step"], float(r[key]))
            for r in records
            if r.get(key) is not None and "step" in r and math.isfinite(float(r[key]))
        ]
        if not points:
            continue
        panel = np.full((height, width, 3), 255, np.uint8)
        steps = np.array([p[0] for p in points], np.float64)
        values = np.array([p[1] for p in points], np.float64)
        x_low, x_high = 0.0, max(float(steps.max()), 1.0)
        y_low, y_high = float(values.min()), float(values.max())
        if y_high - y_low < 1e-12:
            y_low, y_high = y_low - 0.5, y_high + 0.5
        pad = 0.05 * (y_high - y_low)
        y_low, y_high = y_low - pad, y_high + pad

        def xy(step, value, x_low=x_low, x_high=x_high, y_low=y_low, y_high=y_high):
            x = left + (right - left) * (step - x_low) / (x_high - x_low)
            y = bottom - (bottom - top) * (value - y_low) / (y_high - y_low)
            return int(round(x)), int(round(y))

        for tick in np.linspace(y_low, y_high, 5):
            y = xy(0, tick)[1]
            cv2.line(panel, (left, y), (right, y), grey, 1)
            cv2.putText(panel, f"{tick:.3g}", (5, y + 4), font, 0.4, black, 1, cv2.LINE_AA)
        for tick in np.linspace(x_low, x_high, 5):
            x = xy(tick, y_low)[0]
            cv2.putText(panel, f"{int(tick)}", (x - 15, bottom + 18), font, 0.4, black, 1)
        if segment_key:
            previous = None
            for r in records:
                if segment_key in r and previous is not None and r[segment_key] != previous:
                    x = xy(r["step"], y_low)[0]
                    cv2.line(panel, (x, top), (x, bottom), grey, 1)
                previous = r.get(segment_key, previous)
        cv2.line(panel, (left, bottom), (right, bottom), black, 1)
        cv2.line(panel, (left, top), (left, bottom), black, 1)
        colour = _CURVE_COLOURS[index % len(_CURVE_COLOURS)]
        cv2.polylines(panel, [np.array([xy(s, v) for s, v in points], np.int32)], False, colour, 2)
        cv2.putText(panel, f"{key} (x: step)", (left, top - 10), font, 0.5, black, 1)
        panels.append(panel)
    if not panels:
        raise ValueError(f"No record holds any of {', '.join(keys)}; nothing to plot.")
    image = np.concatenate(panels, axis=0)
    if not cv2.imwrite(path, image):
        raise ValueError(f"Could not write the plot {path}; expected a writable .png path.")
    return image


def validation_batch(config, trainer_cls):
    """The fixed validation batch of a run (numpy arrays): the same at every log."""
    dataset = pipeline.build_dataset(
        config.data,
        config.image_size,
        config.val_batch_size,
        masks=config.masks,
        seed=config.seed,
        with_gradients=trainer_cls.with_gradients,
        training=False,
        **config_lib.dataset_kwargs(config),
    )
    for batch in dataset.take(1):
        return {name: value.numpy() for name, value in batch.items()}
    raise ValueError(f"The data source {config.data} yielded no validation images.")


def validation_metrics(generator, batch):
    """({val_psnr_hole, val_psnr, val_l1_hole[, val_ssim]}, the generator's float32 outputs)."""
    outputs = generator({"images": batch["images"], "masks": batch["masks"]}, training=False)
    outputs = {name: tf.cast(value, tf.float32).numpy() for name, value in outputs.items()}
    images, masks = batch["images"], batch["masks"]
    values = {
        "val_psnr_hole": float(np.nanmean(metrics.psnr(images, outputs["inpainted"], masks))),
        "val_psnr": float(np.nanmean(metrics.psnr(images, outputs["inpainted"]))),
        "val_l1_hole": float(np.nanmean(metrics.l1_error(images, outputs["inpainted"], masks))),
    }
    if min(images.shape[1:3]) >= 11:
        values["val_ssim"] = float(np.nanmean(metrics.ssim(images, outputs["inpainted"])))
    return values, outputs


def format_progress(step, total, kind, segment, loss_values, values, steps_per_sec):
    """The one log line of a report."""
    parts = [f"step {step}/{total}"]
    if kind:
        parts.append(f"{kind} {segment}")
    parts.append(" ".join(f"{name} {value:.4g}" for name, value in loss_values.items()))
    parts.append(f"val_psnr_hole {values['val_psnr_hole']:.2f} dB")
    parts.append(f"{steps_per_sec:.2f} steps/s")
    return " | ".join(parts)


class RunReporter:
    """What a run reports at each log interval: the progress line and, on the chief,
    `metrics.jsonl`, TensorBoard scalars and (every `sample_every` steps) a PNG grid.

    Args:
        run_dir: runs.RunDir. The run's folder.
        config: TrainConfig. The resolved run configuration.
        trainer_cls: the family's trainer class (`segment_kind`, `with_gradients`).
        resume_step: int or None. The restored step (metrics.jsonl drops records past it).
        chief: bool. Whether this process writes the run's files.

    `summary` holds `first_val_psnr_hole`, `last_val_psnr_hole` (of this invocation's logs) and
    `grid_path` (the last grid written).
    """

    def __init__(self, run_dir, config, trainer_cls, resume_step, chief):
        self.run_dir, self.config, self.chief = run_dir, config, chief
        self.kind = trainer_cls.segment_kind
        self.val_batch = validation_batch(config, trainer_cls)
        self.metrics_log = MetricsLog(run_dir.metrics_path, resume_step)
        self.board = TensorBoardWriter(run_dir.logs_dir) if chief else None
        self.summary = {"first_val_psnr_hole": None, "last_val_psnr_hole": None, "grid_path": None}

    def report(self, step, segment, loss_values, generator, steps_per_sec):
        """Logs the interval ending at `step`: `loss_values` and the validation metrics."""
        config, kind, batch = self.config, self.kind, self.val_batch
        values, outputs = validation_metrics(generator, batch)
        record = {"step": step}
        if kind:
            record[kind] = segment
        record.update(loss_values)
        record.update(values)
        record["steps_per_sec"] = steps_per_sec
        logging.info(
            "%s",
            format_progress(step, config.steps, kind, segment, loss_values, values, steps_per_sec),
        )
        if self.summary["first_val_psnr_hole"] is None:
            self.summary["first_val_psnr_hole"] = values["val_psnr_hole"]
        self.summary["last_val_psnr_hole"] = values["val_psnr_hole"]
        if not self.chief:
            return
        self.metrics_log.append(record)
        self.board.scalars(step, {k: v for k, v in record.items() if k != "step"})
        if step % config.sample_every == 0 or step == config.steps:
            grid = sample_grid(
                batch["images"], batch["masks"], outputs["raw"], outputs["inpainted"]
            )
            path = self.run_dir.sample_path(step)
            write_png(path, grid)
            self.board.image(step, "samples", grid)
            self.summary["grid_path"] = path
