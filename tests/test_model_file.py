"""The model file (abchw/model_file.py): exact round trip, atomic save, every bad file refused."""

import json
import os
import re
import struct
import zipfile

import numpy as np
import pytest

from abchw import model_file
from abchw.errors import NetworkError
from abchw.model_file import load, save
from abchw.network import Activation, BatchNorm, Conv, Dense, MaxPool, Network, Threshold

# The test's own statement of the format: per kind, the array fields and the header fields.
ARRAY_FIELDS = {"conv": ("bases", "alpha"), "dense": ("bases", "alpha"), "maxpool": (),
                "batchnorm": ("gamma", "beta", "mean", "var"), "activation": ("shifts", "scales"),
                "threshold": ("thresholds", "invert", "scales")}
HEADER_FIELDS = {"conv": ("stride", "padding"), "dense": (), "maxpool": ("size", "stride"),
                 "batchnorm": ("eps",), "activation": (), "threshold": ()}
DTYPES = {"bases": np.int8, "invert": np.bool_}  # every other array is float64


def pm1(rng, shape):
    return rng.choice(np.array([-1, 1], np.int8), size=shape)


def full_network():
    """Every layer kind; channel-wise and whole alpha; +-inf thresholds and invert."""
    rng = np.random.default_rng(7)
    thresholds = rng.normal(size=(5, 2)) * 100
    thresholds[1, 0], thresholds[3, 1] = np.inf, -np.inf
    layers = [
        Conv(pm1(rng, (3, 4, 2, 3, 3)), rng.normal(size=(4, 3)), stride=1, padding=1),
        MaxPool(2),
        BatchNorm(rng.normal(size=4), rng.normal(size=4), rng.normal(size=4) * 50,
                  rng.uniform(0, 9, size=4), eps=1e-3),
        Activation([-1.5, 0.0, 1.5], rng.uniform(0.5, 2, size=3)),
        Conv(pm1(rng, (2, 5, 4, 3, 3)), [0.75, 1 / 3], stride=2, padding=0),
        Threshold(thresholds, [True, False, False, True, True], [1.0, 0.1]),
        Dense(pm1(rng, (4, 6, 20)), rng.normal(size=(6, 4))),
        Threshold(rng.normal(size=(6, 1)), np.zeros(6, bool), [2.5]),
        Dense(pm1(rng, (1, 3, 6)), [np.pi]),
    ]
    return Network((2, 10, 10), layers, name="every kind \u2013 \u00e9",
                   classes=("cat", "dog", "7"))


def assert_same_network(loaded, original):
    assert type(loaded) is Network
    assert loaded.input_shape == original.input_shape
    assert (loaded.name, loaded.classes) == (original.name, original.classes)
    assert [layer.kind for layer in loaded.layers] == [layer.kind for layer in original.layers]
    for new, old in zip(loaded.layers, original.layers):
        assert type(new) is type(old)
        for name in HEADER_FIELDS[new.kind]:
            value = getattr(new, name)
            assert value == getattr(old, name) and type(value) is type(getattr(old, name))
        for name in ARRAY_FIELDS[new.kind]:
            array = getattr(new, name)
            np.testing.assert_array_equal(array, getattr(old, name), strict=True)
            assert array.dtype == DTYPES.get(name, np.float64)
    assert [s.out_shape for s in loaded.stages] == [s.out_shape for s in original.stages]


@pytest.mark.parametrize("as_text", [False, True])
def test_round_trip_is_exact(tmp_path, as_text):
    network = full_network()
    path = tmp_path / "model.npz"
    save(network, str(path) if as_text else path)
    assert_same_network(load(str(path) if as_text else path), network)
    assert os.listdir(tmp_path) == ["model.npz"]


