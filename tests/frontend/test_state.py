"""shrimpgrad.nn.state: state-dict names, load_state_dict's checks (nothing is written unless everything fits), and
.safetensors files written by hand that the `safetensors` package reads (and the other way round), with clear
errors for files that are truncated or not safetensors. Runs on C and PYTHON (tests/frontend/conftest.py)."""

import json
import struct
from collections import namedtuple

import numpy as np
import pytest
import safetensors.numpy

from shrimpgrad import Tensor, dtypes, nn
from shrimpgrad.nn.state import (
    SafetensorsError,
    StateDictError,
    get_parameters,
    get_state_dict,
    load_state_dict,
    safe_load,
    safe_metadata,
    safe_save,
)

RNG = np.random.default_rng(0)


class Net:
    def __init__(self):
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.layers = [nn.Linear(8, 4), nn.Linear(4, 3)]
        self.extra = {"scale": Tensor([2.0])}
        self.name = "not a tensor"


NET_KEYS = ["conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.num_batches_tracked", "bn.running_mean",
            "bn.running_var", "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "extra.scale"]


def values(model) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in get_state_dict(model).items()}


# ------------------------------------------------------------------------------------------------
# State dicts
# ------------------------------------------------------------------------------------------------


def test_state_dict_names_follow_attributes_lists_and_dicts():
    assert list(get_state_dict(Net())) == NET_KEYS


def test_state_dict_of_namedtuples_prefixes_and_cycles():
    Pair = namedtuple("Pair", "a b")
    a, b = Tensor([1.0]), Tensor([2.0])
    assert get_state_dict(Pair(a, b), prefix="p.") == {"p.a": a, "p.b": b}
    net = Net()
    net.parent = net  # a cycle: each object is walked once
    assert list(get_state_dict(net)) == NET_KEYS


def test_get_parameters_lists_each_tensor_once():
    shared = nn.Linear(2, 2)
    model = [shared, shared]  # tied: two names for one layer
    assert list(get_state_dict(model)) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    params = get_parameters(model)
    assert len(params) == 2 and params[0] is shared.weight and params[1] is shared.bias


def test_load_state_dict_copies_values_and_realizes_them():
    src, dst = Net(), Net()
    load_state_dict(dst, get_state_dict(src))
    for k, v in values(src).items():
        np.testing.assert_array_equal(get_state_dict(dst)[k].numpy(), v, err_msg=k)
    src.layers[0].weight.assign(src.layers[0].weight * 0).realize()
    assert np.abs(dst.layers[0].weight.numpy()).sum() > 0  # a copy, not shared memory


def test_load_state_dict_strict_false_allows_missing_and_extra_keys():
    src, dst = Net(), Net()
    before = values(dst)
    state = get_state_dict(src)
    del state["conv.weight"]
    state["unused"] = Tensor([1.0])
    load_state_dict(dst, state, strict=False)
    np.testing.assert_array_equal(dst.conv.weight.numpy(), before["conv.weight"])  # kept its own value
    np.testing.assert_array_equal(dst.conv.bias.numpy(), src.conv.bias.numpy())


def test_load_state_dict_consume_empties_the_loaded_entries():
    state = get_state_dict(Net())
    state["unused"] = Tensor([1.0])
    load_state_dict(Net(), state, strict=False, consume=True)
    assert list(state) == ["unused"]


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("bn.running_var"), r"missing keys \(in the model, not in the state dict\): \['bn.running_var'\]"),
    (lambda s: s.update(head=Tensor([1.0])), r"unexpected keys \(in the state dict, not in the model\): \['head'\]"),
    (lambda s: s.update({"layers.1.weight": Tensor.zeros(4, 3)}),
     r"'layers.1.weight': shape \(4, 3\) in the state dict, \(3, 4\) in the model"),
    (lambda s: s.update({"conv.bias": Tensor.zeros(2, dtype=dtypes.float64)}),
     r"'conv.bias': dtype dtypes.float64 in the state dict, dtypes.float32 in the model \(cast it first"),
    (lambda s: s.update({"conv.bias": np.zeros(2, np.float32)}), "'conv.bias': the value is a ndarray, not a Tensor"),
])
def test_load_state_dict_errors_name_the_key_and_load_nothing(change, message):
    model, state = Net(), get_state_dict(Net())
    state["layers.0.bias"] = Tensor(np.full(4, 7.0, np.float32))  # a valid key before the bad one in file order
    change(state)
    before = values(model)
    with pytest.raises(StateDictError, match=r"(?s)nothing was loaded.*" + message):
        load_state_dict(model, state)
    for k, v in values(model).items():
        np.testing.assert_array_equal(v, before[k], err_msg=f"{k} was changed by a failed load")


