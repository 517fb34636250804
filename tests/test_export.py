"""Export: SavedModel (serving_default, serve_bytes) and TFLite parity with the Keras model for
every registered model's tiny preset, builtin ops only, quantization, and tools/export.py.

Observed differences from the Keras model (random tiny weights, 64 px, CPU): float32 TFLite
< 1e-6; float16 TFLite <= 6e-4 (tolerance 2e-2); dynamic_int8 TFLite 7e-6 (GLCIC), 1.6e-3
(cascade), 3.5e-2 (PConv) (bound 0.15); GAIN float16 2.7e-2 (bound 0.1) and dynamic_int8
0.29 (bound 0.8): its random outputs span ~70.
"""

import os
import subprocess
import sys

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from tfinpaint import export, inference
from tfinpaint.data import sources
from tfinpaint.models import InpaintingGenerator, registry

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_MODELS = registry.list_models()
_TFLITE_SIZE = 64
_TOLERANCES = {"none": 1e-3, "float16": 2e-2, "dynamic_int8": 0.15}
# Random tiny GAIN weights give raw outputs over about [-40, 30] (each GAI block sums two
# partial convolutions, no normalisation), so int8's ~0.5 % of that range is 0.3-0.5 after
# clipping to [0, 1], and float16's relative rounding 0.03 (seen 0.027); float32 stays within
# the common bound.
_MODEL_TOLERANCES = {("gain", "float16"): 0.1, ("gain", "dynamic_int8"): 0.8}




@pytest.fixture(scope="module")
def generators():
    keras.utils.set_random_seed(0)
    return {name: registry.build_generator(name, "tiny") for name in _MODELS}


@pytest.fixture(scope="module")
def saved_models(generators, tmp_path_factory):
    """Each generator exported once and loaded back with tf.saved_model.load."""
    root = tmp_path_factory.mktemp("saved_models")
    loaded = {}

    def get(name):
        if name not in loaded:
            path = export.export_saved_model(generators[name], str(root / name), version=1)
            assert path == str(root / name / "1")
            loaded[name] = tf.saved_model.load(path)
        return loaded[name]

    get.path = lambda name: str(root / name / "1")
    return get


def _batch(batch_size, height, width, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.random((batch_size, height, width, 3), dtype=np.float32)
    masks = np.zeros((batch_size, height, width, 1), np.float32)
    for index in range(batch_size):
        top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
        masks[index, top : top + height // 2, left : left + width // 3] = 1.0
    return images, masks


def _keras_inpainted(generator, images, masks):
    outputs = generator({"images": images, "masks": masks}, training=False)
    return np.clip(np.asarray(outputs["inpainted"]), 0.0, 1.0)


def _known(images, masks):
    return images[np.broadcast_to(masks < 0.5, images.shape)]


# === SavedModel ===


@pytest.mark.parametrize("name", _MODELS)
def test_saved_model_matches_keras_at_dynamic_sizes(generators, saved_models, name):
    serving = saved_models(name).signatures["serving_default"]
    inputs = serving.structured_input_signature[1]
    assert inputs["images"].shape.as_list() == [None, None, None, 3]
    assert inputs["masks"].shape.as_list() == [None, None, None, 1]
    assert inputs["images"].dtype == tf.float32 and inputs["masks"].dtype == tf.float32
    assert list(serving.structured_outputs) == ["inpainted"]
    for height, width in ((64, 64), (64, 96)):
        images, masks = _batch(2, height, width, seed=height + width)
        got = serving(images=tf.constant(images), masks=tf.constant(masks))["inpainted"].numpy()
        expected = _keras_inpainted(generators[name], images, masks)
        assert got.shape == images.shape
        assert np.abs(got - expected).max() < 1e-4
        np.testing.assert_array_equal(_known(got, masks), _known(images, masks))
    # A size that is no multiple of the model's: padded inside the graph like `inpaint` pads.
    images, masks = _batch(1, 37, 53, seed=3)
    got = serving(images=tf.constant(images), masks=tf.constant(masks))["inpainted"].numpy()
    expected = inference.inpaint(generators[name], images[0], masks[0])
    assert got.shape == images.shape and np.abs(got[0] - expected).max() < 1e-4


@pytest.mark.parametrize("name", _MODELS)
def test_saved_model_stores_each_weight_once(generators, saved_models, name):
    saved_models(name)  # Exported once for the module.
    folder = os.path.join(saved_models.path(name), "variables")
    stored = [
        (key, shape)
        for key, shape in tf.train.list_variables(os.path.join(folder, "variables"))
        if key != "_CHECKPOINTABLE_OBJECT_GRAPH"
    ]
    weights = sum(int(np.prod(w.shape)) for w in generators[name].weights)
    # Once each (the serving functions may leave unused ones out), never twice: every weight
    # under both `_all_variables/` and `variables/` made the export twice the weights' size.
    assert 0 < sum(int(np.prod(shape)) for _, shape in stored) <= weights
    data_bytes = sum(
        os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder) if ".data-" in f
    )
    assert data_bytes <= 4 * weights + 16 * 1024


def _png(array):
    ok, encoded = cv2.imencode(".png", array)
    assert ok
    return encoded.tobytes()


@pytest.mark.parametrize("name", _MODELS)
def test_serve_bytes_round_trip(generators, saved_models, name):
    serve_bytes = saved_models(name).signatures["serve_bytes"]
    assert set(serve_bytes.structured_input_signature[1]) == {"image_bytes", "mask_bytes"}
    rng = np.random.default_rng(6)
    rgb = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, (24, 40), dtype=np.uint8)
    rgb_mask = np.zeros((37, 53), np.uint8)
    rgb_mask[5:20, 10:40] = 255
    gray_mask = np.zeros((24, 40, 4), np.uint8)  # An RGBA mask: white opaque = hole.
    gray_mask[..., 3] = 255
    gray_mask[8:16, 4:30, :3] = 200
    image_bytes = [_png(rgb[..., ::-1]), _png(gray)]
    mask_bytes = [_png(rgb_mask), _png(gray_mask)]
    outputs = serve_bytes(image_bytes=tf.constant(image_bytes), mask_bytes=tf.constant(mask_bytes))
    encoded = outputs["inpainted_bytes"].numpy()
    assert encoded.shape == (2,)
    for data, image, holes in (
        (encoded[0], rgb, rgb_mask > 127),
        (encoded[1], np.repeat(gray[..., None], 3, axis=2), gray_mask[..., 0] > 127),
    ):
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)[..., ::-1]
        assert decoded.shape == image.shape and decoded.dtype == np.uint8
        np.testing.assert_array_equal(decoded[~holes], image[~holes])
        expected = inference.inpaint(generators[name], image, holes)
        assert np.abs(decoded.astype(int) - expected).max() <= 1
    with pytest.raises(tf.errors.InvalidArgumentError, match="size differs"):
        serve_bytes(
            image_bytes=tf.constant(image_bytes[:1]), mask_bytes=tf.constant(mask_bytes[1:])
        )


