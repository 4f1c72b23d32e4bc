"""``abchw-train``: train ABC-Net or a seed baseline on the digits and write a model file.

    abchw-train --M 3 --N 3 --seed 1 --out model.npz --log run.json
    abchw-train --baseline xnor --epochs 20 --out xnor.npz

It trains a full-precision network first and fine-tunes the quantized one from it (the paper's
initialization), shows progress on stderr, prints the test accuracy of the trained network and,
for a scheme the model format can hold, of the exported golden float and integer models, and
writes the model file (``--out``) and a JSON log of the run (``--log``).
"""

import argparse
import json
import sys
import time

from ..atomic import atomic_write
from ..cli import command
from ..errors import AbchwError
from ..machine import machine_description
from ..network import M_MAX, N_MAX

__all__ = ["main"]

_BASELINE_NAMES = ("abcnet", "full", "bnn", "xnor", "bwn", "dorefa-w1a4", "trained-binarization")


class _Parser(argparse.ArgumentParser):
    """Argument errors become one-line :class:`AbchwError` messages (exit status 2)."""

    def error(self, message):
        raise AbchwError(message)


def _check_range(flag, value, lo, hi):
    if value is not None and not lo <= value <= hi:
        raise AbchwError(f"{flag} must be in {lo}..{hi}, not {value}")


def _writable(flag, path):
    from pathlib import Path
    path = Path(path)
    if not path.parent.is_dir():
        raise AbchwError(f"{flag} '{path}': directory '{path.parent}' does not exist")
    if path.is_dir():
        raise AbchwError(f"{flag} '{path}' is a directory, not a file")
    return path


def _parser(defaults):
    parser = _Parser(prog="abchw-train",
                     description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    parser.add_argument("--baseline", default="abcnet", metavar="NAME",
                        help=f"what to train: {', '.join(_BASELINE_NAMES)} (default abcnet)")
    parser.add_argument("--M", type=int, help=f"ABC-Net weight bases, 1..{M_MAX} (default 3)")
    parser.add_argument("--N", type=int,
                        help=f"ABC-Net binary activations, 1..{N_MAX} (default 3)")
    parser.add_argument("--channelwise", action="store_true",
                        help="ABC-Net: approximate weights per output channel")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--epochs", type=int, default=defaults["epochs"],
                        help=f"epochs of the quantized fine-tuning (default {defaults['epochs']})")
    parser.add_argument("--fp-epochs", type=int, default=defaults["fp_epochs"],
                        help=f"epochs of full-precision pre-training "
                             f"(default {defaults['fp_epochs']})")
    parser.add_argument("--lr", type=float, default=defaults["lr"],
                        help=f"Adam learning rate (default {defaults['lr']:g})")
    parser.add_argument("--batch-size", type=int, default=defaults["batch_size"],
                        help=f"mini-batch size (default {defaults['batch_size']})")
    parser.add_argument("--threads", type=int, default=1,
                        help="PyTorch threads (default 1)")
    parser.add_argument("--out", help="model file to write (.npz)")
    parser.add_argument("--log", help="JSON log of the run to write")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


@command("abchw-train")
def main(argv=None):
    raw = sys.argv[1:] if argv is None else list(argv)
    try:
        import torch

        from . import export, fit, schemes
        from .data import digits
    except ImportError as error:
        raise AbchwError(f"abchw-train needs PyTorch and scikit-learn ({error}): "
                         f"pip install -e '.[train]'") from None
    args = _parser(fit.DEFAULTS).parse_args(raw)
    if args.baseline not in _BASELINE_NAMES:
        raise AbchwError(f"--baseline must be one of {', '.join(_BASELINE_NAMES)}, "
                         f"not {args.baseline!r}")
    _check_range("--M", args.M, 1, M_MAX)
    _check_range("--N", args.N, 1, N_MAX)
    _check_range("--seed", args.seed, 0, 2 ** 63 - 1)
    _check_range("--epochs", args.epochs, 1, 100_000)
    _check_range("--fp-epochs", args.fp_epochs, 1, 100_000)
    _check_range("--batch-size", args.batch_size, 1, 1 << 20)
    _check_range("--threads", args.threads, 1, 1024)
    if not 0 < args.lr <= 10:
        raise AbchwError(f"--lr must be in (0, 10], not {args.lr}")
    scheme = schemes.scheme_for(baseline_name=args.baseline, m=args.M, n=args.N,
                                channelwise=args.channelwise)
    if args.out and not scheme.exportable:
        raise AbchwError(f"--out: baseline {scheme.name!r} cannot be written to a model file: "
                         f"{scheme.export_problem}")
    out = _writable("--out", args.out) if args.out else None
    log_path = _writable("--log", args.log) if args.log else None

    torch.set_num_threads(args.threads)
    data = digits()
    start = time.perf_counter()
    result = fit.train(scheme=scheme, data=data, seed=args.seed, epochs=args.epochs,
                       fp_epochs=args.fp_epochs, lr=args.lr, batch_size=args.batch_size,
                       progress=not args.quiet)
    log = {"command": "abchw-train " + " ".join(raw), "machine": machine_description(),
           **result.log, "seconds": time.perf_counter() - start}
    print(f"{scheme.name}: test accuracy {100 * log['test_accuracy']:.1f}% "
          f"({len(data.test_images)} images, PyTorch float32), "
          f"trained in {log['seconds']:.0f} s")
    if scheme.exportable:
        network = export.to_network(result.model)
        log["golden"] = export.golden_accuracy(network, data.test_images, data.test_labels)
        log["torch_vs_golden_float"] = export.compare_with_golden(result.model, network,
                                                                  data.test_images)
        golden = log["golden"]
        print(f"exported: golden float model {100 * golden['float_accuracy']:.1f}%, "
              f"integer model {100 * golden['integer_accuracy']:.1f}%, same class on "
              f"{golden['integer_float_same_class']}/{golden['images']} images")
        if out:
            export.save(result.model, out)
            print(f"wrote {out}")
    if log_path:
        with atomic_write(log_path, "w") as file:
            json.dump(log, file, indent=1)
            file.write("\n")
        print(f"wrote {log_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
