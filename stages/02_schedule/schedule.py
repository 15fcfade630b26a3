"""Stage 02: turn a lazy graph into an ordered list of fused kernels.

    create_schedule(roots) -> Schedule

First `split_reductions` (split.py) rewrites a big reduction to one value into two reductions, so its work can
be spread over cores. Then a short list of named passes (`SCHEDULE_PASSES`), each a method of `_Planner` below:

    1. seed_boundaries   materialize what must be: roots (B1), CONTIGUOUS (B2), ASSIGN (B3)
    2. grow_boundaries   build every kernel by fusing down to the buffers (fuse.py); when a kernel
                         can't be built, materialize what the walk asked for (B4-B7, B9, B11) and try
                         again; then materialize REDUCEs that several kernels share (B8) and old
                         buffer contents still needed after an ASSIGN overwrites them (B10), last
                         those whose write-after-read orders wait on each other (B10 on a cycle)
    3. order_kernels     a kernel runs after the kernels that write what it reads (read after
                         write) and an ASSIGN runs after every kernel that still needs the old
                         contents of its buffer (write after read)
    4. name_kernels      E_4_4 (elementwise over 4x4), R_4_8 (a reduce whose loops are 4x8)
    5. plan_buffers      which kernel first writes each buffer and which last reads it

The `Schedule` holds the kernels in execution order, one output buffer per root (and the view to
read the root's value from it), and the lifetime of every buffer.
"""

from __future__ import annotations

import heapq
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from shrimpgrad.graph import MOVEMENT, BufferRef, Node, Ops, ShapeTracker, apply_movement, toposort
from shrimpgrad.graph import verify as verify_graph

from . import rules
from .fuse import Draft, ScheduleError, build_kernel
from .kernel import Kernel, KernelError, KNode, KOps, nodes_by_loop
from .kernel import verify as verify_kernel
from .rules import Boundary, Move
from .split import split_reductions


@dataclass(frozen=True)
class BufferInfo:
    """One buffer of a schedule and its lifetime.

    kind: "input" (given, only read), "assigned" (given, written in place by an ASSIGN),
    "output" (fresh, holds a root's value) or "temporary" (fresh, only feeds later kernels).
    first_write / last_read: kernel indices, None when no kernel writes / reads it. A runtime may
    allocate a temporary just before `first_write` and free it right after `last_read`."""

    buf: BufferRef
    kind: str
    first_write: int | None
    last_read: int | None


@dataclass(frozen=True)
class Schedule:
    """Kernels in execution order, and where each root's value ends up.

    `outputs[i]` is the buffer holding `roots[i]`'s value, read through `output_views[i]` (row-major
    for a fresh buffer; the target's view for an ASSIGN). `buffers` lists every buffer touched."""

    kernels: tuple[Kernel, ...]
    outputs: tuple[BufferRef, ...]
    output_views: tuple[ShapeTracker, ...]
    buffers: tuple[BufferInfo, ...]
    roots: tuple[Node, ...] = field(default=(), compare=False, repr=False)
    # per kernel: the fusion rules that applied inside it, and the graph nodes it computes (for pictures)
    fused: tuple[tuple[tuple[str, int], ...], ...] = field(default=(), compare=False, repr=False)
    nodes: tuple[tuple[Node, ...], ...] = field(default=(), compare=False, repr=False)

    def info(self, buf: BufferRef) -> BufferInfo:
        for b in self.buffers:
            if b.buf is buf:
                return b
        raise KeyError(f"{buf!r} is not used by this schedule")

    @property
    def temporaries(self) -> tuple[BufferRef, ...]:
        return tuple(b.buf for b in self.buffers if b.kind == "temporary")

    def __repr__(self) -> str:
        names = ", ".join(k.name for k in self.kernels)
        return f"<Schedule {len(self.kernels)} kernel(s): {names}>"


def create_schedule(roots: Sequence[Node]) -> Schedule:
    """Decide the kernels that compute `roots` (see the module docstring for the passes).

    Every kernel passes `kernel.verify` as it is named. With `VERIFY=1` in the environment the graph coming in
    (stage 01's `verify`) and the whole schedule going out (`verify_schedule`) are checked too."""
    if isinstance(roots, Node):
        roots = [roots]
    checking = os.environ.get("VERIFY", "0") not in ("", "0")  # check both boundaries of this stage
    if checking:
        verify_graph(roots)
    planner = _Planner(split_reductions(roots))
    for _name, step in SCHEDULE_PASSES:
        step(planner)
    return verify_schedule(planner.schedule) if checking else planner.schedule