def test_file_layout_is_the_documented_one(tmp_path):
    network = full_network()
    path = tmp_path / "model.npz"
    save(network, path)
    with np.load(path, allow_pickle=False) as archive:
        header = json.loads(str(archive["header"][()]))
        names = set(archive.files)
    assert header == {
        "format": "abchw-model", "version": 1, "name": network.name,
        "classes": ["cat", "dog", "7"], "input_shape": [2, 10, 10],
        "layers": [{"kind": "conv", "stride": 1, "padding": 1},
                   {"kind": "maxpool", "size": 2, "stride": 2},
                   {"kind": "batchnorm", "eps": 1e-3}, {"kind": "activation"},
                   {"kind": "conv", "stride": 2, "padding": 0}, {"kind": "threshold"},
                   {"kind": "dense"}, {"kind": "threshold"}, {"kind": "dense"}]}
    assert names == {"header"} | {f"layer{i}.{name}" for i, layer in enumerate(network.layers)
                                  for name in ARRAY_FIELDS[layer.kind]}
    with zipfile.ZipFile(path) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_DEFLATED}


def test_round_trip_of_minimal_network(tmp_path):
    network = Network((1, 4, 4), [Dense(np.ones((1, 2, 16), np.int8), [1.0])])
    save(network, tmp_path / "m.npz")
    loaded = load(tmp_path / "m.npz")
    assert_same_network(loaded, network)
    assert (loaded.name, loaded.classes) == ("", ())


# ---------------------------------------------------------------- save is atomic


def failing_savez(file, **arrays):
    file.write(b"PK\x03\x04 half a model")
    raise OSError("disk full")


@pytest.mark.parametrize("previous", [True, False])
def test_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, previous):
    path = tmp_path / "model.npz"
    if previous:
        save(full_network(), path)
    before = path.read_bytes() if previous else None
    monkeypatch.setattr(model_file.np, "savez_compressed", failing_savez)
    message = f"^cannot write model file '{re.escape(str(path))}': disk full$"
    with pytest.raises(NetworkError, match=message):
        save(Network((1, 4, 4), [Dense(np.ones((1, 2, 16), np.int8), [1.0])]), path)
    assert os.listdir(tmp_path) == (["model.npz"] if previous else [])
    if previous:
        assert path.read_bytes() == before
        assert_same_network(load(path), full_network())


