"""``abchw-classify``: classify images with the bit-exact integer golden model.

    python -m abchw.classify                    # built-in model on the built-in digits test set
    abchw-classify --model net.npz --input images.npy [--labels labels.npy] [--json]

It runs the integer model (what the hardware computes) and the float model (the paper's
arithmetic) and reports the predictions, the accuracy when labels are known, and where the two
models differ: predicted classes, and binary activations stage by stage.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from . import builtin, model_file
from .cli import command
from .errors import AbchwError
from .golden import COEF_BITS, float_forward, integer_forward, lower

__all__ = ["main"]


def _load_array(path, what):
    path = Path(path)
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise AbchwError(f"{what} file '{path}' does not exist") from None
    except (OSError, ValueError, EOFError):
        raise AbchwError(f"{what} file '{path}' is not a .npy file of numbers "
                         f"(write one with numpy.save)") from None


def _images(path, input_shape):
    images = _load_array(path, "--input")
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[1:] != input_shape or images.shape[0] == 0:
        shape = ", ".join(map(str, input_shape))
        raise AbchwError(f"--input '{path}' must hold images of shape (B, {shape}) "
                         f"or one image {input_shape} for this model, not {images.shape}")
    if images.dtype.kind not in "iu":
        raise AbchwError(f"--input '{path}' must hold integer pixels 0..255, "
                         f"not dtype {images.dtype}")
    if images.min() < 0 or images.max() > 255:
        raise AbchwError(f"--input '{path}' has pixels outside 0..255 "
                         f"(min {images.min()}, max {images.max()})")
    return images.astype(np.uint8)


def _labels(path, count, classes):
    labels = _load_array(path, "--labels")
    if labels.shape != (count,) or labels.dtype.kind not in "iu":
        raise AbchwError(f"--labels '{path}' must be {count} integers, one per image, "
                         f"not {labels.dtype} of shape {labels.shape}")
    if labels.min() < 0 or labels.max() >= classes:
        raise AbchwError(f"--labels '{path}' must be class indices 0..{classes - 1}, "
                         f"not {labels.min()}..{labels.max()}")
    return labels


def classify(network, images, labels=None, *, coef_bits=COEF_BITS):
    """Run both golden models; return a JSON-ready report."""
    inet = lower(network, coef_bits=coef_bits)
    start = time.perf_counter()
    integer = integer_forward(inet, images)
    seconds = time.perf_counter() - start
    floats = float_forward(network, images)
    predictions = integer[-1].y.argmax(axis=1)
    float_predictions = floats[-1].y.argmax(axis=1)
    report = {
        "model": network.name, "input_shape": list(network.input_shape),
        "stages": len(inet.stages), "M": network.m, "N": network.n, "coef_bits": coef_bits,
        "images": len(images),
        "integer_ms_per_image": 1e3 * seconds / len(images),
        "predictions": predictions.tolist(),
        "classes": [network.classes[p] for p in predictions] if network.classes else None,
        "scores": integer[-1].y.tolist(), "score_frac_bits": inet.score_frac_bits,
        "float_predictions_equal": int((predictions == float_predictions).sum()),
        "stage_bits_differing": [int((i.bits != (f.planes > 0)).sum())
                                 for i, f in zip(integer[:-1], floats[:-1])],
        "stage_bits_total": [int(i.bits.size) for i in integer[:-1]],
    }
    if labels is not None:
        report["labels"] = labels.tolist()
        report["accuracy"] = float(np.mean(predictions == labels))
        report["float_accuracy"] = float(np.mean(float_predictions == labels))
    return report


def _print(report, source, show):
    print(f"model: {report['model'] or '(unnamed)'}: {report['stages']} stages, "
          f"M = {report['M']}, N = {report['N']}, "
          f"input {'x'.join(map(str, report['input_shape']))}, "
          f"{report['coef_bits']}-bit coefficients")
    print(f"images: {report['images']} from {source}")
    for index, prediction in enumerate(report["predictions"][:show]):
        name = report["classes"][index] if report["classes"] else str(prediction)
        known = f" (label {report['labels'][index]})" if "labels" in report else ""
        print(f"  image {index}: class {name}{known}")
    if report["images"] > show:
        print(f"  ... {report['images'] - show} more (--show N or --json for all)")
    if "accuracy" in report:
        print(f"accuracy: integer model {100 * report['accuracy']:.1f}%, "
              f"float model {100 * report['float_accuracy']:.1f}%")
    differing = ", ".join(f"{d}/{t}" for d, t in zip(report["stage_bits_differing"],
                                                      report["stage_bits_total"]))
    print(f"integer vs float model: same class on {report['float_predictions_equal']}"
          f"/{report['images']} images; binary activations differing per stage: "
          f"{differing or 'none (one stage)'}")
    print(f"integer model: {report['integer_ms_per_image']:.3f} ms per image (NumPy, batched)")


@command("abchw-classify")
def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="abchw-classify", description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    parser.add_argument("--model", help="model file (default: the built-in model)")
    parser.add_argument("--input", help=".npy of uint8 images (B, C, H, W) or one (C, H, W) "
                                        "(default: the built-in digits test set)")
    parser.add_argument("--labels", help=".npy of class indices, one per --input image")
    parser.add_argument("--coef-bits", type=int, default=COEF_BITS,
                        help=f"coefficient width of the integer model (default {COEF_BITS})")
    parser.add_argument("--show", type=int, default=10, help="predictions to print (default 10)")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    args = parser.parse_args(argv)
    if not 2 <= args.coef_bits <= 32:
        raise AbchwError(f"--coef-bits must be in 2..32, not {args.coef_bits}")
    if args.labels and not args.input:
        raise AbchwError("--labels needs --input (the built-in test set has its own labels)")
    network = model_file.load(args.model) if args.model else builtin.default_model()
    if args.input:
        images, source = _images(args.input, network.input_shape), args.input
        labels = _labels(args.labels, len(images), int(np.prod(network.output_shape))) \
            if args.labels else None
    else:
        images, labels = builtin.digits_test_set()
        source = "the built-in digits test set"
        if images.shape[1:] != network.input_shape:
            raise AbchwError(f"the built-in test set is {images.shape[1:]} images; this model "
                             f"takes {network.input_shape}: give --input")
    report = classify(network, images, labels, coef_bits=args.coef_bits)
    if args.json:
        json.dump(report, sys.stdout, indent=1)
        print()
    else:
        _print(report, source, max(args.show, 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
