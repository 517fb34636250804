"""Export a generator as a SavedModel for TF Serving and as a TFLite model for phones.

DESIGN.md, Export contracts. Both formats wrap the generator in the same graph
(`inpaint_graph`): hole masks binarised at 0.5, images reflect-padded at the bottom and right to
the generator's size multiple, the network's raw output clipped to [0, 1] and cropped back, and
known pixels taken from the input with a select, so they come back exactly.

SavedModel signatures (built with `keras.export.ExportArchive`, Keras 3's documented way):
- `serving_default`: `images` float32 (B, H, W, 3) in [0, 1] and `masks` float32 (B, H, W, 1),
  1 = hole, any batch and size -> `{"inpainted": (B, H, W, 3) float32}`.
- `serve_bytes`: `image_bytes` and `mask_bytes`, tf.string (B,), encoded PNG/JPEG/BMP/GIF
  (decoded with TensorFlow: gray is repeated to RGB, alpha composited on white; JPEGs with
  OpenCV's IDCT, so their pixels equal the command line's, but EXIF orientation is NOT applied;
  the mask is taken to grayscale with its alpha composited on black, so transparent pixels are
  never holes, and binarised at 0.5, white = hole), images of one request may differ in size ->
  `{"inpainted_bytes": (B,) PNG strings}`. Known pixels of the output PNG equal the decoded
  input pixels (for a JPEG: its decoded pixels, not some original before compression). The
  `_bytes` suffixes make TF Serving's REST API read and write `{"b64": ...}` values.

TFLite (`export_tflite`): converted from a SavedModel of one fixed-size signature
(`tf.lite.TFLiteConverter.from_saved_model`; `from_keras_model` fails on Keras 3) with builtin
ops only, never Flex. Signature `serving_default`, inputs (in this order) `images` float32
(1, S, S, 3) in [0, 1] and `masks` float32 (1, S, S, 1), 1 = hole; output `inpainted` float32
(1, S, S, 3) in [0, 1]. Quantization: "none" (float32), "float16" (float16 weights, float32
inputs and outputs) or "dynamic_int8" (int8 weights, dynamic-range kernels).

Example:
```python
from tfinpaint import export, inference
generator, info = inference.load_generator("runs/pconv_tiny", with_info=True)
export.export_saved_model(generator, "serving/pconv", version=1)
export.export_tflite(generator, "pconv_fp16.tflite", image_size=256, quantize="float16")
```
"""

import os
import re
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from tfinpaint import files, imageops, runs

__all__ = [
    "QUANTIZATIONS",
    "ConversionError",
    "check_output_path",
    "export_saved_model",
    "export_tflite",
    "inpaint_graph",
    "is_previous_export",
    "tflite_op_names",
]

QUANTIZATIONS = ("none", "float16", "dynamic_int8")

_IMAGES_SPEC = tf.TensorSpec((None, None, None, 3), tf.float32, name="images")
_MASKS_SPEC = tf.TensorSpec((None, None, None, 1), tf.float32, name="masks")
_BYTES_SPECS = (
    tf.TensorSpec((None,), tf.string, name="image_bytes"),
    tf.TensorSpec((None,), tf.string, name="mask_bytes"),
)


class ConversionError(RuntimeError):
    """A model could not be converted to TFLite with builtin ops only."""


# --- The graph both formats share ------------------------------------------------------------


def inpaint_graph(generator, images, hole_masks):
    """The exported computation: pad, run the generator, crop, keep the known pixels.

    Args:
        generator: a tfinpaint generator.
        images: float32 tensor (B, H, W, 3) in [0, 1]; any H and W.
        hole_masks: float32 tensor (B, H, W, 1); hole where >= 0.5.

    Returns:
        float32 tensor (B, H, W, 3): the raw output clipped to [0, 1] in the holes, `images`
        (exactly) elsewhere.
    """
    multiple = generator.size_multiple
    holes = hole_masks >= 0.5
    net_images, size = imageops.reflect_pad_to_multiple(images, multiple)
    net_masks, _ = imageops.reflect_pad_to_multiple(tf.cast(holes, tf.float32), multiple)
    raw = generator({"images": net_images, "masks": net_masks}, training=False)["raw"]
    raw = imageops.crop_to_size(tf.clip_by_value(tf.cast(raw, tf.float32), 0.0, 1.0), size)
    return tf.where(holes, raw, images)


