"""Layers whose semantics the papers define (one file per layer family)."""

from tfinpaint.layers.attention import SelfAttention2D
from tfinpaint.layers.blocks import FuseBlock, SeparableResidualBlock, SNResidualBlock
from tfinpaint.layers.contextual_attention import ContextualAttention
from tfinpaint.layers.crop import LocalCrop, crop_local, local_crop_boxes
from tfinpaint.layers.dilation import CDBlock, SPDBlock
from tfinpaint.layers.gradient import GAIBlock, GAIStack, Grad
from tfinpaint.layers.normalization import BatchNormalization
from tfinpaint.layers.padding import ReplicatePadConv2D, replicate_pad
from tfinpaint.layers.partial_conv import PartialConv2D
from tfinpaint.layers.resample import (
    BilinearResize2D,
    NearestDownsample2D,
    NearestUpsample2D,
    downsample_nearest,
    resize_bilinear_align_corners,
    upsample_nearest,
)

__all__ = [
    "BatchNormalization",
    "BilinearResize2D",
    "CDBlock",
    "ContextualAttention",
    "FuseBlock",
    "GAIBlock",
    "GAIStack",
    "Grad",
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
    "resize_bilinear_align_corners",
    "upsample_nearest",
]
