"""abchw-train: a short real run, and one clear line for every bad input."""

import json
import re

import numpy as np
import pytest
import torch

from abchw import model_file
from abchw.golden import integer_forward, lower
from abchw.train.cli import main
from abchw.train.data import digits

torch.set_num_threads(1)


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_a_short_run_writes_a_model_and_a_log(capsys, tmp_path):
    status, out, err = run(capsys, "--M", "2", "--N", "3", "--epochs", "2", "--fp-epochs", "2",
                           "--seed", "4", "--out", str(tmp_path / "m.npz"),
                           "--log", str(tmp_path / "run.json"))
    assert status == 0
    assert re.search(r"abcnet-M2N3: test accuracy \d+\.\d% \(360 images", out)
    assert "exported: golden float model" in out and f"wrote {tmp_path / 'm.npz'}" in out
    assert "full precision [" in err and "abcnet-M2N3 [" in err and "2/2" in err
    network = model_file.load(tmp_path / "m.npz")
    assert (network.m, network.n, network.name) == (2, 3, "abcnet-M2N3")
    log = json.loads((tmp_path / "run.json").read_text())
    assert log["command"].startswith("abchw-train --M 2 --N 3") and log["seed"] == 4
    assert log["scheme"]["weights"] == {"kind": "bases", "M": 2, "channelwise": False,
                                        "shifts": [-1.0, 1.0], "ridge": 1e-6,
                                        "alpha_gradient": False}
    assert [len(p["history"]) for p in log["phases"].values()] == [2, 2]
    assert log["torch_vs_golden_float"]["stage_bits_differing"] == [0, 0]
    data = digits()
    scores = integer_forward(lower(network), data.test_images)[-1].y
    integer = float(np.mean(scores.argmax(1) == data.test_labels))
    assert log["golden"]["integer_accuracy"] == integer > 0.8


def test_baselines_that_cannot_export_still_train(capsys):
    status, out, err = run(capsys, "--baseline", "dorefa-w1a4", "--epochs", "1",
                           "--fp-epochs", "1", "--quiet")
    assert status == 0 and err == ""
    assert re.search(r"dorefa-w1a4: test accuracy \d+\.\d%", out) and "exported" not in out


@pytest.mark.parametrize("args, message", [
    (["--M", "0"], r"--M must be in 1\.\.8, not 0"),
    (["--N", "9"], r"--N must be in 1\.\.8, not 9"),
    (["--M", "three"], r"argument --M: invalid int value: 'three'"),
    (["--baseline", "resnet"], r"--baseline must be one of abcnet, full, .*not 'resnet'"),
    (["--baseline", "xnor", "--N", "2"], r"--N applies to ABC-Net only; baseline 'xnor'"),
    (["--baseline", "bnn", "--channelwise"], r"--channelwise applies to ABC-Net only"),
    (["--baseline", "bwn", "--out", "{tmp}/m.npz"],
     r"--out: baseline 'bwn' cannot be written to a model file: its 8-bit activations"),
    (["--out", "{tmp}/missing/m.npz"], r"--out '.*m.npz': directory '.*missing' does not exist"),
    (["--log", "{tmp}"], r"--log '.*' is a directory, not a file"),
    (["--epochs", "0"], r"--epochs must be in 1\.\.100000, not 0"),
    (["--lr", "-1"], r"--lr must be in \(0, 10\], not -1\.0"),
    (["--seed", "-3"], r"--seed must be in 0\.\.\d+, not -3"),
    (["--frobnicate"], r"unrecognized arguments: --frobnicate"),
])
def test_bad_input_is_one_clear_line(capsys, tmp_path, args, message):
    status, out, err = run(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert status == 2 and out == ""
    assert err.startswith("abchw-train: error: ") and err.count("\n") == 1
    assert re.search(message, err), err


def test_missing_pytorch_is_one_clear_line(capsys, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "torch", None)
    status, out, err = run(capsys, "--M", "3")
    assert status == 2 and out == ""
    assert re.fullmatch(r"abchw-train: error: abchw-train needs PyTorch and scikit-learn "
                        r"\(.*\): pip install -e '\.\[train\]'\n", err)
