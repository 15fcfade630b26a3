"""TinyJit: run a function's kernels again without scheduling, lowering or compiling them.

A training step builds the same graph every call, on new data. The schedule cache (shrimpgrad/realize.py)
already skips stage 02 and 03 for a graph it has seen; the JIT also skips building the graph:

    @TinyJit
    def step(x, y):
        opt.zero_grad()
        loss = model(x).sparse_categorical_crossentropy(y).backward()
        opt.step()
        return loss

    step(x0, y0)   # call 1, "warm-up": runs as plain Python (compiles; lazy state such as Adam's is realized)
    step(x1, y1)   # call 2, "capture": runs as plain Python while a recorder writes down every step that puts
                   #         values into buffers: kernels (ExecItems), host data, random draws, copies, checks
    step(x2, y2)   # call 3+, "replay": runs those steps on x2's and y2's buffers; the Python body never runs

What a replay does, in order (`_Replay.run`):
    1. inputs      the Tensor arguments are realized, checked against the captured shapes, dtypes and devices
                   (a clear JitError names what changed), and their buffers take the captured inputs' places
    2. protect     live lazy tensors that read a buffer the replay overwrites (the weights) are computed first,
                   and other tensors that *are* such a buffer get snapshots: lazy code means what eager code
                   means, with the JIT too (shrimpgrad/inplace.py)
    3. steps       each recorded step runs on the rebound buffers: a buffer made during the capture is made
                   anew (a fresh loss, fresh gradients), random numbers are drawn again from Tensor's
                   generator (same order as a plain call, so results are bit-identical), index bounds checks
                   run on the new values, buffers that live across calls (weights, optimizer state) are
                   written in place
    4. outputs     the function's return value, rebuilt with new Tensors on the new buffers; tensors the
                   capture left pointing at its buffers (each parameter's `.grad`) are moved to the new ones

What a JIT can't see, it refuses at capture (JitError) rather than replaying something wrong: a value read to
the host (`.numpy()`, `.item()`) inside the function, host data that differs between the first two calls (it
would be frozen), a tensor read by the function that was replaced (`t = t + 1`) instead of assigned
(`t.assign(t + 1)`), the same buffer passed as two arguments. Non-Tensor arguments and `Tensor.training` /
`no_grad` must be the same on every call.
"""

from __future__ import annotations

import functools
import hashlib
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from shrimpgrad import inplace, realize
from shrimpgrad.graph import BufferRef, DType, Node, Ops, buffer, toposort
from shrimpgrad.helpers import emit_enabled
from shrimpgrad.realize import (
    Buffer,
    ExecItem,
    SlotKernel,
    SlotRun,
    _storage,
    buffer_value,
    copy_buffer,
    new_buffer,
    quiet,
)
from shrimpgrad.tensor import Tensor


class JitError(RuntimeError):
    """A TinyJit function called in a way its captured kernels can't replay correctly."""


# ---- the recorded steps --------------------------------------------------------------------------------------
# While recording, each step names the captured BufferRefs. A replay runs them on new buffers by slot (see
# realize.SlotRun): `_finish` numbers every buffer the steps name (the inputs, then the fresh buffers, then those
# that live across calls) and turns each step into its slot form, which runs on `refs`, the replay's BufferRef of
# each slot. Consecutive kernels become one `_Kernels` step that runs them in a tight loop.

@dataclass(frozen=True)
class _Kernel:
    item: ExecItem


@dataclass(frozen=True)
class _Fill:
    """Host data into a new buffer: random numbers drawn again, or a constant the kernels overwrite."""
    ref: BufferRef | int  # a captured BufferRef while recording, its slot in the replay's form (so in each step)
    device: str
    draw: Callable[[], np.ndarray]

    def by_slot(self, slot: dict[BufferRef, int]) -> _Fill:
        return _Fill(slot[self.ref], self.device, self.draw)

    def run(self, refs: list[BufferRef], held: list) -> None:
        new_buffer(self.draw(), refs[self.ref].dtype, self.device, out=refs[self.ref])


