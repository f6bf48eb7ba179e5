"""BatchNorm statistics of a torch model: re-estimate them, or randomise them for tests.

OFA re-estimates the BatchNorm running statistics of every sub-network it
extracts (``set_running_statistics``) because the super-network's statistics
do not fit the smaller network.  :func:`reset_bn_statistics` does the same
on given images.  :func:`randomize_batchnorm` additionally draws gamma and
beta, so that a randomly initialised model has non-trivial BatchNorms to fold
(a fresh model's identity BatchNorms would leave folding untested) and
well-scaled activations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["randomize_batchnorm", "reset_bn_statistics"]


def reset_bn_statistics(model: Any, images: np.ndarray) -> Any:
    """Set every ``BatchNorm2d``'s running statistics to those over ``images``; returns ``model`` in eval mode.

    ``images`` is a float (N, C, H, W) array the model accepts.
    """
    import torch
    from torch import nn

    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [bn.momentum for bn in bns]
    with torch.no_grad():
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average: one pass gives the batch statistics
        model.train()
        try:
            model(torch.as_tensor(np.asarray(images), dtype=torch.float32))
        finally:
            for bn, momentum in zip(bns, momenta, strict=True):
                bn.momentum = momentum
            model.eval()
    return model


def randomize_batchnorm(model: Any, seed: int = 0, n_images: int = 16, size: int | None = None) -> Any:
    """Draw gamma ~ U(0.5, 1.5) and beta ~ N(0, 0.2), then :func:`reset_bn_statistics` on random images.

    Parameters
    ----------
    model : torch.nn.Module
        Takes (N, C, H, W) images; its first ``Conv2d`` fixes C.
    seed : int
        Seed of gamma, beta and the images (the global RNG is untouched).
    n_images : int
        Standard-normal images for the statistics.
    size : int, optional
        Image height and width; default ``model.cfg.r`` when present, else 32.
    """
    import torch
    from torch import nn

    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    size = int(size) if size else int(getattr(getattr(model, "cfg", None), "r", 32))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
            bn.weight.copy_(0.5 + torch.rand(bn.num_features, generator=generator, dtype=bn.weight.dtype))
            bn.bias.copy_(0.2 * torch.randn(bn.num_features, generator=generator, dtype=bn.bias.dtype))
    images = torch.randn(n_images, first_conv.in_channels, size, size, generator=generator)
    return reset_bn_statistics(model, images.numpy())