class _Planner:
    """The state the passes share."""

    def __init__(self, roots: list[Node]):
        for r in roots:
            if not isinstance(r, Node):
                raise TypeError(f"create_schedule takes graph Nodes, got {type(r).__name__}")
        self.roots = roots
        self.order = toposort(roots)
        copies = [n for n in self.order if n.op is Ops.COPY]
        if copies:  # a kernel runs on one device: moving memory between devices is the runtime's job
            raise ScheduleError(f"COPY {copies[0].arg[0]} -> {copies[0].arg[1]} in the graph: a schedule runs on one "
                                "device; split the graph at COPY nodes first (shrimpgrad/realize.py does)")
        self.position = {id(n): i for i, n in enumerate(self.order)}
        self.boundaries: dict[int, tuple[Node, Boundary]] = {}  # the materialized nodes, by id
        self.fresh: dict[int, BufferRef] = {}  # the new buffer of each materialized node (not ASSIGNs)
        self.drafts: dict[int, Draft] = {}
        self.assigns_below: dict[int, frozenset[int]] = {}  # node -> the ASSIGN nodes in its graph
        for n in self.order:
            below = frozenset().union(*(self.assigns_below[id(x)] for x in n.src))
            self.assigns_below[id(n)] = below | {id(x) for x in n.src if x.op is Ops.ASSIGN}
        self.sequence: list[int] = []

    # ---- where values live ------------------------------------------------------------------------

    def materialize(self, node: Node, boundary: Boundary) -> None:
        if id(node) in self.boundaries:
            return
        self.boundaries[id(node)] = (node, boundary)
        if node.op is not Ops.ASSIGN:
            self.fresh[id(node)] = BufferRef(node.size, node.dtype)

    def source(self, node: Node) -> tuple[BufferRef, ShapeTracker] | None:
        """Where `node`'s value is in memory, or None if a kernel computes it inline."""
        if id(node) in self.boundaries:
            if node.op is Ops.ASSIGN:
                return target_view(node.src[0])
            return self.fresh[id(node)], ShapeTracker.from_shape(node.shape)
        if node.op is Ops.BUFFER:
            return node.arg, ShapeTracker.from_shape(node.shape)
        if node.op is Ops.CONTIGUOUS and node.src[0].op is Ops.BUFFER:
            return self.source(node.src[0])
        return None

    def build(self, node: Node) -> Draft:
        if node.op is Ops.ASSIGN:
            return build_kernel(node, target_view(node.src[0]), self.source)
        return build_kernel(node, (self.fresh[id(node)], ShapeTracker.from_shape(node.shape)), self.source)

    # ---- pass 1 -------------------------------------------------------------------------------------

    def seed_boundaries(self) -> None:
        """B1-B3: the nodes whose buffers are asked for."""
        assigned = {target_view(n.src[0])[0] for n in self.order if n.op is Ops.ASSIGN}
        for node in self.order:
            for rule in rules.SEED_RULES:
                if (b := rule(node)) is not None:
                    self.materialize(node, b)
        for i, root in enumerate(self.roots):
            if (b := rules.output(root, i, assigned)) is not None:
                self.materialize(root, b)

    # ---- pass 2 -------------------------------------------------------------------------------------

    def grow_boundaries(self) -> None:
        """Build every kernel; materialize what the walks ask for, then shared REDUCEs and stale reads;
        repeat until nothing changes. Only kernels whose region lost a node to a new boundary are rebuilt."""
        drafts: dict[int, Draft] = {}
        while True:
            needs: dict[int, tuple[Node, Boundary]] = {}
            for key, (node, _) in list(self.boundaries.items()):
                if node.size == 0 or key in drafts:
                    continue  # an empty value has a buffer but nothing to compute; a kept draft is still right
                drafts[key] = self.build(node)
                for k, v in drafts[key].needs.items():
                    needs.setdefault(k, v)
            new = sorted(needs.values(), key=lambda nb: self.position[id(nb[0])])
            if not new:  # every kernel builds: now the rules that look at all of them
                new = self.shared_reduces(drafts) + self.old_value_reads(drafts)
            if not new:  # and last the one that needs the kernel order: B10 on a cycle of in-place writes
                new = self.overwrite_cycles(drafts)
            if not new:
                self.drafts = drafts
                return
            for node, b in new:
                self.materialize(node, b)
            fresh = {id(node) for node, _ in new}
            drafts = {k: d for k, d in drafts.items() if not d.needs and not (d.visited & fresh)}

    def shared_reduces(self, drafts: dict[int, Draft]) -> list[tuple[Node, Boundary]]:
        """B8 asked of every REDUCE, with the number of kernels that compute it."""
        users: Counter[int] = Counter()
        reduce_nodes: dict[int, Node] = {}
        for d in drafts.values():
            for r in {id(r): r for r in d.reduces}.values():
                users[id(r)] += 1
                reduce_nodes[id(r)] = r
        return [(r, b) for k, r in reduce_nodes.items() if (b := rules.shared_reduce(r, users[k])) is not None]

    def old_value_reads(self, drafts: dict[int, Draft]) -> list[tuple[Node, Boundary]]:
        """B10 asked of every read of an assigned buffer, with each ASSIGN that writes that buffer (the first
        ASSIGN it fires for names a leaf's boundary)."""
        assigns: dict[int, list[Node]] = {}
        for node, _ in self.boundaries.values():
            if node.op is Ops.ASSIGN:
                assigns.setdefault(id(target_view(node.src[0])[0]), []).append(node)
        found: dict[int, tuple[Node, Boundary]] = {}
        for key, d in drafts.items():
            reader = self.boundaries[key][0]
            for buf, leaf in d.reads:
                for a in assigns.get(id(buf), []):
                    b = rules.old_value_overwritten(leaf, a, reader, self.assigns_below[id(reader)])
                    if b is not None:
                        found.setdefault(id(leaf), (leaf, b))
        return list(found.values())

    def overwrite_cycles(self, drafts: dict[int, Draft]) -> list[tuple[Node, Boundary]]:
        """B10 asked of every write-after-read order that closes a cycle of the kernel order; the cheapest fires.

        Each ASSIGN runs after the kernels that read the contents it replaces. Several ASSIGNs in one schedule can
        make those orders wait on each other: y.assign(x + 1); x.assign(old_y + 1) (a swap) needs y's kernel before
        x's write (it reads the old x) and x's kernel before y's write (it reads the old y), so neither can run
        first. No order of these kernels is right; a copy of one old contents is: the copy runs first (it waits on
        nothing), the reader reads the copy, and the write no longer waits on it. old_value_reads can't see this:
        no kernel's graph holds the other ASSIGN, the cycle is made only by the orders between buffers. (Before
        this check, such a schedule raised "wait on each other": five lazy assigns on three tensors of
        test_inplace's random interleavings.)

        One copy per round, of the smallest buffer (ties: graph order), because one copy may break several
        cycles; grow_boundaries rebuilds the kernels that read it and asks again. A schedule without a cycle
        (every optimizer step) gets no copy: this check only adds kernels where no order exists. A cycle through
        an ASSIGN's result (a kernel reads two assigned contents of one buffer) has nothing to copy from the
        original buffer: order_kernels reports it."""
        deps, war = self.dependencies(drafts)
        ordered = set(self.topological_order(deps))
        if len(ordered) == len(deps):
            return []
        follows: dict[int, set[int]] = {}  # reader -> every kernel it waits on, directly or through others
        fires: list[tuple[Node, Boundary]] = []
        for reader, writer, leaf in war:
            # a kernel the order reached is on no cycle; a leaf copied already is read from `buf` only by its copy,
            # which waits on nothing
            if reader in ordered or writer in ordered or id(leaf) in self.boundaries:
                continue
            if reader not in follows:
                follows[reader] = _reachable(deps, reader)
            b = rules.old_value_overwritten(leaf, self.boundaries[writer][0], self.boundaries[reader][0],
                                            follows[reader])
            if b is not None:
                fires.append((leaf, b))
        if not fires:
            return []
        return [min(fires, key=lambda nb: (nb[0].size, self.position[id(nb[0])]))]

    # ---- pass 3 -------------------------------------------------------------------------------------

    def dependencies(self, drafts: dict[int, Draft]) -> tuple[dict[int, set[int]], list[tuple[int, int, Node]]]:
        """(deps, war): the kernels each kernel must run after, and the write-after-read orders among them as
        (reader, writer, the node whose contents the reader loads from the buffer the writer overwrites)."""
        deps: dict[int, set[int]] = {k: set() for k in drafts}
        war: list[tuple[int, int, Node]] = []
        for key, d in drafts.items():
            for _, node in d.reads:  # read after write
                if id(node) in drafts and id(node) != key:
                    deps[key].add(id(node))
        for buf, chain in self.writers(drafts).items():
            for i, key in enumerate(chain):
                prev = self.boundaries[chain[i - 1]][0] if i else None  # the contents this write replaces
                if prev is not None:
                    deps[key].add(id(prev))  # write after write
                for other, d in drafts.items():  # write after read: readers of the old contents go first
                    if other == key:
                        continue
                    leaf = next((n for b, n in d.reads if b is buf and _version(n) is prev), None)
                    if leaf is not None:
                        deps[key].add(other)
                        war.append((other, key, leaf))
        return deps, war

    def topological_order(self, deps: dict[int, set[int]]) -> list[int]:
        """The kernels in an order that respects `deps`, ties broken by graph order (so the order is stable);
        the kernels on a cycle, and those waiting on one, are left out."""
        deps = {k: set(ds) for k, ds in deps.items()}
        ready = [(self.position[id(self.boundaries[k][0])], k) for k, ds in deps.items() if not ds]
        heapq.heapify(ready)
        users: dict[int, set[int]] = {k: set() for k in deps}
        for k, ds in deps.items():
            for dep in ds:
                users[dep].add(k)
        sequence = []
        while ready:
            _, k = heapq.heappop(ready)
            sequence.append(k)
            for u in users[k]:
                deps[u].discard(k)
                if not deps[u]:
                    heapq.heappush(ready, (self.position[id(self.boundaries[u][0])], u))
        return sequence

    def order_kernels(self) -> None:
        """Topological order of the kernels (read after write, write after write, write after read)."""
        deps, _ = self.dependencies(self.drafts)
        self.sequence = self.topological_order(deps)
        if len(self.sequence) != len(self.drafts):
            # B10 (overwrite_cycles) broke every cycle that a copy of a buffer's original contents can break; what
            # is left reads an ASSIGN's result that a later ASSIGN of the same buffer overwrites, and needs that
            # later ASSIGN too (a graph built with stage 01's assign on an earlier ASSIGN; the front end never
            # builds one)
            done = set(self.sequence)
            stuck = [self.boundaries[k][0] for k in deps if k not in done]
            raise ScheduleError("the kernels of these nodes wait on each other (a kernel reads two different "
                                "assigned contents of one buffer): " + ", ".join(repr(n) for n in stuck[:4]) +
                                "; realize one of the values into its own buffer first")

    def writers(self, drafts: dict[int, Draft]) -> dict[BufferRef, list[int]]:
        """For each assigned buffer, the ASSIGN kernels that write it, in graph order (an ASSIGN whose
        value reads an earlier one comes after it)."""
        chains: dict[BufferRef, list[int]] = {}
        for key, (node, _) in sorted(self.boundaries.items(), key=lambda kv: self.position[kv[0]]):
            if node.op is Ops.ASSIGN and key in drafts:
                chains.setdefault(target_view(node.src[0])[0], []).append(key)
        return chains

    # ---- passes 4 and 5 -------------------------------------------------------------------------------

    def name_kernels(self) -> None:
        """Turn each draft, in execution order, into a named `Kernel` and check it (`kernel.verify`).

        The name says the loops (`kernel_name`: E_4_4, R_4_8); a repeated name gets n1, n2, ... so every kernel
        of the schedule is named once, stably (execution order). `reason` is the boundary rule that drew it,
        `meta` the provenance of the graph nodes it computes."""
        self.kernels: list[Kernel] = []
        seen: Counter[str] = Counter()
        for key in self.sequence:
            node, boundary = self.boundaries[key]
            d = self.drafts[key]
            base = kernel_name(d.ast)
            name = base if not seen[base] else f"{base}n{seen[base]}"
            seen[base] += 1
            meta = tuple(dict.fromkeys(str(n.meta) for n in d.nodes + [node] if n.meta is not None))
            k = Kernel(name, d.ast, tuple(d.bufs), 1, str(boundary), meta)
            self.kernels.append(verify_kernel(k))

    def plan_buffers(self) -> None:
        """Describe the memory the kernels use, and build the `Schedule`.

        Each root's buffer and the view to read its value through (`outputs`, `output_views`). Each buffer's kind:
        a fresh buffer is an "output" when it holds a root's value, else a "temporary"; a given buffer is
        "assigned" when a kernel writes it in place, else an "input". Each buffer's lifetime: the first kernel that
        writes it and the last that reads it (None when none does), from which a runtime can allocate late and
        free early. Every buffer is listed once: in the order the kernels first touch it, then any no kernel touches."""
        outputs, views = [], []
        for root in self.roots:
            buf, st = self.source(root)  # every root is materialized (B1) or a plain buffer
            outputs.append(buf)
            views.append(st)
        fresh = {id(b) for b in self.fresh.values()}
        out_ids = {id(b) for b in outputs}
        seen: dict[int, BufferRef] = {}
        writes: dict[int, list[int]] = {}
        reads: dict[int, list[int]] = {}
        for i, k in enumerate(self.kernels):
            for b in k.bufs:
                seen.setdefault(id(b), b)
            for b in k.outputs:
                writes.setdefault(id(b), []).append(i)
            for b in loaded_buffers(k):
                reads.setdefault(id(b), []).append(i)
        for b in list(outputs) + list(self.fresh.values()):
            seen.setdefault(id(b), b)
        infos = []
        for bid, b in seen.items():
            if bid in fresh:
                kind = "output" if bid in out_ids else "temporary"
            else:
                kind = "assigned" if bid in writes else "input"
            w, r = writes.get(bid), reads.get(bid)
            infos.append(BufferInfo(b, kind, min(w) if w else None, max(r) if r else None))
        fused = tuple(tuple(sorted(self.drafts[k].fired.items())) for k in self.sequence)
        nodes = tuple(tuple({id(n): n for n in self.drafts[k].nodes}.values()) for k in self.sequence)
        self.schedule = Schedule(tuple(self.kernels), tuple(outputs), tuple(views), tuple(infos),
                                 tuple(self.roots), fused, nodes)