@dataclass(frozen=True)
class _Copy:
    src: BufferRef | int
    dst: BufferRef | int
    device: str

    def by_slot(self, slot: dict[BufferRef, int]) -> _Copy:
        return _Copy(slot[self.src], slot[self.dst], self.device)

    def run(self, refs: list[BufferRef], held: list) -> None:
        copy_buffer(refs[self.src], self.device, out=refs[self.dst])


@dataclass(frozen=True)
class _Check:
    """A host-side check of a value (index bounds), run on this replay's value."""
    ref: BufferRef | int
    check: Callable[[np.ndarray], None]

    def by_slot(self, slot: dict[BufferRef, int]) -> _Check:
        return _Check(slot[self.ref], self.check)

    def run(self, refs: list[BufferRef], held: list) -> None:
        self.check(buffer_value(refs[self.ref]))


@dataclass(frozen=True)
class _Alloc:
    """Memory for an output no kernel writes (an empty tensor)."""
    ref: BufferRef | int
    device: str

    def by_slot(self, slot: dict[BufferRef, int]) -> _Alloc:
        return _Alloc(slot[self.ref], self.device)

    def run(self, refs: list[BufferRef], held: list) -> None:
        _storage[refs[self.ref]] = Buffer(refs[self.ref], self.device)


@dataclass(frozen=True)
class _Kernels:
    """Consecutive captured kernels, by slot. A step outside the kernels writes `_storage`, not `held`: a kernel
    looks a slot's memory up there on its first use (realize.SlotRun)."""
    run_: SlotRun

    def run(self, refs: list[BufferRef], held: list, loud: bool = False):
        """Launch the kernels; a GPU program still to wait for (SlotRun.finish), or None."""
        return self.run_.run(refs, held, count_each=loud, wait=False)


def _loud() -> bool:
    """DEBUG=1 or EMIT=kernels: a replay prints each kernel and says it replayed (quiet() asked first: cheaper)."""
    return not quiet() and emit_enabled("kernels", 1)


def _by_slot(steps: tuple, slot: dict[BufferRef, int]) -> tuple:
    """The recorded steps in slot form, each run of consecutive kernels one _Kernels step."""
    out, kernels = [], []
    for step in (*steps, None):
        if isinstance(step, _Kernel):
            kernels.append(SlotKernel.of(step.item, slot))
            continue
        if kernels:
            out.append(_Kernels(SlotRun(kernels)))
            kernels = []
        if step is not None:
            out.append(step.by_slot(slot))
    return tuple(out)


# ---- recording -------------------------------------------------------------------------------------------------

class _Recorder:
    """Told by realize.py about everything that fills a buffer while the function runs (see realize.Recorder)."""

    def __init__(self, name: str):
        self.name = name
        self.steps: list = []
        self.made: dict[BufferRef, None] = {}  # buffers made while recording, in order
        self.constants: list[tuple[BufferRef, bytes]] = []  # host data (not random) and its digest

    def on_new(self, ref, device, host, draw) -> None:
        self.made[ref] = None
        if draw is None:
            self.constants.append((ref, hashlib.blake2b(host.tobytes(), digest_size=16).digest()))
            host = host.copy()
            draw = lambda: host  # noqa: E731 - used only if a kernel overwrites the constant (see _finish)
        self.steps.append(_Fill(ref, device, draw))

    def on_read(self, ref, check) -> None:
        if check is None:
            raise JitError(f"TinyJit({self.name}): the function reads a value to the host (.numpy(), .item(), "
                           "tolist() or a data-dependent op); a replay would not run that Python again, so the "
                           "value would be frozen. Return the tensor from the function and read it after the call")
        self.steps.append(_Check(ref, check))

    def on_copy(self, src, dst, device) -> None:
        self.made[dst] = None
        self.steps.append(_Copy(src, dst, device))

    def on_items(self, items, empty_outputs, device) -> None:
        for ref in empty_outputs:
            self.made[ref] = None
            self.steps.append(_Alloc(ref, device))
        for item in items:
            self.made.update(dict.fromkeys(item.allocate))
            self.steps.append(_Kernel(item))


