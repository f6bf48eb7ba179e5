"""Accuracy of OFA-MobileNetV3 sub-networks: float predictors and the int8 drop model.

>>> from ofa_hw.accuracy import get_predictor
>>> p = get_predictor("ofa-mbv3-w1.2", quantization="int8-pow2")   # what the search optimises

Importing this package does no I/O and does not import torch; predictors load
their shipped arrays on first use and run in numpy.
"""

from .base import AccuracyPredictor
from .encoding import OFA_MLP_RESOLUTIONS, as_batch, engineered_feature_names, engineered_features, ofa_onehot
from .measured import MeasuredAccuracy, load_measured_accuracy
from .metrics import kfold_indices, prediction_metrics
from .ofa_mlp import OFAMLPPredictor
from .quantization import Int8DropModel, PublishedInt8Result, QuantizedPredictor, load_published_int8
from .registry import get_predictor, list_predictors, list_quantizations
from .trained import KernelRidgeModel, TrainedPredictor, fit_kernel_ridge

__all__ = [
    "OFA_MLP_RESOLUTIONS",
    "AccuracyPredictor",
    "Int8DropModel",
    "KernelRidgeModel",
    "MeasuredAccuracy",
    "OFAMLPPredictor",
    "PublishedInt8Result",
    "QuantizedPredictor",
    "TrainedPredictor",
    "as_batch",
    "engineered_feature_names",
    "engineered_features",
    "fit_kernel_ridge",
    "get_predictor",
    "kfold_indices",
    "list_predictors",
    "list_quantizations",
    "load_measured_accuracy",
    "load_published_int8",
    "ofa_onehot",
    "prediction_metrics",
]
