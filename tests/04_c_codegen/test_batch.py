"""CBatch: several CPrograms run by one C call give what calling each gives; its arena plan and its checks."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from program_builders import elementwise_add, sum_rows

from shrimpgrad.c import ArgumentError, CProgram
from shrimpgrad.c.batch import ALIGN, CBatch, _SlotNeeds, plan_arena, render_batch
from shrimpgrad.graph import dtypes

F32 = np.float32


@pytest.fixture(scope="module")
def add():
    return CProgram(elementwise_add())  # data0 = data1 + data2, 16 floats


@pytest.fixture(scope="module")
def chain(add):
    """t2 = x + y; t3 = t2 + t2; t4 = t3 + x; out = t4 + t4, with t2, t3, t4 temporaries."""
    return CBatch([add] * 4, [(2, 0, 1), (3, 2, 2), (4, 3, 0), (5, 4, 4)], 6, temporaries=(2, 3, 4))


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(16).astype(F32), rng.standard_normal(16).astype(F32)


def test_a_batch_computes_what_its_kernels_compute_one_by_one(add, chain):
    x, y = inputs()
    t2, t3, t4, want = (np.empty(16, F32) for _ in range(4))
    for out, a, b in ((t2, x, y), (t3, t2, t2), (t4, t3, x), (want, t4, t4)):
        add([out, a, b])
    got = np.full(16, np.nan, F32)
    seconds = chain([x, y, None, None, None, got], np.empty(chain.arena_bytes, np.uint8))
    assert seconds >= 0
    np.testing.assert_array_equal(got, want)


def test_the_source_calls_each_kernel_with_its_prototype(add, chain):
    assert chain.source.splitlines()[-2] == \
        "  ((void (*)(float*, const float*, const float*))kernel[3])(slot[5], slot[4], slot[4]);  /* E_16 */"
    assert chain.source.count("kernel[") == 4 + 1  # four calls and the comment naming the array


def test_bool_and_half_slots_get_their_c_types():
    progs = [CProgram(elementwise_add(dtype=dtypes.float16, name="E_h")), CProgram(elementwise_add(
        dtype=dtypes.bool, name="E_b"))]
    source = render_batch(progs, [(0, 1, 2), (3, 4, 5)])
    assert source.startswith("#include <stdbool.h>\ntypedef _Float16 half;\n")
    assert "(half*, const half*, const half*)" in source and "(bool*, const bool*, const bool*)" in source
    CBatch(progs, [(0, 1, 2), (3, 4, 5)], 6)  # and it compiles


def test_temporaries_whose_lifetimes_dont_overlap_share_bytes(chain):
    # t2 lives in kernels 0-1, t3 in 1-2, t4 in 2-3: t4 can take t2's bytes, t3 can't
    assert chain.offsets[2] == chain.offsets[4] != chain.offsets[3]
    assert chain.arena_bytes == 2 * ALIGN + ALIGN - 1  # two 64-byte temporaries, and room to align the start


def test_the_arena_may_start_anywhere(chain):
    x, y = inputs(1)
    want = np.empty(16, F32)
    chain([x, y, None, None, None, want], np.empty(chain.arena_bytes, np.uint8))
    block = np.empty(chain.arena_bytes + 1, np.uint8)
    got = np.empty(16, F32)
    chain([x, y, None, None, None, got], block[1:])  # one byte off any alignment numpy gives
    np.testing.assert_array_equal(got, want)


@st.composite
def lifetimes(draw):
    n = draw(st.integers(1, 12))
    out = {}
    for i in range(n):
        first = draw(st.integers(0, 9))
        need = _SlotNeeds(np.dtype(draw(st.sampled_from([np.float32, np.float64, np.int8]))), first)
        need.size, need.last = draw(st.integers(0, 300)), first + draw(st.integers(0, 5))
        out[i] = need
    return out


@given(lifetimes())
def test_the_plan_never_gives_two_live_temporaries_the_same_bytes(temps):
    offsets, total = plan_arena(temps)
    assert set(offsets) == set(temps)
    for i, a in temps.items():
        assert offsets[i] % ALIGN == 0 and offsets[i] + a.nbytes <= total
        for j, b in temps.items():
            if i < j and a.first <= b.last and b.first <= a.last and a.nbytes and b.nbytes:
                assert offsets[i] + a.nbytes <= offsets[j] or offsets[j] + b.nbytes <= offsets[i], (i, j)
    assert total <= sum(-(-t.nbytes // ALIGN) * ALIGN for t in temps.values())  # never worse than no sharing


# ---- what is checked, when the batch is built ----------------------------------------------------------------

def test_a_slot_seen_as_two_dtypes_is_refused(add):
    half = CProgram(elementwise_add(dtype=dtypes.float16, name="E_h"))
    with pytest.raises(ValueError, match="slot 0 is float32 for kernel E_16 but float16 for kernel E_h"):
        CBatch([add, half], [(0, 1, 2), (3, 0, 4)], 5)


def test_an_output_given_twice_is_refused(add):
    with pytest.raises(ValueError, match="a slot it writes given twice"):
        CBatch([add], [(0, 0, 1)], 2)


def test_a_temporary_read_before_it_is_written_is_refused(add):
    with pytest.raises(ValueError, match="temporary slot 1 is read by kernel E_16 before any kernel writes it"):
        CBatch([add, add], [(0, 1, 2), (1, 0, 2)], 3, temporaries=(1,))
    with pytest.raises(ValueError, match="temporary slot 7 is not used"):
        CBatch([add], [(0, 1, 2)], 8, temporaries=(7,))


def test_wrong_slot_counts_are_refused(add):
    with pytest.raises(ValueError, match="takes 3 buffers, given 2 slots"):
        CBatch([add], [(0, 1)], 2)
    with pytest.raises(ValueError, match=r"uses slot 3, outside 0..2"):
        CBatch([add], [(0, 1, 3)], 3)


# ---- what is checked, on every call --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pair(add):
    return CBatch([add, add], [(2, 0, 1), (3, 2, 2)], 4)  # no temporaries: every slot is an array


def ok(n=4):
    return [np.zeros(16, F32) for _ in range(n)]


@pytest.mark.parametrize("arrays, message", [
    (lambda a: a[:3], "takes 4 slots, got 3 arrays"),
    (lambda a: [a[0].astype(np.float64), *a[1:]], r"slot 0 \(used by E_16: 16 x float32\): got dtype float64"),
    (lambda a: [a[0], [0.0] * 16, *a[2:]], "expected a numpy array, got list"),
    (lambda a: [np.zeros(32, F32)[::2], *a[1:]], "not C-contiguous"),
    (lambda a: [np.zeros(8, F32), *a[1:]], "has only 8 elements"),
])
def test_a_wrong_array_is_an_argument_error(pair, arrays, message):
    with pytest.raises(ArgumentError, match=message):
        pair(arrays(ok()))


def test_a_read_only_written_slot_is_refused(pair):
    arrays = ok()
    arrays[3].setflags(write=False)
    with pytest.raises(ArgumentError, match="a kernel writes this slot but the array is read-only"):
        pair(arrays)


def test_overlapping_arrays_are_refused_wherever_they_sit(pair):
    block = np.zeros(64, F32)
    arrays = [block[:16], np.zeros(16, F32), np.zeros(16, F32), block[8:24]]
    with pytest.raises(ArgumentError, match="slot 0's array and slot 3's array overlap"):
        pair(arrays)


def test_the_arena_is_checked(chain):
    x, y = inputs()
    with pytest.raises(ArgumentError, match=f"need an arena: .* at least {chain.arena_bytes} bytes, got None"):
        chain([x, y, None, None, None, np.zeros(16, F32)])
    with pytest.raises(ArgumentError, match="got ndarray of 8 bytes"):
        chain([x, y, None, None, None, np.zeros(16, F32)], np.empty(8, np.uint8))
    arena = np.empty(chain.arena_bytes + 64, np.uint8)
    with pytest.raises(ArgumentError, match="slot 5's array and the arena overlap|the arena and slot 5's array"):
        chain([x, y, None, None, None, arena[:64].view(F32)], arena)


def test_a_batch_of_reductions_matches_too():
    rows = CProgram(sum_rows())  # 4x8 -> 4
    batch = CBatch([rows], [(1, 0)], 2)
    x = np.arange(32, dtype=F32)
    out, want = np.empty(4, F32), np.empty(4, F32)
    rows([want, x])
    batch([x, out])
    np.testing.assert_array_equal(out, want)