SCHEDULE_PASSES = (
    ("seed_boundaries", _Planner.seed_boundaries),
    ("grow_boundaries", _Planner.grow_boundaries),
    ("order_kernels", _Planner.order_kernels),
    ("name_kernels", _Planner.name_kernels),
    ("plan_buffers", _Planner.plan_buffers),
)


# ---- helpers ------------------------------------------------------------------------------------------

def target_view(node: Node) -> tuple[BufferRef, ShapeTracker]:
    """The buffer and view an ASSIGN writes through: its target is a buffer (or an earlier ASSIGN's
    result) seen through movement ops."""
    moves: list[Move] = []
    base = node
    while base.op in MOVEMENT:
        if base.op is Ops.EXPAND and base.arg != base.src[0].shape:
            raise ScheduleError(f"ASSIGN into an expanded view {base.src[0].shape} -> {base.arg}: several elements "
                                f"would share one address; assign into the unexpanded tensor instead")
        moves.append(Move(base.op, base.arg))
        base = base.src[0]
    if base.op is Ops.BUFFER:
        buf, st = base.arg, ShapeTracker.from_shape(base.shape)
    elif base.op is Ops.ASSIGN:
        buf, st = target_view(base.src[0])
    else:
        raise ScheduleError(f"ASSIGN target must be a realized buffer (possibly through movement ops), got "
                            f"{base!r}; realize the target before assigning into it")
    for m in reversed(moves):  # nearest the buffer first
        st = apply_movement(st, m.op.name, m.arg)
    return buf, st