def _recording(recorder: _Recorder, fn: Callable[[], Any]) -> Any:
    realize._recorders.append(recorder)
    try:
        return fn()
    finally:
        realize._recorders.remove(recorder)


# ---- the replayable capture -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Signature:
    """What a call must match to be replayed: each Tensor argument's shape, dtype and device, the other
    arguments, and the Tensor-wide modes."""
    tensors: tuple[tuple[str, tuple[int, ...], DType, str], ...]
    others: tuple[tuple[str, Any], ...]
    modes: tuple[tuple[str, bool], ...]

    def mismatch(self, other: _Signature) -> str | None:
        """What differs, in words (None: nothing)."""
        if len(self.tensors) != len(other.tensors) or [t[0] for t in self.tensors] != [t[0] for t in other.tensors]:
            return (f"the Tensor arguments were {[t[0] for t in self.tensors]} when captured, now "
                    f"{[t[0] for t in other.tensors]}")
        for (where, shape, dtype, device), (_, shape2, dtype2, device2) in zip(self.tensors, other.tensors):
            if (shape, dtype, device) != (shape2, dtype2, device2):
                return (f"{where} was {shape} {dtype!r} on {device} when captured, now {shape2} {dtype2!r} on "
                        f"{device2}")
        for (where, value), (where2, value2) in zip(self.others, other.others):
            if where != where2 or not _same(value, value2):
                return f"{where} was {value!r} when captured, now {value2!r}"
        if len(self.others) != len(other.others):
            return "the number of arguments changed"
        for (mode, on), (_, on2) in zip(self.modes, other.modes):
            if on != on2:
                return f"Tensor.{mode} was {on} when captured, now {on2}"
        return None


class _Expected:
    """The captured call's arguments, as a replay checks them first: a few comparisons per argument, no _Signature
    built (a replay is all a JIT does after its second call). Per position, a Tensor's shape, dtype and device, or
    the other value itself; then the keyword names and the modes. `tensors_of` answers None when anything differs
    or a Tensor argument is not realized: the full check (`TinyJit._arguments`) then realizes it, or says what
    changed."""

    def __init__(self, args: tuple, kwargs: dict):
        values = (*args, *kwargs.values())
        self.count, self.keywords, self.modes = len(values), tuple(kwargs), (Tensor.training, Tensor.no_grad)
        self.tensors = tuple((i, v.shape, v.dtype, v.device) for i, v in enumerate(values) if isinstance(v, Tensor))
        self.others = tuple((i, v) for i, v in enumerate(values) if not isinstance(v, Tensor))

    def tensors_of(self, args: tuple, kwargs: dict) -> list[Tensor] | None:
        values = (*args, *kwargs.values()) if kwargs else args
        if (len(values) != self.count or tuple(kwargs) != self.keywords
                or (Tensor.training, Tensor.no_grad) != self.modes):
            return None
        tensors = []
        for i, shape, dtype, device in self.tensors:
            t = values[i]
            if not isinstance(t, Tensor):
                return None
            node = t.node
            # dtypes by identity: one that is equal but another object goes to the full check, which compares
            if node.op is not Ops.BUFFER or node.shape != shape or node.dtype is not dtype or t.device != device:
                return None
            tensors.append(t)
        for i, value in self.others:
            v = values[i]
            if v is not value and (isinstance(v, Tensor) or not _same(v, value)):
                return None
        if len(tensors) > 1 and len({id(t.node.arg) for t in tensors}) < len(tensors):
            return None  # the same buffer twice: the full check names the arguments
        return tensors


def _same(a: Any, b: Any) -> bool:
    plain = (int, float, bool, str, bytes, type(None), tuple, frozenset)
    return a == b if isinstance(a, plain) and isinstance(b, plain) else a is b