def _decode_color_alpha(data):
    """Encoded bytes -> ((H, W, 3) float32 RGB in [0, 1], (H, W, 1) alpha in [0, 1]).

    JPEGs are decoded with the IDCT OpenCV uses (INTEGER_ACCURATE), so their pixels equal the
    command line's (`tools/inpaint.py` decodes with OpenCV); TF's default fast IDCT differs by
    up to ~18 levels. EXIF orientation is not applied (TensorFlow has no op for it).
    """

    def jpeg():
        decoded = tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE")
        return tf.image.convert_image_dtype(decoded, tf.float32), tf.ones_like(
            tf.cast(decoded[..., :1], tf.float32)
        )

    def other():
        image = tf.io.decode_image(data, channels=0, dtype=tf.float32, expand_animations=False)
        channels = tf.shape(image)[-1]
        color = tf.cond(
            channels < 3, lambda: tf.tile(image[..., :1], [1, 1, 3]), lambda: image[..., :3]
        )
        alpha = tf.cond(  # Gray + alpha or RGBA: the last channel is alpha.
            channels % 2 == 0, lambda: image[..., -1:], lambda: tf.ones_like(image[..., :1])
        )
        return color, alpha

    color, alpha = tf.cond(tf.io.is_jpeg(data), jpeg, other)
    return tf.ensure_shape(color, (None, None, 3)), tf.ensure_shape(alpha, (None, None, 1))


def _decode_rgb(data):
    """Encoded image bytes -> (H, W, 3) float32 RGB in [0, 1] (gray repeated, alpha on white)."""
    color, alpha = _decode_color_alpha(data)
    return color * alpha + (1.0 - alpha)  # Exactly `color` where opaque.


def _decode_hole_mask(data):
    """Encoded mask bytes -> (H, W, 1) float32 gray, white = hole, alpha composited on black.

    The rule of `tfinpaint.data.imageio.read_hole_mask` for white-hole masks: transparent pixels
    are never holes, opaque ones follow their colour (binarised at 0.5 by `inpaint_graph`).
    """
    color, alpha = _decode_color_alpha(data)
    return tf.image.rgb_to_grayscale(color) * alpha


def _bytes_fn(generator):
    def serve_bytes(image_bytes, mask_bytes):
        tf.debugging.assert_equal(
            tf.size(image_bytes),
            tf.size(mask_bytes),
            message="serve_bytes received different numbers of images and masks",
        )

        def inpaint_one(pair):
            image = _decode_rgb(pair[0])
            hole_mask = _decode_hole_mask(pair[1])
            with tf.control_dependencies(
                [
                    tf.debugging.assert_equal(
                        tf.shape(image)[:2],
                        tf.shape(hole_mask)[:2],
                        message="serve_bytes received a mask whose size differs from its image's "
                        "(first: image height and width, second: the mask's)",
                    )
                ]
            ):
                inpainted = inpaint_graph(generator, image[None], hole_mask[None])[0]
            return tf.io.encode_png(tf.cast(tf.round(inpainted * 255.0), tf.uint8))

        encoded = tf.map_fn(
            inpaint_one,
            (image_bytes, mask_bytes),
            fn_output_signature=tf.TensorSpec((), tf.string),
        )
        return {"inpainted_bytes": encoded}

    return serve_bytes


