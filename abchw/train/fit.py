"""Training: a full-precision model first, then quantization-aware fine-tuning from it.

This is the paper's procedure (section 3.3): "using the full-precision pre-train model serves as
a perfect initialization. However, fine-tuning is always required". :func:`train` trains a
full-precision network of the same architecture (ReLU activations, real weights) for
``fp_epochs``, copies its weights, batch norms and temperature into the quantized network
(:meth:`~abchw.train.model.TrainNet.initialize_from`) and fine-tunes that for ``epochs``; a
full-precision scheme is just the first phase, for ``epochs``. A trained full-precision network
may be passed in (``full_precision=``) so that many schemes fine-tune from one.

Both phases minimise the cross-entropy of the logits with Adam (the paper's Algorithm 1 names
Adam or momentum SGD) at a cosine-decayed learning rate, on shuffled mini-batches, without
augmentation or weight decay; the result is the network after the last step (the test split is
measured after every epoch for the log, never used to choose anything). Everything is seeded:
one seed gives the same network on the same machine and PyTorch build (one thread).
"""

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..progress import Progress
from .data import Dataset
from .model import REFERENCE, TrainNet, describe_architecture
from .params import TrainError, check_bool, check_float, check_int
from .schemes import Scheme, baseline

__all__ = ["DEFAULTS", "TrainResult", "accuracy", "cross_entropy", "fit", "train"]

#: Default settings of :func:`train` (and of ``abchw-train``).
DEFAULTS = {"epochs": 40, "fp_epochs": 40, "lr": 3e-3, "fp_lr": 3e-3, "batch_size": 64}


@dataclass
class TrainResult:
    """The trained network, the full-precision network it started from (None for a
    full-precision scheme), and the JSON-ready log of the run."""
    model: TrainNet
    full_precision: TrainNet
    log: dict


def accuracy(model, images, labels, *, batch_size=512):
    """Fraction of ``images`` whose eval-mode ``argmax`` score is the label."""
    was_training = model.training
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            scores = model.scores(torch.as_tensor(images[start:start + batch_size]))
            correct += int((scores.argmax(dim=1).numpy() == labels[start:start + batch_size])
                           .sum())
    model.train(was_training)
    return correct / len(images)


def cross_entropy(model, images, labels, *, batch_size=512):
    """Mean cross-entropy of the eval-mode logits (``scores * exp(log_temperature)``): a finer
    measure than accuracy on a small test set."""
    was_training = model.training
    model.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            logits = model(torch.as_tensor(images[start:start + batch_size]))
            total += float(F.cross_entropy(logits, torch.as_tensor(
                labels[start:start + batch_size]), reduction="sum"))
    model.train(was_training)
    return total / len(images)


