"""Evaluation of a generator beside the classical OpenCV baselines, by hole-ratio bucket.

For each image of a source (centre crops, deterministic masks: the pipeline's evaluation mode),
the generator's `inpainted` output and the OpenCV Telea and Navier-Stokes fills are scored with
PSNR, SSIM and L1 error, over the whole image and over the hole only, then averaged per
hole-ratio bucket ((0.01, 0.1], ..., (0.5, 0.6], the NVIDIA irregular-mask protocol of Liu et
al., ECCV 2018) and over all images.
"""

import collections
import os

import numpy as np

from tfinpaint import metrics, postprocess
from tfinpaint.data import pipeline

BASELINES = ("telea", "ns")
METRIC_NAMES = ("psnr", "ssim", "l1", "psnr_hole", "ssim_hole", "l1_hole")


def evaluate(
    generator,
    source,
    image_size,
    masks="freeform",
    num_images=None,
    batch_size=8,
    baselines=BASELINES,
    seed=0,
    **dataset_kwargs,
):
    """Scores `generator` (and the OpenCV baselines) on `source`.

    Args:
        generator: keras.Model. A tfinpaint generator.
        source: str. Any `build_dataset` source (folder, list file, tfds:NAME, "samples").
        image_size: int. Side of the centre crops; a multiple of the generator's size_multiple.
        masks: str. Mask spec (e.g. "irregular:DIR" for the NVIDIA test masks).
        num_images: int or None. Stop after this many images (None: the whole source).
        batch_size: int. Images per generator call.
        baselines: sequence of "telea" / "ns".
        seed: int. Seed of the evaluation masks.
        **dataset_kwargs: passed to `build_dataset` (data_dir, split, irregular_polarity...).

    Returns:
        dict with `records` (one dict per image: `hole_ratio`, `bucket`, and per method a dict
        of METRIC_NAMES) and `summary` ({bucket name or "all": {method: {metric: mean,
        "count": n}}}).
    """
    for name, value in (("image_size", image_size), ("batch_size", batch_size)):
        if not _is_positive_int(value):
            raise ValueError(f"--{name} must be a positive integer, got {value!r}.")
    if num_images is not None and not _is_positive_int(num_images):
        raise ValueError(f"--num_images must be a positive integer (or unset), got {num_images!r}.")
    multiple = generator.size_multiple
    if image_size % multiple:
        raise ValueError(
            f"--image_size={image_size} is not a multiple of {multiple}, which this generator "
            "needs."
        )
    for name in baselines:
        if name not in BASELINES:
            raise ValueError(f"Unknown baseline '{name}': expected one of {', '.join(BASELINES)}.")
    dataset = pipeline.build_dataset(
        source, image_size, batch_size, masks=masks, seed=seed, training=False, **dataset_kwargs
    )
    records = []
    for batch in dataset:
        images, hole_masks = batch["images"].numpy(), batch["masks"].numpy()
        outputs = {
            "model": np.asarray(
                generator({"images": images, "masks": hole_masks}, training=False)["inpainted"],
                np.float32,
            )
        }
        for name in baselines:
            outputs[name] = np.stack(
                [
                    postprocess.opencv_inpaint(image, holes, method=name)
                    for image, holes in zip(images, hole_masks)
                ]
            )
        scores = {
            name: metrics.evaluate_batch(images, output, hole_masks)
            for name, output in outputs.items()
        }
        ratios = scores["model"]["hole_ratio"]
        for i, ratio in enumerate(ratios):
            record = {
                "hole_ratio": float(ratio),
                "bucket": metrics.bucket_name(metrics.bucket_index(float(ratio))),
            }
            for name, values in scores.items():
                record[name] = {metric: float(values[metric][i]) for metric in METRIC_NAMES}
            records.append(record)
            if num_images is not None and len(records) >= num_images:
                return {"records": records, "summary": summarize(records)}
    return {"records": records, "summary": summarize(records)}


def _is_positive_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0


def check_output_json(path):
    """Checks, before any work, that the JSON report can be written at `path`.

    A missing parent folder is created (as `--output_json=reports/eval.json` suggests); an
    existing file or folder at `path`, or a parent that is a file, is refused.

    Raises:
        ValueError: one sentence naming the path.
    """
    if os.path.lexists(path):
        raise ValueError(f"{path} exists; choose another --output_json.")
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as error:
        raise ValueError(
            f"Cannot create the folder of --output_json={path} ({error.strerror}); expected a "
            "path in a writable folder."
        ) from None
    if not os.access(parent, os.W_OK):
        raise ValueError(
            f"The folder {parent} of --output_json={path} is not writable; expected a path in a "
            "writable folder."
        )


def summarize(records):
    """Mean of every metric per bucket and over all records (NaN and inf values skipped)."""
    groups = collections.defaultdict(list)
    for record in records:
        groups[record["bucket"]].append(record)
        groups["all"].append(record)
    methods = [key for key in (records[0] if records else {}) if isinstance(records[0][key], dict)]
    summary = {}
    for bucket, members in groups.items():
        summary[bucket] = {}
        for method in methods:
            values = {}
            for metric in METRIC_NAMES:
                column = np.array([m[method][metric] for m in members], np.float64)
                finite = column[np.isfinite(column)]
                values[metric] = float(finite.mean()) if finite.size else float("nan")
            values["count"] = len(members)
            summary[bucket][method] = values
    return summary


def format_summary(summary):
    """A markdown table: one row per bucket and method, the hole-only and whole-image metrics."""
    order = [metrics.bucket_name(i) for i in range(len(metrics.HOLE_RATIO_BUCKETS))]
    buckets = [b for b in order + ["other", "all"] if b in summary]
    lines = [
        "| hole ratio | method | images | PSNR hole | SSIM hole | L1 hole | PSNR | SSIM | L1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for bucket in buckets:
        for method, values in summary[bucket].items():
            lines.append(
                f"| {bucket} | {method} | {values['count']} | {values['psnr_hole']:.2f} | "
                f"{values['ssim_hole']:.4f} | {values['l1_hole']:.4f} | {values['psnr']:.2f} | "
                f"{values['ssim']:.4f} | {values['l1']:.4f} |"
            )
    return "\n".join(lines)