def test_serve_bytes_jpeg_pixels_and_transparent_masks_match_the_command_line(
    saved_models, tmp_path
):
    """JPEG known pixels equal OpenCV's decode (what tools/inpaint.py reads), and an RGBA mask
    follows `read_hole_mask`'s rule: transparent pixels are never holes."""
    serve_bytes = saved_models("cascade").signatures["serve_bytes"]
    photo = cv2.resize(cv2.imread(os.path.join(sources.samples_folder(), "chelsea.png")), (61, 47))
    ok, jpeg = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 75])
    assert ok
    rgba = np.zeros((47, 61, 4), np.uint8)  # Opaque white rectangle on a transparent ground.
    rgba[10:30, 20:50] = 255
    outputs = serve_bytes(
        image_bytes=tf.constant([jpeg.tobytes()]), mask_bytes=tf.constant([_png(rgba)])
    )
    decoded = cv2.imdecode(np.frombuffer(outputs["inpainted_bytes"].numpy()[0], np.uint8), 1)
    (tmp_path / "mask.png").write_bytes(_png(rgba))
    holes = inference.read_hole_mask(str(tmp_path / "mask.png"))
    assert holes.sum() == 20 * 30
    command_line = sources.decode_image_bytes(jpeg.tobytes())[..., ::-1]
    np.testing.assert_array_equal(decoded[~holes], command_line[~holes])
    assert not np.array_equal(decoded[holes], command_line[holes])


def test_saved_model_refuses_existing_exports_and_inputs(generators, tmp_path):
    generator = generators[_MODELS[0]]
    (tmp_path / "serving" / "1").mkdir(parents=True)
    with pytest.raises(ValueError, match="--overwrite"):
        export.export_saved_model(generator, str(tmp_path / "serving"), version=1)
    with pytest.raises(ValueError, match="is or contains the input"):
        export.export_saved_model(
            generator, str(tmp_path), overwrite=True, inputs=[str(tmp_path / "run")]
        )
    with pytest.raises(ValueError, match="positive int"):
        export.export_saved_model(generator, str(tmp_path / "serving"), version=0)
    export.check_output_path(str(tmp_path / "run" / "model.tflite"), [str(tmp_path / "run")])


# === TFLite ===


# Types of the convolution kernels in the flatbuffer for each quantization.
_WEIGHT_TYPES = {"none": {"FLOAT32"}, "float16": {"FLOAT16"}, "dynamic_int8": {"INT8"}}


