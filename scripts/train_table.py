"""Reproduce the accuracy table: ABC-Net for M, N in {1, 3, 5} and the seed baselines.

    pip install -e '.[train]' && python scripts/train_table.py

Trains the reference network (``abchw.train.REFERENCE``: conv3x3-16 pad 1; conv3x3-32 pad 1,
max-pool 2; dense-10) on the digits training split for every scheme and seed: a
full-precision network per seed (``--fp-epochs``), then each quantized scheme fine-tuned from
that seed's full-precision network (``--epochs``), as the paper initializes ABC-Net. Runs are
spread over ``--workers`` processes with one PyTorch thread each. Every exportable network is
also written to a model file in memory and measured with the golden float and integer models.

Writes ``docs/benchmarks/accuracy.json`` (every run, the summary, the command and the machine),
``accuracy.md`` (the tables) and ``accuracy.png`` (accuracy against M and N beside the trend of
the paper's ImageNet table).
"""

import argparse
import io
import json
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np

from abchw.atomic import atomic_write
from abchw.machine import machine_description

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"
GRID = (1, 3, 5)
BASELINE_NAMES = ("bnn", "xnor", "trained-binarization", "bwn", "dorefa-w1a4")
CHANNELWISE = ((1, 1), (3, 3), (5, 5))

#: The ABC-Net paper's ImageNet results, ResNet-18 (Tables 2 and 3), top-1 %.
PAPER_TOP1 = {(1, 1): 42.7, (3, 1): 49.1, (3, 3): 61.0, (3, 5): 63.1, (5, 1): 54.1,
              (5, 3): 62.5, (5, 5): 65.0}
PAPER_BASELINES_TOP1 = {"full": 69.3, "bwn": 60.8, "dorefa-w1a4": 59.2, "xnor": 51.2,
                        "bnn": 42.2}

_DATA = None


def _init_worker():
    import torch
    torch.set_num_threads(1)


def _data():
    global _DATA
    if _DATA is None:
        from abchw.train import digits
        _DATA = digits()
    return _DATA


def _scheme(name):
    from abchw.train import abcnet, baseline
    if name.startswith("abcnet-"):
        m, n = int(name[8]), int(name[10])
        return abcnet(m=m, n=n, channelwise=name.endswith("-channelwise"))
    return baseline(name)


def _architecture(name):
    from abchw.train import REFERENCE, ConvSpec, DenseSpec
    if name == "reference":
        return REFERENCE
    return (ConvSpec(out_channels=8), ConvSpec(out_channels=8, pool=2),
            DenseSpec(out_features=10))


def _train_full_precision(task):
    seed, settings = task
    from abchw.train import baseline, train
    start = time.perf_counter()
    result = train(scheme=baseline("full"), data=_data(), seed=seed,
                   epochs=settings["fp_epochs"], lr=settings["fp_lr"],
                   batch_size=settings["batch_size"],
                   architecture=_architecture(settings["architecture"]), progress=False)
    state = {key: value.clone() for key, value in result.model.state_dict().items()}
    phase = result.log["phases"]["train"]
    return seed, state, {"scheme": "full", "seed": seed,
                         "test_accuracy": result.log["test_accuracy"],
                         "train_accuracy": phase["train_accuracy"],
                         "test_loss": phase["test_loss"], "train_loss": phase["train_loss"],
                         "seconds": time.perf_counter() - start}


