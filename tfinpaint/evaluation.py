"""Evaluation of a generator beside the classical fills, by hole-ratio bucket.

For each image of a source (centre crops, deterministic masks: the pipeline's evaluation mode),
the generator's `inpainted` output and the classical fills (`postprocess.CLASSICAL_METHODS`:
OpenCV Telea and Navier-Stokes, a multi-scale harmonic fill, scikit-image biharmonic,
OpenCV-contrib FSR) are scored with
PSNR, SSIM and L1 error, over the whole image and over the hole only, and with the hole's
sharpness ratio (`metrics.sharpness_ratio`), then averaged per hole-ratio bucket (by default
(0.01, 0.1], ..., (0.5, 0.6], the NVIDIA irregular-mask protocol of Liu et al., ECCV 2018;
`bucket_edges` gives others) and over all images; optionally FID over all images
(`tfinpaint.fid`).

Every table sets the model against the strongest classical fill, not a chosen one
(`compare_to_classical`): per bucket, the baseline with the highest mean hole PSNR, the model's
margin over it, and the noise of both figures as 95 % percentile-bootstrap intervals over images
(`bootstrap_interval`; the margin's is paired: it resamples the per-image differences).

To compare with published numbers the defaults follow the papers' protocol: outputs are scored
as the saved 8-bit images would be (`quantize=True`: clipped to [0, 1] and rounded to 1/255),
SSIM is Wang et al.'s Gaussian one (`metrics.SSIM_VARIANTS`), and a fixed mask set
(`mask_dir`, written by `tools/make_masks.py`) gives every method the same holes.
"""

import collections
import os

import cv2
import numpy as np
import tensorflow as tf

from tfinpaint import files, metrics, postprocess
from tfinpaint.data import mask_sets, pipeline

BASELINES = postprocess.CLASSICAL_METHODS
METRIC_NAMES = ("psnr", "ssim", "l1", "psnr_hole", "ssim_hole", "l1_hole", "sharpness")
# The figure that picks the best classical fill and whose noise the tables show.
RANKING_METRIC = "psnr_hole"
# Percentile bootstrap of a mean over images: resamples and the generator's fixed seed (so a
# table is the same when evaluated again).
BOOTSTRAP_RESAMPLES = 2000
_BOOTSTRAP_SEED = 0
# The spec the pipeline draws with when `mask_dir` replaces its masks (cheap; never scored).
_PLACEHOLDER_MASKS = "rect"


def _graph_forward(generator, image_size):
    """The generator's `inpainted` output as one `tf.function` for every batch of an evaluation.

    Every batch is of `image_size` crops and any batch size (a last, smaller batch included), so
    it traces once. Called eagerly a generator dispatches its layers' ops one by one (the
    harmonic fill itself runs as a graph either way): `cascade_fill_photos`' single network took
    0.43 s for one 256 px image eagerly and 0.17 s as a graph (2-core AVX2 EPYC, 2026-12-08),
    the same values to float32 rounding.
    """

    @tf.function(
        input_signature=[
            tf.TensorSpec((None, image_size, image_size, 3), tf.float32),
            tf.TensorSpec((None, image_size, image_size, 1), tf.float32),
        ]
    )
    def forward(images, hole_masks):
        return generator({"images": images, "masks": hole_masks}, training=False)["inpainted"]

    return forward


