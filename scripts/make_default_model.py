"""Make the built-in default model and test set shipped in ``abchw/data/``.

    pip install -e '.[train]' && python scripts/make_default_model.py

Network (8x8 digits, M = N = 3, ``abchw.train.REFERENCE``): conv3x3 1->16 (pad 1), batch norm,
3 activations; conv3x3 16->32 (pad 1), max-pool 2, batch norm, 3 activations; dense 512->10
(scores). Trained with :func:`abchw.train.train` exactly as ``abchw-train --M 3 --N 3 --seed 1``
does: a full-precision network first, then ABC-Net (weights approximated as a whole, the
paper's shifts, least-squares alphas; trained activation shifts and coefficients) fine-tuned
from it, one PyTorch thread, seeded, so the same machine and PyTorch build give the same file.

The script prints the test accuracy of the PyTorch network and of the golden float and integer
models on the exported network, and how many predictions and activation bits differ.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from abchw import model_file
from abchw.atomic import atomic_write
from abchw.golden import float_forward, integer_forward, lower
from abchw.train import abcnet, compare_with_golden, digits, to_network, train

DATA = Path(__file__).resolve().parent.parent / "abchw" / "data"
NAME = "digits-abcnet-M3N3"


def _same_test_set(path, images, labels):
    try:
        with np.load(path, allow_pickle=False) as old:
            return (np.array_equal(old["images"], images) and np.array_equal(old["labels"], labels)
                    and old["images"].dtype == images.dtype)
    except (OSError, KeyError, ValueError):
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DATA)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = digits()
    start = time.perf_counter()
    result = train(scheme=abcnet(m=3, n=3), data=data, seed=args.seed,
                   progress=sys.stderr.isatty())
    seconds = time.perf_counter() - start
    network = to_network(result.model, name=NAME)
    images, labels = data.test_images, data.test_labels
    floats = float_forward(network, images)
    integer = integer_forward(lower(network), images)
    float_classes, integer_classes = floats[-1].y.argmax(1), integer[-1].y.argmax(1)
    check = compare_with_golden(result.model, network, images)
    bits = ", ".join(f"{int((i.bits != (f.planes > 0)).sum())}/{i.bits.size}"
                     for i, f in zip(integer[:-1], floats[:-1]))
    print(f"{NAME}, seed {args.seed}: trained in {seconds:.0f} s "
          f"(full precision {result.log['phases']['full_precision']['seconds']:.0f} s, "
          f"ABC-Net {result.log['phases']['quantized']['seconds']:.0f} s)")
    print(f"test accuracy ({len(labels)} images): full-precision network "
          f"{100 * result.log['phases']['full_precision']['test_accuracy']:.1f}%, "
          f"PyTorch float32 {100 * result.log['test_accuracy']:.1f}%, golden float model "
          f"{100 * np.mean(float_classes == labels):.1f}%, integer model "
          f"{100 * np.mean(integer_classes == labels):.1f}%")
    print(f"integer vs float model: same class on {int((float_classes == integer_classes).sum())}"
          f"/{len(labels)} images; activation bits differing per stage: {bits}")
    print(f"PyTorch (float64, eval) vs golden float model: activation bits differing "
          f"{check['stage_bits_differing']}, largest score difference "
          f"{check['max_score_difference']:.1e}")
    model_file.save(network, args.out / "default_model.npz")
    size = (args.out / "default_model.npz").stat().st_size
    print(f"wrote {args.out / 'default_model.npz'} ({size} bytes)")
    test_file = args.out / "digits_test.npz"
    if _same_test_set(test_file, images, labels):         # rewrite only a changed test set
        print(f"{test_file} holds this test set already")
    else:
        with atomic_write(test_file) as file:
            np.savez_compressed(file, images=images, labels=labels)
        print(f"wrote {test_file}")


if __name__ == "__main__":
    main()
