"""A long fused loop split into bounded helper functions, one helper per distinct part.

Numba's typing and LLVM's optimization take time that grows faster than the size of
one function, and a fused loop holds a whole elementwise chain and its gradient: a
chain of 1,000 ops is one loop body of 3,000 statements, where each forward value the
backward half reads stays live across the body (spilled to the stack: the compiled
chain ran 4x slower than the interpreter). So a fused loop of more than SPLIT_ABOVE
members is cut into parts of at most PART_MEMBERS, in the members' order; each part is a
helper function looping over the elements [lo, hi), and the kernel calls the parts in
turn, so its main function still reads as the schedule. A value one part computes and
a later part reads goes through a row of a scratch array (one per dtype, a row reused
once its last reader has run); the values needed outside the loop are stored as
before.

A part's code names nothing of the graph: its elements are numbered by position
(member [k] of the part is ``e{k}``), its scalars are parameters, and every array it
reads or writes (an argument, a stored value, a scratch row) is a view of an address in
the kernel's address table (``address_view``: no reference counting), so two parts with
the same code (a chain repeats its pattern, and so do the terms of a sum over many
inputs) are one helper, compiled once and called many times, whichever arrays they
touch. The kernel's comment above each call lists the nodes the part's members [0],
[1], ... compute, and each statement in a part names its op, its operands and its gate.
Parts are cut where the members' pattern repeats (``cuts``), so repeated sub-chains give
the same code. A part's table entries come as a slice of one module-level table of
entry numbers (int arguments would each be a literal type to Numba, which would compile
the helper again for every call), and a run of calls of one helper that differ only in
their entries is a loop in the kernel: a chain of 5,000 ops, or a sum over 2,000 inputs
and its gradients, is a handful of helpers and statements. The kernel keeps alive the
arrays of its own whose addresses the table holds (``keep_alive``) until the parts have
run; a packed kernel's arguments and results are the caller's (graphc.codegen.kernel).
Small loops (every kernel of the lecture circuits) are written as before
(graphc.codegen.loops).
"""

from __future__ import annotations

import heapq
import textwrap
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphc.codegen.loops import TERMS_BLOCK, LoopWriter
from graphc.codegen.writer import SUFFIX, ScalarCtx, Value, literal
from graphc.ir.node import Node
from graphc.ir.op import lookup
from graphc.passes.fusion import Loop

SPLIT_ABOVE = 128  # a fused loop of more members is split ...
PART_MEMBERS = 16  # ... into parts of at most this many