def _reachable(deps: dict[int, set[int]], start: int) -> set[int]:
    """The kernels `start` waits on: its `deps`, theirs, and so on."""
    seen, stack = set(), [start]
    while stack:
        for u in deps[stack.pop()]:
            if u not in seen:
                seen.add(u)
                stack.append(u)
    return seen


def _version(node: Node) -> Node | None:
    """Which contents of a buffer a LOAD of `node` sees: an ASSIGN's result, or (None) the original."""
    return node if node.op is Ops.ASSIGN else None


def loaded_buffers(k: Kernel) -> list[BufferRef]:
    """The buffers a kernel LOADs (an in-place ASSIGN loads its own output buffer too)."""
    idx = dict.fromkeys(n.arg[0] for n in k.ast.toposort() if n.op is KOps.LOAD)
    return [k.bufs[i] for i in idx]


def kernel_name(ast: KNode) -> str:
    """E_ + the loop shape for an elementwise kernel, R_ + the loop shape (reduced axes included) for a reduce."""
    reduce = next((n for n in ast.toposort() if n.op is KOps.REDUCE), None)
    if reduce is None:
        shape = ast.src[0].st.shape
    else:
        shape = next(n.st.shape for n in reduce.toposort() if n.op in (KOps.LOAD, KOps.CONST))
    return ("R_" if reduce is not None else "E_") + ("_".join(str(s) for s in shape) or "1")


