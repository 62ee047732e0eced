"""Training the networks: one loop, the checkpoint format, and a scikit-learn face for every network.

- :mod:`ramancmp.training.loop` -- seeding, augmentation, :class:`TrainConfig` (the one definition of a training
  run: every estimator takes it whole), :func:`train_model`, :class:`History`
- :mod:`ramancmp.training.checkpoint` -- weights-only ``.pt`` + JSON recipe (:func:`save_checkpoint`,
  :func:`load_checkpoint`)
- :mod:`ramancmp.training.classifier` -- :class:`TorchClassifier` (fit / predict / predict_proba, checkpoints)
- :mod:`ramancmp.training.augment` -- :class:`RealisticAugment` (shift, stretch, broadening, baseline, mixing, ...)
- :mod:`ramancmp.training.finetune` -- :class:`FineTunedClassifier` (start from a pretrained network)

Nothing here knows about the book's profiles, tasks or results files (that is :mod:`ramancmp.experiments`).
"""

from ramancmp.training.augment import RealisticAugment
from ramancmp.training.checkpoint import CHECKPOINT_FORMAT, checkpoint_paths, load_checkpoint, save_checkpoint
from ramancmp.training.classifier import TorchClassifier
from ramancmp.training.finetune import FineTunedClassifier, transfer_weights
from ramancmp.training.loop import (
           Augment,
           History,
           TrainConfig,
           loss_and_accuracy,
           predict_logits,
           seed_everything,
           train_model,
)

__all__ = ["Augment", "CHECKPOINT_FORMAT", "FineTunedClassifier", "History", "RealisticAugment", "TorchClassifier",
           "TrainConfig", "checkpoint_paths",
           "load_checkpoint", "loss_and_accuracy", "predict_logits", "save_checkpoint", "seed_everything",
           "train_model", "transfer_weights"]
