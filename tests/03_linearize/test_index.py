"""Views -> (index, valid): the symbolic expressions agree with ShapeTracker.indices() on every loop point,
and the README's worked examples print exactly as documented."""

import math

import numpy as np
from graph_strategies import movement_chains, shapes
from hypothesis import given
from hypothesis import strategies as st
from index_strategies import all_points, values_at

from shrimpgrad.graph import ShapeTracker
from shrimpgrad.graph.view import apply_movement
from shrimpgrad.linearize.expr import Num, Var
from shrimpgrad.linearize.index import index_and_valid


def loop_vars(shape):
    return [Var(f"i{k}", 0, s - 1) if s > 1 else Num(0) for k, s in enumerate(shape)]


def check_against_numpy(st_: ShapeTracker):
    idx, valid = index_and_valid(st_, loop_vars(st_.shape))
    addr, ok = st_.indices()
    vs = [v for v in loop_vars(st_.shape) if isinstance(v, Var)]
    env = all_points(vs)
    n = math.prod(st_.shape)
    got_valid = values_at(valid, env).astype(bool) if vs else np.broadcast_to(bool(valid.evaluate({})), (n,))
    np.testing.assert_array_equal(got_valid, ok.reshape(-1), err_msg=f"valid {valid} for {st_}")
    got_idx = values_at(idx, env) if vs else np.broadcast_to(idx.evaluate({}), (n,))
    np.testing.assert_array_equal(got_idx[got_valid], addr.reshape(-1)[got_valid], err_msg=f"index {idx} for {st_}")


@given(shapes(min_dims=1, max_dims=3).flatmap(lambda s: st.tuples(st.just(s), movement_chains(s, max_size=6))))
def test_index_and_valid_match_the_views_on_every_point(case):
    shape, chain = case
    st_ = ShapeTracker.from_shape(shape)
    for op, arg in chain:
        st_ = apply_movement(st_, op.name, arg)
    if 0 in st_.shape:
        return
    check_against_numpy(st_)


def exprs(st_):
    idx, valid = index_and_valid(st_, loop_vars(st_.shape))
    return str(idx), str(valid)


def test_readme_examples():
    base = ShapeTracker.from_shape((4, 6))
    assert exprs(base) == ("i0*6 + i1", "1")
    assert exprs(base.pad(((1, 1), (0, 2)))) == ("i0*6 + i1 - 6", "i0 >= 1 and i0 < 5 and i1 < 6")
    assert exprs(base.shrink(((1, 3), (2, 5)))) == ("i0*6 + i1 + 8", "1")
    assert exprs(base.flip((True, False))) == ("-i0*6 + i1 + 18", "1")
    # a transpose then a flatten can't be one View: the position is unravelled into the 6x4 view
    assert exprs(base.permute((1, 0)).reshape((24,))) == ("i0//4 + (i0%4)*6", "1")
    # a padded row split into 2x3: the mask moves onto the split coordinates
    padded = ShapeTracker.from_shape((3, 4)).pad(((0, 0), (1, 1)))
    assert exprs(padded.reshape((3, 2, 3))) == ("i0*4 + i1*3 + i2 - 1", "i1*3 + i2 >= 1 and i1*3 + i2 < 5")
    # a view whose mask is empty everywhere: the load is the constant 0
    assert exprs(padded.shrink(((0, 3), (0, 1)))) == ("0", "0")
