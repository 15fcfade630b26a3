"""Saving and loading a model's tensors: state dicts and .safetensors files (tinygrad's names).

    from shrimpgrad.nn.state import get_state_dict, load_state_dict, safe_save, safe_load
    safe_save(get_state_dict(model), "model.safetensors")        # a real file: safetensors/torch load it
    load_state_dict(model, safe_load("model.safetensors"))

**A state dict** maps dotted names to tensors, found by walking the model's attributes, lists, tuples and dicts
(`layers.0.weight`), as tinygrad and PyTorch name them. Loading one checks every key, shape and dtype *before*
writing anything, so a wrong file never leaves a model half-loaded; then all values are written and realized in
one go.

**The safetensors format** (https://github.com/huggingface/safetensors) is deliberately simple, which is why it
is written here by hand rather than through the `safetensors` package (tests read our files back with it):

    8 bytes        N, the header's length, little-endian unsigned 64-bit
    N bytes        a JSON object, padded with spaces:
                   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
                    "__metadata__": {"key": "value"}}          (string -> string, optional)
    the rest       every tensor's bytes, little-endian, row-major, at [begin, end) of this part,
                   back to back in offset order and covering it exactly

`safe_load` checks all of that and says what is wrong (truncated, not safetensors, overlapping tensors, an
unknown dtype...), naming the file. Values are read into memory (not memory-mapped, as tinygrad does: simpler,
and the models here are small).
"""

from __future__ import annotations

import json
import math
import os
import struct
import types
from typing import Any

import numpy as np

from shrimpgrad.graph import DType, dtypes
from shrimpgrad.graph.dtype import from_storage, to_storage
from shrimpgrad.tensor import Tensor

# safetensors' dtype names for the dtypes ShrimpGrad has
SAFE_DTYPES: dict[str, DType] = {
    "F64": dtypes.float64, "F32": dtypes.float32, "F16": dtypes.float16, "BF16": dtypes.bfloat16,
    "I64": dtypes.int64, "I32": dtypes.int32, "I16": dtypes.int16, "I8": dtypes.int8,
    "U64": dtypes.uint64, "U32": dtypes.uint32, "U16": dtypes.uint16, "U8": dtypes.uint8, "BOOL": dtypes.bool,
}
_SAFE_NAMES = {dt: name for name, dt in SAFE_DTYPES.items()}
_MAX_HEADER = 100_000_000  # the safetensors package's own limit: a bigger "header" means it isn't one


class SafetensorsError(ValueError):
    """A file that is not a valid .safetensors file (or a state dict that can't be saved as one)."""


class StateDictError(ValueError):
    """A state dict that doesn't fit the model: missing, unexpected, mis-shaped or mis-typed keys."""


# ------------------------------------------------------------------------------------------------
# State dicts
# ------------------------------------------------------------------------------------------------


def get_state_dict(obj, prefix: str = "", tensor_type=Tensor) -> dict[str, Tensor]:
    """Every Tensor reachable from obj through attributes, lists, tuples and dicts, by dotted name
    ({"l1.weight": ..., "layers.0.bias": ...}). An object reachable by two paths (a shared layer) is listed under
    both names, as PyTorch does; a cycle (an object that contains itself) is followed once."""
    out: dict[str, Tensor] = {}
    _walk(obj, prefix, tensor_type, out, set())
    return out


def _walk(obj, prefix: str, tensor_type, out: dict[str, Tensor], path: set[int]) -> None:
    if isinstance(obj, tensor_type):
        out[prefix.strip(".")] = obj
        return
    if id(obj) in path or isinstance(obj, (str, bytes, int, float, bool, type(None), np.ndarray, types.ModuleType)):
        return
    path.add(id(obj))  # the objects we are inside of: meeting one again is a cycle
    if hasattr(obj, "_asdict"):  # a namedtuple
        items = obj._asdict().items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    elif isinstance(obj, dict):
        items = obj.items()
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        items = vars(obj).items()
    else:
        items = ()
    for k, v in list(items):
        _walk(v, f"{prefix}{k}.", tensor_type, out, path)
    path.discard(id(obj))


