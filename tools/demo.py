r"""A local web page to try the inpainting models: upload a photo, paint holes, compare, download.

Usage:
  pip install -e ".[demo]"       # Gradio, the only extra this page needs
  python tools/demo.py           # then open http://127.0.0.1:7860

  # Another port and default checkpoint, larger photos allowed:
  python tools/demo.py --port=8080 --checkpoint=pconv_fill_photos --max_pixels=20000000

The page: upload a photo (or pick one of scikit-image's sample photos), paint the holes with the
brush (its size is adjustable; the eraser and undo fix mistakes), choose a shipped checkpoint
(`inference.list_checkpoints()`; the page opens on the flagship, DEFAULT_CHECKPOINT) or type the
path of a run's generator, a strategy (`inference.STRATEGIES`) and a classical method (the
harmonic fill, the strongest on our evaluations, unless another is picked), and press Inpaint.
The input with its holes, the network's result and the classical fill appear side by side; the
result downloads as a full-resolution PNG whose known pixels are exactly the uploaded photo's
(the photo is decoded on the server from the uploaded file, never from the browser's canvas; the
painted layer only says where the holes are). Every painted pixel, however faint, is a hole.

Loaded generators are cached (--cache_size). Bad input (a file that is not an image, one over
--max_pixels, no painted hole, an unknown checkpoint) is answered on the page in one sentence.
The page serves --host only (127.0.0.1 by default); it reads any generator path typed into it,
so serve it on a shared network (--host=0.0.0.0) only among people you trust.
"""

import functools
import logging
import os
import sys
import tempfile
import threading
import time

import cv2
import numpy as np
from absl import flags

from tfinpaint import cli

cli.import_tensorflow_quietly()  # Before anything imports TensorFlow.

from tfinpaint import inference, postprocess  # noqa: E402
from tfinpaint.data import image_files, list_image_files, read_image  # noqa: E402

INSTALL_HINT = 'tools/demo.py needs Gradio: pip install -e ".[demo]" (or pip install "gradio>=6").'

# The page opens on the strongest shipped checkpoint beside the strongest classical fill, so
# that a first comparison is the honest one (checkpoints/README.md ranks them).
DEFAULT_CHECKPOINT = "cascade_fill_photos"
DEFAULT_CLASSICAL = "harmonic"

_HOST = flags.DEFINE_string("host", "127.0.0.1", "Address to serve on (0.0.0.0: every network).")
_PORT = flags.DEFINE_integer("port", 7860, "Port to serve on.", lower_bound=1, upper_bound=65535)
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint",
    DEFAULT_CHECKPOINT,
    "The checkpoint chosen when the page opens: a shipped NAME (tools/inpaint.py "
    "--list_checkpoints) or the path of a run or generator.json (put in the path box).",
)
_STRATEGY = flags.DEFINE_enum(
    "strategy",
    "auto",
    list(inference.STRATEGIES),
    "The strategy chosen when the page opens (tools/inpaint.py --strategy; auto picks pad, "
    "crop, tile or resize per photo).",
)
_MAX_SIZE = flags.DEFINE_integer(
    "max_size",
    inference.DEFAULT_MAX_SIZE,
    "The largest side the network sees with every strategy but pad, when the page opens.",
    lower_bound=1,
)
_MAX_PIXELS = flags.DEFINE_integer(
    "max_pixels",
    16_000_000,
    "Refuse uploads whose header declares more pixels than this, before decoding.",
    lower_bound=1,
)
_CACHE_SIZE = flags.DEFINE_integer(
    "cache_size", 3, "How many loaded generators stay in memory.", lower_bound=1
)

# What the brush paints with (any colour works: the hole is wherever the layer is not clear).
BRUSH_COLOUR = "#ff00ff"
HOLE_TINT = np.array([255, 0, 255], np.uint8)
# No share button: the page is local, and Gradio's share goes through its servers.
VIEW_BUTTONS = ["download", "fullscreen"]
ENSEMBLE_CHOICES = {"as the checkpoint records": None, "on (5x compute)": True, "off": False}

logger = logging.getLogger(__name__)


# --- Pure functions (tests/test_demo.py) ---------------------------------------------------------


def sample_photos():
    """The scikit-image sample photos that ship with the package's data: {file name: path}."""
    return {os.path.basename(path): path for path in list_image_files("samples")}


def load_photo(path, max_pixels):
    """An uploaded file as (H, W, 3) uint8 RGB, through the package's image-reading gate.

    Raises:
        ValueError: not a regular file, not an image, or more than `max_pixels` by its header.
    """
    return read_image(path, max_pixels=max_pixels)


