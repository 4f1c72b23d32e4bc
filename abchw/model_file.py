"""The abchw model file: one versioned format for a trained ABC-Net network.

A model file is a NumPy ``.npz`` archive (a zip) holding

* ``header``: a JSON text (a 0-d unicode array) ::

      {"format": "abchw-model", "version": 1, "name": "...", "classes": ["0", ...],
       "input_shape": [C, H, W],
       "layers": [{"kind": "conv", "stride": 1, "padding": 1}, {"kind": "batchnorm", "eps": 1e-5},
                  {"kind": "activation"}, {"kind": "maxpool", "size": 2, "stride": 2}, ...]}

* one array per layer field, named ``layer<i>.<field>``:

  ========== ================================== ===========================
  kind       arrays                             header fields
  ========== ================================== ===========================
  conv       bases (M,Co,Ci,k,k) int8, alpha    stride, padding
  dense      bases (M,Co,Ci) int8, alpha        --
  maxpool    --                                 size, stride
  batchnorm  gamma, beta, mean, var             eps
  activation shifts (N,), scales (N,)           --
  threshold  thresholds (C,N), invert (C,),     --
             scales (N,)
  ========== ================================== ===========================

``docs/model-format.md`` describes every field. :func:`load` validates everything and raises
one :class:`~abchw.errors.NetworkError` naming the file and the field; nothing is fixed silently.
Arrays are read with ``allow_pickle=False``: a model file cannot run code.
"""

import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .errors import NetworkError
from .network import Activation, BatchNorm, Conv, Dense, MaxPool, Network, Threshold

__all__ = ["FORMAT", "VERSION", "save", "load"]

FORMAT = "abchw-model"
VERSION = 1

# kind -> (class, array fields, header fields with their types)
_KINDS = {
    "conv": (Conv, ("bases", "alpha"), {"stride": int, "padding": int}),
    "dense": (Dense, ("bases", "alpha"), {}),
    "maxpool": (MaxPool, (), {"size": int, "stride": int}),
    "batchnorm": (BatchNorm, ("gamma", "beta", "mean", "var"), {"eps": float}),
    "activation": (Activation, ("shifts", "scales"), {}),
    "threshold": (Threshold, ("thresholds", "invert", "scales"), {}),
}
_HEADER_FIELDS = {"format", "version", "name", "classes", "input_shape", "layers"}