def evaluate(
    generator,
    source,
    image_size,
    masks="freeform",
    num_images=None,
    batch_size=8,
    baselines=BASELINES,
    seed=0,
    *,
    quantize=True,
    ssim_variant="gaussian",
    mask_dir=None,
    inception_weights=None,
    keep_images=(),
    bucket_edges=None,
    short_side=None,
    **dataset_kwargs,
):
    """Scores `generator` (and the classical baselines) on `source`.

    Args:
        generator: keras.Model or None. A tfinpaint generator; None scores the baselines
            alone (then `baselines` must name at least one, and `image_size` may be any size).
        source: str. Any `build_dataset` source (folder, list file, tfds:NAME, "samples").
        image_size: int. Side of the centre crops; a multiple of the generator's size_multiple.
        masks: str. Mask spec (e.g. "irregular:DIR" for the NVIDIA test masks: each image gets
            a file chosen by its seed). Ignored when `mask_dir` is given.
        num_images: int or None. Stop after this many images (None: the whole source, or the
            whole mask set with `mask_dir`).
        batch_size: int. Images per generator call.
        baselines: sequence of names from BASELINES ("telea", "ns", "harmonic", "biharmonic",
            "fsr"; FSR takes about 3 s per 256 px image, the others well under 1 s).
        seed: int. Seed of the evaluation masks (unused with `mask_dir`).
        quantize: bool. True (default): score every output, and the ground truth, as saved
            8-bit images (`metrics.quantize`), as papers do; False: the raw float outputs.
        ssim_variant: str. A key of `metrics.SSIM_VARIANTS` ("gaussian" or "skimage_default").
        mask_dir: str or None. A fixed mask set (`mask_sets.MaskSet`): the i-th image of the
            source (in its evaluation order) is scored with the i-th mask file.
        inception_weights: None, "none", "imagenet", "random" or a weights file path. Not
            None/"none": also compute FID of each method's outputs against the ground truth
            over all images (`tfinpaint.fid`).
        keep_images: sequence of int. Indices (in evaluation order) of the images whose
            pictures to return as `kept` (for `write_figure`); indices past the last image are
            skipped, and when the image count is known beforehand (`num_images`, `mask_dir`)
            a set that names none of them is refused before any work.
        bucket_edges: sequence of floats or None. Increasing hole ratios that bound the buckets
            ((e0, e1], (e1, e2], ...; e.g. 0.1, 0.3, 0.5); None: `metrics.HOLE_RATIO_BUCKETS`.
        short_side: int or None. Scale each picture's short side to this length before its
            centre crop (at least `image_size`): the content scale. None crops each picture at
            its own scale (only pictures smaller than the crop are scaled up), so a crop of a
            large photo is a zoomed-in view of it, smoother than the whole picture scaled down.
        **dataset_kwargs: passed to `build_dataset` (data_dir, split, irregular_polarity...).

    Returns:
        dict with `records` (one dict per image: `hole_ratio`, `bucket`, and per method a dict
        of METRIC_NAMES), `summary` ({bucket name or "all": {method: {metric: mean,
        "psnr_hole_ci95": [low, high], "count": n}}}, see `summarize`), `comparison` (the
        model against the best baseline per bucket, see `compare_to_classical`), `settings`
        (scoring, SSIM variant, masks, bucket edges, Inception weights) and, with
        FID, `fid` ({method: value}) and, with `keep_images`, `kept`: one dict per kept image
        that exists, in index order, with `index`, `hole_ratio`, `masks` (H, W, 1),
        `ground_truth` and each method's output (H, W, 3 floats in [0, 1], as scored).

    Raises:
        ValueError: one sentence for any bad argument, before any image is scored (the ImageNet
            weights are fetched first, too).
    """
    for name, value in (("image_size", image_size), ("batch_size", batch_size)):
        if not _is_positive_int(value):
            raise ValueError(f"--{name} must be a positive integer, got {value!r}.")
    if num_images is not None and not _is_positive_int(num_images):
        raise ValueError(f"--num_images must be a positive integer (or unset), got {num_images!r}.")
    if short_side is not None and not (_is_positive_int(short_side) and short_side >= image_size):
        raise ValueError(
            f"--short_side must be an integer of at least --image_size={image_size} (or unset), "
            f"got {short_side!r}."
        )
    if generator is None and not baselines:
        raise ValueError(
            "Nothing to score: no model and no --baselines; give a model (--workdir or "
            "--checkpoint) or at least one baseline."
        )
    multiple = 1 if generator is None else generator.size_multiple
    if image_size % multiple:
        raise ValueError(
            f"--image_size={image_size} is not a multiple of {multiple}, which this generator "
            "needs."
        )
    check_baselines(baselines)
    buckets = (
        metrics.HOLE_RATIO_BUCKETS
        if bucket_edges is None
        else metrics.buckets_from_edges(bucket_edges)
    )
    if ssim_variant not in metrics.SSIM_VARIANTS:
        raise ValueError(
            f"Unknown SSIM variant '{ssim_variant}': expected one of "
            f"{', '.join(metrics.SSIM_VARIANTS)}."
        )
    keep_images = list(keep_images)
    if any(
        isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 0 for i in keep_images
    ):
        raise ValueError(f"--figure_images takes image indices >= 0, got {keep_images}.")
    keep_images = set(keep_images)
    mask_set = None
    if mask_dir is not None:
        mask_set = mask_sets.MaskSet(
            mask_dir, image_size, dataset_kwargs.get("irregular_polarity", "hole_white")
        )
        if num_images is not None and num_images > len(mask_set):
            raise ValueError(
                f"--num_images={num_images} but --mask_dir={mask_dir} holds {len(mask_set)} "
                "masks; expected at most one image per mask."
            )
        num_images = num_images or len(mask_set)
        masks = _PLACEHOLDER_MASKS
    if keep_images and num_images is not None and min(keep_images) >= num_images:
        raise ValueError(
            f"--figure_images={','.join(map(str, sorted(keep_images)))} names no image of the "
            f"{num_images} to evaluate; expected indices below {num_images}."
        )
    extractor = None
    weights = _fid().check_inception_weights(inception_weights)
    if weights is not None:
        if num_images is not None and num_images < 2:
            raise ValueError(f"FID needs at least 2 images, got --num_images={num_images}.")
        extractor = _fid().build_inception(weights)
    if short_side is not None:
        # The evaluation pipeline scales to the middle of this range: exactly short_side.
        dataset_kwargs["resize_short_side"] = (short_side, short_side)
    dataset = pipeline.build_dataset(
        source, image_size, batch_size, masks=masks, seed=seed, training=False, **dataset_kwargs
    )
    records = []
    kept = []
    features = collections.defaultdict(list)
    forward = None if generator is None else _graph_forward(generator, image_size)
    for batch in dataset:
        images, hole_masks = batch["images"].numpy(), batch["masks"].numpy()
        if num_images is not None:
            images = images[: num_images - len(records)]
            hole_masks = hole_masks[: len(images)]
        if mask_set is not None:
            hole_masks = mask_set.read(range(len(records), len(records) + len(images)))
        if quantize:
            # A resized crop is not on the 1/255 grid; the saved ground truth would be.
            images = metrics.quantize(images)
        outputs = {}
        if generator is not None:
            outputs["model"] = np.asarray(
                forward(tf.constant(images, tf.float32), tf.constant(hole_masks, tf.float32)),
                np.float32,
            )
        for name in baselines:
            outputs[name] = np.stack(
                [
                    postprocess.classical_inpaint(image, holes, name)
                    for image, holes in zip(images, hole_masks)
                ]
            )
        if quantize:
            outputs = {name: metrics.quantize(output) for name, output in outputs.items()}
        scores = {
            name: metrics.evaluate_batch(images, output, hole_masks, ssim_variant)
            for name, output in outputs.items()
        }
        if extractor is not None:
            features["real"].append(_fid().inception_features(extractor, images))
            for name, output in outputs.items():
                features[name].append(_fid().inception_features(extractor, output))
        ratios = next(iter(scores.values()))["hole_ratio"]  # The same for every method.
        for i in range(len(ratios)):
            if len(records) + i in keep_images:
                picture = {"index": len(records) + i, "hole_ratio": float(ratios[i])}
                picture.update(masks=hole_masks[i], ground_truth=images[i])
                picture.update({name: output[i] for name, output in outputs.items()})
                kept.append(picture)
        for i, ratio in enumerate(ratios):
            record = {
                "hole_ratio": float(ratio),
                "bucket": metrics.bucket_name(metrics.bucket_index(float(ratio), buckets), buckets),
            }
            for name, values in scores.items():
                record[name] = {metric: float(values[metric][i]) for metric in METRIC_NAMES}
            records.append(record)
        if num_images is not None and len(records) >= num_images:
            break
    summary = summarize(records)
    result = {
        "records": records,
        "summary": summary,
        "comparison": compare_to_classical(records, summary),
        "settings": {
            "scoring": "uint8" if quantize else "float",
            "ssim_variant": ssim_variant,
            "bucket_edges": [low for low, _ in buckets] + [buckets[-1][1]],
            "masks": f"mask_dir:{mask_dir}" if mask_set is not None else masks,
            "seed": None if mask_set is not None else seed,
            "inception_weights": weights or "none",
            "short_side": short_side,
        },
    }
    if extractor is not None:
        result["fid"] = _fid_by_method(features)
    if keep_images:
        result["kept"] = kept
    return result


