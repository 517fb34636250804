r"""Quality and cost of the inpainting strategies on large photos (issue 33's evidence).

For every photo, long side and mask kind, inpaints with each --strategies entry (in a child
process per strategy and size, so that its peak RSS is its own) and with each classical fill,
and prints one JSON line per result: hole PSNR, the hole's sharpness ratio (1 = as sharp as the
photo), seconds and, per child process, the peak RSS. Photos are resized so that their long side
is the size (area interpolation); masks are either "strokes" (three brush strokes about 1.5 % of
the long side wide, a few percent of the image) or "freeform" (the package's free-form masks of
10-30 % holes drawn at 256 px and scaled up, holes all over the image).

Usage (held-out photos: the validation split of tools/prepare_photos.py, at their source size):
  python benchmarks/full_resolution.py --checkpoint=pconv_small_photos \
      --photos=a.jpg,b.jpg,c.jpg --sizes=1024,2048 --strategies=auto,pad,crop,tile,resize \
      --output=benchmarks/results/MACHINE-DATE/full_resolution.jsonl
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from absl import app, flags

_CHECKPOINT = flags.DEFINE_string("checkpoint", "pconv_small_photos", "Generator to load.")
_PHOTOS = flags.DEFINE_list("photos", None, "Photo files (held-out).")
_SIZES = flags.DEFINE_list("sizes", ["1024", "2048"], "Long sides to resize the photos to.")
_STRATEGIES = flags.DEFINE_list(
    "strategies", ["auto", "pad", "crop", "tile", "resize"], "Strategies to measure."
)
_MASKS = flags.DEFINE_list("masks", ["strokes", "freeform"], "Mask kinds.")
_CLASSICAL = flags.DEFINE_list("classical", ["telea", "biharmonic"], "Classical fills.")
_MAX_SIZE = flags.DEFINE_integer("max_size", 512, "--max_size of the bounded strategies.")
_OUTPUT = flags.DEFINE_string("output", None, "JSON-lines file to append results to.")
_CHILD = flags.DEFINE_string("child", None, "Internal: run one strategy or classical method.")
_SIZE = flags.DEFINE_integer("size", None, "Internal: the long side of a child run.")


def _inputs(photo, size, kind, seed):
    import cv2
    import numpy as np

    from tfinpaint.data import mask_sets, sources

    image = sources.read_image(photo)
    height, width = image.shape[:2]
    scale = size / max(height, width)
    shape = (max(1, round(height * scale)), max(1, round(width * scale)))
    image = cv2.resize(image, shape[::-1], interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(seed)
    if kind == "strokes":
        holes = np.zeros(shape, np.uint8)
        thickness = max(2, round(0.015 * size))
        for _ in range(3):
            points = rng.uniform(0.1, 0.9, (4, 2)) * np.array(shape[::-1])
            cv2.polylines(holes, [points.astype(np.int32)], False, 1, thickness)
        return image, holes.astype(bool)
    with tempfile.TemporaryDirectory() as folder:
        mask_sets.write_mask_set(
            "freeform", 256, 1, seed=seed, output_dir=folder, hole_ratio_range=(0.1, 0.3)
        )
        small = cv2.imread(os.path.join(folder, "00000.png"), cv2.IMREAD_GRAYSCALE)
    return image, cv2.resize(small, shape[::-1], interpolation=cv2.INTER_NEAREST) > 127


def _photo_name(path):
    """A KDE wallpaper's package name (NAME/contents/images/WxH.jpg), else the file name."""
    parts = os.path.normpath(path).split(os.sep)
    return parts[-4] if len(parts) >= 4 and parts[-3:-1] == ["contents", "images"] else parts[-1]


def _child():
    import numpy as np

    from tfinpaint import inference, metrics, postprocess

    method, size = _CHILD.value, _SIZE.value
    generator, info = None, {}
    if method not in postprocess.CLASSICAL_METHODS:
        generator, info = inference.load_generator(_CHECKPOINT.value, with_info=True)
    for photo in _PHOTOS.value:
        for seed, kind in enumerate(_MASKS.value):
            image, holes = _inputs(photo, size, kind, seed)
            chosen = []
            start = time.perf_counter()
            try:
                if generator is None:
                    result = postprocess.classical_inpaint(image, holes, method)
                else:
                    result = inference.inpaint(
                        generator, image, holes, strategy=method,
                        max_size=None if method == "pad" else _MAX_SIZE.value,
                        min_window=info.get("image_size"),
                        on_strategy=lambda *a, chosen=chosen: chosen.append(a),
                    )  # fmt: skip
            except (ValueError, MemoryError) as error:
                print(json.dumps({"method": method, "size": size, "error": str(error)}))
                continue
            seconds = time.perf_counter() - start
            truth = image[None].astype(np.float32) / 255.0
            output = np.asarray(result)[None].astype(np.float32) / 255.0
            hole_mask = holes[None, ..., None].astype(np.float32)
            record = {
                "checkpoint": _CHECKPOINT.value if generator is not None else None,
                "method": method,
                "chosen": chosen[0][0] if chosen else None,
                "photo": _photo_name(photo),
                "size": list(image.shape[:2]),
                "mask": kind,
                "hole_ratio": round(float(holes.mean()), 4),
                "psnr_hole": round(float(metrics.psnr(truth, output, hole_mask)[0]), 3),
                "sharpness": round(float(metrics.sharpness_ratio(truth, output, hole_mask)[0]), 3),
                "seconds": round(seconds, 2),
                "known_pixels_exact": bool(np.array_equal(result[~holes], image[~holes])),
            }
            print(json.dumps(record), flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB.
    print(json.dumps({"method": method, "size": size, "peak_rss_gib": round(peak, 2)}))


def main(argv):
    del argv
    if _CHILD.value:
        _child()
        return
    if not _PHOTOS.value:
        sys.exit("Error: --photos is required.")
    methods = [*_STRATEGIES.value, *_CLASSICAL.value]
    for size in _SIZES.value:
        for method in methods:
            command = [
                sys.executable, os.path.abspath(__file__), f"--child={method}", f"--size={size}",
                f"--checkpoint={_CHECKPOINT.value}", f"--photos={','.join(_PHOTOS.value)}",
                f"--masks={','.join(_MASKS.value)}", f"--max_size={_MAX_SIZE.value}",
            ]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if done.returncode:
                lines.append(
                    json.dumps({"method": method, "size": size, "exit": done.returncode,
                                "stderr": done.stderr[-300:]})
                )  # fmt: skip
            for line in lines:
                print(line, flush=True)
            if _OUTPUT.value:
                with open(_OUTPUT.value, "a", encoding="utf-8") as output:
                    output.write("".join(line + "\n" for line in lines))


if __name__ == "__main__":
    app.run(main)