def _weight_types(content):
    """Tensor types of the CONV_2D kernels (input 1) of a TFLite flatbuffer, seen through the
    DEQUANTIZE ops that float16 models put in front of them."""
    from tensorflow.lite.python import schema_py_generated as schema_fb
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    subgraph = model.subgraphs[0]
    type_names = {v: k for k, v in vars(schema_fb.TensorType).items() if not k.startswith("_")}
    producers = {}
    for op in subgraph.operators:
        name = flatbuffer_utils.opcode_to_name(model, op.opcodeIndex)
        for output in op.outputs:
            producers[int(output)] = (name, op)
    types = set()
    for op in subgraph.operators:
        if flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) != "CONV_2D":
            continue
        kernel = int(op.inputs[1])
        producer = producers.get(kernel)
        if producer and producer[0] == "DEQUANTIZE":
            kernel = int(producer[1].inputs[0])
        types.add(type_names[subgraph.tensors[kernel].type])
    return types


@pytest.mark.parametrize("quantize", export.QUANTIZATIONS)
@pytest.mark.parametrize("name", _MODELS)
def test_tflite_matches_keras_with_builtin_ops(generators, tmp_path, name, quantize):
    path = str(tmp_path / f"{name}.tflite")
    result = export.export_tflite(generators[name], path, _TFLITE_SIZE, quantize=quantize)
    assert result["size_bytes"] == os.path.getsize(path)
    assert all(not op.startswith("CUSTOM") and not op.startswith("Flex") for op in result["ops"])
    assert "CONV_2D" in result["ops"]
    with open(path, "rb") as f:
        content = f.read()
    assert export.tflite_op_names(content) == result["ops"]
    # Dynamic-range quantization leaves kernels under 1024 weights in float32.
    weight_types = _weight_types(content)
    assert _WEIGHT_TYPES[quantize] <= weight_types <= _WEIGHT_TYPES[quantize] | {"FLOAT32"}
    if quantize != "dynamic_int8":
        assert weight_types == _WEIGHT_TYPES[quantize]

    interpreter = Interpreter(model_path=path)
    details = interpreter.get_input_details()
    assert [d["name"] for d in details] == ["serving_default_images:0", "serving_default_masks:0"]
    assert [tuple(d["shape"]) for d in details] == [(1, 64, 64, 3), (1, 64, 64, 1)]
    assert interpreter.get_signature_list() == {
        "serving_default": {"inputs": ["images", "masks"], "outputs": ["inpainted"]}
    }
    runner = interpreter.get_signature_runner("serving_default")
    tolerance = _MODEL_TOLERANCES.get((name, quantize), _TOLERANCES[quantize])
    for seed in (0, 1):
        images, masks = _batch(1, _TFLITE_SIZE, _TFLITE_SIZE, seed=seed)
        got = runner(images=images, masks=masks)["inpainted"]
        expected = _keras_inpainted(generators[name], images, masks)
        assert np.abs(got - expected).max() < tolerance
        np.testing.assert_array_equal(_known(got, masks), _known(images, masks))
    assert result["probe_max_abs_error"] < tolerance


def test_tflite_pads_sizes_that_are_no_multiple(generators, tmp_path):
    name = _MODELS[0]
    multiple = generators[name].size_multiple
    height, width = 2 * multiple + 3, 3 * multiple - 5
    path = str(tmp_path / "odd.tflite")
    result = export.export_tflite(generators[name], path, (height, width))
    assert "GATHER" in result["ops"]
    images, masks = _batch(1, height, width, seed=7)
    got = Interpreter(model_path=path).get_signature_runner()(images=images, masks=masks)
    expected = inference.inpaint(generators[name], images[0], masks[0])
    assert np.abs(got["inpainted"][0] - expected).max() < 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("name", _MODELS)
def test_paper_preset_tflite_matches_keras(tmp_path, name):
    generator = registry.build_generator(name, "paper")
    side = max(256, generator.size_multiple)
    path = str(tmp_path / f"{name}.tflite")
    result = export.export_tflite(generator, path, side)
    images, masks = _batch(1, side, side, seed=9)
    got = Interpreter(model_path=path).get_signature_runner()(images=images, masks=masks)
    assert np.abs(got["inpainted"] - _keras_inpainted(generator, images, masks)).max() < 1e-3
    assert result["probe_max_abs_error"] < 1e-3


class _PatchesLayer(keras.layers.Layer):
    def call(self, images):
        patches = tf.image.extract_patches(
            images, [1, 3, 3, 1], [1, 1, 1, 1], [1, 1, 1, 1], padding="SAME"
        )
        return tf.reduce_mean(patches, axis=-1, keepdims=True) * tf.ones_like(images)


