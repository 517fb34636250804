"""A/B partner of benchmarks/cascade_dcheck.sh (run from the repository root): the same run
with the cascade discriminators' former global *mean* pooling (before issue 14's fix), forced
by patching the constructors' default."""

import runpy
import sys

from tfinpaint.models import cascade

for cls in (cascade.CascadeDiscriminator, cascade.CascadePyramidDiscriminator):
    original = cls.__init__

    def patched(self, *args, _original=original, **kwargs):
        kwargs["pooling"] = "mean"
        _original(self, *args, **kwargs)

    cls.__init__ = patched
sys.argv = [
    "tools/train.py",
    "--model=cascade",
    "--preset=paper",
    "--data=/work/data/photos/train",
    "--workdir=/work/runs/cascade_dcheck_mean",
    "--init_from=/work/runs/cascade_photos",
    "--image_size=128",
    "--batch_size=8",
    "--steps=600",
    "--stage_steps=599",
    "--log_every=50",
    "--checkpoint_every=300",
    "--sample_every=600",
    "--vgg_weights=none",
    "--masks=mixed:freeform=3,rect:0.2-0.5=1",
]
runpy.run_path("tools/train.py", run_name="__main__")