def check_baselines(names):
    """Checks a list of baseline names (each of BASELINES, at most once) before any work.

    Raises:
        ValueError: one sentence naming the unknown or repeated name and the known ones.
    """
    for name in names:
        if name not in BASELINES:
            raise ValueError(f"Unknown baseline '{name}': expected one of {', '.join(BASELINES)}.")
    repeated = sorted({name for name in names if list(names).count(name) > 1})
    if repeated:
        raise ValueError(
            f"Baseline '{repeated[0]}' is named twice; expected each of {', '.join(BASELINES)} "
            "at most once."
        )


def _fid():
    # Imported on demand: keras.applications is only needed when FID is asked for.
    from tfinpaint import fid

    return fid


def _fid_by_method(features):
    """{method: FID against the ground truth}; NaN with fewer than 2 images."""
    real = np.concatenate(features.pop("real"))
    if len(real) < 2:
        return {name: float("nan") for name in features}
    return {
        name: _fid().frechet_distance_from_features(real, np.concatenate(chunks))
        for name, chunks in features.items()
    }


def _is_positive_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0


def check_output_json(path):
    """Checks, before any work, that the JSON report can be written at `path`.

    A missing parent folder is created (as `--output_json=reports/eval.json` suggests); an
    existing file or folder at `path`, or a parent that is a file, is refused.

    Raises:
        ValueError: one sentence naming the path.
    """
    check_output_path(path, "output_json")


