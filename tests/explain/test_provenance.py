"""Every generated line that comes from a user op names the right Python line (and Tensor method).

Each reference program is written to a real file, run under `shrimpgrad.explain.capture()`, and every line
of the C (and CUDA) that computes something is checked against what the program says: the ALU op a line
computes must come from the user line that asked for it."""

import runpy
import textwrap

import numpy as np

from shrimpgrad.explain import capture
from shrimpgrad.explain.model import GeneratedSource
from shrimpgrad.graph import Ops
from shrimpgrad.linearize import UOps

COMPUTING = (UOps.ALU, UOps.LOAD, UOps.STORE, UOps.ASSIGN, UOps.DEFINE_ACC, UOps.CAST)


def run_program(tmp_path, code: str, name: str = "prog.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(code).lstrip())
    with capture() as c:
        runpy.run_path(str(path))
    return c.explanation(name), str(path)


def computing_lines(src: GeneratedSource):
    """(line, uop) for each line of generated source that renders a value-computing UOp."""
    for line in src.lines:
        if line.uop is not None:
            u = src.program.uops[line.uop]
            if u.op in COMPUTING:
                yield line, u


def sources(e):
    for k in e.kernels:
        yield k.c
        if k.cuda is not None:
            yield k.cuda


def assert_every_line_traced(e, path: str) -> None:
    """Every computing line names at least one user line, all in the program's file, and the comment says so."""
    for src in sources(e):
        for line, _ in computing_lines(src):
            assert line.origins, f"{src.program.name} ({src.language}): no provenance on {line.text!r}"
            assert all(o.file == path for o in line.origins), (line.text, [str(o) for o in line.origins])
            assert "| from " in line.text and f"prog.py:{line.origins[0].line}" in line.text, line.text


def float_alu(u, op) -> bool:
    return u.op is UOps.ALU and u.arg is op and u.dtype.is_float


def lines_of(e, op):
    """The (line, uop) pairs of every float ALU `op` in the generated C and CUDA."""
    return [(line, u) for src in sources(e) for line, u in computing_lines(src) if float_alu(u, op)]


def test_elementwise_chain(tmp_path):
    e, path = run_program(tmp_path, """
        import numpy as np
        from shrimpgrad import Tensor
        x = Tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
        y = x * 3
        z = y - 1
        w = z.relu()
        w.numpy()
        """)
    assert len(e.kernels) == 1
    assert_every_line_traced(e, path)
    expect = {Ops.MUL: (4, "__mul__"), Ops.SUB: (5, "__sub__"), Ops.WHERE: (6, "relu"), Ops.CMPLT: (6, "relu")}
    for op, (line_no, method) in expect.items():
        found = lines_of(e, op) if op is not Ops.CMPLT else [
            (line, u) for src in sources(e) for line, u in computing_lines(src) if u.op is UOps.ALU and u.arg is op]
        assert found, f"no {op} line"
        for line, _ in found:
            assert {(o.line, o.method) for o in line.origins} == {(line_no, method)}, line.text
    loads = [(line, u) for src in sources(e) for line, u in computing_lines(src)
             if u.op is UOps.LOAD and u.dtype.is_float]
    assert loads and all(any(o.line == 3 for o in line.origins) for line, _ in loads)  # x was made on line 3


def test_softmax(tmp_path):
    e, path = run_program(tmp_path, """
        import numpy as np
        from shrimpgrad import Tensor
        x = Tensor(np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4))
        p = x.softmax(axis=1)
        p.numpy()
        """)
    assert_every_line_traced(e, path)
    for op in (Ops.EXP2, Ops.MAX, Ops.SUB, Ops.ADD):  # the max, the shift, the exp and the sum are all softmax's
        found = lines_of(e, op)
        assert found, f"softmax made no {op} line"
        for line, _ in found:
            assert (4, "softmax") in {(o.line, o.method) for o in line.origins}, line.text


def test_matmul_relu(tmp_path):
    e, path = run_program(tmp_path, """
        import numpy as np
        from shrimpgrad import Tensor
        a = Tensor(np.ones((4, 8), dtype=np.float32))
        b = Tensor(np.full((8, 3), 0.5, dtype=np.float32))
        h = (a @ b)
        r = h.relu()
        r.numpy()
        """)
    assert_every_line_traced(e, path)
    for line, _ in lines_of(e, Ops.MUL):  # the multiply inside the reduce loop is the matmul's
        assert {(o.line, o.method) for o in line.origins} == {(5, "__matmul__")}, line.text
    for line, _ in lines_of(e, Ops.WHERE):
        assert {(o.line, o.method) for o in line.origins} == {(6, "relu")}, line.text
    accs = [line for src in sources(e) for line, u in computing_lines(src) if u.op is UOps.DEFINE_ACC]
    assert accs and all({o.line for o in line.origins} == {5} for line in accs)


def test_training_step(tmp_path):
    """A real step (Linear layers, loss, backward, an optimizer's assigns): every line traced, the forward ops to
    their lines, the backward ops to the forward line they differentiate, the update to the optimizer's step."""
    e, path = run_program(tmp_path, """
        import numpy as np
        from shrimpgrad import Tensor, nn
        from shrimpgrad.nn.optim import SGD
        rng = np.random.default_rng(0)
        l1, l2 = nn.Linear(6, 5), nn.Linear(5, 3)
        opt = SGD([l1.weight, l1.bias, l2.weight, l2.bias], lr=0.1)
        x = Tensor(rng.standard_normal((4, 6)).astype(np.float32))
        y = Tensor(np.array([0, 2, 1, 0]))
        with Tensor.train():
            h = l1(x).relu()
            loss = l2(h).sparse_categorical_crossentropy(y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        loss.numpy()
        """)
    assert len(e.kernels) >= 4
    assert_every_line_traced(e, path)
    lines = {o.line for k in e.kernels for line in k.c.lines for o in line.origins}
    assert {10, 11, 14} <= lines, lines  # forward, loss and the optimizer's step all made code (backward's seed
    # is the constant 1, folded into the lines that use it)
    assert lines <= {5, 6, 7, 8, 10, 11, 13, 14}, lines  # no line of C claims a line that made no tensor
    backward = [o for k in e.kernels for line in k.c.lines for o in line.origins if o.method.startswith("backward")]
    assert backward and {o.line for o in backward} <= {10, 11}  # gradients trace to the forward line they invert


def test_fusion_merges_origins_nothing_dropped(tmp_path):
    """Every graph node with provenance that a kernel computes is named by some AST node of that kernel, and every
    AST node's provenance reaches some UOp of the C program."""
    e, _ = run_program(tmp_path, """
        import numpy as np
        from shrimpgrad import Tensor
        x = Tensor(np.arange(8, dtype=np.float32).reshape(2, 4))
        y = (x.T * 2).reshape(8)
        z = (y + 1).exp().sum()
        z.numpy()
        """)
    for k in e.kernels:
        ast_origins = {o for n in k.ast for o in n.origins}
        for n in k.graph_nodes:
            if n.meta is not None:
                assert n.meta in ast_origins, f"{k.name}: {n!r} from {n.meta} is named by no AST node"
        uop_origins = {o for u in k.program.uops for o in u.origins}
        assert ast_origins <= uop_origins, ast_origins - uop_origins


def test_debug4_names_this_graphs_lines_even_from_the_caches(tmp_path, capsys):
    """The same computation on two lines: the second realize reuses the first's plan and runner (same structure,
    same AST), yet DEBUG=4's C names line 6, not line 4."""
    from shrimpgrad import Context

    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent("""
        import numpy as np
        from shrimpgrad import Tensor
        x = Tensor(np.ones(4, dtype=np.float32))
        a = (x + 1).numpy()
        y = Tensor(np.ones(4, dtype=np.float32))
        b = (y + 1).numpy()
        """).lstrip())
    capsys.readouterr()
    with Context(DEBUG=4):
        runpy.run_path(str(path))
    adds = [line for line in capsys.readouterr().out.splitlines() if "ALU ADD" in line]
    assert len(adds) == 2 and "prog.py:4" in adds[0] and "prog.py:6" in adds[1], adds


