"""Every user mistake raises at the user's call with a message naming the method, the shapes/dtypes and
what would be valid (never a GraphError from deep inside a stage)."""

import re

import numpy as np
import pytest

from shrimpgrad import Tensor, dtypes
from shrimpgrad.graph import GraphError


def M():  # noqa: N802 - a fresh (2, 3) tensor on the device under test
    return Tensor.ones(2, 3)


# (name, action, exception type, message pattern)
ERRORS = [
    ("reshape_size", lambda: M().reshape(4, 2), ValueError,
     "Tensor.reshape: can't reshape (2, 3) (6 elements) into (4, 2) (8 elements); the number of elements must stay"),
    ("reshape_two_inferred", lambda: M().reshape(-1, -1), ValueError,
     "Tensor.reshape: shape (-1, -1) has more than one -1"),
    ("reshape_negative", lambda: M().reshape(-2, 3), ValueError, "Tensor.reshape: shape (-2, 3) must be ints >= 0"),
    ("broadcast", lambda: M() + Tensor.ones(4), ValueError,
     "Tensor.add: shapes (2, 3), (4,) can't be broadcast together; aligned from the right, each axis must have"),
    ("broadcast_where", lambda: (M() > 0).where(Tensor.ones(2), 0), ValueError, "Tensor.where: shapes"),
    ("axis_range", lambda: M().sum(axis=2), IndexError,
     "Tensor.sum: axis 2 is out of range for shape (2, 3); valid axes are -2..1"),
    ("axis_twice", lambda: M().max(axis=(0, -2)), IndexError, "Tensor.max: axis (0, -2) names an axis twice"),
    ("axis_scalar", lambda: Tensor(1.0).sum(1), IndexError,
     "Tensor.sum: axis 1 given for a 0-d tensor; use axis=None, 0 or -1"),
    ("permute", lambda: M().permute(0, 0), IndexError, "Tensor.permute: (0, 0) is not a permutation of the 2 axes"),
    ("transpose_1d", lambda: Tensor.ones(3).T, IndexError, "Tensor.transpose: axis 1 is out of range for shape (3,)"),
    ("expand", lambda: M().expand(4, 3), ValueError,
     "Tensor.expand: can't expand shape (2, 3) to (4, 3); only size-1 axes can grow"),
    ("expand_fewer", lambda: M().expand(3), ValueError, "Tensor.expand: can't expand shape (2, 3) to (3,): fewer axes"),
    ("pad_form", lambda: M().pad(((1, 1),)), ValueError, "Tensor.pad: padding ((1, 1),) doesn't fit shape (2, 3)"),
    ("pad_flat_odd", lambda: M().pad((1, 2, 3)), ValueError, "Tensor.pad: flat padding (1, 2, 3) needs an even length"),
    ("pad_mode", lambda: M().pad((1, 1), mode="bogus"), NotImplementedError, "Tensor.pad: mode 'bogus'"),
    ("pad_cut_too_much", lambda: M().pad(((-3, 0), None)), ValueError,
     "Tensor.pad: padding ((-3, 0), (0, 0)) cuts more"),
    ("shrink", lambda: M().shrink(((0, 3), None)), ValueError,
     "Tensor.shrink: bounds ((0, 3), (0, 3)) don't fit shape (2, 3); each axis needs 0 <= start <= end <= size"),
    ("shrink_arity", lambda: M().shrink(((0, 1),)), ValueError,
     "Tensor.shrink: needs one (start, end) or None per axis"),
    ("repeat", lambda: M().repeat(2), ValueError,
     "Tensor.repeat: repeats (2,) must be non-negative ints, at least one"),
    ("matmul", lambda: M() @ Tensor.ones(4, 5), ValueError,
     "Tensor.dot: can't multiply (2, 3) by (4, 5): 3 != 4; the last axis of self must match axis -2 of w"),
    ("matmul_batch", lambda: Tensor.ones(2, 2, 3) @ Tensor.ones(3, 3, 1), ValueError, "Tensor.dot: shapes (2,), (3,)"),
    ("matmul_scalar", lambda: Tensor(1.0) @ M(), ValueError, "Tensor.dot: both tensors need at least 1 dim"),
    ("dtype_unsupported_array", lambda: Tensor(np.array([1], dtype=np.complex64)), TypeError,
     "Tensor.__init__: unsupported dtype 'complex64': ShrimpGrad supports bool, int8"),
    ("dtype_unsupported_cast", lambda: M().cast("complex64"), TypeError, "Tensor.cast: unsupported dtype 'complex64'"),
    ("bitwise_float", lambda: M() & 1, TypeError,
     "Tensor.bitwise_and: needs integer or bool tensors, got dtypes.float32 and int; cast to an integer dtype"),
    ("invert_float", lambda: ~M(), TypeError,
     "Tensor.bitwise_not: needs an integer or bool tensor, got dtypes.float32"),
    ("shift_float", lambda: M() << 1, TypeError, "Tensor.lshift: shifts integer tensors by a Python int"),
    ("shift_too_far", lambda: Tensor([1]) >> 32, ValueError,
     "Tensor.rshift: shifts integer tensors by a Python int in 0..31"),
    ("bool_sub", lambda: Tensor([True]) - Tensor([False]), TypeError, "Tensor.sub: subtracting bool tensors"),
    ("bool_mod", lambda: Tensor([True]) % Tensor([True]), TypeError, "Tensor.mod: % is not defined for bool tensors"),
    ("int_neg_pow", lambda: Tensor([2]) ** -1, ValueError, "Tensor.pow: integers to negative integer powers"),
    ("scalar_overflow", lambda: Tensor([1], dtype=dtypes.int8) + 300, OverflowError,
     "Tensor.add: Python int 300 is out of range for dtypes.int8 (-128..127)"),
    ("item", lambda: M().item(), ValueError,
     "Tensor.item: needs exactly one element, got shape (2, 3) (6 elements); index or reduce first"),
    ("backward_no_grad", lambda: Tensor([1.0], requires_grad=False).sum().backward(), RuntimeError,
     "Tensor.backward: no tensor in this graph requires a gradient; create the inputs with requires_grad=True"),
    ("backward_int", lambda: Tensor([1, 2]).sum().backward(), TypeError,
     "Tensor.backward: the output is dtypes.int32; only float outputs have gradients"),
    ("backward_bad_seed", lambda: Tensor([1.0, 2.0], requires_grad=True).backward(Tensor([1.0])), ValueError,
     "Tensor.backward: gradient must be a Tensor of the output's shape (2,), got (1,)"),
    ("ragged", lambda: Tensor([[1, 2], [3]]), ValueError, "Tensor.__init__: can't make a tensor from this data"),
    ("big_int", lambda: Tensor([2**40]), OverflowError, "Tensor.__init__: .*pass a wider dtype"),
    ("bad_type", lambda: Tensor("abc"), TypeError, "Tensor.__init__: can't make a tensor from str"),
    ("bad_numpy_dtype", lambda: Tensor(np.zeros(2, np.complex64)), TypeError, "unsupported dtype 'complex64'"),
    ("assign_shape", lambda: Tensor([1.0, 2.0]).assign(Tensor([1.0, 2.0, 3.0])), ValueError, "Tensor.assign: shapes"),
    ("assign_dtype", lambda: Tensor([1, 2]).assign(Tensor([1.5, 2.5])), TypeError,
     "Tensor.assign: can't assign dtypes.float32 into dtypes.int32; cast it first"),
    ("rand_int", lambda: Tensor.rand(2, dtype=dtypes.int32), TypeError, "Tensor.rand: makes floats"),
    ("bad_shape", lambda: Tensor.zeros(2, -1), ValueError, "Tensor.zeros: shape (2, -1) must be non-negative ints"),
    ("argmax_empty", lambda: Tensor.ones(0).argmax(), ValueError, "Tensor.argmax: axis 0 of shape (0,) is empty"),
    ("clip_nothing", lambda: M().clip(), ValueError, "Tensor.clip: needs min_ or max_"),
    ("bool", lambda: bool(M()), TypeError, "Tensor.__bool__: the truth value of a Tensor is ambiguous"),
    ("len_0d", lambda: len(Tensor(1.0)), TypeError, "Tensor.__len__: len.. of a 0-d tensor"),
]


@pytest.mark.parametrize("name, action, kind, pattern", ERRORS, ids=[e[0] for e in ERRORS])
def test_error_messages(name, action, kind, pattern):
    with pytest.raises(kind, match=pattern if name in ("big_int", "len_0d") else re.escape(pattern)) as info:
        action()
    assert not isinstance(info.value, GraphError), "raised inside the graph, not at the user's call"


def test_errors_are_raised_in_the_front_end_not_in_a_stage():
    with pytest.raises(ValueError) as info:
        M().reshape(5)
    frames = [str(f.path) for f in info.traceback]
    assert frames[-1].endswith("shrimpgrad/movement.py") and not any("stages" in f for f in frames)