def fit(model, data, *, epochs, seed, lr, batch_size, label="train", progress=True):
    """Train ``model`` on ``data.train_*`` in place; returns the per-epoch history."""
    epochs = check_int("epochs", epochs, 1, 100_000)
    seed = check_int("seed", seed, 0, 2 ** 63 - 1)
    lr = check_float("lr", lr, lo=0.0, hi=10.0, lo_open=True)
    batch_size = check_int("batch_size", batch_size, 1, 1 << 20)
    images = torch.as_tensor(data.train_images)
    labels = torch.as_tensor(data.train_labels)
    steps_per_epoch = -(-len(images) // batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)
    bar = Progress(total=epochs, label=label, force=bool(progress), interval=0)
    history = []
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(images), generator=generator)
        total_loss, correct = 0.0, 0
        for start in range(0, len(images), batch_size):
            batch = order[start:start + batch_size]
            logits = model(images[batch])
            loss = F.cross_entropy(logits, labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += float(loss.detach()) * len(batch)
            correct += int((logits.argmax(dim=1) == labels[batch]).sum())
        entry = {"epoch": epoch + 1, "loss": total_loss / len(images),
                 "train_accuracy": correct / len(images),
                 "test_accuracy": accuracy(model, data.test_images, data.test_labels)}
        history.append(entry)
        bar.update(loss=entry["loss"], test=entry["test_accuracy"])
    bar.close()
    model.eval()
    return history


def _phase(model, data, *, epochs, seed, lr, batch_size, label, progress):
    start = time.perf_counter()
    history = fit(model, data, epochs=epochs, seed=seed, lr=lr, batch_size=batch_size,
                  label=label, progress=progress)
    return {"epochs": epochs, "lr": lr, "batch_size": batch_size,
            "seconds": time.perf_counter() - start, "history": history,
            "test_accuracy": history[-1]["test_accuracy"],
            "train_accuracy": accuracy(model, data.train_images, data.train_labels),
            "test_loss": cross_entropy(model, data.test_images, data.test_labels),
            "train_loss": cross_entropy(model, data.train_images, data.train_labels)}


def train(*, scheme, data, seed, epochs=DEFAULTS["epochs"], fp_epochs=DEFAULTS["fp_epochs"],
          lr=DEFAULTS["lr"], fp_lr=DEFAULTS["fp_lr"], batch_size=DEFAULTS["batch_size"],
          architecture=REFERENCE, full_precision=None, progress=True):
    """Train ``scheme`` on ``data`` (a :class:`~abchw.train.data.Dataset`); see module docs.

    Returns a :class:`TrainResult`. ``full_precision``: an already trained full-precision
    :class:`TrainNet` of ``architecture`` to fine-tune from (then ``fp_epochs`` is unused).
    """
    if not isinstance(scheme, Scheme):
        raise TrainError(f"'scheme' must be a Scheme, not {scheme!r}")
    if not isinstance(data, Dataset):
        raise TrainError(f"'data' must be a Dataset, not {data!r}")
    seed = check_int("seed", seed, 0, 2 ** 63 - 1)
    check_int("epochs", epochs, 1, 100_000)
    check_int("fp_epochs", fp_epochs, 1, 100_000)
    progress = check_bool("progress", progress)
    common = {"seed": seed, "batch_size": batch_size, "progress": progress}
    log = {"scheme": scheme.describe(), "seed": seed, "data": data.name,
           "architecture": describe_architecture(architecture),
           "train_images": len(data.train_images), "test_images": len(data.test_images),
           "torch": torch.__version__, "threads": torch.get_num_threads()}
    build = {"architecture": architecture, "input_shape": data.input_shape,
             "classes": data.classes}
    if scheme.full_precision:
        torch.manual_seed(seed)
        model = TrainNet(scheme=scheme, **build)
        log["phases"] = {"train": _phase(model, data, epochs=epochs, lr=lr, label="full",
                                         **common)}
        log["test_accuracy"] = log["phases"]["train"]["test_accuracy"]
        return TrainResult(model, None, log)
    log["phases"] = {}
    if full_precision is None:
        torch.manual_seed(seed)
        full_precision = TrainNet(scheme=baseline("full"), **build)
        log["phases"]["full_precision"] = _phase(full_precision, data, epochs=fp_epochs,
                                                 lr=fp_lr, label="full precision", **common)
    elif (not isinstance(full_precision, TrainNet) or not full_precision.scheme.full_precision
          or full_precision.architecture != tuple(architecture)):
        raise TrainError("'full_precision' must be a full-precision TrainNet of the same "
                         "architecture")
    else:
        log["full_precision_test_accuracy"] = accuracy(full_precision, data.test_images,
                                                       data.test_labels)
    torch.manual_seed(seed)
    model = TrainNet(scheme=scheme, **build).initialize_from(full_precision)
    log["initial_test_accuracy"] = accuracy(model, data.test_images, data.test_labels)
    log["phases"]["quantized"] = _phase(model, data, epochs=epochs, lr=lr, label=scheme.name,
                                        **common)
    log["test_accuracy"] = log["phases"]["quantized"]["test_accuracy"]
    return TrainResult(model, full_precision, log)
