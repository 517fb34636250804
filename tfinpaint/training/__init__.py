"""Training: the trainer base class, the family trainers, schedules and the run loop."""

from tfinpaint.training.config import TrainConfig
from tfinpaint.training.loop import run_training
from tfinpaint.training.trainer import InpaintingTrainer

__all__ = ["InpaintingTrainer", "TrainConfig", "run_training"]
