import json
import re

import numpy as np
import pytest

from abchw import builtin
from abchw.classify import main
from abchw.golden import integer_forward, lower


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_default_run_reports_accuracy_and_agreement(capsys):
    status, out, err = run(capsys)
    assert status == 0 and err == ""
    assert "images: 360 from the built-in digits test set" in out
    assert "same class on 360/360 images" in out


def test_json_report_is_the_integer_model(capsys):
    status, out, _ = run(capsys, "--json")
    report = json.loads(out)
    network = builtin.default_model()
    images, labels = builtin.digits_test_set()
    scores = integer_forward(lower(network), images)[-1].y
    assert status == 0
    assert report["scores"] == scores.tolist()
    assert report["predictions"] == scores.argmax(axis=1).tolist()
    assert report["accuracy"] == pytest.approx(np.mean(scores.argmax(axis=1) == labels))
    assert report["float_predictions_equal"] == 360
    assert (report["M"], report["N"], report["coef_bits"]) == (3, 3, 16)


def test_user_images_and_labels(capsys, tmp_path):
    images, labels = builtin.digits_test_set()
    np.save(tmp_path / "one.npy", images[7])
    np.save(tmp_path / "few.npy", images[:5].astype(np.int64))
    np.save(tmp_path / "labels.npy", labels[:5])
    status, out, _ = run(capsys, "--input", str(tmp_path / "one.npy"), "--json")
    expected = integer_forward(lower(builtin.default_model()), images[7:8])[-1].y
    assert status == 0 and json.loads(out)["scores"] == expected.tolist()
    status, out, _ = run(capsys, "--input", str(tmp_path / "few.npy"),
                         "--labels", str(tmp_path / "labels.npy"), "--show", "5")
    assert status == 0 and "accuracy: integer model" in out and "image 4: class" in out


def test_coefficient_width_changes_the_integer_model_only(capsys):
    status, out, _ = run(capsys, "--coef-bits", "4", "--json")
    report = json.loads(out)
    _, out, _ = run(capsys, "--json")
    full_width = json.loads(out)
    assert status == 0 and report["coef_bits"] == 4
    assert report["float_accuracy"] == full_width["float_accuracy"]
    assert report["stage_bits_differing"][0] > full_width["stage_bits_differing"][0]
    # measured on the built-in model: 3 of 360 predictions change with 4-bit coefficients
    assert report["float_predictions_equal"] == 357


@pytest.mark.parametrize("make_args, message", [
    (lambda p: ["--model", str(p / "missing.npz")], "model file .*missing.npz.*does not exist"),
    (lambda p: ["--input", str(p / "missing.npy")], "--input file .* does not exist"),
    (lambda p: ["--input", str(p / "text.npy")], "is not a .npy file of numbers"),
    (lambda p: ["--input", str(p / "wrong_shape.npy")],
     r"must hold images of shape \(B, 1, 8, 8\)"),
    (lambda p: ["--input", str(p / "floats.npy")], "integer pixels 0..255, not dtype float64"),
    (lambda p: ["--input", str(p / "too_bright.npy")], "pixels outside 0..255 .*max 256"),
    (lambda p: ["--input", str(p / "good.npy"), "--labels", str(p / "bad_labels.npy")],
     "must be 2 integers, one per image"),
    (lambda p: ["--input", str(p / "good.npy"),
                "--labels", str(p / "big_labels.npy")], r"class indices 0..9, not 0..10"),
    (lambda p: ["--labels", str(p / "bad_labels.npy")], "--labels needs --input"),
    (lambda p: ["--coef-bits", "1"], "--coef-bits must be in 2..32, not 1"),
])
def test_bad_input_is_one_clear_line(capsys, tmp_path, make_args, message):
    (tmp_path / "text.npy").write_text("not an array")
    np.save(tmp_path / "wrong_shape.npy", np.zeros((2, 8, 8, 1), np.uint8))
    np.save(tmp_path / "floats.npy", np.zeros((2, 1, 8, 8)))
    np.save(tmp_path / "too_bright.npy", np.full((2, 1, 8, 8), 256, np.int32))
    np.save(tmp_path / "good.npy", np.zeros((2, 1, 8, 8), np.uint8))
    np.save(tmp_path / "bad_labels.npy", np.zeros(3, np.int64))
    np.save(tmp_path / "big_labels.npy", np.array([0, 10]))
    status, out, err = run(capsys, *make_args(tmp_path))
    assert status == 2 and out == ""
    assert err.startswith("abchw-classify: error: ") and err.count("\n") == 1
    assert re.search(message, err)
