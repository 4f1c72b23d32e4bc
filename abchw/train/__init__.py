"""Quantization-aware training of ABC-Net and of the seed baselines (needs PyTorch).

The training network computes what the golden float model and the hardware compute, stage by
stage, with straight-through gradients through the binary steps; see ``docs/training.md``.

* :mod:`~abchw.train.schemes` -- what is quantized and how: ABC-Net (M weight bases, N binary
  activations) and the baselines (full precision, BNN, XNOR-Net, BWN, DoReFa W1A4, trained
  binarization) as :class:`Scheme` values;
* :mod:`~abchw.train.ste` -- sign, least-squares ``alpha``, shifted binarization and uniform
  quantization with their straight-through gradients;
* :mod:`~abchw.train.model` -- the network (:class:`TrainNet`) and the reference architecture;
* :mod:`~abchw.train.data` -- the digits data set with the built-in split;
* :mod:`~abchw.train.fit` -- full-precision pre-training, then fine-tuning (:func:`train`);
* :mod:`~abchw.train.export` -- to a model file, and the measured export differences;
* :mod:`~abchw.train.cli` -- ``abchw-train``.
"""

import importlib

# Attributes load their module on first use, so that ``abchw.train.cli`` can report a missing
# PyTorch as one message instead of failing on import.
_EXPORTS = {
    "data": ("Dataset", "digits"),
    "export": ("compare_with_golden", "golden_accuracy", "save", "to_network"),
    "fit": ("DEFAULTS", "TrainResult", "accuracy", "cross_entropy", "fit", "train"),
    "model": ("REFERENCE", "ConvSpec", "DenseSpec", "TrainNet", "describe_architecture"),
    "params": ("TrainError",),
    "schemes": ("BASELINES", "ActivationScheme", "Scheme", "WeightScheme", "abcnet", "baseline",
                "scheme_for"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [  # the names of _MODULE_OF; tests check the two agree
    "BASELINES", "DEFAULTS", "REFERENCE", "ActivationScheme", "ConvSpec", "Dataset", "DenseSpec",
    "Scheme", "TrainError", "TrainNet", "TrainResult", "WeightScheme", "abcnet", "accuracy",
    "baseline", "compare_with_golden", "cross_entropy", "describe_architecture", "digits", "fit",
    "golden_accuracy", "save", "scheme_for", "to_network", "train",
]


def __getattr__(name):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