def _train_quantized(task):
    seed, name, state, settings = task
    import torch

    from abchw.train import (
        TrainNet,
        baseline,
        compare_with_golden,
        golden_accuracy,
        to_network,
        train,
    )
    data = _data()
    architecture = _architecture(settings["architecture"])
    full_precision = TrainNet(scheme=baseline("full"), architecture=architecture,
                              input_shape=data.input_shape, classes=data.classes)
    full_precision.load_state_dict(state)
    full_precision.eval()
    scheme = _scheme(name)
    start = time.perf_counter()
    result = train(scheme=scheme, data=data, seed=seed, epochs=settings["epochs"],
                   lr=settings["lr"], batch_size=settings["batch_size"],
                   architecture=architecture, full_precision=full_precision, progress=False)
    row = {"scheme": name, "seed": seed, "M": scheme.weights.m,
           "N": scheme.activations.n if scheme.activations.kind == "binary" else None,
           "test_accuracy": result.log["test_accuracy"],
           "train_accuracy": result.log["phases"]["quantized"]["train_accuracy"],
           "test_loss": result.log["phases"]["quantized"]["test_loss"],
           "train_loss": result.log["phases"]["quantized"]["train_loss"],
           "initial_test_accuracy": result.log["initial_test_accuracy"],
           "seconds": time.perf_counter() - start,
           "weight_bits": scheme.weights.m * sum(s.weights.weight.numel()
                                                 for s in result.model.stages)}
    if scheme.exportable:
        network = to_network(result.model)
        golden = golden_accuracy(network, data.test_images, data.test_labels)
        check = compare_with_golden(result.model, network, data.test_images)
        with torch.no_grad():
            float32 = result.model.float().eval().scores(torch.as_tensor(data.test_images))
        from abchw.golden import float_forward
        golden_classes = float_forward(network, data.test_images)[-1].y.argmax(1)
        row.update(golden_float_accuracy=golden["float_accuracy"],
                   golden_integer_accuracy=golden["integer_accuracy"],
                   integer_float_same_class=golden["integer_float_same_class"],
                   integer_float_bits_differing=golden["integer_float_stage_bits_differing"],
                   torch64_golden_bits_differing=check["stage_bits_differing"],
                   torch64_golden_max_score_difference=check["max_score_difference"],
                   torch32_golden_predictions_differing=int(
                       (float32.argmax(1).numpy() != golden_classes).sum()))
    return row


def _stats(values):
    values = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if values.size == 0:
        return None
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if values.size > 1
            else 0.0, "min": float(values.min()), "max": float(values.max()), "n": int(values.size)}


def summarize(rows):
    summary = {}
    for name in dict.fromkeys(row["scheme"] for row in rows):
        mine = [row for row in rows if row["scheme"] == name]
        entry = {"M": mine[0].get("M"), "N": mine[0].get("N"),
                 "weight_bits": mine[0].get("weight_bits"),
                 "test_accuracy": _stats([r["test_accuracy"] for r in mine]),
                 "test_loss": _stats([r["test_loss"] for r in mine]),
                 "train_loss": _stats([r["train_loss"] for r in mine]),
                 "seconds": _stats([r["seconds"] for r in mine])}
        if "golden_integer_accuracy" in mine[0]:
            entry["golden_integer_accuracy"] = _stats([r["golden_integer_accuracy"]
                                                       for r in mine])
            entry["integer_float_same_class_min"] = min(r["integer_float_same_class"]
                                                        for r in mine)
        summary[name] = entry
    return summary


def _pct(stats, key="mean"):
    return f"{100 * stats[key]:.1f}"


def _loss(stats):
    return f"{stats['mean']:.3f} ± {stats['std']:.3f}"


def _cell(stats):
    return f"{_pct(stats)} ± {100 * stats['std']:.1f}" if stats else "—"