def cuts(tokens: Sequence[Hashable], size: int) -> list[tuple[int, int]]:
    """Consecutive ranges [start, stop) covering ``tokens``, each at most ``size`` long.
    Where the tokens repeat with a period p from a range's start (for at least half of
    ``size``), the range is a whole number of periods, so that the next range starts at
    the same point of the pattern and a run of repeats gives equal ranges."""
    ranges, start, total = [], 0, len(tokens)
    while start < total:
        length = min(size, total - start)
        for p in range(1, min(size // 2, total - start) + 1):
            period = tokens[start:start + p]
            reps = 1
            while reps < size // p and start + (reps + 1) * p <= total and \
                    tokens[start + reps * p:start + (reps + 1) * p] == period:
                reps += 1
            if 2 * p * reps >= size:
                length = p * reps
                break
        ranges.append((start, start + length))
        start += length
    return ranges


class SplitWriter(LoopWriter):
    """Writes a long fused loop as parts (see the module docstring)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.parts: dict[str, str] = {}  # a part's code (its name a placeholder): its helper's name
        # The table entries of every part's arrays, in call order: a module-level constant the
        # kernel passes slices of. Passed as int arguments, each entry would be a literal type
        # to Numba, which compiles a callee anew for each combination of literals.
        self.row_table: list[int] = []
        self._row_table_name = ""
        # The scalar constants parts take as data (``as_data``), in call order, and sliced the same way.
        self.constant_table: list[float] = []
        self._constant_table_name = ""
        # A packed kernel (graphc.codegen.kernel): the name of its parameter holding the
        # addresses of the caller's arrays, the entry of each argument and result there, and
        # the results a loop has written in place.
        self.addresses = ""
        self.packed: list[Node] = []
        self.arguments: dict[Node, int] = {}
        self.results: dict[Node, int] = {}
        self.written: set[Node] = set()

    def result_value(self, node: Node) -> Value:
        """A packed kernel's result array (the caller's), as a value the kernel can read."""
        raise NotImplementedError

    def row_table_name(self) -> str:
        if not self._row_table_name:
            self._row_table_name = self.namer.fresh(f"{self.spec.name}_entries")
        return self._row_table_name

    def constant_table_name(self) -> str:
        if not self._constant_table_name:
            self._constant_table_name = self.namer.fresh(f"{self.spec.name}_constants")
        return self._constant_table_name

    def row_table_lines(self) -> list[str]:
        """The module-level entry and constant tables (see __init__), when a loop was split."""
        lines = []
        if self.row_table:
            numbers = textwrap.wrap(", ".join(map(str, self.row_table)), 100)
            lines += [f"{self.row_table_name()} = np.array([  # the address-table entries of {self.spec.name}'s "
                      "parts' arrays, in call order", *(f"    {line}" for line in numbers), "], dtype=np.int64)"]
        if self.constant_table:
            numbers = textwrap.wrap(", ".join(literal(v, np.dtype(np.float64)) for v in self.constant_table), 100)
            lines += [f"{self.constant_table_name()} = np.array([  # the constants {self.spec.name}'s parts take "
                      "as data, in call order", *(f"    {line}" for line in numbers), "], dtype=np.float64)"]
        return lines

    @staticmethod
    def as_data(u: Node, readers: Sequence[Node]) -> bool:
        """Whether a part passes the scalar constant ``u`` as data (from the constant
        table) rather than as a literal: a float read only by ops whose code does not
        depend on its value (``constants_as_data``), so parts differing only in such
        constants (a sum of terms each scaled by its own weight) share one helper."""
        return (u.op == "const" and u.shape == () and u.dtype.kind == "f"
                and all(lookup(m.op).constants_as_data for m in readers))

    def split_loop(self, loop: Loop) -> bool:
        """Write ``loop`` as parts if it has more than SPLIT_ABOVE members and is flat or
        1-D (one index walks every array); False leaves it to ``LoopWriter.loop``. A loop
        this long is split even where it would otherwise be cut into chunks for threads
        (``long_loop``): its parts run serially, each over every element, since one
        chunk helper of thousands of statements is what costs minutes to compile."""
        flat = self.flat_loop(loop)
        if len(loop.members) <= SPLIT_ABOVE or not (flat or len(loop.shape) == 1):
            return False
        members = loop.members
        position = {m: k for k, m in enumerate(members)}
        tokens = [self._token(m, position) for m in members]
        ranges = cuts(tokens, PART_MEMBERS)
        part_of = {m: p for p, (a, b) in enumerate(ranges) for m in members[a:b]}
        last_reader: dict[Node, int] = {}  # members a later part reads: the last such part
        for m in members:
            for u in m.inputs:
                if u in part_of and part_of[u] != part_of[m]:
                    last_reader[u] = max(last_reader.get(u, 0), part_of[m])
        ids = ", ".join(f"%{self.ids[m]}" for m in members)
        self.emit(f"# fused loop over {self.shape_expr(loop.shape)}, in {len(ranges)} parts "
                  f"(helpers, one per distinct code): {ids}")
        self.emit(f"n = {self.size_expr(loop.shape)}")
        self.alloc_at = len(self.lines)
        stored: dict[Node, str] = {}
        for r in loop.reductions:
            self.init_reduction(r, stored)
        table = self.namer.fresh(f"{self.spec.name}_addresses")
        entries: dict[Node, int] = {}  # each array a part reads or writes at the loop index: its table entry
        first = len(self.packed)  # the caller's arrays' addresses come first (a packed kernel, else none)
        own: list[str] = []  # the table's entries the kernel fills itself
        local: list[str] = []  # arrays of the kernel's own whose addresses the table holds (kept alive)
        for m in loop.stores:
            if m not in stored:
                stored[m] = self.namer.fresh(self.base(m))
                if m in self.results and m not in self.written:  # a result: the caller's array, written in place
                    entries[m] = self.results[m]
                    self.written.add(m)
                    continue
                array = self.flat_name(stored[m]) if flat else stored[m]
                self.emit(f"{array} = np.empty(n, dtype={self.np_dtype(m)})")
                entries[m] = first + len(own)
                own.append(f"{table}[{entries[m]}] = {self.helper('address_of')}({array})  # %{self.ids[m]}")
        for u in loop.loads():
            v = self.value(u)
            if v.scalar:
                continue
            if u in self.arguments:  # an argument of a packed kernel: the caller gave its address
                entries[u] = self.arguments[u]
                continue
            array = v.expr if v.layout == "C" else self.contiguous(v, u)
            if u not in set(self.spec.params):  # the kernel's own: it might be freed after its last use
                local.append(array)
            entries[u] = first + len(own)
            own.append(f"{table}[{entries[u]}] = {self.helper('address_of')}({array})  # %{self.ids[u]}")
        rows, scratch = self._rows(ranges, members, part_of, last_reader, stored)
        row_entry: dict[object, int] = {}  # each dtype's scratch: the table entry of its row 0
        at = first + len(own)
        for dtype, (_, count) in scratch.items():
            row_entry[dtype], at = at, at + count
        self.emit(f"{table} = np.empty({at}, dtype=np.int64)  # the addresses of the arrays the parts read "
                  "and write, by entry")
        if first:
            self.emit(f"{table}[:{first}] = {self.addresses}  # the caller's arrays")
        for line in own:
            self.emit(line)
        for dtype, (name, count) in scratch.items():
            node = next(m for m in rows if m.dtype == dtype)
            row = self.namer.fresh("row")
            self.emit(f"{name} = np.empty({count} * n, dtype={self.np_dtype(node)})  "
                      f"# {count} rows for values that pass from one part to a later one")
            self.emit(f"for {row} in range({count}):")
            self.emit(f"{table}[{row_entry[dtype]} + {row}] = {self.helper('address_of')}({name}) + "
                      f"{row} * n * {node.dtype.itemsize}", 2)
            local.append(name)
        for m, r in rows.items():
            entries[m] = row_entry[m.dtype] + r
        self.terms = {}
        self._calls(loop, [self._part(loop, members[a:b], entries, table) for a, b in ranges], stored, flat)
        for array in local:
            self.emit(f"{self.helper('keep_alive')}({array})  # read through its address until here")
        for m in loop.stores:
            if m in self.results and entries.get(m) == self.results[m]:
                self.values[m] = self.result_value(m)
            else:
                self.finish(m, stored[m], flat)
        return True

    def _token(self, m: Node, position: dict[Node, int]) -> tuple:
        """What a member's statement in a part depends on: its op, attributes, dtype and
        gate, and for each operand a member's distance back, a literal, or a load."""
        operands = []
        for u in m.inputs:
            if u in position and position[m] - position[u] <= PART_MEMBERS:
                operands.append(position[m] - position[u])
            elif u not in position and self.value(u).scalar:
                operands.append(("data", u.dtype.name) if self.as_data(u, [m]) else self.value(u).expr)
            else:
                operands.append(None)
        return (m.op, repr(m.attrs), m.dtype.name, m.pattern, tuple(operands))

    def _rows(self, ranges: list[tuple[int, int]], members: list[Node], part_of: dict[Node, int],
              last_reader: dict[Node, int], stored: dict[Node, str]
              ) -> tuple[dict[Node, int], dict[object, tuple[str, int]]]:
        """Each member a later part reads and the loop does not store: its scratch row
        (the lowest free one of its dtype), and each dtype's scratch array and row count."""
        rows: dict[Node, int] = {}
        free: dict[object, list[int]] = {}  # heaps of free rows, by dtype
        count: dict[object, int] = {}
        done: dict[int, list[Node]] = {}  # by part: the members it reads last
        for m, last in last_reader.items():
            done.setdefault(last, []).append(m)
        for p, (a, b) in enumerate(ranges):
            for m in members[a:b]:
                if m in last_reader and m not in stored:
                    pool = free.setdefault(m.dtype, [])
                    if pool:
                        rows[m] = heapq.heappop(pool)
                    else:
                        rows[m] = count.get(m.dtype, 0)
                        count[m.dtype] = rows[m] + 1
            for m in done.get(p, ()):
                if m in rows:
                    heapq.heappush(free[m.dtype], rows[m])
        scratch = {dtype: (self.namer.fresh(f"{self.spec.name}_scratch_{SUFFIX.get(dtype.name, dtype.name)}"), k)
                   for dtype, k in count.items()}
        return rows, scratch

    def _part(self, loop: Loop, part: list[Node], entries: dict[Node, int], table: str) -> _Call:
        """One part: its helper (written unless a part with the same code has been), and
        its call. The helper reaches every array it reads or writes (an argument, a
        result, a scratch row) through the kernel's address table: its own entries come
        as a slice of the module-level entry table, so parts of the same code are one
        helper whichever arrays they touch."""
        inside = {m: k for k, m in enumerate(part)}
        params: list[str] = []  # the helper's parameters (but lo, hi), with the kernel's arguments
        arguments: list[str] = []
        walked: list[str] = []  # views of the elements [0, hi), sliced to the block
        element: dict[Node, str] = {}  # a value outside the part: its expression in the helper
        reads: list[str] = []  # statements loading an element of each read array
        own: list[int] = []  # the table entries of the part's arrays, in the order of its views
        views: list[str] = []  # statements making the views

        def parameter(wanted: str, argument: str) -> str:
            params.append(f"{wanted}{len(params)}")
            arguments.append(argument)
            return params[-1]

        handles: list[str] = []  # the table's and the entries' parameters, once the part has an array
        constants: list[float] = []  # the constants the part takes as data, in order
        loads: list[str] = []  # statements reading them, before the loop
        readers: dict[Node, list[Node]] = {}
        for m in part:
            for u in m.inputs:
                readers.setdefault(u, []).append(m)

        def view(node: Node, name: str, walk: bool) -> str:
            """The view ``name`` of the array holding ``node`` (at its table entry's address)."""
            if not handles:
                handles.extend([parameter("table", table), parameter("entries", self.row_table_name())])
            own.append(entries[node])
            if walk:
                walked.append(name)
            at = f"{handles[0]}[{handles[1]}[{len(own) - 1}]]"
            views.append(f"{name}{'_whole' if walk else ''} = {self.helper('address_view')}({at}, "
                         f"{'hi' if walk else '1'}, {self.np_dtype(node)})")
            return name

        for m in part:
            for u in m.inputs:
                if u in inside or u in element:
                    continue
                if u not in entries and self.as_data(u, readers[u]):  # a constant, as data
                    if not constants:
                        handles_c = parameter("constants", self.constant_table_name())
                    element[u] = f"c{len(constants)}"
                    value = f"{handles_c}[{len(constants)}]"
                    loads.append(f"{element[u]} = {'np.float32(' + value + ')' if u.dtype == np.float32 else value}"
                                 f"  # a constant")
                    constants.append(float(u.attrs["value"]))
                    continue
                if u not in entries:  # a scalar from outside the loop
                    v = self.value(u)
                    element[u] = parameter("s", v.expr) if v.expr.isidentifier() else v.expr
                    continue
                element[u] = f"x{len(reads)}"
                walk = u.shape == loop.shape
                name = view(u, f"{'t' if walk else 'b'}{len(reads)}", walk)
                reads.append(f"{element[u]} = {name}[{'i' if walk else '0'}]")
        writes: dict[Node, str] = {}
        for m in part:
            if m in entries:
                writes[m] = view(m, f"w{len(writes)}", True)
        reductions = [m for m in part if lookup(m.op).kind == "reduce"]
        slot = {r: j for j, r in enumerate(reductions)}
        body: list[str] = [f"acc{j} = {self.identity(r)}" for j, r in enumerate(reductions)]
        body += [f"terms{j} = np.empty({TERMS_BLOCK}, dtype={self.np_dtype(r)})" for j, r in enumerate(reductions)]
        body += loads + views
        depth = 0
        if reductions:  # terms stored and combined in order, in blocks (as LoopWriter.loop does)
            body += [f"for block in range(lo, hi, {TERMS_BLOCK}):",
                     f"    length = min({TERMS_BLOCK}, hi - block)"]
            start, stop, length, depth = "block", "block + length", "length", 1
        else:
            start, stop, length = "lo", "hi", "hi - lo"
        pad = "    " * depth
        body += [f"{pad}{w} = {w}_whole[{start}:{stop}]" for w in walked]
        body.append(f"{pad}for i in range({length}):")
        pad += "    "
        body += [pad + line for line in reads]

        def operand(u: Node) -> str:
            return f"e{inside[u]}" if u in inside else element[u]

        for k, m in enumerate(part):
            op = lookup(m.op)
            what = f"[{k}] = {m.op} " + " ".join(f"[{inside[u]}]" if u in inside else operand(u) for u in m.inputs)
            gate = f"  ({m.pattern})" if m.role == "backward" else ""
            if op.kind == "reduce":
                j = slot[m]
                body.append(f"{pad}terms{j}[i] = {operand(m.inputs[0])}  # {what}: a term{gate}")
                continue
            expr = self.cast(m, op.scalar([operand(u) for u in m.inputs], ScalarCtx(m.dtype, self.imports), m.attrs))
            body.append(f"{pad}e{k} = {expr}  # {what}{gate}")
            if m in writes:
                body.append(f"{pad}{writes[m]}[i] = e{k}")
        for j, r in enumerate(reductions):
            body.append("    for j in range(length):")
            body += [f"        {line}" for line in lookup(r.op).combine(f"acc{j}", f"terms{j}[j]")]
        body.append(f"return ({''.join(f'acc{j}, ' for j in range(len(reductions)))})")
        signature = [f"{q}_whole" if q in walked else q for q in params]
        code = "\n".join(self.function([f"def {{name}}({', '.join([*signature, 'lo', 'hi'])}):",
                                        f"    # elements [lo, hi) of {len(part)} members [0], [1], ... of a fused "
                                        f"loop (the kernel's calls list their nodes)"],
                                       ["    " + line for line in body]))
        name = self.parts.get(code)
        if name is None:
            name = self.parts[code] = self.namer.fresh(f"{self.spec.name}_part")
            self.helpers.append(code.replace("{name}", name, 1).split("\n"))
        start, first = len(self.row_table), len(self.constant_table)
        self.row_table += own
        self.constant_table += constants
        return _Call(name, arguments, start, len(own), first, len(constants), part, reductions)

    def _calls(self, loop: Loop, calls: list[_Call], stored: dict[Node, str], flat: bool) -> None:
        """The kernel's calls of the parts. A run of calls of one helper with the same
        arguments but their entries (which follow each other in the entry table) is one
        loop: a chain of thousands of ops is a few statements in the kernel, not thousands."""
        slices = [(self.row_table_name(), "start", "count"), (self.constant_table_name(), "first", "constants")]
        k = 0
        while k < len(calls):
            call = calls[k]
            run = 1
            while k + run < len(calls) and not call.reductions and calls[k + run].same_as(call):
                run += 1
            for q in range(k, k + run):
                ids = " ".join(f"%{self.ids[m]}" for m in calls[q].members)
                self.emit(f"# part {q + 1}: {call.name} computes [0], [1], ... = {ids}")
            results = [self.namer.fresh(f"{stored[r]}_part") for r in call.reductions]
            unpack = f"{', '.join(results)}, = " if results else ""
            arguments = list(call.arguments)
            depth = 1
            q = self.namer.fresh("part") if run > 1 else ""
            if q:
                self.emit(f"for {q} in range({run}):  # parts {k + 1} to {k + run}")
                depth = 2
            for table, begin, size in slices:  # the call's slices of the entry and constant tables
                start, count = getattr(call, begin), getattr(call, size)
                if count:
                    bounds = (f"{start} + {count} * {q}", f"{start + count} + {count} * {q}") if q else \
                        (str(start), str(start + count))
                    arguments[arguments.index(table)] += f"[{bounds[0]}:{bounds[1]}]"
            self.emit(f"{unpack}{call.name}({', '.join([*arguments, '0', 'n'])})", depth)
            for r, result in zip(call.reductions, results):
                self.accumulate(r, result, stored[r], loop.shape, ["0"], flat, 1)
            k += run


@dataclass
class _Call:
    """A part's call: its helper, arguments (the entry table's unsliced), entries, members."""

    name: str
    arguments: list[str]
    start: int  # the part's table entries are the entry table's [start, start + count)
    count: int
    first: int  # its constants are the constant table's [first, first + constants)
    constants: int
    members: list[Node]
    reductions: list[Node]

    def same_as(self, previous: _Call) -> bool:
        """Whether this call repeats ``previous`` on the entries after its own."""
        return (self.name == previous.name and self.arguments == previous.arguments
                and self.count == previous.count and self.constants == previous.constants and not self.reductions)