# ---- verify ---------------------------------------------------------------------------------------------

def verify_schedule(s: Schedule) -> Schedule:
    """Check what a runtime relies on; raise KernelError naming the kernel and buffer at fault.

    * every kernel passes kernel.verify;
    * every fresh buffer is written by exactly one kernel, before any kernel reads it;
    * a kernel that reads a buffer it writes reads it only through the STORE's view, outside any
      reduce loop (each element is read, then written, by the same loop iteration);
    * there is one output per root, and the lifetimes match the kernels."""
    def fail(msg: str) -> None:
        raise KernelError(f"schedule: {msg}")

    for k in s.kernels:
        verify_kernel(k)
    if s.roots and len(s.outputs) != len(s.roots):
        fail(f"{len(s.roots)} roots but {len(s.outputs)} outputs")
    info = {id(b.buf): b for b in s.buffers}
    for i, k in enumerate(s.kernels):
        for b in loaded_buffers(k):
            bi = info.get(id(b))
            if bi is None:
                fail(f"kernel {i} {k.name} reads {b!r}, which is missing from schedule.buffers")
            if bi.kind in ("output", "temporary") and b.size and (bi.first_write is None or bi.first_write >= i):
                fail(f"kernel {i} {k.name} reads buffer {b.id} before any kernel writes it")
        for b in k.outputs:
            if info[id(b)].kind == "input":
                fail(f"kernel {i} {k.name} writes input buffer {b.id}")
        _check_in_place(k, fail)
    for bi in s.buffers:
        writers = [i for i, k in enumerate(s.kernels) if any(o is bi.buf for o in k.outputs)]
        readers = [i for i, k in enumerate(s.kernels) if any(o is bi.buf for o in loaded_buffers(k))]
        if bi.kind in ("output", "temporary") and bi.buf.size > 0 and len(writers) != 1:
            fail(f"fresh buffer {bi.buf.id} is written by {len(writers)} kernels, expected 1")
        if (bi.first_write, bi.last_read) != (min(writers, default=None), max(readers, default=None)):
            fail(f"buffer {bi.buf.id}: lifetime {bi.first_write}..{bi.last_read} doesn't match the kernels")
        if bi.kind == "temporary" and bi.buf.size > 0 and not readers:
            fail(f"temporary buffer {bi.buf.id} is written but never read")
    for i, (o, v) in enumerate(zip(s.outputs, s.output_views)):
        if id(o) not in info:
            fail(f"output {i} {o!r} is not a buffer of the schedule")
        if s.roots and v.shape != s.roots[i].shape:
            fail(f"output {i} is read through a view of shape {v.shape}, but the root has shape {s.roots[i].shape}")
    return s


def _check_in_place(k: Kernel, fail) -> None:
    stores = {n.arg[0]: n.arg[1] for n in k.ast.src}
    for n, below in nodes_by_loop([k.ast]):
        if n.op is KOps.LOAD and n.arg[0] in stores and (below or n.arg[1] != stores[n.arg[0]]):
            fail(f"kernel {k.name} reads the buffer it writes through another view {n.arg[1]} "
                 f"(stores through {stores[n.arg[0]]}){' inside the reduce loop' if below else ''}")


def verify(x: Kernel | Schedule) -> Kernel | Schedule:
    """Check a Kernel (kernel.verify) or a whole Schedule (verify_schedule)."""
    return verify_schedule(x) if isinstance(x, Schedule) else verify_kernel(x)
