"""The paper's Medium-MLP (Figure 14): four linear layers, 4,096 wide, ReLU, on flattened CIFAR-10."""
from __future__ import annotations

from nowrongturns.tasks.models import MLP


def medium_mlp(inputs: int = 3 * 32 * 32, classes: int = 10, width: int = 4096) -> MLP:
    """inputs -> width -> width -> width -> classes, returning logits.

    The authors' Medium_MLP ends in log_softmax for an NLL loss; cross-entropy on these
    logits is the same loss with the same gradients, and matches the pipeline's other networks.
    """
    return MLP(inputs, width, depth=3, classes=classes, dropout=0.0)