def _archive(generator, endpoints):
    # No `archive.track(generator)`: `add_endpoint` already tracks the variables its functions
    # use (as `_all_variables`), and tracking the generator as well stores every weight a
    # second time, under `variables/`, through its Keras variable wrappers: a SavedModel of
    # twice the weights' size.
    archive = keras.export.ExportArchive()
    for name, fn, signature in endpoints:
        archive.add_endpoint(name, fn, input_signature=list(signature))
    return archive


def _tensor_fn(generator):
    def serving_default(images, masks):
        return {"inpainted": inpaint_graph(generator, images, masks)}

    return serving_default


# --- Output paths ----------------------------------------------------------------------------


# Files and folders of a training run that an export must never replace (the run's own model).
RUN_FILES = runs.RUN_FILES


def protected_paths(source, files=()):
    """`source`, the `files` a load read and, for a run directory, its `RUN_FILES`."""
    paths = [source, *files]
    if source and os.path.isdir(source):
        paths += [os.path.join(source, name) for name in RUN_FILES]
    return paths


# The marker file an export writes into its SavedModel folder: `--overwrite` replaces only a
# folder that holds it (or a SavedModel's own files), never an unrelated folder.
MARKER = ".tfinpaint-export.json"
_TFLITE_IDENTIFIER = b"TFL3"  # Bytes 4-8 of a TFLite flatbuffer.


def _is_tflite_file(path):
    try:
        with open(path, "rb") as f:
            return f.read(8)[4:8] == _TFLITE_IDENTIFIER
    except OSError:
        return False


def is_previous_export(path):
    """Whether `path` holds an export `--overwrite` may replace.

    A folder with the export marker or a SavedModel's files (`saved_model.pb` and
    `variables/`), a TF Serving base folder whose every entry is such a numbered version, or a
    TFLite flatbuffer file. A symbolic link is judged by its target (which is never deleted: only
    the link is replaced).
    """
    if os.path.isfile(path):
        return _is_tflite_file(path)
    if not os.path.isdir(path):
        return False
    names = os.listdir(path)
    if MARKER in names:
        return True
    if "saved_model.pb" in names and os.path.isdir(os.path.join(path, "variables")):
        return True
    versions = [name for name in names if not name.startswith(".")]
    return bool(versions) and all(
        name.isdigit() and is_previous_export(os.path.join(path, name)) for name in versions
    )


def check_output_path(output, inputs=(), overwrite=False):
    """Raises ValueError unless `output` may be written.

    Refused before any work, each in one sentence: an empty path, a path under a file or in an
    unwritable folder (`tfinpaint.files.check_writable`); an output that is an input, or a
    folder holding one, even with `overwrite` (replacing it would destroy the input; writing
    inside an input folder, `RUN/export/1`, is fine); an existing output without `overwrite`;
    and with `overwrite`, an existing output that is not an earlier export (`is_previous_export`),
    so `--overwrite` never deletes a folder of other files.
    """
    files.check_writable(output, "--output")
    output_real = os.path.realpath(output)
    for path in inputs:
        if not path:
            continue
        input_real = os.path.realpath(path)
        same = False
        if os.path.exists(output) and os.path.exists(path):
            same = os.path.samefile(output, path)  # A hard link is the input too.
        if same or os.path.commonpath([output_real, input_real]) == output_real:
            raise ValueError(
                f"The output {output} is or contains the input {path}; choose another output."
            )
    if not os.path.lexists(output):
        return
    if not overwrite:
        raise ValueError(f"{output} already exists; pass --overwrite to replace it.")
    if not is_previous_export(output):
        raise ValueError(
            f"{output} exists and is not an earlier export (no {MARKER}, SavedModel or TFLite "
            "file), so --overwrite does not replace it; choose another --output."
        )