def test_load_state_dict_reports_every_problem_at_once():
    state = get_state_dict(Net())
    state.pop("conv.weight")
    state["bn.weight"] = Tensor.zeros(3)
    with pytest.raises(StateDictError, match=r"(?s)missing keys.*'conv.weight'.*'bn.weight': shape \(3,\)"):
        load_state_dict(Net(), state)


# ------------------------------------------------------------------------------------------------
# safetensors files
# ------------------------------------------------------------------------------------------------

ALL_DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_]


def test_safe_save_writes_what_the_safetensors_package_reads(tmp_path):
    arrays = {f"t{i}": (RNG.standard_normal((2, 3)) * 50).astype(dt) for i, dt in enumerate(ALL_DTYPES)}
    arrays["scalar"], arrays["empty"] = np.array(3.5, np.float32), np.zeros((0, 4), np.float32)
    safe_save({k: Tensor(v) for k, v in arrays.items()}, tmp_path / "a.safetensors", metadata={"format": "np"})
    read = safetensors.numpy.load_file(tmp_path / "a.safetensors")
    assert sorted(read) == sorted(arrays)
    for k, v in arrays.items():
        assert read[k].dtype == v.dtype and read[k].shape == v.shape, k
        np.testing.assert_array_equal(read[k], v, err_msg=k)
    assert safe_metadata(tmp_path / "a.safetensors") == {"format": "np"}
    assert not list(tmp_path.glob("*.tmp*"))  # the temporary file was renamed


def test_safe_load_reads_what_the_safetensors_package_writes(tmp_path):
    arrays = {f"t{i}": (RNG.standard_normal((3, 2)) * 50).astype(dt) for i, dt in enumerate(ALL_DTYPES)}
    safetensors.numpy.save_file(arrays, tmp_path / "b.safetensors", metadata={"k": "v"})
    loaded = safe_load(tmp_path / "b.safetensors")
    assert sorted(loaded) == sorted(arrays)
    for k, v in arrays.items():
        assert loaded[k].dtype == dtypes.from_numpy(v.dtype), k
        np.testing.assert_array_equal(loaded[k].numpy(), v, err_msg=k)


def test_model_round_trip_through_a_file(tmp_path, device):
    src = Net()
    with Tensor.train():  # move the BatchNorm statistics away from their initial values
        src.bn(src.conv(Tensor(RNG.standard_normal((4, 1, 5, 5)).astype(np.float32))))
    safe_save(get_state_dict(src), tmp_path / "net.safetensors")
    dst = Net()
    load_state_dict(dst, safe_load(tmp_path / "net.safetensors"))
    for k, v in values(src).items():
        got = get_state_dict(dst)[k]
        assert got.device == device
        np.testing.assert_array_equal(got.numpy(), v, err_msg=k)
    assert dst.bn.num_batches_tracked.item() == 1


def _file(tmp_path, header: dict | bytes, data: bytes = b"", length: int | None = None):
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


def _empty(tmp_path):
    (tmp_path / "empty.safetensors").write_bytes(b"")
    return tmp_path / "empty.safetensors"