@dataclass
class _Replay:
    """A captured call in slot form. Slots: the inputs (in argument order), then the buffers made during the capture
    (`fresh`: made anew by every replay), then `kept`, the buffers that live across calls (weights, optimizer state,
    host constants), which every replay uses as they are. (Concurrent replays of one TinyJit from two threads are
    not supported: they would overwrite the same weights, and share the temporaries' BufferRefs.)"""
    steps: tuple  # in slot form (_by_slot)
    kernels: tuple[ExecItem, ...]  # the captured ExecItems, in order
    # the captured fresh buffers, and whether each replay reuses that BufferRef: a temporary (a kernel of the replay
    # releases it) does, since no replay's temporary outlives the replay; an output, a .grad gets a new one each time
    fresh: tuple[tuple[BufferRef, bool], ...]
    kept: tuple[BufferRef, ...]
    written: frozenset[BufferRef]  # buffers that live across calls and that the kernels overwrite
    owners: dict[int, weakref.ref]  # tensors that hold a written buffer (the weights themselves): no snapshot
    rebound: list[tuple[weakref.ref, int]]  # tensors left on a fresh or input buffer (a .grad) and its slot: moved
    output: Any  # the return value with each fresh Tensor replaced by an _Out (slot, shape, device)

    @property
    def recorded_steps(self) -> int:
        """How many steps were recorded (each kernel one)."""
        return sum(len(s.run_) if isinstance(s, _Kernels) else 1 for s in self.steps)

    def run(self, args: list[Tensor], loud: bool = False) -> Any:
        """The replay on `args`' buffers; `loud` (_loud(), asked once per call): count and print each kernel."""
        inputs = [t.node.arg for t in args]
        refs = [*inputs, *[ref if reused else BufferRef(ref.size, ref.dtype) for ref, reused in self.fresh],
                *self.kept]
        # each slot's Buffer: the inputs' now, the others once a kernel made or looked them up (realize.SlotRun)
        held = [*map(_storage.get, inputs), *[None] * (len(refs) - len(inputs))]
        _protect_pending()
        if self.written:  # nothing that lives across calls is overwritten (a pure function): nothing to protect
            _protect(self.written, {i for i, r in self.owners.items() if r() is not None})
        gpu = None  # GPU kernels launched and not waited for yet: the replay waits once, after building its result
        for step in self.steps:
            if type(step) is _Kernels:
                gpu = step.run(refs, held, loud) or gpu
            else:
                if gpu is not None:  # a step of the host's (a check, a copy) sees the kernels' results, or errors
                    SlotRun.finish(gpu)
                    gpu = None
                step.run(refs, held)
        if self.written:
            inplace.mark_written(self.written)
        for ref_t, i in self.rebound:
            t = ref_t()
            if t is not None:
                t.node = buffer(refs[i], t.shape, t.node.meta)
        if type(self.output) is _Out:  # one Tensor returned (the usual step): no walk of a structure
            slot, shape, device = self.output.record
            out = _new_tensor(refs[slot], shape, device)
        else:
            out = _map_output(self.output, lambda o: _new_tensor(refs[o[0]], o[1], o[2]))
        if gpu is not None:
            SlotRun.finish(gpu)
        return out


def _protect(written, owners: set[int]) -> None:
    """Before a replay overwrites `written`: compute the lazy tensors that read them, snapshot the aliases."""
    readers, aliases = inplace.before_overwrite(set(written), owners)
    if readers:
        Tensor.realize(*readers)
    for t in aliases:
        t.node = buffer(copy_buffer(t.node.arg, t.device), t.shape, t.node.meta)


def _new_tensor(ref: BufferRef, shape: tuple[int, ...], device: str) -> Tensor:
    # The node is made directly, not through graph.buffer(): `shape` and `ref` come from a captured tensor of that
    # buffer (this replay's ref has its size), so buffer()'s checks of them would pass every call.
    return Tensor._from_node(Node(Ops.BUFFER, (), ref.dtype, shape, ref), device, False)


