"""From a trained network to an abchw model file, and how far the export moves its results.

:func:`to_network` builds the :class:`~abchw.network.Network` a trained
:class:`~abchw.train.model.TrainNet` computes: ABC-Net bases and ``alpha`` come from
:func:`abchw.golden.approximate_weights` on the float64 latent weights (the function the
training forward pass mirrors), batch norm from the running statistics, activations from the
trained ``v_n`` and ``beta_n``. :func:`save` writes it with :func:`abchw.model_file.save`.

:func:`compare_with_golden` runs the network in PyTorch (eval mode, cast to float64) and the
golden float model on the exported network and counts the activation bits and predictions that
differ; :func:`golden_accuracy` measures the float and the bit-exact integer golden models.
"""

import copy

import numpy as np
import torch

from .. import model_file
from ..classify import classify
from ..golden import float_forward
from ..network import Activation, BatchNorm, Conv, Dense, MaxPool, Network
from .model import ConvSpec, TrainNet
from .params import TrainError

__all__ = ["compare_with_golden", "golden_accuracy", "save", "to_network"]


def to_network(model, *, name=None):
    """The exported :class:`Network`; :class:`TrainError` if the scheme has no export."""
    if not isinstance(model, TrainNet):
        raise TrainError(f"'model' must be a TrainNet, not {model!r}")
    problem = model.scheme.export_problem
    if problem:
        raise TrainError(f"scheme {model.scheme.name!r} cannot be written to a model file: "
                         f"{problem}")
    layers = []
    for stage in model.stages:
        bases, alpha = stage.weights.approximation()
        spec = stage.spec
        if isinstance(spec, ConvSpec):
            layers.append(Conv(bases, alpha, stride=spec.stride, padding=spec.padding))
            if spec.pool is not None:
                layers.append(MaxPool(spec.pool))
        else:
            layers.append(Dense(bases, alpha))
        if not stage.last:
            norm = stage.norm

            def array(tensor):
                return tensor.detach().cpu().double().numpy()

            layers.append(BatchNorm(gamma=array(norm.weight), beta=array(norm.bias),
                                    mean=array(norm.running_mean), var=array(norm.running_var),
                                    eps=norm.eps))
            layers.append(Activation(shifts=array(stage.activation.shifts),
                                     scales=array(stage.activation.scales)))
    return Network(model.input_shape, layers, name=name or model.scheme.name,
                   classes=model.classes)


def save(model, path, *, name=None):
    """Export ``model`` and write it to ``path`` (atomically); returns the network."""
    network = to_network(model, name=name)
    model_file.save(network, path)
    return network


def compare_with_golden(model, network, images):
    """Run ``images`` through a float64 copy of ``model`` (eval mode) and through
    :func:`abchw.golden.float_forward` on ``network``; returns the counts of differing
    activation bits per stage, their totals, the largest score difference and the number of
    differing predictions."""
    double = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        mine = double.stages_forward(torch.as_tensor(images))
    golden = float_forward(network, np.asarray(images))
    bits = [int((m.planes.numpy() != g.planes).sum()) for m, g in zip(mine[:-1], golden[:-1])]
    scores = mine[-1].y.numpy()
    return {"stage_bits_differing": bits,
            "stage_bits_total": [int(g.planes.size) for g in golden[:-1]],
            "max_score_difference": float(np.abs(scores - golden[-1].y).max()),
            "max_score": float(np.abs(golden[-1].y).max()),
            "predictions_differing": int((scores.argmax(1) != golden[-1].y.argmax(1)).sum())}


def golden_accuracy(network, images, labels):
    """Accuracy of the golden float and integer models (16-bit coefficients) and how they
    differ (:func:`abchw.classify.classify`)."""
    report = classify(network, np.asarray(images), np.asarray(labels))
    return {"float_accuracy": report["float_accuracy"],
            "integer_accuracy": report["accuracy"],
            "integer_float_same_class": report["float_predictions_equal"],
            "images": report["images"],
            "integer_float_stage_bits_differing": report["stage_bits_differing"],
            "stage_bits_total": report["stage_bits_total"]}
