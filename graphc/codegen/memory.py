"""Memory planning: which intermediates of a kernel share a buffer of its workspace.

The kernel's steps (graphc.passes.fusion.schedule) run in order; an intermediate's
buffer is live from the step that allocates it to the last step that reads it or a
view of it (``Writer`` records both as it writes the kernel). Buffers whose lifetimes
do not overlap may take the same bytes. Buffers of a fixed size all go in one *slot*,
each at an offset packed greedily (largest first, each at the lowest offset clear of
the buffers live at the same time): the slot is then as large as the most bytes live
at once, or close. A buffer sized by named dims (``N*512`` elements of 8 bytes) has a
size known only at run time: it shares a slot with buffers of sizes in the same named
dims whose lifetimes ended before it starts, the slot as large as its largest, so
that offsets stay sums of monomials the kernel computes from the call's dims. Slots
are laid end to end in one uint8 workspace, each starting on a 64-byte boundary.

What is never planned (``Writer.buffer`` decides): a buffer an output may be (the
output itself, or what it is a view of), which is a fresh ``np.empty`` so that every
array returned is the caller's own. A kernel whose planned buffers all have fixed
sizes adding up to less than graphc.codegen.kernel.SMALL gets no plan: a few small
``np.empty`` cost less than passing a workspace in and out.

The workspace is passed in and handed back by the kernel, grown when a call needs
more (graphc.runtime.caller keeps one per thread and per compiled function).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from graphc.errors import ArgumentError
from graphc.ir.node import Node
from graphc.ir.op import lookup
from graphc.ir.shapes import Prod, Shape

ALIGN = 64  # bytes: a workspace buffer starts on a cache line (and on any vector's alignment)


def view_chain(node: Node) -> list[Node]:
    """``node`` and, while it is a view (op kind "view"), what it is a view of: the nodes
    whose buffers its array may be."""
    chain = [node]
    while lookup(node.op).kind == "view":
        node = node.inputs[0]
        chain.append(node)
    return chain


def monomial(shape: Shape, itemsize: int) -> tuple[int, tuple[str, ...]]:
    """A buffer's bytes as coefficient x named dims (sorted, repeated as they multiply)."""
    coef, names = itemsize, []
    for d in shape:
        if isinstance(d, int):
            coef *= d
        elif isinstance(d, Prod):
            coef *= d.factor
            names += d.names
        else:
            names.append(d)
    return coef, tuple(sorted(names))