def _map_output(value: Any, fn: Callable[[Any], Any]) -> Any:
    """value with each leaf that is a fresh-output record (a tuple tagged `_OUT`) replaced by fn(record)."""
    if isinstance(value, _Out):
        return fn(value.record)
    if isinstance(value, (list, tuple)):
        return type(value)(_map_output(v, fn) for v in value)
    if isinstance(value, dict):
        return {k: _map_output(v, fn) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class _Out:
    record: tuple[int, tuple[int, ...], str]  # the output's slot, its shape and device


def tensors_in(value: Any) -> list[Tensor]:
    """The Tensors in `value`: itself, or those inside its lists, tuples and dict values (nested), in order
    (a function's Tensor results; shrimpgrad.explain uses it too)."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in tensors_in(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors_in(v)]
    return []


def _template(value: Any, slot: dict[BufferRef, int]) -> Any:
    """The return value with each Tensor on a fresh or input buffer (one in `slot`) replaced by an _Out record
    (others, such as a weight, stay as they are)."""
    if isinstance(value, Tensor):
        return _Out((slot[value.node.arg], value.shape, value.device)) if value.node.arg in slot else value
    if isinstance(value, (list, tuple)):
        return type(value)(_template(v, slot) for v in value)
    if isinstance(value, dict):
        return {k: _template(v, slot) for k, v in value.items()}
    return value


# ---- TinyJit -------------------------------------------------------------------------------------------------

class TinyJit:
    """Capture `fn`'s kernels on its second call and replay them on every later call (see the module docstring).

    `fn` takes Tensors (positional or keyword, realized before each call) and other arguments that never change;
    it returns Tensors (or lists / tuples / dicts of them, or anything else, which is returned as it is).
    `jit.kernels` lists the captured ExecItems, `jit.batches` those run as one C call each (see `batches`);
    `jit.reset()` forgets them. DEBUG=1 says "captured"/"replayed"."""

    def __init__(self, fn: Callable[..., Any]):
        if not callable(fn):
            raise TypeError(f"TinyJit: needs a function to capture, got {type(fn).__name__}")
        self.fn, self.name = fn, getattr(fn, "__qualname__", repr(fn))
        functools.update_wrapper(self, fn)
        self.reset()

    def reset(self) -> None:
        self.calls, self._signature, self._replay, self._expected = 0, None, None, None
        self._warmup_constants: list[tuple[BufferRef, bytes]] = []

    @property
    def kernels(self) -> list[ExecItem]:
        return list(self._replay.kernels) if self._replay is not None else []

    @property
    def batches(self) -> list:
        """The replay's runs of kernels that became one C call each (shrimpgrad/batched.py, from the second replay
        on; none on other devices, under a dump, or with SHRIMPGRAD_C_BATCH=0): their stage-04 CBatch, whose
        `.source` is the C that calls the kernels."""
        steps = self._replay.steps if self._replay is not None else ()
        return [s.run_.batched.batch for s in steps if type(s) is _Kernels and s.run_.batched]

    def __get__(self, obj, objtype=None):  # a decorated method: bind its self
        return self if obj is None else functools.partial(self.__call__, obj)

    def __call__(self, *args, **kwargs) -> Any:
        if self._replay is not None:
            tensors = self._expected.tensors_of(args, kwargs)
            if tensors is None:  # not the captured call's look, or a lazy argument: the full check decides
                tensors, signature = self._arguments(args, kwargs)
                problem = self._signature.mismatch(signature)
                if problem is not None:
                    raise JitError(f"TinyJit({self.name}): {problem}. A JIT replays the kernels it captured; call "
                                   "it with what it was captured with (e.g. drop a last, smaller batch), or reset() it")
            self.calls += 1
            loud = _loud()
            out = self._replay.run(tensors, loud)
            if loud:
                print(f"TinyJit({self.name}): replayed {len(self._replay.kernels)} kernels")
            return out
        tensors, signature = self._arguments(args, kwargs)
        self.calls += 1
        if self.calls == 1:  # warm-up: plain, but remember the host data it made (see _check_constants)
            recorder, before = _Recorder(self.name), _census()
            out = _recording(recorder, lambda: self._run_and_finish(args, kwargs, before))
            self._warmup_constants, self._signature = recorder.constants, signature
            return out
        return self._capture(args, kwargs, tensors, signature)

    def _arguments(self, args: tuple, kwargs: dict) -> tuple[list[Tensor], _Signature]:
        """The Tensor arguments (realized, no buffer twice) and the call's signature."""
        named = [(f"argument {i}", a) for i, a in enumerate(args)] + [(f"argument {k!r}", v) for k, v in kwargs.items()]
        tensors = [(w, a) for w, a in named if isinstance(a, Tensor)]
        if tensors:
            Tensor.realize(*(t for _, t in tensors))
        seen: dict[BufferRef, str] = {}
        for where, t in tensors:
            if t.node.arg in seen:
                raise JitError(f"TinyJit({self.name}): {seen[t.node.arg]} and {where} are the same buffer; pass "
                               "different tensors (e.g. x.contiguous() makes a copy)")
            seen[t.node.arg] = where
        signature = _Signature(tuple((w, t.shape, t.dtype, t.device) for w, t in tensors),
                               tuple((w, a) for w, a in named if not isinstance(a, Tensor)),
                               (("training", Tensor.training), ("no_grad", Tensor.no_grad)))
        return [t for _, t in tensors], signature

    def _run_and_finish(self, args: tuple, kwargs: dict, before: dict[int, weakref.ref]) -> Any:
        """fn(*args, **kwargs), then realized together: its outputs, the lazy tensors it made that are still alive
        (each parameter's .grad), and every write it left pending (BatchNorm's running statistics). A replay
        keeps no lazy state: what the call leaves behind must come from the captured kernels."""
        out = self.fn(*args, **kwargs)
        left = [t for t in list(inplace.LIVE) if t.node.op is not Ops.BUFFER and
                (not _existed(t, before) or (t.node.op is Ops.ASSIGN and not inplace.is_finished(t.node)))]
        results = [t for t in tensors_in(out) if t.node.op is not Ops.BUFFER]
        if results or left:
            Tensor.realize(*results, *left)
        return out

    def _capture(self, args: tuple, kwargs: dict, tensors: list[Tensor], signature: _Signature) -> Any:
        problem = self._signature.mismatch(signature)
        if problem is not None:
            raise JitError(f"TinyJit({self.name}): {problem} between the first two calls; the JIT captures on the "
                           "second call, so both must look alike")
        _protect_pending()
        inputs = tuple(t.node.arg for t in tensors)
        before = _census()
        recorder = _Recorder(self.name)
        out = _recording(recorder, lambda: self._run_and_finish(args, kwargs, before))
        self._check_constants(recorder.constants)
        self._replay = _finish(recorder, inputs, out, before, self.name)
        self._expected = _Expected(args, kwargs)
        if emit_enabled("kernels", 1):
            print(f"TinyJit({self.name}): captured {len(self._replay.kernels)} kernels "
                  f"({self._replay.recorded_steps} steps)")
        return out

    def _check_constants(self, constants: list[tuple[BufferRef, bytes]]) -> None:
        """Host data made inside the function is replayed as it was captured: refuse if it changed between the
        first two calls (it depends on something other than the arguments, e.g. `Tensor(X[idx])`)."""
        if len(constants) != len(self._warmup_constants):
            return  # the first call took another path (lazy initialization): nothing to compare
        for k, ((ref, digest), (_, old)) in enumerate(zip(constants, self._warmup_constants)):
            if digest != old:
                raise JitError(f"TinyJit({self.name}): a tensor made inside the function from host data (the "
                               f"{k + 1}. one, {ref.size} x {ref.dtype!r}) differed between the first two calls; a "
                               "replay would reuse the captured values. Pass it as an argument instead")


