"""OFA's released accuracy predictor for OFA-MobileNetV3 w1.2, evaluated in numpy.

The network is OFA's tutorial MLP (``ofa/tutorial/accuracy_predictor.py`` of
mit-han-lab/once-for-all @698a5c1, Apache-2.0): Linear(128, 400), ReLU,
Linear(400, 400), ReLU, Linear(400, 400), ReLU, Linear(400, 1), over the
encoding of :func:`~ofa_hw.accuracy.encoding.ofa_onehot`; it outputs top-1 as
a fraction.  The weights ship twice in ``data/``: OFA's original
``ofa_tutorial_acc_predictor.pth`` and ``ofa_mbv3_w12_mlp.npz``, the same
float32 arrays converted once by ``scripts/convert_ofa_acc_predictor.py``
(:func:`convert_pth_to_npz`) so that prediction needs no torch.

OFA trained this MLP on the accuracy of sub-networks with inherited weights
measured on its own held-out split of ImageNet *train* images, so its values
run 3.2-3.6 points above the published ImageNet-val figures (max net at 224:
83.6 %): its scale is ``ofa-mlp``.  ``get_predictor("ofa-mbv3-w1.2")`` puts it
on the ImageNet-val scale (:mod:`ofa_hw.accuracy.scale`); this class is the
raw predictor (``scale="raw"``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..space import SubnetBatch
from .base import AccuracyPredictor
from .encoding import ofa_onehot
from .scale import SCALES

TRAINED_RESOLUTIONS = tuple(range(160, 225, 4))

__all__ = ["OFA_MLP_KEYS", "OFAMLPPredictor", "convert_pth_to_npz", "load_pth_state_dict"]

#: state_dict keys of the MLP (``torch.nn.Sequential`` indices of its Linear layers).
OFA_MLP_KEYS = ("0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias", "6.weight", "6.bias")
_HIDDEN = 400
_SHAPES = {"0.weight": (400, 128), "0.bias": (400,), "2.weight": (400, 400), "2.bias": (400,),
           "4.weight": (400, 400), "4.bias": (400,), "6.weight": (1, 400), "6.bias": (1,)}


def _check_arrays(arrays: dict, source: str) -> None:
    unknown = sorted(set(arrays) - set(OFA_MLP_KEYS))
    missing = [k for k in OFA_MLP_KEYS if k not in arrays]
    if unknown or missing:
        raise ValueError(f"{source}: expected the keys {list(OFA_MLP_KEYS)}; missing {missing}, unknown {unknown}")
    for key, shape in _SHAPES.items():
        if tuple(arrays[key].shape) != shape:
            raise ValueError(f"{source}: {key} has shape {tuple(arrays[key].shape)}, expected {shape}")


class OFAMLPPredictor(AccuracyPredictor):
    """OFA's MLP (128 -> 400 -> 400 -> 400 -> 1, ReLU) over the one-hot encoding, in numpy.

    Parameters
    ----------
    arrays : dict of str to numpy.ndarray
        The eight weight and bias arrays under OFA's state_dict keys.
    name, space : str
        Registry name and the space it accepts (``"ofa-mbv3-w1.2"``).
    """

    kind = "float top-1"
    scale = SCALES["ofa-mlp"]
    resolution_reason = "OFA trained its MLP on 160..224 only"
    #: The range OFA trained the MLP on: its tutorial samples r from 160..224 (``ArchManager``,
    #: ``ofa/tutorial/evolution_finder.py``).  The one-hot could hold 112..236, but the bins
    #: below 160 are untrained -- there the MLP rates r=128 above r=160 -- and a search
    #: would exploit that, so they are refused.
    valid_resolutions = TRAINED_RESOLUTIONS

    def __init__(self, arrays: dict, name: str = "ofa-mbv3-w1.2", space: str = "ofa-mbv3-w1.2") -> None:
        _check_arrays(arrays, name)
        # float32, as OFA trained and ran it: half the memory traffic of float64 on
        # the 400x400 layers, and within 1e-7 (fraction) of a float64 evaluation.
        # Converted, transposed and made contiguous once: a forward pass does no conversion.
        self._layers = tuple((_frozen(np.asarray(arrays[f"{i}.weight"], np.float32).T),
                              _frozen(np.asarray(arrays[f"{i}.bias"], np.float32))) for i in (0, 2, 4, 6))
        self.name = name
        self.space = space

    @classmethod
    def from_npz(cls, path: str | os.PathLike, **kwargs) -> OFAMLPPredictor:
        """The predictor over the arrays of an ``.npz`` file (see :func:`convert_pth_to_npz`)."""
        with np.load(Path(path), allow_pickle=False) as data:
            return cls({key: data[key] for key in data.files}, **kwargs)

    def predict_fraction(self, features: np.ndarray) -> np.ndarray:
        """The raw MLP output (top-1 as a fraction, float64) for (N, 128) encoded features."""
        return self._forward(np.ascontiguousarray(features, dtype=np.float32))

    def _forward(self, hidden: np.ndarray) -> np.ndarray:
        """The MLP on (N, 128) float32 features, in two preallocated activation buffers.

        The same float32 operations in the same order as ``relu(x @ W + b)`` layer by
        layer, hence bit-identical to it; the in-place bias and ReLU save the six
        (N, 400) temporaries of the expression form.
        """
        buffers = np.empty((2, len(hidden), _HIDDEN), dtype=np.float32)
        for i, (weight, bias) in enumerate(self._layers[:-1]):
            out = buffers[i % 2]
            np.matmul(hidden, weight, out=out)
            out += bias
            hidden = np.maximum(out, 0.0, out=out)
        weight, bias = self._layers[-1]
        return (hidden @ weight + bias)[:, 0].astype(np.float64)

    def _predict_batch(self, batch: SubnetBatch) -> np.ndarray:
        return 100.0 * self._forward(ofa_onehot(batch, np.float32))


def _frozen(array: np.ndarray) -> np.ndarray:
    """A read-only C-contiguous copy of ``array``."""
    array = np.ascontiguousarray(array)
    array.setflags(write=False)
    return array


def load_pth_state_dict(path: str | os.PathLike) -> dict:
    """OFA's ``.pth`` as numpy arrays, read with ``torch.load(weights_only=True)`` (imports torch)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no accuracy-predictor checkpoint at {path}")
    # OFA saved the tensors from a CUDA device; map them to the CPU.
    state = torch.load(path, map_location="cpu", weights_only=True)
    arrays = {key: value.detach().numpy() for key, value in state.items()}
    _check_arrays(arrays, str(path))
    return arrays


def convert_pth_to_npz(pth: str | os.PathLike, npz: str | os.PathLike) -> Path:
    """Write the arrays of OFA's ``.pth`` to ``npz`` (atomically) and return its path."""
    from ._io import atomic_savez

    arrays = load_pth_state_dict(pth)
    return atomic_savez(npz, {key: arrays[key] for key in OFA_MLP_KEYS}, compressed=False)