def test_a_folded_constant_keeps_the_lines_it_was_folded_from(tmp_path):
    """`Tensor.full(2.0) * 3` is computed while lowering (stage 03 folds an ALU of constants): the 6.0 is a number
    inside line 5's multiply, and that line names line 4 too, where the folded multiply was written."""
    e, path = run_program(tmp_path, """
        import numpy as np
        from shrimpgrad import Tensor
        x = Tensor(np.arange(4, dtype=np.float32))
        c = Tensor.full((4,), 2.0) * 3
        z = x * c
        z.numpy()
        """)
    assert_every_line_traced(e, path)
    muls = lines_of(e, Ops.MUL)
    assert muls, "no multiply line"
    for line, _ in muls:
        assert "6.0" in line.text, line.text  # the constant was folded, not computed in the kernel
        assert {(4, "__mul__"), (5, "__mul__")} <= {(o.line, o.method) for o in line.origins}, line.text


def test_the_same_computation_from_other_lines_is_explained_with_its_own_lines(tmp_path):
    """Two graphs of one structure from lines 4 and 6 share a plan in the runtime (the schedule cache); explain
    shows each with its own line, and a loop of the same lines (line 8) is one graph realized three times."""
    e, path = run_program(tmp_path, """
        import numpy as np
        from shrimpgrad import Tensor
        x = Tensor(np.ones(4, dtype=np.float32))
        a = (x * 3).numpy()
        y = Tensor(np.ones(4, dtype=np.float32))
        b = (y * 3).numpy()
        for _ in range(3):
            (y * 3).numpy()
        """)
    assert [r.runs for r in e.realizations] == [1, 1, 3]
    assert_every_line_traced(e, path)
    for r, line_no in zip(e.realizations, (4, 6, 8)):
        muls = [line for k in r.kernels for line, u in computing_lines(k.c) if float_alu(u, Ops.MUL)]
        assert muls and all({o.line for o in line.origins} == {line_no} for line in muls), (line_no, muls)