def hole_mask_from_layers(layers, shape):
    """The (H, W) bool hole mask painted on the editor's layers, at the photo's size.

    Args:
        layers: sequence of (h, w, 4) RGBA arrays (the editor's layers; alpha 0 = unpainted).
            A layer without alpha counts where it is not black.
        shape: the photo's shape (H, W, ...). A layer of another size (a canvas scaled by the
            browser) is resized to it with nearest-neighbour sampling.

    Returns:
        Array (H, W) bool: True wherever any layer was painted, however faintly.
    """
    height, width = shape[:2]
    holes = np.zeros((height, width), bool)
    for layer in layers or ():
        layer = np.asarray(layer)
        if layer.ndim == 3 and layer.shape[-1] in (2, 4):
            painted = layer[..., -1] > 0
        else:
            painted = (layer.reshape(layer.shape[0], layer.shape[1], -1) > 0).any(axis=-1)
        if painted.shape != (height, width):
            painted = cv2.resize(
                painted.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST
            ).astype(bool)
        holes |= painted
    return holes


def show_holes(image, holes):
    """The photo with its holes tinted, for the page's first panel."""
    shown = image.copy()
    shown[holes] = HOLE_TINT
    return shown


def check_request(image, holes, strategy, max_size):
    """Refuses, in one sentence each, what the page cannot run (before any work).

    Raises:
        ValueError: no photo, no hole, every pixel a hole, or a bad strategy / max_size.
    """
    if image is None:
        raise ValueError("No photo yet: upload one or pick an example first.")
    if not holes.any():
        raise ValueError("No hole painted: paint over the part of the photo to fill, then run.")
    if holes.all():
        raise ValueError("Every pixel is painted: leave some of the photo to fill the holes from.")
    if strategy not in inference.STRATEGIES:
        raise ValueError(f"Received strategy {strategy!r}; expected one of {inference.STRATEGIES}.")
    if strategy != inference.STRATEGIES[0] and (max_size is None or int(max_size) < 1):
        raise ValueError(f"Strategy {strategy!r} needs a max size of at least 1 px.")


def network_fill(generator, image, holes, strategy, max_size, on_strategy=None):
    """The network's fill at full size; known pixels are exactly `image`'s (asserted).

    `on_strategy(strategy, max_size, reason)` hears what `strategy="auto"` chose.
    """
    # "pad" runs the whole image and takes no max_size (inference.inpaint refuses one).
    size = None if strategy == "pad" else int(max_size)
    result = inference.inpaint(
        generator, image, holes, strategy=strategy, max_size=size, on_strategy=on_strategy
    )
    if result.shape != image.shape or not np.array_equal(result[~holes], image[~holes]):
        raise RuntimeError("The network changed known pixels; this is a bug in tfinpaint.")
    return result


def write_png(folder, name, image):
    """Writes an (H, W, 3) RGB or (H, W) image as a lossless PNG and returns its path."""
    path = os.path.join(folder, name)
    pixels = image[..., ::-1] if image.ndim == 3 else image
    if not cv2.imwrite(path, np.ascontiguousarray(pixels)):
        raise OSError(f"Could not write {path}.")
    return path


class GeneratorCache:
    """Loaded generators by (checkpoint, ensemble), the least recently used dropped first."""

    def __init__(self, size):
        self._lock = threading.Lock()  # One load at a time; Gradio runs events in threads.
        self._load = functools.lru_cache(maxsize=size)(self._load_uncached)

    @staticmethod
    def _load_uncached(source, ensemble):
        return inference.load_generator(source, ensemble=ensemble)

    def get(self, source, ensemble=None):
        with self._lock:
            return self._load(source, ensemble)


# --- The page ------------------------------------------------------------------------------------


def import_gradio():
    """Gradio, or None when the `demo` extra is not installed (the package never needs it)."""
    # Gradio phones home for analytics and version checks unless told not to; a local page
    # needn't.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ImportError:
        return None
    return gradio


def _message(error):
    """One line for the page: the error's own sentence, prefixed by its kind when unexpected."""
    if isinstance(error, (ValueError, OSError)):
        return str(error)
    return f"Inpainting failed ({type(error).__name__}: {error}); the console has the details."


