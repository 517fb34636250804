"""The family contracts as code: InpaintingGenerator, one preset table, build_discriminators,
typed trainer options, lazily reachable subpackages."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from tfinpaint.models import InpaintingGenerator, registry
from tfinpaint.models.base import blend
from tfinpaint.training.trainer import TrainerOptions

FAMILIES = ("pconv", "glcic", "cascade", "deepgin", "gain")


def _batch(size=32, extra=False):
    rng = np.random.default_rng(0)
    batch = {
        "images": rng.uniform(size=(2, size, size, 3)).astype("float32"),
        "masks": np.zeros((2, size, size, 1), "float32"),
    }
    batch["masks"][:, 4:20, 8:24] = 1.0
    if extra:
        batch["boxes"] = np.zeros((2, 4), "int32")
        batch["gradients"] = np.zeros((2, size, size, 2), "float32")
    return batch


def test_blend_is_raw_in_holes_and_images_elsewhere():
    rng = np.random.default_rng(1)
    raw, images = rng.uniform(size=(2, 2, 8, 8, 3)).astype("float32")
    holes = (rng.uniform(size=(2, 8, 8, 1)) > 0.5).astype("float32")
    out = keras.ops.convert_to_numpy(blend(raw, images, holes))
    np.testing.assert_array_equal(out, np.where(holes > 0.5, raw, images))


@pytest.mark.parametrize("family", FAMILIES)
def test_every_generator_keeps_the_base_contract(family):
    generator = registry.build_generator(family, "tiny")
    assert isinstance(generator, InpaintingGenerator)
    multiple = registry.size_multiple(family, "tiny")
    assert generator.size_multiple == multiple
    config = json.loads(json.dumps(generator.get_config()))
    assert {"name", "trainable", "dtype"} <= set(config)
    restored = type(generator).from_config(config)
    assert restored.count_params() == generator.count_params()
    # Extra batch keys are dropped, not an error.
    size = 4 * multiple
    plain = generator(_batch(size))["inpainted"]
    with_extra = generator(_batch(size, extra=True))["inpainted"]
    np.testing.assert_array_equal(np.asarray(plain), np.asarray(with_extra))
    with pytest.raises(ValueError, match=f"divisible by {multiple}"):
        generator(_batch(size + 2))
    with pytest.raises(ValueError, match="expected a dict with 'images' and 'masks'"):
        generator({"images": _batch(size)["images"]})
    batch = _batch(size)
    with pytest.raises(ValueError, match="expected the same size"):
        generator({"images": batch["images"], "masks": batch["masks"][:, :multiple]})


@pytest.mark.parametrize("family", FAMILIES)
def test_one_preset_table_per_family(family):
    entry = registry.get_preset(family, "tiny")
    assert set(entry) == {"generator", "discriminators", "training"}
    discriminators = registry.build_discriminators(family, "tiny")
    assert list(discriminators) == list(registry.get_family(family).discriminators)
    assert set(entry["discriminators"]) == set(discriminators)
    trainer_cls = registry.get_family(family).load("trainer")
    trainer_cls.Options.parse(entry["training"].get("options", {}), family)
    with pytest.raises(ValueError, match="Unknown preset 'huge'"):
        registry.get_preset(family, "huge")


def test_pconv_has_no_discriminators():
    assert registry.build_discriminators("pconv", "tiny") == {}


def test_typed_options_refuse_unknown_names_and_wrong_types():
    import dataclasses  # noqa: PLC0415

    @dataclasses.dataclass
    class Options(TrainerOptions):
        rate: float = 1.0
        steps: int = 3
        spec: str | None = None

    assert Options.parse({"rate": 2, "steps": 4}).rate == 2.0  # ints are floats where wanted
    assert Options.parse({}).spec is None
    with pytest.raises(ValueError, match="Unknown --options key.*'ratee'.*rate, spec, steps"):
        Options.parse({"ratee": 1}, "toy")
    with pytest.raises(ValueError, match="option steps takes int, got 'many'"):
        Options.parse({"steps": "many"}, "toy")
    with pytest.raises(ValueError, match="option steps takes int, got True"):
        Options.parse({"steps": True}, "toy")


def test_build_generator_refuses_unknown_arguments():
    with pytest.raises(ValueError, match="Unknown argument.*PConvUNet: 'width'"):
        registry.build_generator("pconv", "tiny", width=3)
    generator = registry.build_generator("pconv", "tiny", name="named")
    assert generator.name == "named"


def test_subpackages_are_reachable_after_import_tfinpaint_and_loaded_lazily():
    code = (
        "import sys, tfinpaint\n"
        "loaded = [m for m in sys.modules if m.startswith('tfinpaint.')]\n"
        "assert not loaded, loaded\n"
        "assert tfinpaint.models.list_models()[:3] == ['pconv', 'glcic', 'cascade']\n"
        "assert callable(tfinpaint.data.build_dataset) and tfinpaint.layers.PartialConv2D\n"
        "assert 'tfinpaint.export' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