def _write_marker(folder, export_format):
    files.write_json(
        os.path.join(folder, MARKER),
        {
            "format": export_format,
            "written_by": "tfinpaint.export",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        indent=1,
    )


# --- SavedModel ------------------------------------------------------------------------------


def export_saved_model(generator, output, version=None, overwrite=False, inputs=()):
    """Writes a SavedModel with the `serving_default` and `serve_bytes` signatures.

    Args:
        generator: a tfinpaint generator.
        output: str. The SavedModel directory or, with `version`, the model base directory
            (TF Serving's layout: `output/VERSION/saved_model.pb`).
        version: int or None. TF Serving model version (a positive int).
        overwrite: bool. Replace an existing export (the new one is written first, then swapped
            in). Never needed for other versions in the base directory.
        inputs: paths the export must not overwrite (the run directory or checkpoint).

    Returns:
        The path of the written SavedModel directory.
    """
    if version is not None:
        if not isinstance(version, (int, np.integer)) or isinstance(version, bool) or version < 1:
            raise ValueError(f"Received version={version!r}; expected a positive int.")
        output = os.path.join(output, str(int(version)))
    check_output_path(output, inputs, overwrite)
    archive = _archive(
        generator,
        [
            ("serving_default", _tensor_fn(generator), (_IMAGES_SPEC, _MASKS_SPEC)),
            ("serve_bytes", _bytes_fn(generator), _BYTES_SPECS),
        ],
    )
    with files.atomic_folder(output) as tmp_path:
        archive.write_out(tmp_path, verbose=False)
        _write_marker(tmp_path, "saved_model")
    return output


# --- TFLite ----------------------------------------------------------------------------------


def _image_size_pair(image_size):
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        image_size = (int(image_size), int(image_size))
    try:
        height, width = (int(side) for side in image_size)
    except (TypeError, ValueError):
        raise ValueError(
            f"Received image_size={image_size!r}; expected a positive int or (height, width)."
        ) from None
    if height < 1 or width < 1:
        raise ValueError(f"Received image_size={image_size!r}; expected positive sides.")
    return height, width


def _non_builtin_ops_from_error(message):
    """TF op names a converter error blames (the ops with no TFLite builtin)."""
    names = re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", message)
    names += re.findall(r"\btf\.(\w+)\b[^\n]*(?:is not supported|not supported by)", message)
    flex = re.search(r"Flex ops: ([\w, ]+)", message)
    if flex:
        names += [name.strip().removeprefix("Flex") for name in flex.group(1).split(",")]
    return sorted({name for name in names if name})


def _op_locations(message, op_names):
    """Graph node names (which carry the Keras layer names) where the blamed ops sit."""
    locations = []
    for op_name in op_names:
        for match in re.finditer(rf'"{op_name}:"\s*,\s*"([^"@]+)', message):
            locations.append(match.group(1))
        for match in re.finditer(rf'"([^"@]*/{op_name}[^"@]*)@', message):
            locations.append(match.group(1))
    return sorted(set(locations))


def tflite_op_names(model_content):
    """Sorted names of the operators in a TFLite flatbuffer (custom ops by their custom name)."""
    from tensorflow.lite.python import schema_py_generated as schema_fb
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(model_content))
    names = set()
    for index, code in enumerate(model.operatorCodes):
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        if builtin == schema_fb.BuiltinOperator.CUSTOM:
            custom = code.customCode
            names.add("CUSTOM:" + (custom.decode() if isinstance(custom, bytes) else str(custom)))
        else:
            names.add(flatbuffer_utils.opcode_to_name(model, index))
    return sorted(names)