def markdown(report, stem):
    s, settings = report["summary"], report["settings"]
    full = s["full"]["test_accuracy"]
    lines = [
        "# Accuracy of ABC-Net and the seed baselines on the 8x8 digits",
        "",
        (f"Network `{report['architecture']}`, {report['data']}; "
        f"{settings['seeds']} seeds; full precision trained {settings['fp_epochs']} epochs, "
        f"every quantized scheme fine-tuned {settings['epochs']} epochs from the same seed's "
        f"full-precision network (Adam, lr {settings['lr']:g}, cosine decay, batch "
        f"{settings['batch_size']}). Test accuracy in %, mean ± sample standard deviation over "
        f"seeds (one test image is 0.28%)."),
        "",
        (f"Reproduce: `{report['command']}` ({report['seconds'] / 60:.0f} min on "
        f"{report['machine']}, {settings['workers']} workers, PyTorch {report['torch']})."),
        "",
        "## ABC-Net, weights approximated as a whole: PyTorch test accuracy (%)",
        "",
        "| M \\ N | " + " | ".join(f"N = {n}" for n in GRID) + " |",
        "|---|" + "---:|" * len(GRID),
    ]
    for m in GRID:
        cells = [_cell(s[f"abcnet-M{m}N{n}"]["test_accuracy"]) for n in GRID]
        lines.append(f"| M = {m} | " + " | ".join(cells) + " |")
    for key, title in (("test_loss", "test"), ("train_loss", "training")):
        lines += ["", (f"Mean {title} cross-entropy (eval mode; full precision "
                      f"{_loss(s['full'][key])}):"), "",
                  "| M \\ N | " + " | ".join(f"N = {n}" for n in GRID) + " |",
                  "|---|" + "---:|" * len(GRID)]
        for m in GRID:
            cells = [_loss(s[f"abcnet-M{m}N{n}"][key]) for n in GRID]
            lines.append(f"| M = {m} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Full precision: {_cell(full)}. The paper's ImageNet top-1 (ResNet-18) for the same "
        "cells: " + ", ".join(f"M{m}N{n} {v}%" for (m, n), v in PAPER_TOP1.items())
        + f", full precision {PAPER_BASELINES_TOP1['full']}%.",
        "",
        "## Every scheme",
        "",
        ("| scheme | M | N | weight bits | PyTorch test % | min – max | gap to full precision "
        "(points) | test / train cross-entropy | golden integer model % "
        "| integer = float class (worst seed) | paper ImageNet top-1 |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, entry in s.items():
        acc = entry["test_accuracy"]
        gap = 100 * (full["mean"] - acc["mean"])
        integer = entry.get("golden_integer_accuracy")
        m, n = entry["M"], entry["N"]
        paper = PAPER_BASELINES_TOP1.get(name)
        if name.startswith("abcnet-") and not name.endswith("channelwise"):
            paper = PAPER_TOP1.get((m, n))
        same = entry.get("integer_float_same_class_min")
        same = "—" if same is None else f"{same}/{report['test_images']}"
        lines.append(
            f"| {name} | {m if m else '—'} | {n if n else '—'} | "
            f"{entry['weight_bits'] if entry['weight_bits'] else '—'} | {_cell(acc)} | "
            f"{_pct(acc, 'min')} – {_pct(acc, 'max')} | "
            f"{'—' if name == 'full' else f'{gap:.1f}'} | "
            f"{entry['test_loss']['mean']:.3f} / {entry['train_loss']['mean']:.4f} | "
            f"{_cell(integer) if integer else 'not exportable'} | "
            f"{same} | "
            f"{f'{paper}%' if paper else '—'} |")
    lines += [
        "",
        ("Not exportable: `full` (real weights and activations), `bwn` and `dorefa-w1a4` (8- and "
        "4-bit activations: bit-planes of a quantized value are not thresholds of the "
        "pre-activation, and as thresholds they would need N = 255 or 15 > 8); see "
        "`docs/training.md`. Weight bits count every layer, first and last included."),
        "",
        (f"Torch (float64, eval mode) vs the golden float model on the exported networks: "
        f"{report['checks']['torch64_golden_bits_differing']} activation bits differ over all "
        f"exported runs; largest score difference "
        f"{report['checks']['torch64_golden_max_score_difference']:.1e}. PyTorch float32 vs "
        f"golden float64 predictions differ on {report['checks']['torch32_predictions_differing']}"
        f" of {report['checks']['exported_images']} image classifications."),
        "",
        f"![accuracy against M and N]({stem}.png)",
        "",
    ]
    return "\n".join(lines)


def plot(report, path):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    s = report["summary"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for m, marker, offset in zip(GRID, "os^", (-0.06, 0.0, 0.06), strict=True):
        stats = [s[f"abcnet-M{m}N{n}"]["test_accuracy"] for n in GRID]
        left.errorbar([n + offset for n in GRID], [100 * x["mean"] for x in stats],
                      yerr=[100 * x["std"] for x in stats], marker=marker, capsize=3,
                      label=f"M = {m}")
        points = [(n, PAPER_TOP1[(m, n)]) for n in GRID if (m, n) in PAPER_TOP1]
        right.plot(*zip(*points, strict=True), marker=marker, label=f"M = {m}")
    full = s["full"]["test_accuracy"]
    left.axhline(100 * full["mean"], color="k", linestyle="--", label="full precision")
    right.axhline(PAPER_BASELINES_TOP1["full"], color="k", linestyle="--",
                  label="full precision")
    left.set_title(f"abchw: {report['architecture']}\n8x8 digits, "
                   f"{report['settings']['seeds']} seeds (mean ± std)", fontsize=10)
    right.set_title("ABC-Net paper (Table 2)\nImageNet, ResNet-18, top-1", fontsize=10)
    for axis in (left, right):
        axis.set_xlabel("N (binary activations)")
        axis.set_ylabel("test accuracy (%)")
        axis.set_xticks(GRID)
        axis.legend(loc="lower right")
        axis.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    with atomic_write(path) as file:
        file.write(buffer.getvalue())


def _checks(rows):
    exported = [r for r in rows if "torch64_golden_bits_differing" in r]
    return {"torch64_golden_bits_differing": sum(sum(r["torch64_golden_bits_differing"])
                                                 for r in exported),
            "torch64_golden_max_score_difference": max(r["torch64_golden_max_score_difference"]
                                                       for r in exported),
            "torch32_predictions_differing": sum(r["torch32_golden_predictions_differing"]
                                                 for r in exported),
            "exported_images": 360 * len(exported),
            "exported_runs": len(exported)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--fp-epochs", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--architecture", choices=("reference", "small"), default="reference",
                        help="reference: abchw.train.REFERENCE; small: conv3x3-8p1, "
                             "conv3x3-8p1 maxpool2, dense-10 (writes accuracy-small.*)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite the .md and .png from the existing .json, no training")
    args = parser.parse_args()
    if args.render_only:
        stem = "accuracy" if args.architecture == "reference" else f"accuracy-{args.architecture}"
        report = json.loads((args.out / f"{stem}.json").read_text())
        with atomic_write(args.out / f"{stem}.md", "w") as file:
            file.write(markdown(report, stem))
        plot(report, args.out / f"{stem}.png")
        return
    from abchw.train import DEFAULTS, describe_architecture
    stem = "accuracy" if args.architecture == "reference" else f"accuracy-{args.architecture}"
    settings = {"seeds": args.seeds, "workers": args.workers, "architecture": args.architecture,
                "epochs": args.epochs or DEFAULTS["epochs"],
                "fp_epochs": args.fp_epochs or DEFAULTS["fp_epochs"],
                "lr": DEFAULTS["lr"], "fp_lr": DEFAULTS["fp_lr"],
                "batch_size": DEFAULTS["batch_size"]}
    seeds = list(range(1, args.seeds + 1))
    names = ([f"abcnet-M{m}N{n}" for m in reversed(GRID) for n in reversed(GRID)]
             + [f"abcnet-M{m}N{n}-channelwise" for m, n in CHANNELWISE] + list(BASELINE_NAMES))
    start = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    rows = []
    with context.Pool(args.workers, initializer=_init_worker) as pool:
        states = {}
        for seed, state, row in pool.imap_unordered(_train_full_precision,
                                                    [(s, settings) for s in seeds]):
            states[seed] = state
            rows.append(row)
            print(f"full precision, seed {seed}: {100 * row['test_accuracy']:.1f}% "
                  f"({row['seconds']:.0f} s)", file=sys.stderr)
        tasks = [(seed, name, states[seed], settings) for name in names for seed in seeds]
        for done, row in enumerate(pool.imap_unordered(_train_quantized, tasks), 1):
            rows.append(row)
            print(f"[{done}/{len(tasks)}] {row['scheme']}, seed {row['seed']}: "
                  f"{100 * row['test_accuracy']:.1f}% ({row['seconds']:.0f} s, "
                  f"{time.perf_counter() - start:.0f} s elapsed)", file=sys.stderr)
    order = ["full"] + [f"abcnet-M{m}N{n}" for m in GRID for n in GRID] + [
        f"abcnet-M{m}N{n}-channelwise" for m, n in CHANNELWISE] + list(BASELINE_NAMES)
    rows.sort(key=lambda r: (order.index(r["scheme"]), r["seed"]))
    import torch
    data = _data()
    report = {
        "command": "python scripts/train_table.py" + "".join(f" {a}" for a in sys.argv[1:]),
        "machine": machine_description(), "torch": torch.__version__,
        "architecture": describe_architecture(_architecture(args.architecture)),
        "data": f"scikit-learn load_digits, {len(data.train_images)} training and "
                f"{len(data.test_images)} test images (every fifth)",
        "test_images": len(data.test_images), "settings": settings,
        "seconds": time.perf_counter() - start,
        "paper_imagenet_top1": {"abcnet": {f"M{m}N{n}": v for (m, n), v in PAPER_TOP1.items()},
                                "baselines": PAPER_BASELINES_TOP1},
        "summary": summarize(rows), "checks": _checks(rows), "runs": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out / f"{stem}.json", "w") as file:
        json.dump(report, file, indent=1)
        file.write("\n")
    with atomic_write(args.out / f"{stem}.md", "w") as file:
        file.write(markdown(report, stem))
    plot(report, args.out / f"{stem}.png")
    print(f"wrote {args.out / stem}.json, .md, .png ({report['seconds']:.0f} s)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