def _census() -> dict[int, weakref.ref]:
    """The tensors alive now, weakly (a tensor replaced during the call must be able to die)."""
    return {id(t): weakref.ref(t) for t in list(inplace.LIVE)}


def _existed(t: Tensor, before: dict[int, weakref.ref]) -> bool:
    ref = before.get(id(t))
    return ref is not None and ref() is t


_assigns_checked = -1  # inplace.assigns_made when _protect_pending last left no write pending


def _protect_pending() -> None:
    """Writes left pending before the capture (or a replay) are done now, so they are not captured (and repeated)
    and a replay reads what they wrote. Every pending write comes from a Tensor.assign, so when none was made since
    the last look there is none, and the walk over every live tensor is skipped: it made each replay cost more the
    more tensors a program keeps (a list of returned losses: 3000 kept outputs, ~480 us per replay)."""
    global _assigns_checked
    made = inplace.assigns_made
    if made == _assigns_checked:
        return
    pending = [t for t in list(inplace.LIVE) if t.node.op is Ops.ASSIGN and not inplace.is_finished(t.node)]
    if pending:
        Tensor.realize(*pending)
    _assigns_checked = made


def _finish(recorder: _Recorder, inputs: tuple[BufferRef, ...], out: Any, before: dict[int, weakref.ref],
            name: str) -> _Replay:
    """The replay of one recorded call: which buffers are fresh, which persist, which tensors to move."""
    kernels = [s.item for s in recorder.steps if isinstance(s, _Kernel)]
    written = {b for item in kernels for b in item.bufs[:item.kernel.n_outputs]}
    # host data no kernel overwrites is the same every call: keep the captured buffer (no copy per replay)
    frozen = {ref for ref, _ in recorder.constants if ref not in written}
    steps = tuple(s for s in recorder.steps if not (isinstance(s, _Fill) and s.ref in frozen))
    fresh = tuple(ref for ref in recorder.made if ref not in frozen)
    fresh_set = set(fresh)
    persistent_written = frozenset(written - fresh_set - set(inputs))
    live = list(inplace.LIVE)
    held = {t.node.arg for t in live if t.node.op is Ops.BUFFER}  # buffers a tensor holds, or a graph from before
    older = [t for t in live if _existed(t, before) and t.node.op is not Ops.BUFFER]
    held.update(n.arg for n in toposort([t.node for t in older]) if n.op is Ops.BUFFER)
    for item in kernels:
        for ref in item.bufs[item.kernel.n_outputs:]:
            if ref not in fresh_set and ref not in inputs and ref not in frozen and ref not in held:
                raise JitError(f"TinyJit({name}): the function reads a {ref.size}-element {ref.dtype!r} tensor that "
                               "it then replaced with a new one (t = t + 1) instead of updating it (t.assign(t + 1)); "
                               "every replay would read the old value. Use assign() for state kept across calls")
    owners = {id(t): weakref.ref(t) for t in live if t.node.op is Ops.BUFFER and t.node.arg in persistent_written}
    returned = {id(t) for t in tensors_in(out)}
    # the slots: inputs, fresh, then every other buffer a step names (kept across calls)
    slot = {ref: i for i, ref in enumerate((*inputs, *fresh))}
    if len(slot) != len(inputs) + len(fresh):  # the arguments' buffers were made before the call, never during it
        raise RuntimeError(f"TinyJit({name}): an input buffer was also made during the capture; this is a ShrimpGrad "
                           "bug, please report it with the program")
    movable = dict(slot)  # e.g. a .grad that *is* an input's buffer (the gradient of w * x is x)
    for ref in _named(steps):
        slot.setdefault(ref, len(slot))
    kept = tuple(list(slot)[len(movable):])
    rebound = [(weakref.ref(t), slot[t.node.arg]) for t in live if not _existed(t, before) and id(t) not in returned
               and t.node.op is Ops.BUFFER and t.node.arg in movable]
    released = {ref for item in kernels for ref in item.release}  # the temporaries: each replay reuses their refs
    return _Replay(_by_slot(steps, slot), tuple(kernels), tuple((ref, ref in released) for ref in fresh), kept,
                   persistent_written, owners, rebound, _template(out, movable))


def _named(steps: tuple) -> list[BufferRef]:
    """Every buffer the recorded steps name, in order."""
    refs: list[BufferRef] = []
    for step in steps:
        if isinstance(step, _Kernel):
            refs.extend(step.item.bufs)
            refs.extend(step.item.allocate)
        elif isinstance(step, _Copy):
            refs.extend((step.src, step.dst))
        else:
            refs.append(step.ref)
    return refs
