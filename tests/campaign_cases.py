"""The bad-input campaign: one table of cases for train.py, inpaint.py, evaluate.py, export.py.

Each case is a command line and what must happen:
- `expect="error"`: a non-zero exit with exactly one line starting `Error:` (or absl's
  `FATAL Flags parsing error`), matching `match` when given;
- `expect="ok"`: exit 0, and the `check` (a function of CHECKS, called with the result and
  `check_args`) passes.
Always: no traceback, and every file under `{inputs}` and the trained run is byte-identical
afterwards (sha256).

Placeholders in arguments: `{inputs}` (the files `build_inputs` writes, shared by all cases),
`{run}` (the session's tiny trained PConv run, tests/conftest.py), `{out}` (a fresh folder per
case). To add cases (e.g. damaged checkpoints), write the damaged files in `build_inputs`
(never into `{run}`: copy it first, as `pconv_run_copy` does) and append `Case(...)` rows to the
tool's list in CASES; test_campaign.py picks them up.
"""

import dataclasses
import json
import os
import re
import shutil

import cv2
import numpy as np

TOOLS = ("train", "inpaint", "evaluate", "export")


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    args: tuple
    expect: str = "error"  # "error" or "ok"
    match: str | None = None  # Regex searched in the Error line ("error") or stdout ("ok").
    check: str | None = None  # A name in CHECKS, for "ok" cases.
    check_args: tuple = ()  # (key, value) pairs passed to the check.


def _e(name, *args, match=None):
    return Case(name, tuple(args), "error", match)


def _ok(name, *args, match=None, check=None, **check_args):
    return Case(name, tuple(args), "ok", match, check, tuple(sorted(check_args.items())))


# --- Inputs ----------------------------------------------------------------------------------

H, W = 40, 48
RECT = (slice(10, 30), slice(12, 36))  # A 20x24 hole rectangle.


def _photo():
    y, x = np.mgrid[0:H, 0:W]
    rng = np.random.default_rng(0)
    base = np.stack([x * 5, y * 6, (x + y) * 3], axis=-1) % 256
    return (base + rng.integers(0, 20, (H, W, 3))).clip(0, 255).astype(np.uint8)  # BGR


def _hole_white_mask(shape=(H, W)):
    mask = np.zeros(shape, np.uint8)
    mask[RECT] = 255
    return mask


DAMAGES = ("data_truncated", "data_flipped", "data_deleted", "index_emptied")