def test_save_replaces_an_existing_file(tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(b"old content")
    network = Network((1, 4, 4), [Dense(np.ones((1, 2, 16), np.int8), [1.0])], name="new")
    save(network, path)
    assert load(path).name == "new"
    assert os.listdir(tmp_path) == ["model.npz"]


def test_save_into_missing_directory(tmp_path):
    path = tmp_path / "missing" / "model.npz"
    with pytest.raises(NetworkError, match="^" + re.escape(
            f"cannot write model file '{path}': directory '{path.parent}' does not exist") + "$"):
        save(full_network(), path)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- bad model files


def good_parts():
    """Header and arrays of a small valid model: conv, maxpool, batchnorm, activation, dense,
    threshold, dense (input 1x6x6 -> 2x4x4 -> 2x2x2 -> 4 -> 3 scores)."""
    header = {"format": "abchw-model", "version": 1, "name": "tiny", "classes": ["a", "b", "c"],
              "input_shape": [1, 6, 6],
              "layers": [{"kind": "conv", "stride": 1, "padding": 0},
                         {"kind": "maxpool", "size": 2, "stride": 2},
                         {"kind": "batchnorm", "eps": 1e-5}, {"kind": "activation"},
                         {"kind": "dense"}, {"kind": "threshold"}, {"kind": "dense"}]}
    arrays = {"layer0.bases": np.ones((2, 2, 1, 3, 3), np.int8),
              "layer0.alpha": np.array([0.5, 0.25]),
              "layer2.gamma": np.ones(2), "layer2.beta": np.zeros(2), "layer2.mean": np.zeros(2),
              "layer2.var": np.ones(2),
              "layer3.shifts": np.zeros(2), "layer3.scales": np.ones(2),
              "layer4.bases": np.ones((1, 4, 8), np.int8), "layer4.alpha": np.ones(1),
              "layer5.thresholds": np.zeros((4, 1)), "layer5.invert": np.zeros(4, bool),
              "layer5.scales": np.ones(1),
              "layer6.bases": np.ones((1, 3, 4), np.int8), "layer6.alpha": np.ones(1)}
    return header, arrays


def write_npz(path, header, arrays, savez=np.savez):
    if isinstance(header, (dict, list, str)):
        header = np.array(header if isinstance(header, str) else json.dumps(header))
    savez(path, **({} if header is None else {"header": header}), **arrays)
    return path


DELETE = object()


def npz(header=None, layer=None, arrays=None, **changes):
    """A bad file: the good parts with header fields (or, with ``layer``, that layer's header
    fields) changed or DELETEd, and ``arrays`` changed or DELETEd."""
    def make(directory):
        head, data = good_parts()
        target = head if layer is None else head["layers"][layer]
        for key, value in changes.items():
            target.pop(key) if value is DELETE else target.__setitem__(key, value)
        for key, value in (arrays or {}).items():
            data.pop(key) if value is DELETE else data.__setitem__(key, value)
        return write_npz(directory / "bad.npz", head if header is None else header, data)
    return make


def raw(content):
    def make(directory):
        path = directory / "bad.npz"
        path.write_bytes(content)
        return path
    return make


def good_file(directory, savez=np.savez_compressed):
    return write_npz(directory / "good.npz", *good_parts(), savez=savez)


def truncated(keep):
    def make(directory):
        data = good_file(directory).read_bytes()
        return raw(data[:keep(len(data))])(directory)
    return make


def corrupted(member, savez):
    """Invert the middle third of ``member``'s stored bytes."""
    def make(directory):
        path = good_file(directory, savez)
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(member)
        data = bytearray(path.read_bytes())
        name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26:
                                                              info.header_offset + 30])
        start = info.header_offset + 30 + name_length + extra_length
        for i in range(start + info.compress_size // 3, start + 2 * info.compress_size // 3):
            data[i] ^= 0xFF
        return raw(bytes(data))(directory)
    return make


def png_with_zip(directory):
    return raw(b"\x89PNG\r\n\x1a\n" + good_file(directory).read_bytes())(directory)


def npy_file(directory):
    np.save(directory / "bad.npy", np.ones(3))
    return directory / "bad.npy"


def empty_zip(directory):
    zipfile.ZipFile(directory / "bad.npz", "w").close()
    return directory / "bad.npz"


def with_text_member(directory):
    path = good_file(directory, np.savez)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("notes.txt", "hello")
    return path


def without_header(directory):
    return write_npz(directory / "bad.npz", None, good_parts()[1])


def object_array(value):
    return np.array(value, dtype=object)


def bases(shape, bad_index=None, value=0, dtype=np.int8):
    array = np.ones(shape, dtype)
    if bad_index is not None:
        array[bad_index] = value
    return array


CONV = r"layer 0 \(conv\): "
BAD_FILES = [
    # not a model file at all
    pytest.param(lambda d: d / "nothing.npz", r"does not exist or is not a file$", id="missing"),
    pytest.param(lambda d: d, r"does not exist or is not a file$", id="directory"),
    pytest.param(raw(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4),
                 r"is not an abchw model file \(not a \.npz/zip archive\)$", id="png"),
    pytest.param(raw(b"conv 3x3\nthreshold\n"),
                 r"is not an abchw model file \(not a \.npz/zip archive\)$", id="text"),
    pytest.param(raw(b""), r"is not an abchw model file \(not a \.npz/zip archive\)$", id="empty"),
    pytest.param(png_with_zip, r"is not an abchw model file \(not a \.npz/zip archive\)$",
                 id="zip-appended-to-png"),
    pytest.param(npy_file, r"is not an abchw model file \(not a \.npz/zip archive\)$", id="npy"),
    # damaged archives
    pytest.param(truncated(lambda n: n // 2), r"is truncated or corrupt \(", id="truncated-half"),
    pytest.param(truncated(lambda n: n - 10), r"is truncated or corrupt \(", id="truncated-end"),
    pytest.param(corrupted("layer0.bases.npy", np.savez_compressed),
                 r"is truncated or corrupt \(Error -3 while decompressing", id="corrupt-deflate"),
    pytest.param(corrupted("header.npy", np.savez_compressed),
                 r"is truncated or corrupt \(Error -3 while decompressing", id="corrupt-header"),
    pytest.param(corrupted("layer5.thresholds.npy", np.savez),
                 r"is truncated or corrupt \(Bad CRC-32 for file 'layer5\.thresholds\.npy'\)$",
                 id="corrupt-crc"),
    # archive without a usable header
    pytest.param(empty_zip, r"has no 'header'; it is not an abchw model file$", id="empty-zip"),
    pytest.param(without_header, r"has no 'header'; it is not an abchw model file$",
                 id="no-header"),
    pytest.param(npz(header="conv, maxpool, dense"), r"'header' is not valid JSON text \(",
                 id="header-not-json"),
    pytest.param(npz(header="[" * 100_000 + "]" * 100_000), r"'header' is not valid JSON text \(",
                 id="header-nested-too-deep"),
    pytest.param(npz(header=object_array("{}")),
                 r"'header' is not valid JSON text \(Object arrays cannot be loaded when "
                 r"allow_pickle=False\)$", id="header-pickled"),
    pytest.param(npz(header=[1, 2]), r"'header' must be a JSON object, not list$",
                 id="header-list"),
    pytest.param(npz(format="numpy"), r"header 'format' is 'numpy', not 'abchw-model'; it is "
                                      r"not an abchw model file$", id="wrong-format"),
    pytest.param(npz(format=DELETE), r"header 'format' is None, not 'abchw-model'",
                 id="no-format"),
    pytest.param(npz(version=2), r"format version 2 is newer than this abchw reads \(1\); "
                                 r"upgrade abchw$", id="newer-version"),
    pytest.param(npz(version="1"), r"header 'version' must be a positive integer, not '1'$",
                 id="version-text"),
    pytest.param(npz(version=0), r"header 'version' must be a positive integer, not 0$",
                 id="version-0"),
    pytest.param(npz(version=DELETE), r"header 'version' must be a positive integer, not None$",
                 id="no-version"),
    pytest.param(npz(author="me"), r"header has an unexpected field 'author'$",
                 id="unexpected-header-field"),
    pytest.param(npz(layers=DELETE), r"header field 'layers' is missing$", id="no-layers"),
    pytest.param(npz(input_shape=DELETE), r"header field 'input_shape' is missing$",
                 id="no-input-shape"),
    pytest.param(npz(layers={"0": "conv"}), r"header 'layers' must be a list, not dict$",
                 id="layers-not-list"),
    pytest.param(npz(name=5), r"header 'name' must be text, not 5$", id="name-not-text"),
    pytest.param(npz(classes=[1, 2, 3]), r"header 'classes' must be a list of text, not "
                                         r"\[1, 2, 3\]$", id="classes-not-text"),
    pytest.param(npz(classes="abc"), r"header 'classes' must be a list of text, not 'abc'$",
                 id="classes-string"),
    pytest.param(npz(input_shape=[1, 6]), r"'input_shape' must be three integers \(C, H, W\) "
                                          r"with C in 1..32767 and H, W in 1..4096, not \[1, 6\]$",
                 id="bad-input-shape"),
    pytest.param(npz(input_shape=[1, 6.0, 6]), r"'input_shape' must be three integers",
                 id="float-input-shape"),
    # layer headers
    pytest.param(npz(layers=["conv"]), r"layer 0: must be an object with a 'kind', not 'conv'$",
                 id="layer-not-object"),
    pytest.param(npz(layer=1, kind=DELETE), r"layer 1: must be an object with a 'kind', not "
                                            r"\{'size': 2, 'stride': 2\}$", id="layer-no-kind"),
    pytest.param(npz(layer=1, kind="relu"), r"layer 1: unknown kind 'relu' \(known: conv, dense, "
                                            r"maxpool, batchnorm, activation, threshold\)$",
                 id="unknown-kind"),
    pytest.param(npz(layer=1, kind=["maxpool"]), r"layer 1: unknown kind \['maxpool'\]",
                 id="kind-not-text"),
    pytest.param(npz(layer=0, dilation=2), CONV + r"unexpected field 'dilation'$",
                 id="unexpected-layer-field"),
    pytest.param(npz(layer=3, eps=1e-5), r"layer 3 \(activation\): unexpected field 'eps'$",
                 id="field-of-other-kind"),
    pytest.param(npz(layer=0, stride=DELETE), CONV + r"field 'stride' is missing$",
                 id="missing-layer-field"),
    pytest.param(npz(layer=1, stride=DELETE), r"layer 1 \(maxpool\): field 'stride' is missing$",
                 id="maxpool-without-stride"),
    pytest.param(npz(layer=0, stride=1.5), CONV + r"field 'stride' must be an integer, not 1\.5$",
                 id="stride-float"),
    pytest.param(npz(layer=0, padding="1"), CONV + r"field 'padding' must be an integer, not '1'$",
                 id="padding-text"),
    pytest.param(npz(layer=0, stride=True), CONV + r"field 'stride' must be an integer, not True$",
                 id="stride-bool"),
    pytest.param(npz(layer=2, eps="small"),
                 r"layer 2 \(batchnorm\): field 'eps' must be a number, not 'small'$",
                 id="eps-text"),
    pytest.param(npz(layer=2, eps=0), r"layer 2 \(batchnorm\): 'eps' must be a positive finite "
                                      r"number, not 0$", id="eps-zero"),
    pytest.param(npz(layer=1, size=0), r"layer 1 \(maxpool\): 'size' must be in 1..4096, not 0$",
                 id="pool-size-0"),
    pytest.param(npz(layer=0, padding=-1), CONV + r"'padding' must be in 0..4096, not -1$",
                 id="padding-negative"),
    # arrays
    pytest.param(npz(arrays={"layer0.alpha": DELETE}), CONV + r"array 'alpha' is missing$",
                 id="missing-array"),
    pytest.param(npz(arrays={"layer1.bases": np.ones(1, np.int8)}),
                 r"unexpected array 'layer1\.bases'$", id="unexpected-array"),
    pytest.param(npz(arrays={"layer7.bases": np.ones(1, np.int8)}),
                 r"unexpected array 'layer7\.bases'$", id="array-of-missing-layer"),
    pytest.param(with_text_member, r"unexpected array 'notes\.txt'$", id="foreign-member"),
    pytest.param(npz(arrays={"layer0.alpha": object_array([0.5, None])}),
                 CONV + r"array 'alpha' cannot be read \(Object arrays cannot be loaded when "
                        r"allow_pickle=False\)$", id="pickled-array"),
    pytest.param(npz(arrays={"layer0.alpha": np.ones(3)}),
                 CONV + r"'alpha' must have shape \(2,\) or \(2, 2\) to match 'bases', not \(3,\)$",
                 id="alpha-shape"),
    pytest.param(npz(arrays={"layer0.bases": bases((9, 2, 1, 3, 3)), "layer0.alpha": np.ones(9)}),
                 CONV + r"'bases' has M = 9 weight bases; M must be in 1\.\.8$", id="m-9"),
    pytest.param(npz(arrays={"layer0.bases": bases((0, 2, 1, 3, 3)), "layer0.alpha": np.ones(0)}),
                 CONV + r"'bases' has M = 0 weight bases; M must be in 1\.\.8$", id="m-0"),
    pytest.param(npz(arrays={"layer3.shifts": np.zeros(9), "layer3.scales": np.ones(9)}),
                 r"layer 3 \(activation\): 'shifts' gives N = 9 binary activations; N must be "
                 r"in 1\.\.8$", id="n-9"),
    pytest.param(npz(arrays={"layer5.thresholds": np.zeros((4, 0)), "layer5.scales": np.ones(0)}),
                 r"layer 5 \(threshold\): 'thresholds' gives N = 0 binary activations",
                 id="n-0"),
    pytest.param(npz(arrays={"layer0.alpha": np.array([np.nan, 0.25])}),
                 CONV + r"'alpha' must be finite, not nan at index \(0,\)$", id="alpha-nan"),
    pytest.param(npz(arrays={"layer4.alpha": np.array([np.inf])}),
                 r"layer 4 \(dense\): 'alpha' must be finite, not inf at index \(0,\)$",
                 id="alpha-inf"),
    pytest.param(npz(arrays={"layer2.var": np.array([1.0, -1.0])}),
                 r"layer 2 \(batchnorm\): 'var' must be non-negative, not -1\.0$",
                 id="var-negative"),
    pytest.param(npz(arrays={"layer0.bases": bases((2, 2, 1, 3, 3), (1, 0, 0, 2, 2))}),
                 CONV + r"'bases' must hold only -1 and \+1, not 0 at index \(1, 0, 0, 2, 2\)$",
                 id="bases-zero"),
    pytest.param(npz(arrays={"layer6.bases": bases((1, 3, 4), dtype=np.float32)}),
                 r"layer 6 \(dense\): 'bases' must be an integer array of -1/\+1, not dtype "
                 r"float32$", id="bases-float"),
    pytest.param(npz(arrays={"layer5.invert": np.zeros(4, np.int8)}),
                 r"layer 5 \(threshold\): 'invert' must be a boolean array, not dtype int8$",
                 id="invert-int"),
    pytest.param(npz(arrays={"layer5.thresholds": np.full((4, 1), np.nan)}),
                 r"layer 5 \(threshold\): 'thresholds' must be finite or \+-inf, not nan",
                 id="threshold-nan"),
    pytest.param(npz(arrays={"layer0.alpha": np.array(["0.5", "0.25"])}),
                 CONV + r"'alpha' must hold real numbers, not dtype <U4$", id="alpha-text"),
    # a well-formed file describing an impossible network
    pytest.param(npz(input_shape=[3, 6, 6]),
                 CONV + r"'bases' has 1 input channels, its input has 3$", id="input-channels"),
    pytest.param(npz(layers=good_parts()[0]["layers"][:6],
                     arrays={f"layer6.{name}": DELETE for name in ("bases", "alpha")}),
                 r"layer 5 \(threshold\): the last stage must not have an activation",
                 id="grammar-last-activation"),
    pytest.param(npz(layer=3, kind="threshold", arrays={"layer3.shifts": DELETE}),
                 r"layer 3 \(threshold\): array 'thresholds' is missing$", id="kind-changed"),
    pytest.param(npz(arrays={"layer4.bases": np.ones((1, 4, 9), np.int8)}),
                 r"layer 4 \(dense\): 'bases' has 9 inputs, its input \(2, 2, 2\) has 8 values$",
                 id="dense-inputs"),
    pytest.param(npz(classes=["a", "b"]),
                 r"'classes' names 2 classes but the network returns 3 scores", id="classes"),
]


def test_good_parts_are_a_valid_model(tmp_path):
    """The bad files below differ from this one only in what each case changes."""
    network = load(good_file(tmp_path))
    assert [layer.kind for layer in network.layers] == [
        "conv", "maxpool", "batchnorm", "activation", "dense", "threshold", "dense"]
    assert (network.output_shape, network.classes) == ((3,), ("a", "b", "c"))
    assert load(npz()(tmp_path)).name == "tiny"
    assert load(good_file(tmp_path, np.savez)).input_shape == (1, 6, 6)


@pytest.mark.parametrize("make, match", BAD_FILES)
def test_bad_model_file(tmp_path, make, match):
    path = make(tmp_path)
    prefix = "^" + re.escape(f"model file '{path}': ")
    with pytest.raises(NetworkError, match=prefix + match) as caught:
        load(path)
    assert "\n" not in str(caught.value)