def save(network: Network, path):
    """Write ``network`` to ``path`` atomically (the old file stays whole if anything fails)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise NetworkError(f"cannot write model file '{path}': directory '{path.parent}' "
                           f"does not exist")
    layers, arrays = [], {}
    for index, layer in enumerate(network.layers):
        _, array_fields, header_fields = _KINDS[layer.kind]
        entry = {"kind": layer.kind}
        entry.update({name: getattr(layer, name) for name in header_fields})
        layers.append(entry)
        arrays.update({f"layer{index}.{name}": getattr(layer, name) for name in array_fields})
    header = {"format": FORMAT, "version": VERSION, "name": network.name,
              "classes": list(network.classes), "input_shape": list(network.input_shape),
              "layers": layers}
    try:
        with atomic_write(path) as file:
            np.savez_compressed(file, header=np.array(json.dumps(header)), **arrays)
    except OSError as error:
        raise NetworkError(f"cannot write model file '{path}': {error.strerror or error}") from None


class _Reader:
    """Parses one opened archive; every failure becomes a NetworkError naming the field."""

    def __init__(self, archive):
        self.archive = archive
        self.unused = set(archive.files) - {"header"}

    def array(self, where, index, name):
        key = f"layer{index}.{name}"
        if key not in self.archive.files:
            raise NetworkError(f"{where}: array {name!r} is missing")
        self.unused.discard(key)
        try:
            return self.archive[key]
        except ValueError as error:  # e.g. object arrays, refused by allow_pickle=False
            raise NetworkError(f"{where}: array {name!r} cannot be read ({error})") from None

    def header(self):
        if "header" not in self.archive.files:
            raise NetworkError("has no 'header'; it is not an abchw model file")
        try:
            text = self.archive["header"]
            header = json.loads(str(text[()]))
        except (ValueError, TypeError, IndexError, RecursionError) as error:
            raise NetworkError(f"'header' is not valid JSON text ({error})") from None
        if not isinstance(header, dict):
            raise NetworkError(f"'header' must be a JSON object, not {type(header).__name__}")
        if header.get("format") != FORMAT:
            raise NetworkError(f"header 'format' is {header.get('format')!r}, not {FORMAT!r}; "
                               f"it is not an abchw model file")
        version = header.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise NetworkError(f"header 'version' must be a positive integer, not {version!r}")
        if version > VERSION:
            raise NetworkError(f"format version {version} is newer than this abchw reads "
                               f"({VERSION}); upgrade abchw")
        for name in sorted(set(header) - _HEADER_FIELDS):
            raise NetworkError(f"header has an unexpected field {name!r}")
        for name in ("input_shape", "layers"):
            if name not in header:
                raise NetworkError(f"header field {name!r} is missing")
        if not isinstance(header["layers"], list):
            raise NetworkError(f"header 'layers' must be a list, not "
                               f"{type(header['layers']).__name__}")
        if not isinstance(header.get("name", ""), str):
            raise NetworkError(f"header 'name' must be text, not {header['name']!r}")
        classes = header.get("classes", [])
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise NetworkError(f"header 'classes' must be a list of text, not {classes!r}")
        return header

    def layer(self, index, entry):
        if not isinstance(entry, dict) or "kind" not in entry:
            raise NetworkError(f"layer {index}: must be an object with a 'kind', not {entry!r}")
        kind = entry["kind"]
        if not isinstance(kind, str) or kind not in _KINDS:
            raise NetworkError(f"layer {index}: unknown kind {kind!r} "
                               f"(known: {', '.join(_KINDS)})")
        cls, array_fields, header_fields = _KINDS[kind]
        where = f"layer {index} ({kind})"
        for name in sorted(set(entry) - {"kind"} - set(header_fields)):
            raise NetworkError(f"{where}: unexpected field {name!r}")
        values = {}
        for name, kind_type in header_fields.items():
            if name not in entry:
                raise NetworkError(f"{where}: field {name!r} is missing")
            value = entry[name]
            ok = (isinstance(value, int) if kind_type is int
                  else isinstance(value, (int, float))) and not isinstance(value, bool)
            if not ok:
                raise NetworkError(f"{where}: field {name!r} must be "
                                   f"{'an integer' if kind_type is int else 'a number'}, "
                                   f"not {value!r}")
            values[name] = value
        for name in array_fields:
            values[name] = self.array(where, index, name)
        try:
            return cls(**values)
        except NetworkError as error:
            raise NetworkError(f"{where}: {error}") from None


def load(path) -> Network:
    """Read and validate a model file; raises :class:`NetworkError` naming what is wrong."""
    path = Path(path)
    try:
        return _load(path)
    except NetworkError as error:
        raise NetworkError(f"model file '{path}': {error}") from None


def _load(path):
    if not path.is_file():
        raise NetworkError("does not exist or is not a file")
    try:
        with open(path, "rb") as file:
            magic = file.read(4)
    except OSError as error:
        raise NetworkError(f"cannot be read ({error})") from None
    # The magic numbers np.load dispatches on: a zip that starts here (or an empty one). A cut
    # zip keeps its start and is reported below as truncated; other content is not an archive.
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise NetworkError("is not an abchw model file (not a .npz/zip archive)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            reader = _Reader(archive)
            header = reader.header()
            layers = [reader.layer(index, entry) for index, entry in enumerate(header["layers"])]
            for name in sorted(reader.unused):
                raise NetworkError(f"unexpected array {name!r}")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
        raise NetworkError(f"is truncated or corrupt ({error})") from None
    return Network(input_shape=header["input_shape"], layers=layers,
                   name=header.get("name", ""), classes=header.get("classes", []))