def _damage_newest_checkpoint(trained_run, target, damage):
    shutil.copytree(trained_run, target)
    prefix = os.path.join(target, "checkpoints", "ckpt-4")
    data = next(p for p in sorted(os.listdir(os.path.dirname(prefix))) if "ckpt-4.data" in p)
    data = os.path.join(os.path.dirname(prefix), data)
    if damage == "data_truncated":
        with open(data, "r+b") as f:
            f.truncate(os.path.getsize(data) // 2)
    elif damage == "data_flipped":
        with open(data, "r+b") as f:
            f.seek(os.path.getsize(data) // 2)
            chunk = f.read(16)
            f.seek(os.path.getsize(data) // 2)
            f.write(bytes(b ^ 0xFF for b in chunk))
    elif damage == "data_deleted":
        os.remove(data)
    elif damage == "index_emptied":
        open(prefix + ".index", "wb").close()
    # The generator files could stand in for the checkpoint: these runs have none.
    for name in ("generator.json", "generator.weights.h5"):
        os.remove(os.path.join(target, name))


def _damaged_checkpoint_cases(*args):
    """One case per damage: one Error line naming the unreadable checkpoint, nothing moved."""
    return [
        _e(
            f"checkpoint_{damage}",
            f"--workdir={{inputs}}/run_ckpt_{damage}",
            *args,
            match=r"ckpt-4",
        )
        for damage in DAMAGES
    ]


def build_inputs(root, trained_run):
    """Writes every input file of the campaign under `root` (a new folder)."""
    os.makedirs(root)

    def path(*parts):
        full = os.path.join(root, *parts)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        return full

    photo = _photo()
    cv2.imwrite(path("photo.png"), photo)
    cv2.imwrite(path("photo.jpg"), photo, [cv2.IMWRITE_JPEG_QUALITY, 90])
    cv2.imwrite(path("photo16.png"), photo.astype(np.uint16) * 257 + 3)  # Not 8-bit exact.
    cv2.imwrite(path("gray.png"), photo[:, :, 0])
    cv2.imwrite(path("mask.png"), _hole_white_mask())
    cv2.imwrite(path("mask_black.png"), 255 - _hole_white_mask())
    cv2.imwrite(path("mask_small.png"), _hole_white_mask((20, 24)))
    cv2.imwrite(path("mask_empty.png"), np.zeros((H, W), np.uint8))
    cv2.imwrite(path("mask_full.png"), np.full((H, W), 255, np.uint8))
    cv2.imwrite(path("mask.jpg"), _hole_white_mask())
    # RGBA masks (cv2 writes BGRA). Black RGB, opaque inside the rectangle, transparent outside:
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[RECT + (3,)] = 255
    cv2.imwrite(path("mask_rgba_black_rect.png"), rgba)
    # An opaque white rectangle on a transparent background:
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[RECT] = 255
    cv2.imwrite(path("mask_rgba_white_rect.png"), rgba)
    # White everywhere; alpha 153 (0.6) in the top half, 102 (0.4) in the bottom half:
    rgba = np.full((H, W, 4), 255, np.uint8)
    rgba[: H // 2, :, 3] = 153
    rgba[H // 2 :, :, 3] = 102
    cv2.imwrite(path("mask_rgba_semi.png"), rgba)
    # Gray + alpha (LA): white, opaque only in the rectangle.
    la = np.zeros((H, W, 2), np.uint8)
    la[..., 0] = 255
    la[RECT + (1,)] = 255
    _write_la_png(path("mask_la.png"), la)
    with open(path("corrupt.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with open(path("corrupt.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0" + b"\x00" * 300)
    with open(path("text.png"), "w") as f:
        f.write("this is not an image\nphoto.png\n")
    with open(path("empty.png"), "wb"):
        pass
    with open(path("binary.bin"), "wb") as f:
        f.write(bytes(range(128, 256)) * 8)
    with open(path("notes.txt"), "w") as f:
        f.write("some notes\n")
    os.link(path("photo.png"), path("hardlink_of_photo.png"))
    os.symlink("photo.png", path("symlink_of_photo.png"))
    # Folder pairs for inpaint.py.
    for stem in ("a", "b", "c"):
        cv2.imwrite(path("pairs_ok", "images", f"{stem}.png"), photo)
        cv2.imwrite(path("pairs_ok", "masks", f"{stem}.png"), _hole_white_mask())
        cv2.imwrite(path("pairs_corrupt", "masks", f"{stem}.png"), _hole_white_mask())
        cv2.imwrite(path("pairs_size", "images", f"{stem}.png"), photo)
        size = (20, 24) if stem == "b" else (H, W)
        cv2.imwrite(path("pairs_size", "masks", f"{stem}.png"), _hole_white_mask(size))
        cv2.imwrite(path("pairs_nomask", "images", f"{stem}.png"), photo)
        if stem != "c":
            cv2.imwrite(path("pairs_nomask", "masks", f"{stem}.png"), _hole_white_mask())
    for stem in ("a", "c"):
        cv2.imwrite(path("pairs_corrupt", "images", f"{stem}.png"), photo)
    shutil.copy(path("corrupt.png"), path("pairs_corrupt", "images", "b.png"))
    os.makedirs(path("pairs_empty", "images", "x"))
    os.makedirs(path("pairs_empty", "masks", "x"))
    # Data sources.
    for index in range(3):
        shutil.copy(path("corrupt.png"), path("data_corrupt", f"bad{index}.png"))
    shutil.copy(path("corrupt.jpg"), path("data_corrupt", "bad.jpg"))
    with open(path("data_noimages", "readme.txt"), "w") as f:
        f.write("no images here\n")
    os.makedirs(path("data_emptydir", "x"))
    for index in range(4):
        cv2.imwrite(path("data_mixed", f"good{index}.png"), np.roll(photo, 7 * index, axis=1))
    shutil.copy(path("corrupt.png"), path("data_mixed", "zz_corrupt.png"))
    with open(path("list_ok.txt"), "w") as f:
        f.write("# images\nphoto.png\ngray.png\n\n")
    with open(path("list_missing.txt"), "w") as f:
        f.write("photo.png\nmissing1.png\nmissing2.jpg\n")
    with open(path("list_corrupt.txt"), "w") as f:
        f.write("corrupt.png\ncorrupt.jpg\n")
    with open(path("list_empty.txt"), "w") as f:
        f.write("# nothing\n\n")
    with open(path("vgg_not_hdf5.h5"), "w") as f:
        f.write("not an HDF5 file\n")
    # A fixed mask set for evaluate.py --mask_dir (as tools/make_masks.py writes, no manifest).
    for index in range(2):
        hole_mask = np.zeros((32, 32), np.uint8)
        hole_mask[4 + 8 * index : 20 + 8 * index, 6:26] = 255
        cv2.imwrite(path("mask_set_32", f"{index:05d}.png"), hole_mask)
    _write_failure_class_inputs(path, trained_run)
    # Runs: a copy of the trained PConv run (cases may point other models at it), one with a
    # broken config.json, and an empty workdir.
    shutil.copytree(trained_run, path("pconv_run_copy"))
    shutil.copytree(trained_run, path("run_broken_config"))
    # Runs whose newest checkpoint (ckpt-4) is damaged in each way a crash or a disk can.
    for damage in DAMAGES:
        _damage_newest_checkpoint(trained_run, path(f"run_ckpt_{damage}"), damage)
    with open(path("run_broken_config", "config.json"), "w") as f:
        f.write('{"model": "pconv", "preset": ')
    os.makedirs(path("run_empty"))
    with open(path("generator_broken.json"), "w") as f:
        f.write("{not json")
    with open(path("train_bad_json.flags"), "w") as f:
        f.write('--model=pconv\n--options={"finetune_learning_rate": }\n')
    with open(path("output_is_a_file"), "w") as f:
        f.write("x\n")
    # export --overwrite: a project folder that is no export, and a link to it (both hashed).
    with open(path("export_unrelated", "src", "main.py"), "w") as f:
        f.write("print('not an export')\n")
    with open(path("export_unrelated", "notes.txt"), "w") as f:
        f.write("keep me\n")
    os.symlink(path("export_unrelated"), path("link_to_unrelated"))
    # Earlier exports that cases replace live beside {inputs} ({inputs}/../exports), since
    # replacing them is the expected result; the link's target must stay as it is.
    exports = os.path.join(os.path.dirname(root), "exports")
    for name in ("previous/1", "link_target"):
        _write_previous_export(os.path.join(exports, name))
    os.symlink(os.path.join(exports, "link_target"), os.path.join(exports, "link"))


PREVIOUS_SAVED_MODEL = b"an earlier export"


def _write_previous_export(folder):
    """A stand-in for an earlier SavedModel export: its marker, saved_model.pb and variables/."""
    os.makedirs(os.path.join(folder, "variables"))
    with open(os.path.join(folder, "saved_model.pb"), "wb") as f:
        f.write(PREVIOUS_SAVED_MODEL)
    with open(os.path.join(folder, ".tfinpaint-export.json"), "w") as f:
        json.dump({"format": "saved_model"}, f)


def _write_la_png(path, la):
    """Writes a gray + alpha PNG (OpenCV cannot write one; Pillow can)."""
    from PIL import Image

    Image.fromarray(la, mode="LA").save(path)


# --- Checks run after "ok" cases ---------------------------------------------------------------


def _output_path(result):
    match = re.search(r"^(\S+) \((\d+\.\d)% holes", result["stdout"], re.M)
    assert match, f"no output line in stdout: {result['stdout'][-500:]}"
    return match.group(1), float(match.group(2))


def check_inpainted(result, image, mask, holes_percent=None, polarity="hole_white", depth=8):
    """The output has the input's size and depth, and its known pixels are the input's."""
    from tfinpaint import inference

    output_path, percent = _output_path(result)
    if holes_percent is not None:
        assert abs(percent - holes_percent) < 0.05, f"{percent}% holes, expected {holes_percent}"
    source = cv2.imread(image, cv2.IMREAD_UNCHANGED)
    output = cv2.imread(output_path, cv2.IMREAD_UNCHANGED)
    if source.ndim == 2:
        source = np.repeat(source[:, :, None], 3, axis=2)
    assert output.shape == source.shape, f"shape {output.shape} != {source.shape}"
    assert output.dtype == (np.uint16 if depth == 16 else np.uint8), output.dtype
    holes = inference.read_hole_mask(mask, polarity)
    np.testing.assert_array_equal(output[~holes], source[~holes])


def check_folder_outputs(result, folder, names):
    assert sorted(os.listdir(folder)) == sorted(names), sorted(os.listdir(folder))


def check_exists(result, path, min_bytes=1):
    assert os.path.exists(path), f"{path} missing"
    if os.path.isfile(path):
        assert os.path.getsize(path) >= min_bytes


def check_readable_by_others(result, path):
    """Exports get the umask's permissions (022 in the test process): world-readable."""
    paths = [path]
    for folder, dirs, files in os.walk(path):
        paths += [os.path.join(folder, name) for name in dirs + files]
    for each in paths:
        mode = os.stat(each).st_mode
        assert mode & 0o004, f"{each} has mode {oct(mode & 0o777)}; expected world-readable"
        if os.path.isdir(each):
            assert mode & 0o001, f"{each} has mode {oct(mode & 0o777)}; expected o+x"


def check_json_records(result, path, count):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    assert len(data["records"]) == count, len(data["records"])


def check_stdout(result, pattern):
    assert re.search(pattern, result["stdout"]), result["stdout"][-500:]


def check_export_replaced(result, path, link_target=None):
    """`path` is a new SavedModel export (a real folder); a link's old target is untouched."""
    assert os.path.isdir(path) and not os.path.islink(path), f"{path} is not a folder"
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        assert f.read() != PREVIOUS_SAVED_MODEL, "the earlier export was not replaced"
    assert os.path.isfile(os.path.join(path, ".tfinpaint-export.json")), "no export marker"
    if link_target:
        with open(os.path.join(link_target, "saved_model.pb"), "rb") as f:
            assert f.read() == PREVIOUS_SAVED_MODEL, "the link's target was changed"


CHECKS = {
    "export_replaced": check_export_replaced,
    "inpainted": check_inpainted,
    "folder_outputs": check_folder_outputs,
    "exists": check_exists,
    "readable_by_others": check_readable_by_others,
    "json_records": check_json_records,
    "stdout": check_stdout,
}


# --- The table ---------------------------------------------------------------------------------

_TINY = (
    "--model=pconv",
    "--preset=tiny",
    "--image_size=32",
    "--batch_size=2",
    "--val_batch_size=2",
    "--vgg_weights=none",
)
_WD = "--workdir={out}/run"


def _train_cases():
    t = _TINY + (_WD,)
    cases = [
        # The tracebacks.
        _e("workdir_is_a_file", *_TINY, "--workdir={inputs}/photo.png", match="existing file"),
        _e("workdir_under_a_file", *_TINY, "--workdir={inputs}/photo.png/sub", match="is a file"),
        _e("workdir_empty", *_TINY, "--workdir=", match="workdir|empty"),
        _e(
            "data_folder_all_corrupt",
            *t,
            "--data={inputs}/data_corrupt",
            match=r"No decodable image in .*data_corrupt \(4 files tried\)",
        ),
        _e(
            "data_list_missing_files",
            *t,
            "--data={inputs}/list_missing.txt",
            match=r"2 of 3 listed files are missing, first: .*missing1\.png",
        ),
        _e("data_text_named_png", *t, "--data={inputs}/text.png", match="image extension"),
        _e("data_tfds_unknown", *t, "--data=tfds:no_such_dataset", match="Unknown TFDS dataset"),
        _e("data_tfds_typo", *t, "--data=tfds:mnst", match="close names: mnist"),
        _e(
            "vgg_weights_not_hdf5",
            "--model=pconv",
            "--preset=tiny",
            "--image_size=32",
            _WD,
            "--vgg_weights={inputs}/vgg_not_hdf5.h5",
            match="not a readable HDF5 file",
        ),
        # Silently wrong before.
        _e(
            "options_unknown_key",
            *t,
            '--options={"finetune_lr": 0.1}',
            match="Unknown --options key.*'finetune_lr'.*finetune_learning_rate",
        ),
        _e(
            "options_unknown_key_glcic",
            "--model=glcic",
            "--preset=tiny",
            _WD,
            "--vgg_weights=none",
            '--options={"adv_wieght": 1}',
            match="adv_weight",
        ),
        _e(
            "options_unknown_key_cascade",
            "--model=cascade",
            "--preset=tiny",
            _WD,
            "--vgg_weights=none",
            '--options={"g_batches": 3}',
            match="generator_batches",
        ),
        _e(
            "options_unknown_key_gain",
            "--model=gain",
            "--preset=tiny",
            _WD,
            '--options={"penalty_weight": 1}',
            match="gradient_penalty_weight",
        ),
        _e(
            "options_bad_value_gain",
            "--model=gain",
            "--preset=tiny",
            _WD,
            '--options={"discriminator_steps": 0}',
            match="discriminator_steps takes an int >= 1",
        ),
        _e(
            "image_size_not_multiple_gain",
            "--model=gain",
            "--preset=tiny",
            _WD,
            "--image_size=36",
            match="not a multiple of 8",
        ),
        _e(
            "options_unknown_loss_weight",
            *t,
            '--options={"loss_weights": {"hoel": 1}}',
            match="loss_weights name.*'hoel'",
        ),
        _e(
            "options_loss_weights_not_dict",
            *t,
            '--options={"loss_weights": 3}',
            match="loss_weights must be a JSON object",
        ),
        _e(
            "generator_config_unknown_key",
            *t,
            '--generator_config={"filters": 8}',
            match="Unknown --generator_config key.*'filters'.*encoder_filters",
        ),
        _e(
            "generator_config_unknown_key_cascade",
            "--model=cascade",
            "--preset=tiny",
            _WD,
            "--vgg_weights=none",
            '--generator_config={"width": 8}',
            match="level_widths",
        ),
        _e("learning_rate_negative", *t, "--learning_rate=-1", match="learning_rate"),
        _e("learning_rate_zero", *t, "--learning_rate=0", match="positive"),
        _e("learning_rate_nan", *t, "--learning_rate=nan", match="positive"),
        _e("learning_rate_inf", *t, "--learning_rate=inf", match="positive"),
        _e(
            "d_learning_rate_negative",
            "--model=cascade",
            "--preset=tiny",
            _WD,
            "--vgg_weights=none",
            "--d_learning_rate=-0.001",
            match="d_learning_rate",
        ),
        _e(
            "finetune_learning_rate_negative",
            *t,
            '--options={"finetune_learning_rate": -1}',
            match="finetune_learning_rate",
        ),
        _e(
            "finetune_learning_rate_string",
            *t,
            '--options={"finetune_learning_rate": "fast"}',
            match="finetune_learning_rate",
        ),
        # Unhelpful messages.
        _e("data_single_image", *t, "--data={inputs}/photo.png", match="single image file"),
        _e("data_single_jpeg", *t, "--data={inputs}/photo.jpg", match="single image file"),
        _e("data_binary_file", *t, "--data={inputs}/binary.bin", match="not a UTF-8 text file"),
        _e("options_broken_json", *t, '--options={"a": }', match="--options is not valid JSON"),
        _e(
            "generator_config_broken_json",
            *t,
            "--generator_config={bad",
            match="--generator_config is not valid JSON",
        ),
        _e(
            "options_not_object", *t, "--options=[1, 2]", match="--options holds a list, not a JSON"
        ),
        _e(
            "flagfile_broken_json",
            "--flagfile={inputs}/train_bad_json.flags",
            _WD,
            match="--options is not valid JSON",
        ),
        _e(
            "model_mismatch_in_copied_workdir",
            "--model=glcic",
            "--preset=tiny",
            "--workdir={inputs}/pconv_run_copy",
            match=r"workdir .*pconv_run_copy holds a run",
        ),
        _e(
            "broken_config_json_in_workdir",
            "--model=pconv",
            "--workdir={inputs}/run_broken_config",
            match=r"run_broken_config.config\.json is not valid JSON",
        ),
        # Own cases: sources.
        _e("data_missing_path", *t, "--data={inputs}/nowhere", match="does not exist"),
        _e(
            "data_folder_without_images",
            *t,
            "--data={inputs}/data_noimages",
            match="No images found",
        ),
        _e("data_empty_folder", *t, "--data={inputs}/data_emptydir", match="No images found"),
        _e(
            "data_list_all_corrupt",
            *t,
            "--data={inputs}/list_corrupt.txt",
            match=r"No decodable image .*\(2 files tried\)",
        ),
        _e("data_list_empty", *t, "--data={inputs}/list_empty.txt", match="No image paths"),
        _e("data_empty_file_png", *t, "--data={inputs}/empty.png", match="image extension"),
        _e("data_tfds_empty_name", *t, "--data=tfds:", match="with a name"),
        _e(
            "vgg_weights_missing",
            "--model=pconv",
            "--preset=tiny",
            _WD,
            "--vgg_weights={inputs}/none.h5",
            match="not an existing file",
        ),
        # Own cases: numbers and enums.
        _e("image_size_zero", *t, "--image_size=0", match="image_size"),
        _e("image_size_not_multiple", *t, "--image_size=33", match="not a multiple"),
        _e("batch_size_negative", *t, "--batch_size=-2", match="batch_size"),
        _e("steps_zero", *t, "--steps=0", match="steps"),
        _e("log_every_zero", *t, "--log_every=0", match="log_every"),
        _e("keep_checkpoints_zero", *t, "--keep_checkpoints=0", match="keep_checkpoints"),
        _e("image_size_not_int", *t, "--image_size=big"),
        _e("learning_rate_not_float", *t, "--learning_rate=fast"),
        _e("unknown_model", "--model=unet", _WD),
        _e("unknown_flag", *t, "--epochs=3"),
        _e("missing_workdir", "--model=pconv"),
        _e("missing_model", _WD),
        _e("unknown_strategy", *t, "--strategy=tpu"),
        _e("unknown_preset", "--model=pconv", "--preset=huge", _WD, match="Unknown preset"),
        _e("bad_masks_spec", *t, "--masks=triangles", match="triangles"),
        _e("masks_irregular_missing_dir", *t, "--masks=irregular:{inputs}/nowhere"),
        _e("stage_steps_too_long", *t, "--steps=10", "--stage_steps=10", match="stage_steps"),
        _e("stage_fractions_bad_sum", *t, "--stage_fractions=0.5,0.6", match="sum to 1"),
        _e("stage_fractions_not_numbers", *t, "--stage_fractions=a,b", match="float"),
        _e("phase_flags_for_stage_model", *t, "--phase_steps=1,1", match="stages, not phases"),
        _e(
            "glcic_bad_optimizer",
            "--model=glcic",
            "--preset=tiny",
            _WD,
            '--options={"optimizer": "sgd"}',
        ),
        _e("generator_config_bad_value", *t, '--generator_config={"decoder_kernel_size": 0}'),
        _e("resize_short_side_bad", *t, "--resize_short_side=10", match="resize_short_side"),
        _e("positional_argument", *t, "extra"),
        # Legitimate: a corrupt file among good ones is skipped with a warning.
        _ok(
            "tiny_run_on_folder_with_one_corrupt_image",
            *t,
            "--data={inputs}/data_mixed",
            "--steps=2",
            "--log_every=1",
            "--stage_steps=1",
            check="exists",
            path="{out}/run/generator.weights.h5",
        ),
    ]
    return cases


def _inpaint_cases():
    src = ("--workdir={run}",)
    one = src + ("--image={inputs}/photo.png", "--mask={inputs}/mask.png")
    cases = _damaged_checkpoint_cases(
        "--image={inputs}/photo.png", "--mask={inputs}/mask.png", "--output={out}/o.png"
    ) + [
        # RGBA / LA mask rule: composite over the no-hole colour, then binarise at 0.5.
        _ok(
            "rgba_black_opaque_rect_hole_white",
            *src,
            "--image={inputs}/photo.png",
            "--mask={inputs}/mask_rgba_black_rect.png",
            "--output={out}/o.png",
            check="inpainted",
            image="{inputs}/photo.png",
            mask="{inputs}/mask_rgba_black_rect.png",
            holes_percent=0.0,
        ),
        _ok(
            "rgba_black_opaque_rect_hole_black",
            *src,
            "--image={inputs}/photo.png",
            "--mask={inputs}/mask_rgba_black_rect.png",
            "--output={out}/o.png",
            "--mask_polarity=hole_black",
            check="inpainted",
            image="{inputs}/photo.png",
            mask="{inputs}/mask_rgba_black_rect.png",
            polarity="hole_black",
            holes_percent=25.0,
        ),
        _ok(
            "rgba_white_rect_on_transparent",
            *src,
            "--image={inputs}/photo.png",
            "--mask={inputs}/mask_rgba_white_rect.png",
            "--output={out}/o.png",
            check="inpainted",
            image="{inputs}/photo.png",
            mask="{inputs}/mask_rgba_white_rect.png",
            holes_percent=25.0,
        ),
        _ok(
            "rgba_white_rect_on_transparent_hole_black",
            *src,
            "--image={inputs}/photo.png",
            "--mask={inputs}/mask_rgba_white_rect.png",
            "--output={out}/o.png",
            "--mask_polarity=hole_black",
            check="inpainted",
            image="{inputs}/photo.png",
            mask="{inputs}/mask_rgba_white_rect.png",
            polarity="hole_black",
            holes_percent=0.0,
        ),
        _ok(
            "rgba_semi_transparent",
            *src,
            "--image={inputs}/photo.png",
            "--mask={inputs}/mask_rgba_semi.png",
            "--output={out}/o.png",
            check="inpainted",
            image="{inputs}/photo.png",
            mask="{inputs}/mask_rgba_semi.png",
            holes_percent=50.0,
        ),
        _ok(
            "la_mask",
            *src,
            "--image={inputs}/photo.png",
            "--mask={inputs}/mask_la.png",
            "--output={out}/o.png",
            check="inpainted",
            image="{inputs}/photo.png",
            mask="{inputs}/mask_la.png",
            holes_percent=25.0,
        ),
        # 16-bit in, 16-bit out.
        _ok(
            "png16_keeps_16_bits",
            *src,
            "--image={inputs}/photo16.png",
            "--mask={inputs}/mask.png",
            "--output={out}/o.png",
            check="inpainted",
            image="{inputs}/photo16.png",
            mask="{inputs}/mask.png",
            depth=16,
        ),
        _ok(
            "png16_to_tiff",
            *src,
            "--image={inputs}/photo16.png",
            "--mask={inputs}/mask.png",
            "--output={out}/o.tif",
            check="inpainted",
            image="{inputs}/photo16.png",
            mask="{inputs}/mask.png",
            depth=16,
        ),
        # Hard links and symlinks are the input.
        _e(
            "output_is_hardlink_of_input",
            *one,
            "--output={inputs}/hardlink_of_photo.png",
            "--overwrite",
            match="is an input file",
        ),
        _e(
            "output_is_symlink_of_input",
            *one,
            "--output={inputs}/symlink_of_photo.png",
            "--overwrite",
            match="is an input file",
        ),
        _e(
            "output_is_the_input",
            *one,
            "--output={inputs}/photo.png",
            "--overwrite",
            match="is an input file",
        ),
        _e(
            "output_is_the_mask",
            *one,
            "--output={inputs}/mask.png",
            "--overwrite",
            match="is an input file",
        ),
        _e("output_is_a_model_file", *one, "--output={run}/generator.weights.h5", "--overwrite"),
        _e(
            "output_exists_without_overwrite",
            *one,
            "--output={inputs}/gray.png",
            match="--overwrite",
        ),
        # Folders: every pair is checked before anything is written.
        _e(
            "folder_with_corrupt_image",
            *src,
            "--image={inputs}/pairs_corrupt/images",
            "--mask={inputs}/pairs_corrupt/masks",
            "--output={out}/res",
            match=r"1 of 3 .*nothing was written.*b\.png",
        ),
        _e(
            "folder_with_wrong_mask_size",
            *src,
            "--image={inputs}/pairs_size/images",
            "--mask={inputs}/pairs_size/masks",
            "--output={out}/res",
            match="20x24",
        ),
        _e(
            "folder_with_missing_mask",
            *src,
            "--image={inputs}/pairs_nomask/images",
            "--mask={inputs}/pairs_nomask/masks",
            "--output={out}/res",
            match="no mask",
        ),
        _e(
            "folder_without_images",
            *src,
            "--image={inputs}/pairs_empty/images",
            "--mask={inputs}/pairs_empty/masks",
            "--output={out}/res",
            match="No image files",
        ),
        _e(
            "folder_output_is_a_file",
            *src,
            "--image={inputs}/pairs_ok/images",
            "--mask={inputs}/pairs_ok/masks",
            "--output={inputs}/output_is_a_file",
        ),
        _e(
            "folder_output_is_the_mask_folder",
            *src,
            "--image={inputs}/pairs_ok/images",
            "--mask={inputs}/pairs_ok/masks",
            "--output={inputs}/pairs_ok/masks",
            "--overwrite",
        ),
        _ok(
            "folder_ok",
            *src,
            "--image={inputs}/pairs_ok/images",
            "--mask={inputs}/pairs_ok/masks",
            "--output={out}/res",
            check="folder_outputs",
            folder="{out}/res",
            names=["a.png", "b.png", "c.png"],
        ),
        # Bad single files.
        _e(
            "image_corrupt",
            *src,
            "--image={inputs}/corrupt.png",
            "--mask={inputs}/mask.png",
            "--output={out}/o.png",
            match="corrupt.png",
        ),
        _e(
            "image_text_named_png",
            *src,
            "--image={inputs}/text.png",
            "--mask={inputs}/mask.png",
            "--output={out}/o.png",
            match="text.png",
        ),
        _e(
            "image_empty_file",
            *src,
            "--image={inputs}/empty.png",
            "--mask={inputs}/mask.png",
            "--output={out}/o.png",
            match="empty.png",
        ),
        _e(
            "image_corrupt_jpeg",
            *src,
            "--image={inputs}/corrupt.jpg",
            "--mask={inputs}/mask.png",
            "--output={out}/o.png",
            match="corrupt.jpg",
        ),
        _e(
            "mask_corrupt",
            *src,
            "--image={inputs}/photo.png",
            "--mask={inputs}/corrupt.png",
            "--output={out}/o.png",
            match="corrupt.png",
        ),
        _e(
            "mask_wrong_size",
            *src,
            "--image={inputs}/photo.png",
            "--mask={inputs}/mask_small.png",
            "--output={out}/o.png",
            match="20x24.*40x48",
        ),
        _e(
            "image_missing",
            *src,
            "--image={inputs}/nowhere.png",
            "--mask={inputs}/mask.png",
            "--output={out}/o.png",
            match="does not exist",
        ),
        _e(
            "mask_missing",
            *src,
            "--image={inputs}/photo.png",
            "--mask={inputs}/nowhere.png",
            "--output={out}/o.png",
            match="does not exist",
        ),
        _e(
            "image_file_mask_folder",
            *src,
            "--image={inputs}/photo.png",
            "--mask={inputs}/pairs_ok/masks",
            "--output={out}/o.png",
            match="two files",
        ),
        _e("output_unknown_extension", *one, "--output={out}/o.xyz", match="no writer"),
        _e(
            "output_under_a_file",
            *one,
            "--output={inputs}/output_is_a_file/o.png",
            match="is a file",
        ),
        _e("output_is_a_folder", *one, "--output={inputs}/pairs_ok"),
        # Flags.
        _e(
            "no_model",
            "--image={inputs}/photo.png",
            "--mask={inputs}/mask.png",
            "--output={out}/o.png",
            match="exactly one of",
        ),
        _e(
            "both_models",
            *one,
            "--checkpoint={run}/generator.json",
            "--output={out}/o.png",
            match="exactly one of",
        ),
        _e(
            "workdir_missing",
            "--workdir={inputs}/nowhere",
            "--image={inputs}/photo.png",
            "--mask={inputs}/mask.png",
            "--output={out}/o.png",
        ),
        _e(
            "workdir_without_run",
            "--workdir={inputs}/run_empty",
            "--image={inputs}/photo.png",
            "--mask={inputs}/mask.png",
            "--output={out}/o.png",
        ),
        _e(
            "checkpoint_broken_json",
            "--checkpoint={inputs}/generator_broken.json",
            "--image={inputs}/photo.png",
            "--mask={inputs}/mask.png",
            "--output={out}/o.png",
        ),
        _e(
            "checkpoint_is_an_image",
            "--checkpoint={inputs}/photo.png",
            "--image={inputs}/photo.png",
            "--mask={inputs}/mask.png",
            "--output={out}/o.png",
        ),
        _e(
            "checkpoint_unknown_name",
            "--checkpoint=no_such_checkpoint",
            "--image={inputs}/photo.png",
            "--mask={inputs}/mask.png",
            "--output={out}/o.png",
            match="Unknown checkpoint name 'no_such_checkpoint'",
        ),
        _e(
            "image_flag_missing",
            *src,
            "--mask={inputs}/mask.png",
            "--output={out}/o.png",
            match="--image is required",
        ),
        _ok("list_checkpoints", "--list_checkpoints", match="(Checkpoints in|No checkpoint in)"),
        # Without --max_size every bounded strategy takes inference.DEFAULT_MAX_SIZE.
        _ok("strategy_tile_default_max_size", *one, "--output={out}/o.png", "--strategy=tile"),
        _e(
            "max_size_with_pad",
            *one,
            "--output={out}/o.png",
            "--strategy=pad",
            "--max_size=32",
            match="not pad",
        ),
        _e("max_size_too_small", *one, "--output={out}/o.png", "--strategy=tile", "--max_size=2"),
        _e(
            "tile_overlap_too_large",
            *one,
            "--output={out}/o.png",
            "--strategy=tile",
            "--max_size=32",
            "--tile_overlap=40",
        ),
        _e("unknown_polarity", *one, "--output={out}/o.png", "--mask_polarity=white"),
        _e("unknown_strategy", *one, "--output={out}/o.png", "--strategy=magic"),
        _e("missing_output_flag", *one),
        _e("positional_argument", *one, "--output={out}/o.png", "extra"),
        # Legitimate inputs.
        _ok(
            "plain_png",
            *one,
            "--output={out}/o.png",
            check="inpainted",
            image="{inputs}/photo.png",
            mask="{inputs}/mask.png",
            holes_percent=25.0,
        ),
        _ok(
            "gray_image",
            *src,
            "--image={inputs}/gray.png",
            "--mask={inputs}/mask.png",
            "--output={out}/o.png",
            check="inpainted",
            image="{inputs}/gray.png",
            mask="{inputs}/mask.png",
        ),
        _ok(
            "hole_black_mask",
            *src,
            "--image={inputs}/photo.png",
            "--mask={inputs}/mask_black.png",
            "--mask_polarity=hole_black",
            "--output={out}/o.png",
            check="inpainted",
            image="{inputs}/photo.png",
            mask="{inputs}/mask_black.png",
            polarity="hole_black",
            holes_percent=25.0,
        ),
        _ok(
            "empty_mask_returns_input",
            *src,
            "--image={inputs}/photo.png",
            "--mask={inputs}/mask_empty.png",
            "--output={out}/o.png",
            check="inpainted",
            image="{inputs}/photo.png",
            mask="{inputs}/mask_empty.png",
            holes_percent=0.0,
        ),
        _ok(
            "full_mask",
            *src,
            "--image={inputs}/photo.png",
            "--mask={inputs}/mask_full.png",
            "--output={out}/o.png",
            check="inpainted",
            image="{inputs}/photo.png",
            mask="{inputs}/mask_full.png",
            holes_percent=100.0,
        ),
        _ok(
            "jpeg_mask",
            *src,
            "--image={inputs}/photo.png",
            "--mask={inputs}/mask.jpg",
            "--output={out}/o.png",
            check="inpainted",
            image="{inputs}/photo.png",
            mask="{inputs}/mask.jpg",
        ),
        _ok(
            "checkpoint_json",
            "--checkpoint={run}/generator.json",
            "--image={inputs}/photo.png",
            "--mask={inputs}/mask.png",
            "--output={out}/o.png",
            check="inpainted",
            image="{inputs}/photo.png",
            mask="{inputs}/mask.png",
        ),
        _ok(
            "tile_strategy",
            *one,
            "--output={out}/o.png",
            "--strategy=tile",
            "--max_size=16",
            check="inpainted",
            image="{inputs}/photo.png",
            mask="{inputs}/mask.png",
        ),
        _ok(
            "resize_strategy",
            *one,
            "--output={out}/o.png",
            "--strategy=resize",
            "--max_size=16",
            check="inpainted",
            image="{inputs}/photo.png",
            mask="{inputs}/mask.png",
        ),
        _ok(
            "output_in_new_folder",
            *one,
            "--output={out}/new/deeper/o.png",
            check="inpainted",
            image="{inputs}/photo.png",
            mask="{inputs}/mask.png",
        ),
        _ok("jpeg_output", *one, "--output={out}/o.jpg", check="exists", path="{out}/o.jpg"),
    ]
    return cases


def _evaluate_cases():
    src = ("--workdir={run}", "--image_size=32", "--baselines=")
    ok_data = "--data={inputs}/data_mixed"
    cases = _damaged_checkpoint_cases("--image_size=32", "--baselines=", ok_data) + [
        _e(
            "data_folder_all_corrupt",
            *src,
            "--data={inputs}/data_corrupt",
            match="No decodable image",
        ),
        _e(
            "data_list_missing_files",
            *src,
            "--data={inputs}/list_missing.txt",
            match="2 of 3 listed files are missing",
        ),
        _e("data_text_named_png", *src, "--data={inputs}/text.png", match="image extension"),
        _e("data_single_image", *src, "--data={inputs}/photo.png", match="single image file"),
        _e("data_tfds_unknown", *src, "--data=tfds:no_such_dataset", match="Unknown TFDS dataset"),
        _e(
            "output_json_in_missing_file_parent",
            *src,
            ok_data,
            "--output_json={inputs}/output_is_a_file/eval.json",
            match="output_json",
        ),
        _e("output_json_exists", *src, ok_data, "--output_json={inputs}/notes.txt", match="exists"),
        _e(
            "output_json_is_a_folder",
            *src,
            ok_data,
            "--output_json={inputs}/pairs_ok",
            match="exists",
        ),
        _e(
            "image_size_zero",
            "--workdir={run}",
            "--image_size=0",
            ok_data,
            match="image_size must be a positive",
        ),
        _e("image_size_negative", "--workdir={run}", "--image_size=-32", ok_data),
        _e(
            "image_size_not_multiple",
            "--workdir={run}",
            "--image_size=33",
            ok_data,
            match="not a multiple",
        ),
        _e("average_last_zero", *src, ok_data, "--average_last=0", match="positive integer"),
        _e(
            "average_last_beyond_the_run",
            *src,
            ok_data,
            "--average_last=50",
            match="more checkpoints than",
        ),
        _e("num_images_zero", *src, ok_data, "--num_images=0", match="num_images"),
        _e("num_images_negative", *src, ok_data, "--num_images=-3", match="num_images"),
        _e("batch_size_zero", *src, ok_data, "--batch_size=0", match="batch_size"),
        _e(
            "unknown_baseline",
            "--workdir={run}",
            "--image_size=32",
            ok_data,
            "--baselines=photoshop",
            match="photoshop",
        ),
        _e("bad_masks_spec", *src, ok_data, "--masks=blobs", match="blobs"),
        # No model scores the classical fills alone; with no baseline either, nothing is left.
        _e("no_model_no_baselines", "--image_size=32", ok_data, "--baselines=", match="nothing"),
        _e("both_models", *src, ok_data, "--checkpoint={run}/generator.json"),
        _e("workdir_missing", "--workdir={inputs}/nowhere", ok_data),
        _e("workdir_broken_config", "--workdir={inputs}/run_broken_config", ok_data),
        _e("checkpoint_broken_json", "--checkpoint={inputs}/generator_broken.json", ok_data),
        _e("data_missing", *src, "--data={inputs}/nowhere", match="does not exist"),
        _e("data_binary_file", *src, "--data={inputs}/binary.bin", match="not a UTF-8"),
        _e("unknown_flag", *src, ok_data, "--images=3"),
        _e("positional_argument", *src, ok_data, "extra"),
        _e("irregular_polarity_unknown", *src, ok_data, "--irregular_polarity=white"),
        _ok(
            "mixed_folder_two_images",
            *src,
            ok_data,
            "--num_images=2",
            "--output_json={out}/new/dir/eval.json",
            check="json_records",
            path="{out}/new/dir/eval.json",
            count=2,
        ),
        _e("score_unknown", *src, ok_data, "--score=int16"),
        _e("ssim_unknown", *src, ok_data, "--ssim=box"),
        _e("plot_not_png", *src, ok_data, "--plot={out}/plot.jpg", match=r"does not end in \.png"),
        _e("plot_exists", *src, ok_data, "--plot={inputs}/photo.png", match="exists"),
        _e("mask_dir_missing", *src, ok_data, "--mask_dir={inputs}/nowhere", match="not a folder"),
        _e(
            "mask_dir_without_png",
            *src,
            ok_data,
            "--mask_dir={inputs}/data_noimages",
            match="holds no PNG",
        ),
        _e(
            "mask_dir_wrong_size",
            *src,
            ok_data,
            "--mask_dir={inputs}/pairs_ok/masks",
            match="is 48x40 but the images are 32x32",
        ),
        _e(
            "mask_dir_with_masks",
            *src,
            ok_data,
            "--mask_dir={inputs}/mask_set_32",
            "--masks=rect",
            match="not both",
        ),
        _e(
            "mask_dir_fewer_masks_than_num_images",
            *src,
            ok_data,
            "--mask_dir={inputs}/mask_set_32",
            "--num_images=3",
            match="holds 2 masks",
        ),
        _e(
            "inception_weights_missing_file",
            *src,
            ok_data,
            "--inception_weights={inputs}/nowhere.h5",
            match="is not a file; expected none, imagenet",
        ),
        _e(
            "inception_weights_not_hdf5",
            *src,
            ok_data,
            "--inception_weights={inputs}/vgg_not_hdf5.h5",
            match="Cannot load --inception_weights=",
        ),
        _e("inception_weights_random", *src, ok_data, "--inception_weights=random"),
        _ok(
            "mask_dir_with_plot",
            *src,
            ok_data,
            "--mask_dir={inputs}/mask_set_32",
            "--plot={out}/plots/eval.png",
            "--score=float",
            check="exists",
            path="{out}/plots/eval.png",
        ),
        _ok(
            "list_file_with_telea",
            "--workdir={run}",
            "--image_size=32",
            "--data={inputs}/list_ok.txt",
            "--baselines=telea",
            "--batch_size=1",
            check="stdout",
            pattern=r"telea",
        ),
    ]
    return cases


def _export_cases():
    src = ("--workdir={run}",)
    cases = _damaged_checkpoint_cases("--format=saved_model", "--output={out}/m") + [
        _e("no_format", *src, "--output={out}/m"),
        _e("unknown_format", *src, "--format=onnx", "--output={out}/m"),
        _e("no_output", *src, "--format=saved_model"),
        _e(
            "quantize_with_saved_model",
            *src,
            "--format=saved_model",
            "--quantize=float16",
            "--output={out}/m",
            match="--quantize applies",
        ),
        _e(
            "image_size_with_saved_model",
            *src,
            "--format=saved_model",
            "--image_size=32",
            "--output={out}/m",
            match="--image_size applies",
        ),
        _e(
            "version_with_tflite",
            *src,
            "--format=tflite",
            "--version=1",
            "--output={out}/m.tflite",
            match="--version applies",
        ),
        _e(
            "version_zero",
            *src,
            "--format=saved_model",
            "--version=0",
            "--output={out}/m",
            match="positive",
        ),
        _e(
            "image_size_zero",
            *src,
            "--format=tflite",
            "--image_size=0",
            "--output={out}/m.tflite",
            match="positive",
        ),
        _e(
            "unknown_quantize",
            *src,
            "--format=tflite",
            "--quantize=int4",
            "--output={out}/m.tflite",
        ),
        _e(
            "output_exists",
            *src,
            "--format=tflite",
            "--output={inputs}/notes.txt",
            match="--overwrite",
        ),
        _e(
            "output_is_the_run",
            *src,
            "--format=saved_model",
            "--output={run}",
            "--overwrite",
            match="is or contains the input",
        ),
        _e(
            "output_contains_the_run",
            "--checkpoint={inputs}/pconv_run_copy/generator.json",
            "--format=saved_model",
            "--output={inputs}",
            "--overwrite",
            match="is or contains the input",
        ),
        _e(
            "output_is_the_weights_file",
            *src,
            "--format=tflite",
            "--output={run}/generator.weights.h5",
            "--overwrite",
        ),
        _e(
            "tflite_output_is_a_folder",
            *src,
            "--format=tflite",
            "--output={inputs}/pairs_ok",
            "--overwrite",
        ),
        _e("no_model", "--format=tflite", "--output={out}/m.tflite", match="exactly one of"),
        _e(
            "both_models",
            *src,
            "--checkpoint={run}/generator.json",
            "--format=tflite",
            "--output={out}/m.tflite",
        ),
        _e(
            "workdir_missing",
            "--workdir={inputs}/nowhere",
            "--format=tflite",
            "--output={out}/m.tflite",
        ),
        _e(
            "workdir_empty",
            "--workdir={inputs}/run_empty",
            "--format=tflite",
            "--output={out}/m.tflite",
        ),
        _e(
            "workdir_broken_config",
            "--workdir={inputs}/run_broken_config",
            "--format=tflite",
            "--output={out}/m.tflite",
        ),
        _e(
            "checkpoint_broken_json",
            "--checkpoint={inputs}/generator_broken.json",
            "--format=tflite",
            "--output={out}/m.tflite",
        ),
        _e(
            "checkpoint_is_an_image",
            "--checkpoint={inputs}/photo.png",
            "--format=tflite",
            "--output={out}/m.tflite",
        ),
        _e("positional_argument", *src, "--format=tflite", "--output={out}/m.tflite", "extra"),
        _ok(
            "saved_model_readable_by_others",
            *src,
            "--format=saved_model",
            "--version=1",
            "--output={out}/serving",
            check="readable_by_others",
            path="{out}/serving",
        ),
        _ok(
            "tflite_readable_by_others",
            *src,
            "--format=tflite",
            "--image_size=32",
            "--output={out}/m.tflite",
            check="readable_by_others",
            path="{out}/m.tflite",
        ),
        # export --overwrite replaces earlier exports only (issue 30, class C).
        _e(
            "overwrite_unrelated_folder",
            *src,
            "--format=saved_model",
            "--output={inputs}/export_unrelated",
            "--overwrite",
            match="not an earlier export",
        ),
        _e(
            "overwrite_unrelated_file_with_tflite",
            *src,
            "--format=tflite",
            "--output={inputs}/notes.txt",
            "--overwrite",
            match="not an earlier export",
        ),
        _e(
            "overwrite_link_to_unrelated_folder",
            *src,
            "--format=saved_model",
            "--output={inputs}/link_to_unrelated",
            "--overwrite",
            match="not an earlier export",
        ),
        _e("output_empty", *src, "--format=saved_model", "--output=", match="empty"),
        _e(
            "output_empty_with_version",
            *src,
            "--format=saved_model",
            "--output=",
            "--version=1",
            match="empty",
        ),
        _e(
            "output_parent_is_a_file",
            *src,
            "--format=tflite",
            "--output={inputs}/output_is_a_file/m.tflite",
            match="is a file, not a folder",
        ),
        _e(
            "output_under_a_file_saved_model",
            *src,
            "--format=saved_model",
            "--version=1",
            "--output={inputs}/photo.png/serving",
            match="is a file, not a folder",
        ),
        _ok(
            "overwrite_previous_export",
            *src,
            "--format=saved_model",
            "--version=1",
            "--output={inputs}/../exports/previous",
            "--overwrite",
            check="export_replaced",
            path="{inputs}/../exports/previous/1",
        ),
        _ok(
            "overwrite_link_to_previous_export",
            *src,
            "--format=saved_model",
            "--output={inputs}/../exports/link",
            "--overwrite",
            check="export_replaced",
            path="{inputs}/../exports/link",
            link_target="{inputs}/../exports/link_target",
        ),
    ]
    return cases


# --- Failure classes of issue 30: one mechanism per class, several members each ----------------


def _write_failure_class_inputs(path, trained_run):
    """Non-regular files, header-only bombs, masks of every convention, malformed JSON and
    damaged weights (tests/bad_files.py writes them; nothing here is ever decoded in full)."""
    import bad_files

    bad_files.make_fifo(path("special", "fifo.png"))
    bad_files.make_socket(path("special", "sock.png"))
    bad_files.make_folder(path("special", "folder.png"))
    for kind, write in bad_files.BOMBS.items():
        side = 16000 if kind.startswith("webp") else 60000
        bad_files.write(path("bombs", kind + bad_files.BOMB_EXTENSIONS[kind]), write(side, side))
    # 100 megapixels of zeros, ~100 KB each (the case raises --max_pixels to take them): the
    # tiny PConv's own graph (about 370 B/px with the estimate's margin) puts pad at ~37 GB,
    # past the 24 GB of the project's machines.
    for name in ("big_zeros.png", "big_zeros_mask.png"):
        bad_files.write(path(name), bad_files.compressible_png(10000, 10000))
    zero_one = (_hole_white_mask() // 255).astype(np.uint8)
    cv2.imwrite(path("mask01.png"), zero_one)
    cv2.imwrite(path("mask01_16.png"), zero_one.astype(np.uint16))
    cv2.imwrite(path("mask01_rgb.png"), np.dstack([zero_one] * 3))
    strokes = _photo()
    strokes[RECT] = (0, 0, 255)  # Red strokes painted on the photo (BGR).
    cv2.imwrite(path("mask_strokes.png"), strokes)
    cv2.imwrite(path("pairs_fifo", "images", "a.png"), _photo())
    cv2.imwrite(path("pairs_fifo", "masks", "a.png"), _hole_white_mask())
    bad_files.make_fifo(path("pairs_fifo", "images", "x.png"))
    # Mask sets for evaluate.py --mask_dir: 0/1 masks, and one bad mask beside a good one.
    good = np.zeros((32, 32), np.uint8)
    good[4:20, 6:26] = 255
    cv2.imwrite(path("mask_set_01", "00000.png"), good // 255)
    cv2.imwrite(path("mask_set_01", "00001.png"), (good // 255).astype(np.uint16))
    for name, bad in (
        ("empty", np.zeros((32, 32), np.uint8)),
        ("colour", np.dstack([good, np.zeros((32, 32, 2), np.uint8)])),
        ("truncated", None),
    ):
        cv2.imwrite(path(f"mask_set_{name}", "00000.png"), good)
        target = path(f"mask_set_{name}", "00001.png")
        if bad is None:
            cv2.imwrite(target, good)
            with open(target, "r+b") as f:
                f.truncate(os.path.getsize(target) // 3)
        else:
            cv2.imwrite(target, bad)
    # irregular:DIR with a truncated mask among good ones.
    for index in range(3):
        cv2.imwrite(path("irregular_damaged", f"{index}.png"), np.roll(good, 4 * index, axis=0))
    damaged = path("irregular_damaged", "1.png")
    with open(damaged, "r+b") as f:
        f.truncate(60)
    # Generator descriptions of every wrong JSON shape.
    for name, text in (
        ("list", "[1, 2]"),
        ("string", '"generator"'),
        ("number", "3"),
        ("null", "null"),
        ("deep", "[" * 50_000 + "]" * 50_000),
        ("empty", ""),
        ("config_not_object", None),
        ("unknown_key", None),
    ):
        with open(os.path.join(trained_run, "generator.json"), encoding="utf-8") as f:
            description = json.load(f)
        if name == "config_not_object":
            description["config"] = "not a dict"
            text = json.dumps(description)
        elif name == "unknown_key":
            description["config"]["bogus_key"] = 1
            text = json.dumps(description)
        with open(path("json_shapes", f"{name}.json"), "w") as f:
            f.write(text)
        shutil.copy(
            os.path.join(trained_run, "generator.weights.h5"),
            path("json_shapes", "generator.weights.h5"),
        )
    # Weights files damaged every way, beside the run's own description.
    from tfinpaint.models import registry, saving

    saving.save_generator(
        registry.build_generator("cascade", "tiny"), "cascade", "tiny", path("other_family")
    )
    weights = open(os.path.join(trained_run, "generator.weights.h5"), "rb").read()
    for name, data in (
        ("truncated", weights[: len(weights) // 2]),
        ("zero_bytes", b""),
        ("random_bytes", np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes()),
        ("other_family", open(path("other_family", "generator.weights.h5"), "rb").read()),
    ):
        shutil.copy(
            os.path.join(trained_run, "generator.json"), path("weights_" + name, "generator.json")
        )
        with open(path("weights_" + name, "generator.weights.h5"), "wb") as f:
            f.write(data)


_SPECIAL = (("fifo", "FIFO"), ("sock", "socket"))
_BOMBS = (
    "png.png",
    "jpeg.jpg",
    "webp.webp",
    "webp_lossless.webp",
    "bmp.bmp",
    "gif.gif",
    "tiff.tif",
)


def _failure_class_train_cases():
    t = _TINY + (_WD,)
    return [
        *(
            _e(f"fc_data_{name}", *t, f"--data={{inputs}}/special/{name}.png", match=word)
            for name, word in _SPECIAL
        ),
        _e("fc_data_dev_zero", *t, "--data=/dev/zero", match="character device, not a folder"),
        _e("fc_options_list", *t, "--options=[1, 2]", match="--options holds a list"),
        _e("fc_options_string", *t, '--options="x"', match="--options holds a string"),
        _e("fc_options_null", *t, "--options=null", match="--options holds null"),
        _e(
            "fc_options_nested_deep",
            *t,
            "--options=" + "[" * 50_000 + "]" * 50_000,
            match="--options nests JSON deeper.*RecursionError",
        ),
        _e(
            "fc_generator_config_nested_deep",
            *t,
            "--generator_config=" + '{"a":' * 50_000 + "1" + "}" * 50_000,
            match="--generator_config nests JSON deeper",
        ),
        _e(
            "fc_batch_size_beyond_memory",
            *t,
            "--batch_size=100000000",
            match=r"--batch_size=100000000 .* by estimate.*--batch_size=\d+ or less",
        ),
        _e("fc_max_pixels_zero", *t, "--max_pixels=0"),
        _e(
            "fc_max_pixels_below_every_image",
            *t,
            "--data={inputs}/data_mixed",
            "--max_pixels=100",
            match="No decodable image.*more than --max_pixels=100",
        ),
    ]


def _failure_class_inpaint_cases():
    src = ("--workdir={run}",)
    image, mask, out = (
        "--image={inputs}/photo.png",
        "--mask={inputs}/mask.png",
        "--output={out}/o.png",
    )
    cases = []
    for name, word in _SPECIAL:
        cases.append(
            _e(
                f"fc_image_{name}",
                *src,
                f"--image={{inputs}}/special/{name}.png",
                mask,
                out,
                match=f"image .*is a {word}",
            )
        )
        cases.append(
            _e(
                f"fc_mask_{name}",
                *src,
                image,
                f"--mask={{inputs}}/special/{name}.png",
                out,
                match=f"mask .*is a {word}",
            )
        )
    cases += [
        _e(
            "fc_image_dev_zero", *src, "--image=/dev/zero", mask, out, match="is a character device"
        ),
        _e("fc_mask_dev_zero", *src, image, "--mask=/dev/zero", out, match="is a character device"),
        _e(
            "fc_image_folder_mask_file",
            *src,
            "--image={inputs}/special/folder.png",
            mask,
            out,
            match="expected two files or two folders",
        ),
        _ok(
            "fc_folder_with_fifo_skips_it",
            *src,
            "--image={inputs}/pairs_fifo/images",
            "--mask={inputs}/pairs_fifo/masks",
            "--output={out}/res",
            check="folder_outputs",
            folder="{out}/res",
            names=["a.png"],
        ),
    ]
    for bomb in _BOMBS:
        kind = bomb.split(".")[0]
        side = 16000 if kind.startswith("webp") else 60000
        cases.append(
            _e(
                f"fc_image_bomb_{kind}",
                *src,
                f"--image={{inputs}}/bombs/{bomb}",
                mask,
                out,
                match=f"{side}x{side} .*by its header, more than --max_pixels=50000000",
            )
        )
    cases += [
        _e(
            "fc_mask_bomb_png",
            *src,
            image,
            "--mask={inputs}/bombs/png.png",
            out,
            match="mask .*60000x60000",
        ),
        _e(
            "fc_max_pixels_below_the_image",
            *src,
            image,
            mask,
            out,
            "--max_pixels=100",
            match="--max_pixels=100 ",
        ),
        _e("fc_max_pixels_zero", *src, image, mask, out, "--max_pixels=0"),
        _e(
            "fc_pad_beyond_memory_names_a_strategy",
            *src,
            "--image={inputs}/big_zeros.png",
            "--mask={inputs}/big_zeros_mask.png",
            out,
            "--max_pixels=200000000",
            "--strategy=pad",
            match=r"10000x10000 .*--strategy=pad needs about .* GiB.*--strategy=tile --max_size=\d",
        ),
        _e(
            "fc_colour_mask",
            *src,
            image,
            "--mask={inputs}/mask_strokes.png",
            out,
            match="is in colour.*grayscale",
        ),
        _ok(
            "fc_empty_mask_warns",
            *src,
            image,
            "--mask={inputs}/mask_empty.png",
            out,
            match=r"Warning: the mask .*mask_empty\.png has no hole pixel",
            check="inpainted",
            image="{inputs}/photo.png",
            mask="{inputs}/mask_empty.png",
            holes_percent=0.0,
        ),
    ]
    for name in ("mask01", "mask01_16", "mask01_rgb"):
        cases.append(
            _ok(
                f"fc_zero_one_{name}",
                *src,
                image,
                f"--mask={{inputs}}/{name}.png",
                out,
                check="inpainted",
                image="{inputs}/photo.png",
                mask=f"{{inputs}}/{name}.png",
                holes_percent=25.0,
            )
        )
    for name, expected in (
        ("list", "holds a list, not a JSON object"),
        ("string", "holds a string"),
        ("number", "holds a number"),
        ("null", "holds null"),
        ("deep", "RecursionError"),
        ("empty", "is empty"),
        ("config_not_object", "'config' in .* is a string"),
        ("unknown_key", "Unknown config key.*'bogus_key'"),
    ):
        cases.append(
            _e(
                f"fc_checkpoint_json_{name}",
                f"--checkpoint={{inputs}}/json_shapes/{name}.json",
                image,
                mask,
                out,
                match=expected,
            )
        )
    for name, expected in (
        ("truncated", "damaged or truncated"),
        ("zero_bytes", "is empty"),
        ("random_bytes", "not an HDF5 file"),
        ("other_family", "does not fit the pconv generator.*another family or architecture"),
    ):
        cases.append(
            _e(
                f"fc_weights_{name}",
                f"--checkpoint={{inputs}}/weights_{name}/generator.json",
                image,
                mask,
                out,
                match=expected,
            )
        )
    return cases


def _failure_class_evaluate_cases():
    src = ("--workdir={run}", "--image_size=32", "--baselines=")
    ok_data = "--data={inputs}/data_mixed"
    return [
        *(
            _e(f"fc_data_{name}", *src, f"--data={{inputs}}/special/{name}.png", match=word)
            for name, word in _SPECIAL
        ),
        _e("fc_data_dev_zero", *src, "--data=/dev/zero", match="character device"),
        _e(
            "fc_mask_dir_is_a_fifo",
            *src,
            ok_data,
            "--mask_dir={inputs}/special/fifo.png",
            match="FIFO",
        ),
        _ok(
            "fc_mask_dir_zero_one",
            *src,
            ok_data,
            "--mask_dir={inputs}/mask_set_01",
            "--num_images=2",
            "--output_json={out}/eval.json",
            check="json_records",
            path="{out}/eval.json",
            count=2,
        ),
        _e(
            "fc_mask_dir_empty_mask",
            *src,
            ok_data,
            "--mask_dir={inputs}/mask_set_empty",
            match="1 of the 2 masks .* have no hole pixel",
        ),
        _e(
            "fc_mask_dir_colour_mask",
            *src,
            ok_data,
            "--mask_dir={inputs}/mask_set_colour",
            match="1 of the 2 masks .*cannot be used.*in colour",
        ),
        _e(
            "fc_mask_dir_truncated_mask",
            *src,
            ok_data,
            "--mask_dir={inputs}/mask_set_truncated",
            match="1 of the 2 masks .*cannot be used.*could not be decoded",
        ),
        _ok(
            "fc_irregular_with_a_damaged_mask",
            *src,
            ok_data,
            "--masks=irregular:{inputs}/irregular_damaged",
            "--output_json={out}/eval.json",
            check="json_records",
            path="{out}/eval.json",
            count=4,
        ),
        _e(
            "fc_batch_size_beyond_memory",
            *src,
            ok_data,
            "--batch_size=100000000",
            match=r"--batch_size=100000000 .* by estimate.*--batch_size=\d+ or less",
        ),
        _e(
            "fc_max_pixels_below_every_image",
            *src,
            ok_data,
            "--max_pixels=100",
            match="No decodable image.*more than --max_pixels=100",
        ),
    ]


CASES = {
    "train": _train_cases() + _failure_class_train_cases(),
    "inpaint": _inpaint_cases() + _failure_class_inpaint_cases(),
    "evaluate": _evaluate_cases() + _failure_class_evaluate_cases(),
    "export": _export_cases(),
}


def _fill(value, mapping):
    if isinstance(value, str):  # Plain replacement: arguments hold JSON braces.
        for key, replacement in mapping.items():
            value = value.replace("{" + key + "}", replacement)
        return value
    if isinstance(value, list):
        return [_fill(item, mapping) for item in value]
    return value


def expand(tool, cases, inputs, run, scratch):
    """The cases of `tool` with placeholders filled, as campaign_driver.py reads them."""
    expanded = []
    for case in cases:
        out = os.path.join(scratch, tool, case.name)
        mapping = {"inputs": inputs, "run": run, "out": out}
        expanded.append(
            {
                "name": case.name,
                "argv": [f"{tool}.py"] + [_fill(arg, mapping) for arg in case.args],
                "out": out,
                "hash_roots": [inputs, run],
                "check": case.check,
                "check_args": {key: _fill(value, mapping) for key, value in case.check_args},
            }
        )
    return expanded
