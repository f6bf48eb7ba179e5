"""Accuracy predictors by name.

=================  ==========================================================  ==================
name               what                                                        resolutions
=================  ==========================================================  ==================
``ofa-mbv3-w1.2``  OFA's released MLP (``ofa_mbv3_w12_mlp.npz``)                160..224 step 4
``ofa-mbv3-w1.0``  kernel ridge trained by this project on measured top-1      224 (measured)
                   (``trained_mbv3_w10_krr.npz``)
=================  ==========================================================  ==================

Every predictor answers on the ImageNet-val scale by default, through the
calibration on OFA's specialized nets of :mod:`ofa_hw.accuracy.scale`
(``scale="raw"``: the predictor's own scale; w1.0 then covers r = 224 only,
calibrated 140..224).  ``get_predictor(name, quantization="int8-pow2")``
wraps either in the int8 drop model of :mod:`ofa_hw.accuracy.quantization`.  Predictors are immutable,
so every caller shares one loaded copy.
"""

from __future__ import annotations

import fnmatch
from functools import cache
from pathlib import Path

from .base import AccuracyPredictor

__all__ = ["DATA_DIR", "SCALE_CHOICES", "get_predictor", "list_predictors", "list_quantizations"]

#: Folder of the shipped weights and data.
DATA_DIR = Path(__file__).resolve().parent / "data"

_PREDICTORS = {
    "ofa-mbv3-w1.2": "OFA's released MLP accuracy predictor (mit-han-lab/once-for-all @698a5c1)",
    "ofa-mbv3-w1.0": "kernel ridge regression trained by ofa-hw on DyNAS-T's measured top-1 (r=224)",
}
#: Spaces OFA published no accuracy predictor for: what is honest to use instead.
_NO_PREDICTOR = {
    "ofa-proxyless-w1.3": (
        "OFA published no accuracy predictor for the ProxylessNAS space ofa_proxyless_d234_e346_k357_w1.3, "
        "and no measured top-1 data set of its sub-networks exists to train one, so ofa-hw offers no predicted "
        "accuracy for it (none is invented). Use instead the 16 specialized nets OFA released with their "
        "measured ImageNet-val top-1 (ofa_hw.zoo.list_networks('ofa-proxyless-*')), or rank sub-networks by "
        "MACs as a proxy (ofa_hw.macs_proxy.macs_proxy_front), which is not an accuracy"
    ),
}
#: ``scale=`` choices: the calibrated ImageNet-val scale (default) or the predictor's own.
SCALE_CHOICES = ("imagenet-val", "raw")
_QUANTIZATIONS = {"int8-pow2": "int8, per-tensor power-of-two scales (DPU / vai_q), drop from Vitis AI zoo figures"}


def list_predictors(pattern: str = "*") -> list[str]:
    """Names of the accuracy predictors matching a shell-style ``pattern``.

    >>> list_predictors()
    ['ofa-mbv3-w1.0', 'ofa-mbv3-w1.2']
    """
    return sorted(name for name in _PREDICTORS if fnmatch.fnmatchcase(name, pattern))


def list_quantizations() -> list[str]:
    """Quantization schemes ``get_predictor(..., quantization=)`` accepts.

    >>> list_quantizations()
    ['int8-pow2']
    """
    return sorted(_QUANTIZATIONS)


def get_predictor(name: str, quantization: str | None = None, scale: str = "imagenet-val") -> AccuracyPredictor:
    """The accuracy predictor ``name``, optionally for quantized deployment.

    Parameters
    ----------
    name : str
        One of :func:`list_predictors` (the name is the space it accepts).
    quantization : str, optional
        ``None`` for float accuracy, or one of :func:`list_quantizations`.
    scale : {"imagenet-val", "raw"}
        ``"imagenet-val"``: calibrated to the published ImageNet-val top-1
        of OFA's specialized nets (:func:`ofa_hw.accuracy.scale.calibration_for`);
        ``"raw"``: the predictor's own scale (``predictor.scale`` names it).

    Examples
    --------
    >>> from ofa_hw import SubnetConfig
    >>> p = get_predictor("ofa-mbv3-w1.2")
    >>> p.scale.name, round(float(p.predict(SubnetConfig.largest(r=224))[0]), 2)
    ('imagenet-val', 80.15)
    >>> raw = get_predictor("ofa-mbv3-w1.2", scale="raw")
    >>> raw.scale.name, round(float(raw.predict(SubnetConfig.largest(r=224))[0]), 2)
    ('ofa-mlp', 83.59)
    >>> q = get_predictor("ofa-mbv3-w1.2", quantization="int8-pow2")
    >>> round(float(p.predict(SubnetConfig.largest())[0] - q.predict(SubnetConfig.largest())[0]), 2)
    1.97
    """
    if name in _NO_PREDICTOR:
        raise KeyError(_NO_PREDICTOR[name])
    if name not in _PREDICTORS:
        raise KeyError(f"unknown accuracy predictor {name!r}; known: {', '.join(list_predictors())}")
    if quantization is not None and quantization not in _QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantization!r}; use None (float) or one of {list_quantizations()}")
    if scale not in SCALE_CHOICES:
        raise ValueError(f"unknown accuracy scale {scale!r}; use one of {list(SCALE_CHOICES)}")
    return _load(name, quantization, scale)


@cache
def _load(name: str, quantization: str | None, scale: str) -> AccuracyPredictor:
    if quantization is not None:
        from .quantization import Int8DropModel, QuantizedPredictor

        return QuantizedPredictor(_load(name, None, scale), Int8DropModel.from_published(scheme=quantization))
    if scale != "raw":
        from .scale import CalibratedPredictor, calibration_for

        return CalibratedPredictor(_load(name, None, "raw"), calibration_for(name),
                                   score_at=None if name == "ofa-mbv3-w1.2" else 224)
    if name == "ofa-mbv3-w1.2":
        from .ofa_mlp import OFAMLPPredictor

        return OFAMLPPredictor.from_npz(DATA_DIR / "ofa_mbv3_w12_mlp.npz", name=name, space="ofa-mbv3-w1.2")
    from .trained import KernelRidgeModel, TrainedPredictor

    model = KernelRidgeModel.load(DATA_DIR / "trained_mbv3_w10_krr.npz")
    return TrainedPredictor(model, name=name, space="ofa-mbv3-w1.0", valid_resolutions=tuple(model.meta["resolutions"]))
