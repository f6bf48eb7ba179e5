"""A plain-torch OFA sub-network, MobileNetV3 or ProxylessNAS (torch is imported on first use).

Module names follow OFA's extracted sub-networks (``MobileNetV3`` built by
``OFAMobileNetV3.get_active_subnet``), so a ``state_dict`` saved from OFA
loads with :meth:`OFASubnet.load_ofa_state_dict`: ``first_conv.conv.weight``,
``blocks.3.conv.depth_conv.se.fc.reduce.weight``, ``classifier.linear.bias`` ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .space import SubnetConfig

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from accel_models.blocks import BlockSpec

__all__ = ["build_torch_model", "build_unit_model"]


def build_torch_model(cfg: SubnetConfig, seed: int | None = None, dropout_rate: float = 0.1) -> torch.nn.Module:
    """Build ``cfg`` as a ``torch.nn.Module`` in eval mode.

    Parameters
    ----------
    cfg : SubnetConfig
        The sub-network.
    seed : int, optional
        Seed of the weight initialisation (the global torch RNG is left
        untouched); ``None`` draws fresh weights.
    dropout_rate : float
        Dropout before the classifier, as in OFA (inactive in eval mode).

    Returns
    -------
    torch.nn.Module
        Takes (N, 3, r, r) float images, returns (N, 1000) logits.
    """
    import torch

    from ._torch_modules import OFASubnet

    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        model = OFASubnet(cfg, dropout_rate=dropout_rate)
    return model.eval()


def build_unit_model(spec: BlockSpec | str, seed: int | None = None) -> torch.nn.Module:
    """One latency-table unit (a :class:`BlockSpec` or its OFA key) as a ``torch.nn.Module`` in eval mode.

    This is what a board measures per table entry: it takes the unit's
    input (N, C, H, W) and has the module names of the unit inside an OFA
    sub-network.  ``seed`` as in :func:`build_torch_model`.
    """
    import torch

    from accel_models.blocks import BlockSpec

    from ._torch_modules import unit_module

    spec = BlockSpec.from_key(spec) if isinstance(spec, str) else spec
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        model = unit_module(spec)
    return model.eval()