F32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize("make, message", [
    (_empty, "it has 0 bytes, fewer than the 8"),
    (lambda p: _file(p, {"w": F32}, b"\0" * 8, length=10**6), "the header has 1000000 bytes, but the file has"),
    (lambda p: _file(p, b"PK\x03\x04 this is a zip"), "the header is not JSON"),
    (lambda p: _file(p, b"[1, 2]"), "the header is JSON but not an object: list"),
    (lambda p: _file(p, {"w": F32}, b"\0" * 5), "entry 'w' ends at byte 8 of the data, which has only 5 bytes"),
    (lambda p: _file(p, {"w": {**F32, "dtype": "F8_E4M3"}}, b"\0" * 8), "entry 'w' has dtype 'F8_E4M3'; supported"),
    (lambda p: _file(p, {"w": {**F32, "shape": [3]}}, b"\0" * 8), r"needs 12 bytes but data_offsets \[0, 8\] hold 8"),
    (lambda p: _file(p, {"w": {**F32, "shape": [-2]}}, b"\0" * 8), "not a list of non-negative ints"),
    (lambda p: _file(p, {"w": {"dtype": "F32", "shape": [2]}}, b"\0" * 8), "must have exactly 'dtype', 'shape'"),
    (lambda p: _file(p, {"a": F32, "b": F32}, b"\0" * 8), "entry 'b' starts at byte 0 of the data, but the previous"),
    (lambda p: _file(p, {"w": F32}, b"\0" * 12), "the tensors cover 8 bytes of data but the file holds 12"),
    (lambda p: _file(p, {"__metadata__": {"n": 1}, "w": F32}, b"\0" * 8), "__metadata__ must be an object of strings"),
])
def test_safe_load_says_what_is_wrong_with_a_bad_file(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(SafetensorsError, match=rf"safe_load: '.*' is not a valid .safetensors file: .*{message}"):
        safe_load(path)


def test_a_truncated_file_never_half_loads_a_model(tmp_path):
    safe_save(get_state_dict(Net()), tmp_path / "net.safetensors")
    raw = (tmp_path / "net.safetensors").read_bytes()
    (tmp_path / "net.safetensors").write_bytes(raw[:-10])
    model = Net()
    before = values(model)
    with pytest.raises(SafetensorsError, match="truncated"):
        load_state_dict(model, safe_load(tmp_path / "net.safetensors"))
    for k, v in values(model).items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_safe_load_of_a_missing_file():
    with pytest.raises(FileNotFoundError, match="safe_load: no such file"):
        safe_load("/nonexistent/model.safetensors")


@pytest.mark.parametrize("tensors, metadata, message", [
    ({"w": np.zeros(2)}, None, "safe_save: 'w' is a ndarray, not a Tensor"),
    ({"__metadata__": Tensor([1.0])}, None, "names must be strings other than '__metadata__'"),
    ({"w": Tensor([1.0])}, {"epoch": 3}, "metadata must be a dict of str -> str"),
])
def test_safe_save_refuses_what_the_format_cant_hold(tmp_path, tensors, metadata, message):
    with pytest.raises(SafetensorsError, match=message):
        safe_save(tensors, tmp_path / "x.safetensors", metadata)
    assert not list(tmp_path.iterdir())  # nothing written


def test_nn_submodules_need_no_import_of_their_own():
    # tinygrad: `from tinygrad import nn; nn.state.get_parameters(model)`; a fresh interpreter, so no earlier test
    # has imported the submodules already
    import subprocess
    import sys
    code = ("from shrimpgrad import nn\n"
            "layer = nn.Linear(2, 3)\n"
            "params = nn.state.get_parameters(layer)\n"
            "opt = nn.optim.SGD(params, lr=0.1)\n"
            "assert len(params) == 2 and isinstance(opt, nn.optim.SGD), params\n"
            "try:\n    nn.nosuch\nexcept AttributeError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "has no attribute 'nosuch'" in out