class _KeepItems:
    """A runtime recorder that keeps the ExecItems of every graph it sees run."""

    def __init__(self):
        self.runs = []

    def on_new(self, ref, device, host, draw): pass
    def on_read(self, ref, check): pass
    def on_copy(self, src, dst, device): pass

    def on_items(self, items, empty_outputs, device):
        self.runs.append(list(items))


def test_an_exec_items_source_names_its_own_runs_lines(tmp_path):
    """The second realize reuses the first's plan and runner; its ExecItem's source names line 6, while the shared
    runner's own source names the line it was built for."""
    import shrimpgrad.realize as realize

    value = float(np.random.default_rng().integers(1, 10**9))  # a plan no earlier test made
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent(f"""
        import numpy as np
        from shrimpgrad import Tensor
        x = Tensor(np.ones(4, dtype=np.float32))
        a = (x + {value}).numpy()
        y = Tensor(np.ones(4, dtype=np.float32))
        b = (y + {value}).numpy()
        """).lstrip())
    keep = _KeepItems()
    realize._recorders.append(keep)
    try:
        runpy.run_path(str(path))
    finally:
        realize._recorders.remove(keep)
    (first,), (second,) = keep.runs[-2:]
    assert second.origin == realize.SCHEDULE_CACHE_ORIGIN and second.runner is first.runner
    assert "prog.py:4" in first.source and "prog.py:4" not in second.source and "prog.py:6" in second.source
    assert "prog.py:4" in second.runner.source