def get_parameters(obj) -> list[Tensor]:
    """The tensors of get_state_dict(obj), each once (a tensor reachable by two names, e.g. tied weights, is
    listed once, so it can go straight into an optimizer)."""
    unique: dict[int, Tensor] = {}
    for t in get_state_dict(obj).values():
        unique.setdefault(id(t), t)
    return list(unique.values())


def load_state_dict(model, state_dict: dict[str, Tensor], strict: bool = True, verbose: bool = True,
                    consume: bool = False, realize: bool = True) -> None:
    """Copy state_dict's values into model's tensors (found by get_state_dict(model)).

    Every key, shape and dtype is checked first and all problems are reported together; nothing is written
    unless all of them fit. strict=False allows keys missing from state_dict (those tensors keep their values)
    and extra keys (ignored). consume=True deletes the loaded entries from state_dict. `verbose` is accepted for
    tinygrad's signature; nothing is printed."""
    if not isinstance(state_dict, dict):
        raise StateDictError(f"load_state_dict: state_dict must be a dict of name -> Tensor, got "
                             f"{type(state_dict).__name__}")
    model_state = get_state_dict(model)
    problems = []
    missing = [k for k in model_state if k not in state_dict]
    unexpected = [k for k in state_dict if k not in model_state]
    if strict and missing:
        problems.append(f"missing keys (in the model, not in the state dict): {missing}")
    if strict and unexpected:
        problems.append(f"unexpected keys (in the state dict, not in the model): {unexpected}")
    for k, target in model_state.items():
        if k not in state_dict:
            continue
        value = state_dict[k]
        if not isinstance(value, Tensor):
            problems.append(f"{k!r}: the value is a {type(value).__name__}, not a Tensor")
        elif value.shape != target.shape:
            problems.append(f"{k!r}: shape {value.shape} in the state dict, {target.shape} in the model")
        elif value.dtype != target.dtype:
            problems.append(f"{k!r}: dtype {value.dtype!r} in the state dict, {target.dtype!r} in the model "
                            f"(cast it first: state_dict[{k!r}] = state_dict[{k!r}].cast({target.dtype!r}))")
    if problems:
        raise StateDictError("load_state_dict: the state dict doesn't fit the model; nothing was loaded:\n  "
                             + "\n  ".join(problems)
                             + ("" if strict else "\n(strict=False allows missing and unexpected keys only)"))
    loaded = [k for k in model_state if k in state_dict]
    for k in loaded:
        model_state[k].assign(state_dict[k].to(model_state[k].device))
    if realize and loaded:
        Tensor.realize(*(model_state[k] for k in loaded))
    if consume:
        for k in loaded:
            del state_dict[k]


# ------------------------------------------------------------------------------------------------
# .safetensors files
# ------------------------------------------------------------------------------------------------


