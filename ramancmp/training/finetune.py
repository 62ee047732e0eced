"""Fine-tuning: a network that starts from the weights of a pretrained one instead of a random initialisation.

Pretraining learns a representation of Raman spectra on a large, related task (for example every RRUFF species
outside a split's test samples); fine-tuning then trains the same architecture on the small task of interest,
starting from the pretrained feature layers. The classifier layer has another number of classes, so it (and any
other tensor whose shape differs) keeps its random initialisation.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ramancmp.training.checkpoint import load_checkpoint
from ramancmp.training.classifier import TorchClassifier

__all__ = ["FineTunedClassifier", "transfer_weights"]


def transfer_weights(source: torch.nn.Module, target: torch.nn.Module) -> list[str]:
    """Copy every parameter and buffer of ``source`` whose name and shape exist in ``target``; returns the names
    copied. Raises ``ValueError`` when nothing matches (a different architecture)."""
    src, dst = source.state_dict(), target.state_dict()
    copied = [k for k, v in src.items() if k in dst and dst[k].shape == v.shape]
    if not copied:
        raise ValueError(f"no tensor of the pretrained {type(source).__name__} matches {type(target).__name__}")
    target.load_state_dict({**dst, **{k: src[k] for k in copied}})
    return copied


class FineTunedClassifier(TorchClassifier):
    """A :class:`TorchClassifier` whose network starts from the pretrained checkpoint ``init_checkpoint``.

    ``init_checkpoint``: a ``.pt`` path written by :meth:`TorchClassifier.save` for the same architecture (the
    classifier layer may have another number of classes). Every other parameter is :class:`TorchClassifier`'s.
    Attribute ``transferred_`` (after ``fit``): the names of the tensors taken from the pretrained network.
    """

    def __init__(self, *, init_checkpoint: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.init_checkpoint = init_checkpoint

    @classmethod
    def _get_param_names(cls) -> list[str]:
        return sorted(set(TorchClassifier._get_param_names()) | {"init_checkpoint"})

    def _initialize(self, model: torch.nn.Module) -> None:
        if self.init_checkpoint is None:
            raise ValueError("FineTunedClassifier needs init_checkpoint (a pretrained network's .pt file)")
        path = Path(self.init_checkpoint)
        if not path.exists():
            raise ValueError(f"pretrained checkpoint {path} does not exist")
        pretrained, _ = load_checkpoint(path, device="cpu")
        self.transferred_ = transfer_weights(pretrained, model)