def _order_inputs(model_content, names=("images", "masks")):
    """Puts the subgraph's inputs in the order of `names` (the converter orders them at random).

    Signature runners find inputs by name either way; this makes `get_input_details()` and
    index-based APIs list `images` then `masks`.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(model_content))
    subgraph = model.subgraphs[0]
    by_name = {}
    for tensor_index in subgraph.inputs:
        name = subgraph.tensors[tensor_index].name
        name = name.decode() if isinstance(name, bytes) else name
        for wanted in names:
            if re.search(rf"(^|_){wanted}(:\d+)?$", name):
                by_name[wanted] = int(tensor_index)
    if sorted(by_name) != sorted(names) or len(subgraph.inputs) != len(names):
        return model_content
    subgraph.inputs = np.array([by_name[name] for name in names], dtype=np.int32)
    return flatbuffer_utils.convert_object_to_bytearray(model)


def export_tflite(generator, output, image_size, quantize="none", overwrite=False, inputs=()):
    """Converts the generator to a fixed-size TFLite model with builtin ops only.

    Args:
        generator: a tfinpaint generator.
        output: str. The .tflite file to write.
        image_size: int or (height, width). The model's fixed input size (batch 1). Sizes that
            are not multiples of the generator's size multiple are padded inside the model.
        quantize: str. "none", "float16" or "dynamic_int8".
        overwrite: bool. Replace an existing file.
        inputs: paths the export must not overwrite (the run directory or checkpoint).

    Returns:
        dict with `path`, `size_bytes`, `ops` (the operator names), `image_size` (height,
        width) and `quantize`.

    Raises:
        ValueError: bad arguments or output path.
        ConversionError: the model needs an op that TFLite has no builtin for (the message
            names the TF ops and where they sit); Flex (SELECT_TF_OPS) is never added.
    """
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"Received quantize={quantize!r}; expected one of {QUANTIZATIONS}.")
    height, width = _image_size_pair(image_size)
    check_output_path(output, inputs, overwrite)
    if os.path.isdir(output):
        raise ValueError(f"The output {output} is a folder; expected a .tflite file path.")
    signature = (
        tf.TensorSpec((1, height, width, 3), tf.float32, name="images"),
        tf.TensorSpec((1, height, width, 1), tf.float32, name="masks"),
    )
    with tempfile.TemporaryDirectory(prefix="tfinpaint-tflite-") as saved_model_dir:
        archive = _archive(generator, [("serving_default", _tensor_fn(generator), signature)])
        archive.write_out(saved_model_dir, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            saved_model_dir, signature_keys=["serving_default"]
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif quantize == "dynamic_int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        try:
            content = converter.convert()
        except Exception as error:  # The converter raises ConverterError and friends.
            message = str(error)
            ops = _non_builtin_ops_from_error(message)
            if not ops:
                raise ConversionError(f"TFLite conversion failed: {message}") from error
            where = _op_locations(message, ops)
            raise ConversionError(
                f"TFLite conversion with builtin ops only failed: the model uses the TensorFlow "
                f"op(s) {', '.join(ops)}, which have no TFLite builtin"
                + (f" (at {', '.join(where[:5])})" if where else "")
                + "; replace them in the model (Flex / SELECT_TF_OPS is not used)."
            ) from error
    op_names = tflite_op_names(content)
    custom = [name for name in op_names if name.startswith("CUSTOM")]
    if custom:
        raise ConversionError(
            f"The converted model contains non-builtin ops {', '.join(custom)}; expected "
            "builtin ops only."
        )
    content = _order_inputs(content)
    probe_error = _probe(generator, content, quantize, height, width)
    # The rename replaces a symbolic link at `output` itself, never the file it points to.
    with files.atomic_write(output) as tmp_path:
        with open(tmp_path, "wb") as f:
            f.write(content)
    return {
        "path": output,
        "size_bytes": len(content),
        "ops": op_names,
        "image_size": (height, width),
        "quantize": quantize,
        "probe_max_abs_error": probe_error,
    }


def _median_ms(run, runs, warmup):
    for _ in range(warmup):
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(times))


def benchmark_tflite(
    generator, image_size, quantizations=QUANTIZATIONS, runs=10, warmup=2, num_threads=None
):
    """TFLite interpreter latency and file size per quantization, beside the Keras model.

    The Keras figure is the compiled `tf.function` of the same graph the export wraps (pad to
    the size multiple, generator, paste the known pixels), batch 1.

    Args:
        generator: a tfinpaint generator.
        image_size: int. The fixed export size (square).
        quantizations: sequence of "none", "float16", "dynamic_int8".
        runs, warmup: int. Timed and untimed calls per measurement (median reported).
        num_threads: int or None. Interpreter threads (None: every core).

    Returns:
        list of dicts: `quantize`, `size_mib`, `tflite_ms`, `keras_ms`, `max_abs_error` (the
        TFLite output against Keras on a random image with a centred square hole).
    """
    for quantize in quantizations:
        if quantize not in QUANTIZATIONS:
            raise ValueError(f"Received quantize={quantize!r}; expected one of {QUANTIZATIONS}.")
    rng = np.random.default_rng(0)
    images = rng.random((1, image_size, image_size, 3), dtype=np.float32)
    hole_masks = np.zeros((1, image_size, image_size, 1), np.float32)
    hole_masks[:, image_size // 4 : 3 * image_size // 4, image_size // 4 : 3 * image_size // 4] = 1
    keras_fn = tf.function(lambda x, m: inpaint_graph(generator, x, m))
    expected = keras_fn(images, hole_masks).numpy()
    keras_ms = _median_ms(lambda: keras_fn(images, hole_masks).numpy(), runs, warmup)
    records = []
    with tempfile.TemporaryDirectory(prefix="tfinpaint-tflite-bench-") as folder:
        for quantize in quantizations:
            path = os.path.join(folder, f"model-{quantize}.tflite")
            result = export_tflite(generator, path, image_size, quantize=quantize)
            with open(path, "rb") as f:
                content = f.read()
            interpreter = _interpreter(content, num_threads=num_threads or os.cpu_count())
            runner = interpreter.get_signature_runner("serving_default")
            output = runner(images=images, masks=hole_masks)["inpainted"]
            records.append(
                {
                    "quantize": quantize,
                    "size_mib": result["size_bytes"] / 2**20,
                    "tflite_ms": _median_ms(
                        lambda r=runner: r(images=images, masks=hole_masks), runs, warmup
                    ),
                    "keras_ms": keras_ms,
                    "max_abs_error": float(np.max(np.abs(output - expected))),
                }
            )
    return records


def _interpreter(content, num_threads=None):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # The LiteRT package is optional; TF still ships its interpreter.
        Interpreter = tf.lite.Interpreter
    return Interpreter(model_content=content, num_threads=num_threads)


def _probe(generator, content, quantize, height, width):
    """Runs the converted model once against the Keras graph; returns the max abs difference.

    Raises ConversionError when the converted model's output is not finite: float16 conversion
    rounds constants below 6e-8 to 0 (a division epsilon of 1e-8 becomes a division by zero).
    """
    rng = np.random.default_rng(0)
    images = rng.random((1, height, width, 3), dtype=np.float32)
    hole_masks = np.zeros((1, height, width, 1), np.float32)
    hole_masks[
        :,
        height // 4 : height // 4 + max(1, height // 2),
        width // 4 : width // 4 + max(1, width // 2),
    ] = 1.0
    runner = _interpreter(content).get_signature_runner("serving_default")
    converted = runner(images=images, masks=hole_masks)["inpainted"]
    expected = inpaint_graph(generator, tf.constant(images), tf.constant(hole_masks)).numpy()
    if not np.all(np.isfinite(converted)) and np.all(np.isfinite(expected)):
        raise ConversionError(
            f"The {quantize} TFLite model outputs NaN or inf on a test input where the Keras "
            "model does not (float16 rounds constants below 6e-8 to 0, so an epsilon such as "
            "1e-8 in a division can become a division by zero); export with quantize 'none' "
            "or 'dynamic_int8', or make the layer divide by a float16-safe value."
        )
    return float(np.max(np.abs(converted - expected)))