def safe_save(tensors: dict[str, Tensor], fn, metadata: dict[str, Any] | None = None) -> None:
    """Write tensors to the .safetensors file fn (realizing them). metadata: string keys and values, stored
    under "__metadata__". The file is written to a temporary name and renamed, so a failure never leaves a
    half-written file under fn."""
    if not isinstance(tensors, dict):
        raise SafetensorsError(f"safe_save: tensors must be a dict of name -> Tensor, got {type(tensors).__name__}")
    header: dict[str, Any] = {}
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                     for k, v in metadata.items()):
            raise SafetensorsError(f"safe_save: metadata must be a dict of str -> str (the format allows only "
                                   f"strings), got {metadata!r}")
        header["__metadata__"] = metadata
    arrays, offset = [], 0
    for name, t in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise SafetensorsError(f"safe_save: tensor names must be strings other than '__metadata__', got {name!r}")
        if not isinstance(t, Tensor):
            raise SafetensorsError(f"safe_save: {name!r} is a {type(t).__name__}, not a Tensor")
        if t.dtype not in _SAFE_NAMES:
            raise SafetensorsError(f"safe_save: {name!r} has dtype {t.dtype!r}, which safetensors can't store")
        values = t.numpy() if t.dtype != dtypes.bfloat16 else to_storage(t.numpy(), t.dtype)  # bfloat16: its bits
        arr = np.ascontiguousarray(values.astype(t.dtype.np.newbyteorder("<"), copy=False))
        header[name] = {"dtype": _SAFE_NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        arrays.append(arr)
        offset += arr.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # pad to 8 bytes, so the data starts aligned (what the safetensors package does)
    fn = os.fspath(fn)
    tmp = f"{fn}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(raw)))
            f.write(raw)
            for arr in arrays:
                f.write(arr.tobytes())
        os.replace(tmp, fn)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def safe_metadata(fn) -> dict[str, str]:
    """The "__metadata__" strings of the .safetensors file fn ({} when it has none); the file is checked whole."""
    return _read_header(os.fspath(fn))[3]


def safe_load(fn, device: str | None = None) -> dict[str, Tensor]:
    """The tensors of the .safetensors file fn, by name, in file order (on `device`, default the default device).
    A file that isn't valid safetensors raises SafetensorsError saying what is wrong."""
    fn = os.fspath(fn)
    header, size, data_start, _ = _read_header(fn)
    with open(fn, "rb") as f:
        f.seek(data_start)
        data = f.read(size - data_start)
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dt = SAFE_DTYPES[info["dtype"]]
        arr = np.frombuffer(data, dtype=dt.np.newbyteorder("<"), count=(end - begin) // dt.itemsize, offset=begin)
        values = arr.astype(dt.np) if dt != dtypes.bfloat16 else from_storage(arr.astype(dt.np), dt)  # exact
        out[name] = Tensor(values.reshape(info["shape"]), device=device, dtype=dt)
    return out


def _read_header(fn: str) -> tuple[dict[str, Any], int, int, dict[str, str]]:
    """Parse and check fn's header: (tensor entries, file size, offset of the data, metadata)."""
    def bad(problem: str) -> SafetensorsError:
        return SafetensorsError(f"safe_load: {fn!r} is not a valid .safetensors file: {problem}")

    if not os.path.isfile(fn):
        raise FileNotFoundError(f"safe_load: no such file {fn!r}")
    size = os.path.getsize(fn)
    if size < 8:
        raise bad(f"it has {size} bytes, fewer than the 8 that give the header's length (truncated or empty?)")
    with open(fn, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if n > _MAX_HEADER or 8 + n > size:
            raise bad(f"the first 8 bytes say the header has {n} bytes, but the file has {size} in all "
                      f"(truncated, or not safetensors at all)")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise bad(f"the header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise bad(f"the header is JSON but not an object: {type(header).__name__}")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise bad(f"__metadata__ must be an object of strings, got {metadata!r}")
    data_size, spans = size - 8 - n, []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise bad(f"entry {name!r} must have exactly 'dtype', 'shape' and 'data_offsets', got {info!r}")
        dt, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dt not in SAFE_DTYPES:
            raise bad(f"entry {name!r} has dtype {dt!r}; supported: {sorted(SAFE_DTYPES)}")
        if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                  for s in shape):
            raise bad(f"entry {name!r} has shape {shape!r}, not a list of non-negative ints")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
                and 0 <= offsets[0] <= offsets[1]):
            raise bad(f"entry {name!r} has data_offsets {offsets!r}, not [begin, end] with 0 <= begin <= end")
        want = math.prod(shape) * SAFE_DTYPES[dt].itemsize
        if offsets[1] - offsets[0] != want:
            raise bad(f"entry {name!r} ({dt}, shape {shape}) needs {want} bytes but data_offsets {offsets} hold "
                      f"{offsets[1] - offsets[0]}")
        if offsets[1] > data_size:
            raise bad(f"entry {name!r} ends at byte {offsets[1]} of the data, which has only {data_size} bytes "
                      f"(truncated?)")
        spans.append((offsets[0], offsets[1], name))
    end = 0
    for begin, stop, name in sorted(spans):
        if begin != end:
            raise bad(f"entry {name!r} starts at byte {begin} of the data, but the previous one ends at {end} "
                      f"(overlapping or with a gap)")
        end = stop
    if end != data_size:
        raise bad(f"the tensors cover {end} bytes of data but the file holds {data_size} after the header")
    return header, size, 8 + n, metadata


__all__ = ["get_state_dict", "get_parameters", "load_state_dict", "safe_save", "safe_load", "safe_metadata",
           "SafetensorsError", "StateDictError"]