def check_output_path(path, flag, suffix=None):
    """`check_output_json` for any report flag (`--plot`), optionally requiring a suffix."""
    if suffix is not None and not path.lower().endswith(suffix):
        raise ValueError(f"--{flag}={path} does not end in {suffix}; expected a {suffix} path.")
    if os.path.lexists(path):
        raise ValueError(f"{path} exists; choose another --{flag}.")
    files.check_writable(path, f"--{flag}")  # Empty, under a file, read-only, no permission.
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as error:
        raise ValueError(
            f"Cannot create the folder of --{flag}={path} ({error.strerror}); expected a "
            "path in a writable folder."
        ) from None
    if not os.access(parent, os.W_OK):
        raise ValueError(
            f"The folder {parent} of --{flag}={path} is not writable; expected a path in a "
            "writable folder."
        )


def _groups(records):
    groups = collections.defaultdict(list)
    for record in records:
        groups[record["bucket"]].append(record)
        groups["all"].append(record)
    return groups


def _methods(records):
    return [key for key in (records[0] if records else {}) if isinstance(records[0][key], dict)]


def _column(members, method, metric):
    return np.array([m[method][metric] for m in members], np.float64)


def summarize(records):
    """Mean of every metric per bucket and over all records (NaN and inf values skipped).

    Returns:
        {bucket name or "all": {method: {metric: mean for METRIC_NAMES, "count": images,
        "psnr_hole_ci95": [low, high]}}}: the interval is `bootstrap_interval` of the hole
        PSNRs (NaN with fewer than 2 finite values).
    """
    methods = _methods(records)
    summary = {}
    for bucket, members in _groups(records).items():
        summary[bucket] = {}
        for method in methods:
            values = {}
            for metric in METRIC_NAMES:
                column = _column(members, method, metric)
                finite = column[np.isfinite(column)]
                values[metric] = float(finite.mean()) if finite.size else float("nan")
            values["count"] = len(members)
            values[f"{RANKING_METRIC}_ci95"] = bootstrap_interval(
                _column(members, method, RANKING_METRIC)
            )
            summary[bucket][method] = values
    return summary