class LayerGenerator(InpaintingGenerator):
    """A generator whose raw output is `raw_fn(images, hole_masks)` (a layer under test)."""

    def __init__(self, raw_fn, **kwargs):
        inputs = InpaintingGenerator.make_inputs()
        super().__init__(inputs, raw_fn(inputs["images"], inputs["masks"]), **kwargs)


def test_tflite_names_ops_without_builtin_and_never_adds_flex(tmp_path):
    generator = LayerGenerator(
        lambda images, masks: _PatchesLayer(name="contextual_patches")(images)
    )
    with pytest.raises(
        export.ConversionError, match="ExtractImagePatches.*no TFLite builtin.*contextual_patches"
    ):
        export.export_tflite(generator, str(tmp_path / "patches.tflite"), 16)
    assert not os.path.exists(tmp_path / "patches.tflite")


class _TinyEpsilonLayer(keras.layers.Layer):
    def call(self, inputs):
        images, masks = inputs
        count = 1.0 - masks  # 0 in the holes: 0 / (0 + 1e-8) = 0 in float32.
        return images * count / (count + 1e-8)


def test_tflite_refuses_a_float16_model_that_outputs_nan(tmp_path):
    generator = LayerGenerator(lambda images, masks: _TinyEpsilonLayer()([images, masks]))
    assert (
        export.export_tflite(generator, str(tmp_path / "a.tflite"), 16)["probe_max_abs_error"]
        < 1e-6
    )
    with pytest.raises(export.ConversionError, match="float16 TFLite model outputs NaN"):
        export.export_tflite(generator, str(tmp_path / "b.tflite"), 16, quantize="float16")
    assert not os.path.exists(tmp_path / "b.tflite")


def test_tflite_bad_arguments(generators, tmp_path):
    generator = generators[_MODELS[0]]
    with pytest.raises(ValueError, match="quantize"):
        export.export_tflite(generator, str(tmp_path / "a.tflite"), 32, quantize="int4")
    with pytest.raises(ValueError, match="image_size"):
        export.export_tflite(generator, str(tmp_path / "a.tflite"), "large")
    (tmp_path / "a.tflite").write_bytes(b"keep me")
    with pytest.raises(ValueError, match="--overwrite"):
        export.export_tflite(generator, str(tmp_path / "a.tflite"), 32)
    assert (tmp_path / "a.tflite").read_bytes() == b"keep me"


# === tools/export.py ===


def _run_tool(*args):
    return subprocess.run(
        [sys.executable, os.path.join(_ROOT, "tools", "export.py"), *args],
        capture_output=True,
        text=True,
        cwd=_ROOT,
        timeout=300,
    )


def test_export_tool_on_a_trained_run(tmp_path, trained_run):
    run_dir = trained_run
    generator = inference.load_generator(run_dir)
    images, masks = _batch(2, 32, 48, seed=8)
    expected = _keras_inpainted(generator, images, masks)

    result = _run_tool(
        f"--workdir={run_dir}",
        "--format=saved_model",
        f"--output={tmp_path / 'serving'}",
        "--version=3",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    serving = tf.saved_model.load(str(tmp_path / "serving" / "3")).signatures["serving_default"]
    got = serving(images=tf.constant(images), masks=tf.constant(masks))["inpainted"].numpy()
    assert np.abs(got - expected).max() < 1e-4

    tflite_path = tmp_path / "model.tflite"
    result = _run_tool(
        f"--checkpoint={os.path.join(run_dir, 'generator.weights.h5')}",
        "--format=tflite",
        "--quantize=dynamic_int8",
        f"--output={tflite_path}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{os.path.getsize(tflite_path)} bytes" in result.stdout
    interpreter = Interpreter(model_path=str(tflite_path))
    assert tuple(interpreter.get_input_details()[0]["shape"]) == (1, 32, 32, 3)  # Run's size.
    got = interpreter.get_signature_runner()(images=images[:1, :, :32], masks=masks[:1, :, :32])
    expected = _keras_inpainted(generator, images[:1, :, :32], masks[:1, :, :32])
    assert np.abs(got["inpainted"] - expected).max() < _TOLERANCES["dynamic_int8"]


def test_benchmark_tflite_reports_latency_size_and_error():
    generator = registry.build_generator("cascade", "tiny")
    records = export.benchmark_tflite(generator, 32, quantizations=("none", "float16"), runs=1,
                                      warmup=0)
    assert [r["quantize"] for r in records] == ["none", "float16"]
    for record in records:
        assert record["size_mib"] > 0 and record["tflite_ms"] > 0 and record["keras_ms"] > 0
    assert records[0]["max_abs_error"] < 1e-3
    with pytest.raises(ValueError, match="int4"):
        export.benchmark_tflite(generator, 32, quantizations=("int4",))
