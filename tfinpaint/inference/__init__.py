"""Inpainting with a trained generator: load it, fill the holes of images of any size.

One module per job, each the one owner of its names; this package re-exports the public API:
- `loading`: `load_generator(path_or_name)` rebuilds a generator from a training run folder
  (its latest checkpoint, or the mean of its newest few), a checkpoint prefix, a saved
  `generator.json` + `generator.weights.h5` pair (DESIGN.md, Checkpoints) or the name of a
  shipped checkpoint;
- `catalogue`: the shipped checkpoints (`checkpoints_dir`, `list_checkpoints`,
  `format_checkpoint_list`), and `shipping`: `ship_checkpoint`, which writes one from a run;
- `strategies`: `inpaint(generator, image, hole_mask)` on one HxWx3 image of any size
  (reflect-padded, tiled, downscaled or split into polyphase sub-images, optionally as a
  test-time self-ensemble), returning an image of the same size and dtype whose known pixels
  are exactly the input's;
- `memory`: what that needs in memory, and the checks that refuse what cannot fit
  (`estimate_inpaint_bytes`, `check_inpaint_memory`, `check_batch_memory`);
- `jobs`: what `tools/inpaint.py` runs on files (`plan_jobs`, `check_jobs`, `inpaint_file`):
  every check on the paths happens in `plan_jobs` and every image/mask pair is read once by
  `check_jobs`, before anything is written. Files are read and written by
  `tfinpaint.data.imageio` (`read_image`, `read_hole_mask`, `write_image`, re-exported here).

Imports flow one way inside: catalogue -> loading -> shipping; strategies -> jobs -> shipping;
memory stands alone. The package imports models, data and runs, never tools.

Example:
```python
from tfinpaint import inference
generator, info = inference.load_generator("runs/pconv_tiny", with_info=True)
result = inference.inpaint(generator, image_uint8, hole_mask, strategy="tile", max_size=256)
print(inference.list_checkpoints())  # {"NAME": "one-line description", ...}
generator = inference.load_generator("NAME")  # a shipped checkpoint
```
"""

from tfinpaint.data.imageio import MASK_POLARITIES, read_hole_mask, read_image, write_image
from tfinpaint.inference.catalogue import (
    CHECKPOINTS_DIR_ENV,
    PACKAGE_CHECKPOINTS_DIR,
    checkpoints_dir,
    format_checkpoint_list,
    list_checkpoints,
)
from tfinpaint.inference.jobs import (
    check_jobs,
    empty_mask_warning,
    inpaint_file,
    plan_jobs,
    same_file,
)
from tfinpaint.inference.loading import describe, load_generator
from tfinpaint.inference.memory import (
    available_memory_bytes,
    check_batch_memory,
    check_inpaint_memory,
    estimate_inpaint_bytes,
)
from tfinpaint.inference.shipping import ship_checkpoint
from tfinpaint.inference.strategies import (
    DEFAULT_MAX_SIZE,
    POSTPROCESSING,
    STRATEGIES,
    inpaint,
    resolve_strategy,
)

__all__ = [
    "CHECKPOINTS_DIR_ENV",
    "DEFAULT_MAX_SIZE",
    "MASK_POLARITIES",
    "PACKAGE_CHECKPOINTS_DIR",
    "POSTPROCESSING",
    "STRATEGIES",
    "available_memory_bytes",
    "check_batch_memory",
    "check_inpaint_memory",
    "check_jobs",
    "checkpoints_dir",
    "describe",
    "empty_mask_warning",
    "estimate_inpaint_bytes",
    "format_checkpoint_list",
    "inpaint",
    "inpaint_file",
    "list_checkpoints",
    "load_generator",
    "plan_jobs",
    "read_hole_mask",
    "read_image",
    "resolve_strategy",
    "same_file",
    "ship_checkpoint",
    "write_image",
]
