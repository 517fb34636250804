"""Layers whose semantics the papers define (one file per layer family)."""

from tfinpaint.layers.attention import SelfAttention2D
from tfinpaint.layers.blocks import FuseBlock, SeparableResidualBlock, SNResidualBlock
from tfinpaint.layers.crop import LocalCrop, crop_local, local_crop_boxes
from tfinpaint.layers.dilation import CDBlock, SPDBlock
from tfinpaint.layers.padding import ReplicatePadConv2D, replicate_pad
from tfinpaint.layers.partial_conv import PartialConv2D
from tfinpaint.layers.resample import (
    NearestDownsample2D,
    NearestUpsample2D,
    downsample_nearest,
    upsample_nearest,
)

__all__ = [
    "CDBlock",
    "FuseBlock",
    "LocalCrop",
    "NearestDownsample2D",
    "NearestUpsample2D",
    "PartialConv2D",
    "ReplicatePadConv2D",
    "SNResidualBlock",
    "SPDBlock",
    "SelfAttention2D",
    "SeparableResidualBlock",
    "crop_local",
    "downsample_nearest",
    "local_crop_boxes",
    "replicate_pad",
    "upsample_nearest",
]
