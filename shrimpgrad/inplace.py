"""In-place updates in lazy code: what `assign` means, and how realize keeps that meaning.

The rule: **lazy code means what the same eager code means.** A Tensor is a value. `w.assign(x)` changes the
value of `w` (and of nothing else); every tensor computed from `w` before the assign keeps computing with
the old contents, whenever it is realized:

    old = w * 1
    w.assign(w + 1).realize()
    old.numpy()            # the old w, as numpy would say

In the graph this is plain: a BUFFER leaf means "the buffer's contents when this graph was built", an ASSIGN
node means "the target's contents after this write". Inside one schedule, stage 02 orders every read of
the old contents before the write (rules B9/B10), and copies the old contents first where no order can
(several writes that read each other's buffers, as in a swap: B10's overwrite_cycles). What this module
adds is the part *across* realizes, where the buffer really is overwritten. Before a realize writes a buffer,
it finds every live tensor that could still need the old contents and keeps them:

    1. pending readers   a lazy tensor whose graph reads the buffer (or an ASSIGN of it) is realized in the
                         same schedule, so stage 02 runs it before the write (`plan_realize`)
    2. aliases           another tensor that *is* the buffer (a no-op op returned the same node) gets a
                         copy of the old contents (a snapshot), because it is a value too
    3. finished writes   an ASSIGN that ran is remembered by its write id: a graph that still holds the
                         node reads the buffer instead of writing it again (`without_finished`)

Graphs therefore never grow across steps: after a realize, each assigned tensor is a plain BUFFER again.

Two cases are deliberately eager:
- `t[1:3].assign(v)` (an assign into a *view*) writes into the buffer that the viewed tensor holds, like
  `x[1:3] = v` in numpy, and runs at once, so `x` shows the new values right away. (`x[1:3] = v`, i.e.
  `__setitem__`, is a whole-tensor assign and stays lazy.)
- `backward()` through a value realized before its inputs were overwritten raises a clear error, as PyTorch
  does ("modified by an inplace operation"), instead of differentiating against the new contents.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Iterable

from shrimpgrad.graph import MOVEMENT, BufferRef, Node, Ops, rewrite, toposort


class _LiveTensors:
    """A weak set of tensors that iterates in the order they were made. A WeakSet iterates in the order of memory
    addresses, which differs from run to run: the tensors joining a realize (a training step's gradients and loss)
    came in another order each step, so the graph had another structure and missed the schedule cache (k joining
    tensors make k! orders: a model with a few parameters missed on nearly every step)."""

    def __init__(self):
        self._by_id: dict[int, weakref.ref] = {}  # id -> weak reference: a dict is insertion-ordered

    def add(self, t) -> None:
        # A live tensor's id is its own; a dead one's entry is removed by its reference's callback, which runs while
        # the tensor is being freed, before its id can be given to a new one. (A WeakValueDictionary does the same
        # with three Python calls per entry: every Tensor made passes here, ~70 per training step.)
        key = id(t)
        self._by_id[key] = weakref.ref(t, lambda _, key=key, live=self._by_id: live.pop(key, None))

    def __iter__(self):
        # copy() takes the references at once, in C: a callback (a tensor dying) can't change the dict under a
        # Python loop over it
        return iter([t for r in self._by_id.copy().values() if (t := r()) is not None])

    def __len__(self) -> int:
        return len(self._by_id)


# Every Tensor alive, so a realize can find the pending readers of a buffer it overwrites.
LIVE = _LiveTensors()

# How many writes Tensor.assign has made: every tensor whose node is an ASSIGN got it there (or from a tensor that
# did, later), so a TinyJit replay looks for pending writes only when one was made since it last looked
# (jit._protect_pending) instead of walking every live tensor on every call.
assigns_made = 0

# Write ids of the ASSIGNs that ran, forgotten with the node (a graph holding the node keeps it alive).
_finished: dict[int, weakref.ref] = {}

# When each buffer was last written, as a count of realizes that wrote anything ("write epochs").
_epochs = itertools.count(1)
_last_write: weakref.WeakKeyDictionary[BufferRef, int] = weakref.WeakKeyDictionary()
epoch = 0  # the epoch of the latest write


def written_buffer(node: Node) -> BufferRef:
    """The buffer an ASSIGN writes: its target, through movement ops and earlier ASSIGNs, is a BUFFER."""
    target = node.src[0]
    while target.op in MOVEMENT or target.op is Ops.ASSIGN:
        target = target.src[0]
    return target.arg


def writes_whole_buffer(node: Node) -> bool:
    """Does this ASSIGN write the whole buffer (its target is the buffer or an earlier whole write)?"""
    target = node.src[0]
    while target.op is Ops.ASSIGN:
        target = target.src[0]
    return target.op is Ops.BUFFER


def is_finished(node: Node) -> bool:
    return node.op is Ops.ASSIGN and node.arg in _finished


def mark_finished(writes: Iterable[Node]) -> None:
    """Remember that these ASSIGNs ran, and when their buffers were written."""
    writes = list(writes)
    for node in writes:
        key = node.arg
        _finished[key] = weakref.ref(node, lambda _, key=key: _finished.pop(key, None))
    mark_written(written_buffer(node) for node in writes)


def mark_written(bufs: Iterable[BufferRef]) -> None:
    """Start a new write epoch in which `bufs` were written (by a realize, or by a TinyJit replay)."""
    global epoch
    epoch = next(_epochs)
    for ref in bufs:
        _last_write[ref] = epoch


def last_write(ref: BufferRef) -> int:
    """The epoch `ref` was last written in (0: never, since it was made)."""
    return _last_write.get(ref, 0)


def without_finished(roots: list[Node]) -> list[Node]:
    """roots, with every ASSIGN that already ran replaced by its target (which now holds the assigned value)."""
    if not _finished:
        return roots
    if not any(is_finished(n) for n in toposort(roots)):
        return roots
    return rewrite(roots, lambda n: n.src[0] if is_finished(n) else n)


def pending_writes(roots: Iterable[Node], seen: set[int] | None = None) -> list[Node]:
    """The ASSIGNs a realize of `roots` will perform (the ones that have not run yet), in graph order.

    `seen` (ids of nodes already walked, updated here) lets a caller add roots later and get only the new writes."""
    out, stack = [], list(roots)
    seen = set() if seen is None else seen
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if n.op is Ops.ASSIGN:
            if is_finished(n):
                stack.append(n.src[0])  # only the target is read; its value was computed already
                continue
            out.append(n)
        stack.extend(n.src)
    return out


def _reads_any(root: Node, bufs: set[BufferRef], memo: dict[int, bool]) -> bool:
    """Does `root`'s graph read (any contents of) one of `bufs`? Iterative, memoized across calls.

    It answers True at the first read it finds (a loss reads the weights near its leaves: no need to walk the rest).
    `memo` keeps only whole answers: a node is False once all its sources were walked, True where a read is."""
    stack = [(root, False)]
    while stack:
        n, expanded = stack.pop()
        if expanded:  # every source was walked, and none reads `bufs` (that would have returned)
            memo[id(n)] = False
            continue
        answer = memo.get(id(n))
        if answer is not None:
            if answer:
                return True
            continue
        if n.op is Ops.BUFFER:
            memo[id(n)] = n.arg in bufs
            if memo[id(n)]:
                return True
            continue
        if n.op is Ops.ASSIGN and written_buffer(n) in bufs:
            memo[id(n)] = True
            return True
        stack.append((n, True))
        for s in (n.src[0],) if is_finished(n) else n.src:  # a loop, not a generator per node
            if memo.get(id(s)) is not False:
                stack.append((s, False))
    return False


def plan_realize(tensors: list) -> tuple[list, list, list[Node]]:
    """(group, aliases, writes) for realizing `tensors`:

    group    `tensors` plus every live lazy tensor that must be computed before the writes (its pending readers,
             and the tensors whose node is one of the ASSIGNs; repeated until nothing new joins: a joining
             tensor may write other buffers);
    aliases  live tensors whose node *is* a buffer that is overwritten as a whole: they need a snapshot;
    writes   the ASSIGNs the realize performs."""
    group, members, walked = list(tensors), {id(t) for t in tensors}, set()
    writes = pending_writes([t.node for t in group], walked)  # the graphs' own nodes: they are what is remembered
    while True:
        if not writes:
            return group, [], []
        bufs = {written_buffer(w) for w in writes}
        whole = {written_buffer(w) for w in writes if writes_whole_buffer(w)}
        memo: dict[int, bool] = {}
        joining, aliases = [], []
        for t in list(LIVE):
            if id(t) in members:
                continue
            if t.node.op is Ops.BUFFER:
                if t.node.arg in whole:
                    aliases.append(t)
            elif _reads_any(t.node, bufs, memo):
                joining.append(t)
        if not joining:
            return group, aliases, writes
        group.extend(joining)
        members.update(id(t) for t in joining)
        more = pending_writes([t.node for t in joining], walked)  # only the joining graphs' parts not walked yet
        if not more:  # the same buffers: every reader of them has joined already, the aliases are found
            return group, aliases, writes
        writes += more


def before_overwrite(bufs: set[BufferRef], owners: set[int]) -> tuple[list, list]:
    """(readers, aliases) for overwriting `bufs` outside a realize (a TinyJit replay writes its captured buffers
    directly): the live lazy tensors that read them, which must be computed first, and the live tensors that
    *are* one of them without being its owner (`owners`: ids of the tensors the write updates), which need a
    snapshot. The same rules `plan_realize` applies, for writes that are not ASSIGN nodes."""
    readers, aliases, memo = [], [], {}
    for t in list(LIVE):
        node = t.node
        if node.op is Ops.BUFFER:
            if node.arg in bufs and id(t) not in owners:
                aliases.append(t)
        elif _reads_any(node, bufs, memo):
            readers.append(t)
    return readers, aliases