def build_page(default_checkpoint, default_strategy, default_max_size, max_pixels, cache_size):
    """The Gradio Blocks of the page (not launched) and its theme."""
    gr = import_gradio()
    cache = GeneratorCache(cache_size)
    outputs_dir = tempfile.mkdtemp(prefix="tfinpaint_demo_")
    samples = sample_photos()
    shipped = inference.list_checkpoints()
    checkpoint_choices = [(f"{name}: {text}", name) for name, text in shipped.items()]
    default_path = "" if default_checkpoint in shipped else default_checkpoint
    default_name = default_checkpoint if default_checkpoint in shipped else None
    if default_name is None and shipped:
        default_name = next(iter(shipped))

    def warm_up():  # The first click then finds the default generator loaded.
        try:
            cache.get(default_path or default_name, None)
        except Exception as error:  # noqa: BLE001 (the page reports it again on first use)
            logger.warning("Could not preload %s: %s", default_path or default_name, error)

    if default_path or default_name:
        threading.Thread(target=warm_up, name="tfinpaint-demo-warm-up", daemon=True).start()

    def open_photo(path):
        """(editor, photo, info, upload box): the upload box is emptied for the next file."""
        try:
            image = load_photo(path, max_pixels)
        except (ValueError, OSError) as error:
            # Gradio's upload folder means nothing to the user; the file's name does.
            message = str(error).replace(path, os.path.basename(path))
            gr.Warning(message, title="Photo not loaded")
            return gr.update(), gr.update(), f"Not loaded: {message}", None
        height, width = image.shape[:2]
        editor = {"background": image, "layers": [], "composite": None}
        name = os.path.basename(path)
        info = f"{name}: {width}x{height} px. Paint the holes, then press Inpaint."
        return editor, image, info, None

    def on_upload(upload):
        if upload is None:
            return gr.update(), gr.update(), gr.update(), gr.update()
        return open_photo(upload)

    def on_example(name):
        if not name:
            return gr.update(), gr.update(), gr.update(), gr.update()
        return open_photo(samples[name])

    def on_run(
        editor,
        image,
        name,
        path,
        strategy,
        max_size,
        ensemble,
        classical,
        progress=gr.Progress(),  # noqa: B008 (how Gradio finds the event's progress bar)
    ):
        try:
            layers = (editor or {}).get("layers") or []
            holes = None if image is None else hole_mask_from_layers(layers, image.shape)
            check_request(image, holes, strategy, max_size)
            source = (path or "").strip() or name
            if not source:
                raise ValueError("No checkpoint: choose one or type a generator's path.")
            progress(0.05, desc=f"Loading {source}")
            generator = cache.get(source, ENSEMBLE_CHOICES.get(ensemble))
            progress(0.3, desc=f"Inpainting with {source} ({strategy})")
            start = time.perf_counter()
            chosen = []
            result = network_fill(
                generator, image, holes, strategy, max_size, lambda *a: chosen.append(a)
            )
            if strategy == "auto" and chosen:
                strategy = f"auto: {chosen[0][0]}, {chosen[0][2]}"
            network_seconds = time.perf_counter() - start
            progress(0.8, desc=f"Classical fill ({classical})")
            start = time.perf_counter()
            classical_result = postprocess.classical_inpaint(image, holes, classical)
            classical_seconds = time.perf_counter() - start
            progress(0.95, desc="Writing the PNGs")
            # A folder per run: two runs in the same second never share a file.
            run_dir = tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=outputs_dir)
            result_path = write_png(run_dir, "inpainted.png", result)
            mask_path = write_png(run_dir, "holes.png", holes.astype(np.uint8) * 255)
        except gr.Error:
            raise
        except Exception as error:  # noqa: BLE001 (shown on the page as one sentence)
            if not isinstance(error, (ValueError, OSError)):
                logger.exception("tools/demo.py: inpainting failed")
            raise gr.Error(_message(error), print_exception=False) from None
        height, width = image.shape[:2]
        status = (
            f"{width}x{height} px, {100 * holes.mean():.1f}% holes. {source} ({strategy}): "
            f"{network_seconds:.2f} s; {classical}: {classical_seconds:.2f} s. The PNG's known "
            "pixels are the upload's, byte for byte."
        )
        return show_holes(image, holes), result, classical_result, result_path, mask_path, status

    # System fonts: the default theme fetches Google Fonts, which a machine offline cannot.
    theme = gr.themes.Default(
        font=["ui-sans-serif", "system-ui", "sans-serif"],
        font_mono=["ui-monospace", "monospace"],
    )
    with gr.Blocks(title="tfinpaint demo") as page:
        gr.Markdown(
            "# tfinpaint\nUpload a photo or pick an example, paint the holes (brush size in the "
            "brush menu; eraser and undo in the toolbar), choose a model and press **Inpaint**."
        )
        original = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(
                    label="Upload a photo",
                    file_types=["image"],
                    type="filepath",
                    elem_id="upload",
                )
                example = gr.Dropdown(
                    choices=list(samples),
                    value=None,
                    label="or an example (scikit-image)",
                    elem_id="example",
                )
                checkpoint = gr.Dropdown(
                    choices=checkpoint_choices,
                    value=default_name,
                    label="Shipped checkpoint",
                    elem_id="checkpoint",
                )
                path = gr.Textbox(
                    value=default_path,
                    label="or a run's generator (a run folder, a "
                    "generator.json or a checkpoint prefix; overrides the list)",
                    elem_id="path",
                )
                strategy = gr.Dropdown(
                    choices=list(inference.STRATEGIES),
                    value=default_strategy,
                    label="Strategy",
                    elem_id="strategy",
                )
                max_size = gr.Number(
                    value=default_max_size,
                    precision=0,
                    minimum=1,
                    label="Max size the network sees (every strategy but pad)",
                    elem_id="max_size",
                )
                ensemble = gr.Radio(
                    choices=list(ENSEMBLE_CHOICES),
                    value=next(iter(ENSEMBLE_CHOICES)),
                    label="Self-ensemble",
                    elem_id="ensemble",
                )
                classical = gr.Dropdown(
                    choices=list(postprocess.CLASSICAL_METHODS),
                    value=DEFAULT_CLASSICAL,
                    label="Classical fill beside it",
                    elem_id="classical",
                )
            with gr.Column(scale=3):
                editor = gr.ImageEditor(
                    label="Paint the holes",
                    type="numpy",
                    image_mode="RGBA",
                    sources=(),
                    transforms=(),
                    brush=gr.Brush(
                        colors=[BRUSH_COLOUR],
                        default_color=BRUSH_COLOUR,
                        color_mode="fixed",
                        default_size="auto",
                    ),
                    eraser=gr.Eraser(default_size="auto"),
                    layers=False,
                    format="png",
                    elem_id="editor",
                )
                info = gr.Markdown("No photo yet.", elem_id="info")
                run = gr.Button("Inpaint", variant="primary", elem_id="run")
        with gr.Row():
            shown_input = gr.Image(
                label="Input (holes in magenta)",
                format="png",
                interactive=False,
                buttons=VIEW_BUTTONS,
                elem_id="input_view",
            )
            shown_result = gr.Image(
                label="Result",
                format="png",
                interactive=False,
                buttons=VIEW_BUTTONS,
                elem_id="result_view",
            )
            shown_classical = gr.Image(
                label="Classical fill",
                format="png",
                interactive=False,
                buttons=VIEW_BUTTONS,
                elem_id="classical_view",
            )
        with gr.Row():
            result_file = gr.File(
                label="Result PNG (full resolution)", interactive=False, elem_id="result_file"
            )
            mask_file = gr.File(
                label="Hole mask PNG (white = hole; tools/inpaint.py --mask)",
                interactive=False,
                elem_id="mask_file",
            )
        status = gr.Markdown("", elem_id="status")

        upload.upload(on_upload, [upload], [editor, original, info, upload])
        example.change(on_example, [example], [editor, original, info, upload])
        run.click(
            on_run,
            [editor, original, checkpoint, path, strategy, max_size, ensemble, classical],
            [shown_input, shown_result, shown_classical, result_file, mask_file, status],
        )
    return page, theme


def main(argv):
    if len(argv) > 1:
        sys.exit(f"Error: unexpected arguments: {' '.join(argv[1:])}; every input is a flag.")
    if import_gradio() is None:
        sys.exit(f"Error: {INSTALL_HINT}")
    image_files.set_default_max_pixels(_MAX_PIXELS.value)
    page, theme = build_page(
        _CHECKPOINT.value, _STRATEGY.value, _MAX_SIZE.value, _MAX_PIXELS.value, _CACHE_SIZE.value
    )
    page_url = f"http://{_HOST.value}:{_PORT.value}"
    print(f"tfinpaint demo on {page_url} (Ctrl+C stops it).", flush=True)
    page.queue().launch(
        server_name=_HOST.value,
        server_port=_PORT.value,
        theme=theme,
        show_error=False,
        quiet=True,
    )


if __name__ == "__main__":
    cli.run(main)