def bootstrap_interval(values, confidence=0.95, num_resamples=BOOTSTRAP_RESAMPLES):
    """Percentile-bootstrap interval of the mean of `values` (non-finite ones dropped).

    The noise of a mean over images: `num_resamples` resamples of the images with replacement,
    from a fixed seed (the same table every time), and the (1 - confidence) / 2 and
    (1 + confidence) / 2 quantiles of their means.

    Args:
        values: sequence of floats, one per image.
        confidence: float in (0, 1).
        num_resamples: int.

    Returns:
        [low, high] floats; [nan, nan] with fewer than 2 finite values (no spread to measure).
    """
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return [float("nan"), float("nan")]
    rng = np.random.default_rng(_BOOTSTRAP_SEED)
    means = values[rng.integers(0, values.size, (num_resamples, values.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return [float(low), float(high)]


def compare_to_classical(records, summary=None, model="model"):
    """The model against the strongest classical fill, per bucket and over all images.

    In each bucket the best classical fill is the baseline with the highest mean hole PSNR
    (RANKING_METRIC) there, so it may differ between buckets. The margin of every metric is
    the mean over images of (model - best) on the same image (images where both are finite);
    positive is better for PSNR and SSIM, negative for L1, and for sharpness the one nearer 1
    is better. The hole PSNR margin's 95 % interval is a paired bootstrap
    (`bootstrap_interval` of the per-image differences), the noise that decides whether the
    model beats the best baseline.

    Args:
        records: list of dicts. `evaluate(...)["records"]`.
        summary: dict or None. `summarize(records)` (computed when None).
        model: str. The method compared with the baselines.

    Returns:
        {bucket name or "all": {"best_classical": name, "count": images, "model": {metric:
        mean}, "best": {metric: mean}, "margin": {metric: mean difference},
        "margin_psnr_hole_ci95": [low, high], "baselines_psnr_hole": {baseline: mean}}};
        empty when the records have no baseline (or no model).
    """
    summary = summarize(records) if summary is None else summary
    baselines = [m for m in _methods(records) if m != model]
    if not baselines or model not in _methods(records):
        return {}
    comparison = {}
    groups = _groups(records)
    for bucket in _ordered_buckets(summary):
        scores = {b: summary[bucket][b][RANKING_METRIC] for b in baselines}
        ranked = [b for b in baselines if np.isfinite(scores[b])]
        if not ranked:
            continue
        best = max(ranked, key=lambda b: scores[b])  # The first of a tie, in evaluation order.
        members = groups[bucket]
        margins, intervals = {}, {}
        for metric in METRIC_NAMES:
            difference = _column(members, model, metric) - _column(members, best, metric)
            finite = difference[np.isfinite(difference)]
            margins[metric] = float(finite.mean()) if finite.size else float("nan")
            if metric == RANKING_METRIC:
                intervals = bootstrap_interval(difference)
        comparison[bucket] = {
            "best_classical": best,
            "count": len(members),
            "model": {m: summary[bucket][model][m] for m in METRIC_NAMES},
            "best": {m: summary[bucket][best][m] for m in METRIC_NAMES},
            "margin": margins,
            f"margin_{RANKING_METRIC}_ci95": intervals,
            f"baselines_{RANKING_METRIC}": scores,
        }
    return comparison


def _ordered_buckets(summary):
    """Bucket names in increasing hole ratio (whatever the edges), then "other" and "all"."""
    named = [b for b in summary if b not in ("other", "all")]
    named.sort(key=lambda name: float(name[1:].split(",")[0]))
    return named + [b for b in ("other", "all") if b in summary]


def format_fid(fid_values):
    """One markdown line: the FID of every method (lower is better)."""
    return "FID (InceptionV3, all images, lower is better): " + ", ".join(
        f"{method} {value:.2f}" for method, value in fid_values.items()
    )


def format_summary(summary):
    """A markdown table: one row per bucket and method, the hole-only and whole-image metrics.

    The hole PSNR comes with its 95 % bootstrap interval over images; sharpness is
    `metrics.sharpness_ratio` (1 = as sharp as the photo).
    """
    buckets = _ordered_buckets(summary)
    lines = [
        "| hole ratio | method | images | PSNR hole [95% CI] | SSIM hole | L1 hole | sharpness "
        "| PSNR | SSIM | L1 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for bucket in buckets:
        for method, values in summary[bucket].items():
            lines.append(
                f"| {bucket} | {method} | {values['count']} | {values['psnr_hole']:.2f} "
                f"{_interval(values.get(f'{RANKING_METRIC}_ci95'))} | "
                f"{values['ssim_hole']:.4f} | {values['l1_hole']:.4f} | "
                f"{values['sharpness']:.3f} | {values['psnr']:.2f} | "
                f"{values['ssim']:.4f} | {values['l1']:.4f} |"
            )
    return "\n".join(lines)


def format_comparison(comparison, model="model"):
    """A markdown table: per bucket, the best classical fill, the model and its margin.

    The margins are model minus best (positive is better for PSNR and SSIM, negative for L1);
    the hole PSNR margin carries its paired 95 % bootstrap interval: an interval that holds 0
    is no win.
    """
    lines = [
        f"| hole ratio | images | best classical | its PSNR hole | {model} PSNR hole | margin "
        "PSNR hole [95% CI] | margin SSIM hole | margin L1 hole | sharpness best / "
        f"{model} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for bucket, row in comparison.items():
        best, ours, margin = row["best"], row["model"], row["margin"]
        lines.append(
            f"| {bucket} | {row['count']} | {row['best_classical']} | "
            f"{best['psnr_hole']:.2f} | {ours['psnr_hole']:.2f} | {margin['psnr_hole']:+.2f} "
            f"{_interval(row[f'margin_{RANKING_METRIC}_ci95'], signed=True)} | "
            f"{margin['ssim_hole']:+.4f} | {margin['l1_hole']:+.4f} | "
            f"{best['sharpness']:.3f} / {ours['sharpness']:.3f} |"
        )
    return "\n".join(lines)


def _interval(interval, signed=False):
    if interval is None or not all(np.isfinite(interval)):
        return "[n/a]"
    form = "+.2f" if signed else ".2f"
    return f"[{interval[0]:{form}}, {interval[1]:{form}}]"


# === Plot ===

# BGR colours of the methods' bars, in order (model first), then cycled.
_COLOURS = ((180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148))
_PANEL_WIDTH, _PANEL_HEIGHT = 640, 360
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 60, 20, 40, 60
_FONT = cv2.FONT_HERSHEY_SIMPLEX
# The smallest lossless PNG (a 5-photo figure: 0.7 MB instead of 2.7 MB); other formats ignore it.
_PNG_COMPRESSION = [cv2.IMWRITE_PNG_COMPRESSION, 9]


def plot_summary(summary, path, panels=(("psnr", "PSNR (dB)"), ("ssim", "SSIM"))):
    """Writes a PNG bar chart of `summary`: one panel per metric, bars per bucket and method.

    Drawn with OpenCV (matplotlib is not a dependency). Buckets are the hole-ratio buckets
    present plus "all"; methods are the summary's (model first, then the baselines). Panels
    default to the whole-image PSNR and SSIM, the numbers papers tabulate per bucket.

    Args:
        summary: dict. `evaluate(...)["summary"]`.
        path: str. PNG file to write.
        panels: sequence of (metric name, axis title).

    Returns:
        The image written, (H, W, 3) uint8 BGR.
    """
    buckets = _ordered_buckets(summary)
    methods = list(summary[buckets[0]]) if buckets else []
    rows = [_draw_panel(summary, buckets, methods, metric, title) for metric, title in panels]
    legend = np.full((30, _PANEL_WIDTH, 3), 255, np.uint8)
    x = _MARGIN_LEFT
    for index, method in enumerate(methods):
        colour = _COLOURS[index % len(_COLOURS)]
        cv2.rectangle(legend, (x, 10), (x + 14, 24), colour, -1)
        cv2.putText(legend, method, (x + 20, 23), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        x += 40 + 9 * len(method)
    image = np.concatenate([legend] + rows, axis=0)
    if not cv2.imwrite(path, image, _PNG_COMPRESSION):
        raise ValueError(f"Could not write the plot {path}; expected a writable .png path.")
    return image


def write_figure(kept, path, methods, labels=None, hole_colour=(1.0, 1.0, 1.0)):
    """Writes a PNG grid of kept evaluation images: one row per image, one column per picture.

    Columns: the input with its holes painted `hole_colour` (white), each of `methods`' outputs
    (e.g. "telea", "model"), then the ground truth, each titled; a row's first title also
    gives the image's index and hole ratio. Drawn with OpenCV.

    Args:
        kept: list of dicts. `evaluate(..., keep_images=...)["kept"]`.
        path: str. PNG file to write.
        methods: sequence of str. Keys of each kept dict, in column order.
        labels: dict or None. Column titles by method (default: the method names).

    Returns:
        The image written, (H, W, 3) uint8 BGR.

    Raises:
        ValueError: nothing to draw, a method the records lack, or an unwritable path.
    """
    if not kept:
        raise ValueError("No evaluated image to draw: --figure_images names none that exist.")
    missing = [m for m in methods if m not in kept[0]]
    if missing:
        raise ValueError(f"The evaluation has no outputs for {', '.join(missing)}.")
    labels = labels or {}
    pad, title_height = 4, 22
    rows = []
    for picture in kept:
        holes = picture["masks"].astype(np.float32)
        masked = picture["ground_truth"] * (1.0 - holes) + np.asarray(hole_colour) * holes
        columns = [(f"#{picture['index']} input, {100 * picture['hole_ratio']:.0f}% holes", masked)]
        columns += [(labels.get(m, m), picture[m]) for m in methods]
        columns.append(("ground truth", picture["ground_truth"]))
        cells = []
        for title, image in columns:
            cell = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)[..., ::-1]
            height, width = cell.shape[:2]
            canvas = np.full((height + title_height + pad, width + pad, 3), 255, np.uint8)
            canvas[title_height : title_height + height, :width] = cell
            cv2.putText(canvas, title, (2, 15), _FONT, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
            cells.append(canvas)
        rows.append(np.concatenate(cells, axis=1))
    image = np.concatenate(rows, axis=0)
    if not cv2.imwrite(path, image, _PNG_COMPRESSION):
        raise ValueError(f"Could not write the figure {path}; expected a writable .png path.")
    return image


def _draw_panel(summary, buckets, methods, metric, title):
    image = np.full((_PANEL_HEIGHT, _PANEL_WIDTH, 3), 255, np.uint8)
    values = np.array(
        [[summary[b][m][metric] for m in methods] for b in buckets], np.float64
    ).reshape(len(buckets), len(methods))
    finite = values[np.isfinite(values)]
    top = float(finite.max()) * 1.1 if finite.size and finite.max() > 0 else 1.0
    left, right = _MARGIN_LEFT, _PANEL_WIDTH - _MARGIN_RIGHT
    upper, lower = _MARGIN_TOP, _PANEL_HEIGHT - _MARGIN_BOTTOM
    black, grey = (0, 0, 0), (200, 200, 200)

    def y_of(value):
        return int(round(lower - (lower - upper) * min(max(value, 0.0), top) / top))

    for tick in np.linspace(0.0, top, 5):
        y = y_of(tick)
        cv2.line(image, (left, y), (right, y), grey, 1)
        label = f"{tick:.1f}" if top > 2 else f"{tick:.2f}"
        cv2.putText(image, label, (5, y + 4), _FONT, 0.4, black, 1, cv2.LINE_AA)
    cv2.line(image, (left, lower), (right, lower), black, 1)
    cv2.line(image, (left, upper), (left, lower), black, 1)
    cv2.putText(image, title, (left, upper - 15), _FONT, 0.55, black, 1, cv2.LINE_AA)
    group = (right - left) / max(len(buckets), 1)
    bar = group * 0.8 / max(len(methods), 1)
    for b, bucket in enumerate(buckets):
        x0 = left + b * group + group * 0.1
        for m in range(len(methods)):
            if np.isfinite(values[b, m]):
                x = int(round(x0 + m * bar))
                colour = _COLOURS[m % len(_COLOURS)]
                cv2.rectangle(
                    image, (x, y_of(values[b, m])), (x + max(int(bar) - 1, 1), lower), colour, -1
                )
        count = summary[bucket][methods[0]]["count"] if methods else 0
        for line, text in enumerate((bucket, f"n={count}")):
            cv2.putText(
                image, text, (int(x0), lower + 18 + 16 * line), _FONT, 0.38, black, 1, cv2.LINE_AA
            )
    return image
