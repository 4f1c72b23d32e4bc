"""``abchw-sim``: a report on the real RTL, JSON output, and one clear message for bad input."""

import json

import numpy as np
import pytest

from abchw.builtin import default_model
from abchw.compiler import compile_network
from abchw.gateware.engine.config import EngineConfig
from abchw.simulate import main


def test_report_and_json(tmp_path, capsys):
    report_path = tmp_path / "report.json"
    assert main(["--limit", "3", "--json", str(report_path), "--stall", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "golden model: every layer bit-exact" in out
    assert "images/s" in out
    report = json.loads(report_path.read_text())
    assert report["bit_exact"] and report["images"] == 3
    assert [stage["kind"] for stage in report["stages"]] == ["conv", "conv", "dense"]
    assert report["conv_pe_utilization"] >= 0.8
    total = report["cycles_per_image"]["total"]
    assert report["images_per_second"] == pytest.approx(48e6 / total)
    assert report["simulation_cycles_per_second"] > 0


def test_image_file_and_saved_program(tmp_path, capsys):
    image = np.arange(64, dtype=np.uint8).reshape(1, 8, 8) * 4
    np.save(tmp_path / "image.npy", image)
    program = tmp_path / "model.abchwprog"
    assert main(["--input", str(tmp_path / "image.npy"), "--save-program", str(program)]) == 0
    assert "image 0: class" in capsys.readouterr().out
    assert main(["--input", str(tmp_path / "image.npy"), "--program", str(program)]) == 0


def error_of(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("abchw-sim: error: ")
    return err


def test_bad_input(tmp_path, capsys):
    assert "--M: m must be an integer in 1..8, not 9" in error_of(capsys, ["--M", "9"])
    assert "--lanes: lanes must be an integer in 1..1024, not 0" in error_of(
        capsys, ["--lanes", "0"])
    assert "--freq must be a positive" in error_of(capsys, ["--freq", "0"])
    assert "--limit must be at least 1" in error_of(capsys, ["--limit", "0"])
    np.save(tmp_path / "wrong.npy", np.zeros((2, 1, 7, 7), dtype=np.uint8))
    assert "the model expects (1, 8, 8)" in error_of(capsys, ["--input",
                                                               str(tmp_path / "wrong.npy")])
    assert "M = 3 weight bases, the build has M = 2" in error_of(capsys, ["--M", "2"])


def test_corrupt_program(tmp_path, capsys):
    blob = bytearray(compile_network(default_model(), EngineConfig(m=3, n=3, pes=8,
                                                                   lanes=32)).to_bytes())
    blob[100] ^= 1
    (tmp_path / "bad.abchwprog").write_bytes(bytes(blob))
    assert "is corrupt (CRC mismatch)" in error_of(
        capsys, ["--program", str(tmp_path / "bad.abchwprog")])
    (tmp_path / "other.abchwprog").write_bytes(
        compile_network(default_model(), EngineConfig(m=3, n=3, pes=4, lanes=32)).to_bytes())
    assert "compile the model for this build" in error_of(
        capsys, ["--program", str(tmp_path / "other.abchwprog")])
