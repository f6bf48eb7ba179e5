"""An hls4ml-style configuration of a quantized network, for users of that flow.

hls4ml describes precision per layer as ``ap_fixed<W,I>`` (W bits, I of them
integer bits including the sign) and parallelism as a ``ReuseFactor`` (how
many multiplications share one multiplier).  A fix position ``f`` on ``W``
bits is exactly ``ap_fixed<W, W - f>``.  Per-channel weight scales have no
exact ``ap_fixed`` form; the coarsest channel's fix position is used and the
entry says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .fixedpoint import fix_position
from .quantize import QuantizedNetwork

__all__ = ["ap_fixed", "hls4ml_config", "hls4ml_config_yaml"]


def ap_fixed(bits: int, fix: int) -> str:
    """``ap_fixed`` type of a ``bits``-wide value at fix position ``fix``.

    >>> ap_fixed(8, 5), ap_fixed(32, 12)
    ('ap_fixed<8,3>', 'ap_fixed<32,20>')
    """
    return f"ap_fixed<{bits},{bits - fix}>"


def hls4ml_config(qnet: QuantizedNetwork, codes: Sequence) -> dict:
    """``{"Model": ..., "LayerName": {id: {"Precision": ..., "ReuseFactor": ...}}}``.

    ``codes`` are the :class:`hls.codegen.LayerCode` of the export (for the
    C identifiers and PE x SIMD folding).
    """
    layers = {}
    for code in codes:
        q = code.q
        entry = {"Precision": {"result": ap_fixed(8, q.output_fix)}}
        if q.weight is not None:
            if q.weight_fix is not None:
                wf, exact = q.weight_fix, True
            else:
                wf, exact = fix_position(float(np.max(q.weight_scale)) * 127.0, what=f"{q.name} weights"), False
            entry["Precision"]["weight"] = ap_fixed(8, wf)
            entry["Precision"]["bias"] = ap_fixed(32, wf + q.input_fix[0])
            if not exact:
                entry["PrecisionNote"] = "per-channel weight scales; coarsest channel's fix position shown"
            entry["ReuseFactor"] = int(q.weight.size // (code.pe * code.simd))
        layers[code.ident] = entry
    return {
        "Model": {"Precision": ap_fixed(8, qnet.input_fix), "ReuseFactor": 1, "Strategy": "Resource"},
        "LayerName": layers,
    }


def hls4ml_config_yaml(qnet: QuantizedNetwork, codes: Sequence) -> str:
    """:func:`hls4ml_config` as YAML text with a header comment."""
    import yaml

    header = ("# hls4ml-style configuration written by ofa-hw: per-layer precision (ap_fixed<W,I>) and\n"
              "# ReuseFactor (weights per multiplier at the exported PE x SIMD folding).\n")
    return header + yaml.safe_dump(hls4ml_config(qnet, codes), sort_keys=False)