def _round(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


@dataclass(eq=False)
class Buffer:
    """One planned allocation: what it holds and when it is live (step indices)."""

    label: str  # the node it holds, as gc.show numbers it ("%7 relu"), or what scratch it is
    shape: Shape
    itemsize: int
    first: int
    last: int = -1
    slot: int = -1
    offset: int = 0  # bytes from its slot's start (buffers of fixed size share one slot at several offsets)

    @property
    def bytes(self) -> tuple[int, tuple[str, ...]]:
        return monomial(self.shape, self.itemsize)


@dataclass(eq=False)
class Slot:
    """Buffers of one size family with disjoint lifetimes, at one offset of the workspace."""

    names: tuple[str, ...]
    coef: int  # bytes per unit of the names' product (the largest of its buffers')
    members: list[Buffer] = field(default_factory=list)

    @property
    def free_after(self) -> int:
        return max(b.last for b in self.members)

    def text(self) -> str:
        return _term(self.coef, self.names)


def _term(coef: int, names: tuple[str, ...]) -> str:
    return "*".join([*names, str(coef)]) if names else str(coef)


@dataclass
class MemoryPlan:
    """The buffers of one kernel and the slots they were given."""

    buffers: list[Buffer] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)

    def assign(self) -> None:
        """Place each buffer. Those of a fixed size share one slot, at offsets packed
        greedily, largest first: each goes at the lowest offset (a multiple of 64) clear
        of the buffers already placed whose lifetimes overlap its own. Those sized by
        named dims, in the order they are allocated, take a slot of the same named dims
        that is free by then (its buffers' lifetimes all ended), the closest in size,
        else a new one."""
        self.slots = []
        fixed = [b for b in self.buffers if not b.bytes[1]]
        if fixed:
            self.slots.append(Slot((), 0))
        for b in sorted(fixed, key=lambda b: (-b.bytes[0], b.first)):
            size = _round(b.bytes[0])
            taken = sorted((o.offset, o.offset + _round(o.bytes[0])) for o in self.slots[0].members
                           if o.first <= b.last and b.first <= o.last)
            at = 0
            for start, end in taken:
                if at + size <= start:
                    break
                at = max(at, end)
            b.offset, b.slot = at, 0
            self.slots[0].members.append(b)
            self.slots[0].coef = max(self.slots[0].coef, at + size)
        for b in sorted(self.buffers, key=lambda b: b.first):
            coef, names = b.bytes
            if not names:
                continue
            free = [s for s in self.slots if s.names == names and s.free_after < b.first]
            if free:
                slot = min(free, key=lambda s: abs(s.coef - coef))
                slot.coef = max(slot.coef, coef)
            else:
                slot = Slot(names, coef)
                self.slots.append(slot)
            slot.members.append(b)
            b.slot = self.slots.index(slot)

    def slot_bytes(self, slot: Slot, dims: Mapping[str, int]) -> int:
        return _round(slot.coef * math.prod(dims[n] for n in slot.names))

    def workspace_bytes(self, dims: Mapping[str, int]) -> int:
        """The bytes the slots take for these dims (the kernel asks for ALIGN - 1 more,
        to start on a 64-byte boundary wherever NumPy put the array)."""
        return sum(self.slot_bytes(s, dims) for s in self.slots)

    def names(self) -> set[str]:
        return {n for s in self.slots for n in s.names}

    def formula(self) -> str:
        """The workspace's bytes as a sum of monomials in the named dims ("N*6144 + 2048")."""
        terms: dict[tuple[str, ...], int] = {}
        for s in self.slots:  # a constant slot is rounded up here; another's rounding is at most 63 bytes
            terms[s.names] = terms.get(s.names, 0) + (s.coef if s.names else _round(s.coef))
        return formula(terms)

    def listing(self) -> list[str]:
        """The plan as comment lines for the kernel's source."""
        lines = [f"memory plan: {len(self.buffers)} intermediates in {len(self.slots)} slots of the workspace "
                 f"(this thread's, kept between calls; each slot 64-byte aligned): {self.formula()} bytes"]
        for k, s in enumerate(self.slots):
            who = ", ".join(f"{b.label}{f' at +{b.offset}' if s.names == () else ''} (steps {b.first}-{b.last})"
                            for b in sorted(s.members, key=lambda b: (b.first, b.offset)))
            lines.append(f"  slot {k}, {s.text()} bytes: {who}")
        return lines


def formula(terms: Mapping[tuple[str, ...], int]) -> str:
    """A sum of monomials, coefficient by named dims: longest products first."""
    ordered = sorted(terms.items(), key=lambda t: (-len(t[0]), t[0]))
    return " + ".join(_term(c, n) for n, c in ordered if c) or "0"


def bound_dims(what: str, needed: set[str], dims: Mapping[str, int], given: Mapping[str, int]) -> dict[str, int]:
    """``dims`` with the named dims a report needs, checked: an ArgumentError names the missing one."""
    out = {**given, **dims}
    for name in sorted(needed):
        if name not in out:
            raise ArgumentError(f"{what}: the size depends on the named dim {name!r}: give it, "
                                f"e.g. memory.bytes({name}=64)")
        if not isinstance(out[name], int) or out[name] < 0:
            raise ArgumentError(f"{what}: the named dim {name!r} must be a non-negative int but got {out[name]!r}")
    return out
