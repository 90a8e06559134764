"""Fused loops: a loop's members evaluated per element as scalars, its reductions
accumulated, and what is needed outside it stored; a long loop split across threads
(graphc.codegen.parallel)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from graphc.codegen.writer import ScalarCtx, Value, Writer, literal
from graphc.ir.node import Node
from graphc.ir.op import lookup
from graphc.ir.shapes import Shape
from graphc.passes.fusion import Loop

TERMS_BLOCK = 1024  # a full reduction combined apart stores this many terms at a time (see LoopWriter.loop)
ROW_TERMS = 8  # an innermost axis at least this long (or a named one) is reduced a row at a time (LoopWriter.loop)


class LoopWriter(Writer):
    """Writes fused loops (the schedule's ``Loop`` steps)."""

    # -- fused loops ------------------------------------------------------------------
    def loop(self, loop: Loop) -> None:
        shape = loop.shape
        loads = loop.loads()
        reductions = loop.reductions
        flat = self.flat_loop(loop)
        members = ", ".join(f"%{self.ids[m]}" for m in loop.members)
        self.emit(f"# fused loop over {self.shape_expr(shape)}: {members}")
        # A full reduction in a loop that also stores: LLVM vectorizes such a loop behind a
        # runtime check that its stores do not overlap its loads, with a serial copy for
        # when they might; the two copies add in different orders, and which one runs
        # depends on where the heap put the arrays: a sum's last bits changed from call to
        # call. So the loop stores the reduction's terms, and a loop of loads alone (one
        # order for a given size) combines them. A flat or 1-D loop does it in blocks of
        # TERMS_BLOCK elements (a small buffer: no fresh pages per call; see blocked_loop);
        # a nested one stores all its terms. A long loop of a fixed size (see long_loop)
        # needs none of it: the check can only fail for arrays closer together than a few
        # vectors, and its arrays are each hundreds of kilobytes long. One over a named dim
        # may be short: its chunks keep the blocks.
        long = (flat or len(shape) == 1) and self.long_loop(loop)
        stores = any(lookup(m.op).kind != "reduce" for m in loop.stores)
        fixed = all(isinstance(d, int) for d in shape)
        apart = [] if (long and fixed) or not stores else [r for r in reductions if len(r.attrs["axes"]) == len(shape)]
        self.terms = {r: self.namer.fresh(f"{self.base(r)}_terms") for r in apart}
        chunked = long or ((flat or len(shape) == 1) and bool(apart))
        index = self.loop_header(shape, flat, loads, chunked)
        stored: dict[Node, str] = {}
        for r in reductions:
            self.init_reduction(r, stored)
        for m in loop.stores:
            if m not in stored:
                stored[m] = self.namer.fresh(self.base(m))
                target = self.flat_name(stored[m]) if flat else stored[m]
                allocation = self.buffer(shape, m, m) if flat else self.alloc(shape, m, m)
                self.prologue([f"{target} = {allocation}"])
        if chunked:
            self.chunked_loop(loop, stored, flat, index[0], long)
        else:
            size = self.size_expr(shape)
            self.prologue([f"{t} = {self.buffer(shape, r)}" for r, t in self.terms.items()])  # scratch
            # A reduction over the innermost axis of a nested loop stores its terms along
            # that axis in a row, and a loop of loads alone adds the row up in a register
            # before one update of the result's element: accumulating into the result's
            # memory element by element is a chain of stores and reloads (W5's bias
            # gradient: 3x slower), and a register sum in a loop that also stores is the
            # vectorized-or-not hazard described above. Not for rows shorter than ROW_TERMS
            # (W5's 2x2 max pool: rows of 2 were 25% slower than accumulating in memory).
            long_rows = not flat and len(shape) > 1 and (not isinstance(shape[-1], int) or shape[-1] >= ROW_TERMS)
            self.rows = {r: self.namer.fresh(f"{self.base(r)}_row") for r in reductions
                         if long_rows and r not in self.terms and len(shape) - 1 in r.attrs["axes"]}
            self.prologue([f"{t} = {self.buffer(shape[-1:], r)}" for r, t in self.rows.items()])  # scratch
            accumulators = {r: stored[r] for r in reductions}
            self.loop_body(loop, stored, accumulators, index, flat, 1 + (1 if flat else len(shape)))
            self.combine_rows(accumulators, shape, index)
            self.combine_terms(accumulators, size, 1)
        for m in loop.stores:
            self.finish(m, stored[m], flat)

    def flat_loop(self, loop: Loop) -> bool:
        """Whether a loop of several dims walks its arrays as flat vectors: its reductions
        are full and it reads scalars and C arrays of its shape (or of one element)."""
        shape = loop.shape
        full = all(len(r.attrs["axes"]) == len(shape) for r in loop.reductions)
        return len(shape) > 1 and full and all(
            self.value(u).scalar or ((u.shape == shape or _single(u.shape)) and self.value(u).layout == "C")
            for u in loop.loads())

    def loop_body(self, loop: Loop, stored: dict[Node, str], accumulators: dict[Node, str], index: list[str],
                  flat: bool, depth: int) -> None:
        """One element of a fused loop: load, compute, store, accumulate."""
        shape = loop.shape
        elements: dict[Node, str] = {}
        for u in loop.loads():
            v = self.value(u)
            if v.scalar:
                elements[u] = v.expr
            else:
                elements[u] = self.namer.fresh(f"{self.base(u)}_e")
                src = self.flat_name(v.expr) if flat else v.expr
                self.emit(f"{elements[u]} = {src}[{self.load_index(u.shape, shape, index, flat)}]", depth)
        for m in loop.members:
            op = lookup(m.op)
            a = [elements[i] for i in m.inputs]
            if op.kind == "reduce":
                self.accumulate(m, a[0], accumulators[m], shape, index, flat, depth)
                continue
            elements[m] = self.namer.fresh(f"{self.base(m)}_e" if m in stored else self.base(m))
            expr = self.cast(m, op.scalar(a, ScalarCtx(m.dtype, self.imports), m.attrs))
            self.emit(f"{elements[m]} = {expr}  # {self.comment(m)}", depth)
            if m in stored:
                target = self.flat_name(stored[m]) if flat else stored[m]
                self.emit(f"{target}[{', '.join(index)}] = {elements[m]}", depth)

    # -- long loops on several threads (graphc.codegen.parallel) -----------------------
    def long_loop(self, loop: Loop) -> bool:
        """Whether a (1-D or flat) loop is cut into chunks that may run on threads: a loop
        over a named dim always (whether its chunks run on threads is decided at run time
        from its size, see chunked_loop), one of a fixed size when it is long enough
        (graphc.codegen.parallel.min_parallel)."""
        from graphc.codegen import parallel

        if not all(isinstance(d, int) for d in loop.shape):
            return True
        return math.prod(loop.shape) >= parallel.min_parallel(self.loop_cost(loop))  # type: ignore[arg-type]

    @staticmethod
    def loop_cost(loop: Loop) -> int:
        """A loop's work per element: its members' Op.cost."""
        return sum(lookup(m.op).cost for m in loop.members)

    def chunked_loop(self, loop: Loop, stored: dict[Node, str], flat: bool, i: str, long: bool) -> None:
        """The loop body becomes a helper function over a range of elements. For a long
        loop (see long_loop) the range is chunk ``c`` of ``chunks``, cut by the loop's
        size alone, and the helper stores its partial reductions in ``parts[c]``; the
        kernel runs the chunks through graphc.codegen.parallel.run_chunks (on threads)
        when the loop is long enough, else in a plain loop, and combines the partials in
        chunk order: the bits do not depend on which thread ran which chunk, nor on
        whether threads ran at all. Another loop (one whose full reductions are combined
        apart in blocks, see loop) is one call over [0, n) that returns its reductions."""
        from graphc.codegen import parallel

        if not long:
            self.blocked_loop(loop, stored, flat, i)
            return
        helper = self.namer.fresh(f"{self.spec.name}_chunk")
        count, c, lo, hi = (self.namer.fresh(w) for w in ("chunks", "c", "lo", "hi"))
        local = {r: self.namer.fresh(f"{stored[r]}_chunk") for r in loop.reductions}
        parts = {r: self.namer.fresh(f"{stored[r]}_parts") for r in loop.reductions} if long else {}
        # its parameters: the scalars it reads, the arrays it reads whole (broadcast ones,
        # read at index 0) and the arrays it walks (read or written at the loop index)
        loads = [(u, self.value(u)) for u in loop.loads()]
        scalars = [v.expr for u, v in loads if v.scalar and v.expr.isidentifier()]
        broadcast = [self.flat_name(v.expr) if flat else v.expr
                     for u, v in loads if not v.scalar and u.shape != loop.shape]
        walked = [self.flat_name(v.expr) if flat else v.expr
                  for u, v in loads if not v.scalar and u.shape == loop.shape]
        walked += [self.flat_name(stored[m]) if flat else stored[m]
                   for m in loop.stores if lookup(m.op).kind != "reduce"]
        params = list(dict.fromkeys([*scalars, *broadcast, *walked]))
        whole = {a: self.namer.fresh(f"{a}_whole") for a in dict.fromkeys(walked)}
        # the body, written into the helper's lines
        kernel_lines, self.lines = self.lines, []
        if long:
            self.emit(f"{lo} = {c} * n // {count}  # chunk {c} of {count}: cut by the size alone")
            self.emit(f"{hi} = ({c} + 1) * n // {count}")
        # the chunk's (or block's) own views, indexed from 0: Numba then knows no index is
        # negative (x[i] for i in range(lo, hi) checks i < 0 on every element, and
        # vectorizes worse)
        for r in loop.reductions:
            self.emit(f"{local[r]} = {self.identity(r)}")
        for r, t in self.terms.items():
            self.emit(f"{t} = np.empty({TERMS_BLOCK}, dtype={self.np_dtype(r)})")
        start, stop, length, depth = lo, hi, f"{hi} - {lo}", 1
        if self.terms:
            block, length = self.namer.fresh("block"), self.namer.fresh("length")
            self.emit(f"for {block} in range({lo}, {hi}, {TERMS_BLOCK}):")
            self.emit(f"{length} = min({TERMS_BLOCK}, {hi} - {block})", 2)
            start, stop, depth = block, f"{block} + {length}", 2
        for a, w in whole.items():
            self.emit(f"{a} = {w}[{start}:{stop}]", depth)
        self.emit(f"for {i} in range({length}):", depth)
        self.loop_body(loop, stored, local, [i], flat, depth + 1)
        if self.terms:
            self.combine_terms(local, length, depth)
        if long:
            for r in loop.reductions:
                self.emit(f"{parts[r]}[{c}] = {local[r]}")
        else:
            self.emit(f"return ({''.join(f'{local[r]}, ' for r in loop.reductions)})")
        body, self.lines = self.lines, kernel_lines
        members = ", ".join(f"%{self.ids[m]}" for m in loop.members)
        signature = [whole.get(p, p) for p in params]
        what = f"chunk {c} of {count} of n elements" if long else f"elements [{lo}, {hi})"
        tail = [*parts.values(), "n", count, c] if long else [lo, hi]
        self.helpers.append(self.function([f"def {helper}({', '.join([*signature, *tail])}):",
                                           f"    # {what} of the fused loop {members} of {self.spec.name}"], body))
        if not long:  # one call
            results = [self.namer.fresh(f"{stored[r]}_part") for r in loop.reductions]
            unpack = f"{', '.join(results)}, = " if results else ""
            self.emit(f"{unpack}{helper}({', '.join(params)}, 0, n)")
            for r, part in zip(loop.reductions, results):
                self.accumulate(r, part, stored[r], loop.shape, ["0"], flat, 1)
            return
        fixed = all(isinstance(d, int) for d in loop.shape)
        if fixed:
            size = str(parallel.chunk_count(math.prod(loop.shape)))  # type: ignore[arg-type]
        else:
            size = f"max(1, n // {parallel.CHUNK_ELEMENTS})"
        self.emit(f"{count} = {size}  # fixed by the size, not by the thread count")
        for r in loop.reductions:
            self.emit(f"{parts[r]} = np.empty({count}, dtype={self.np_dtype(r)})")
        args = ", ".join([*params, *parts.values(), "n", count])
        serial = [f"for {c} in range({count}):", f"    {helper}({args}, {c})"]
        if parallel.available():
            self.imports.update(("run_chunks", "start_launcher"))
            threaded = f"run_chunks({helper}, {count}, ({args},))  # the chunks on graphc's loop threads"
            if fixed:  # long_loop checked the size
                self.emit(threaded)
            else:
                least = parallel.min_parallel(self.loop_cost(loop))
                self.emit(f"if n >= {least}:  # enough work for threads (graphc.codegen.parallel.min_parallel)")
                self.emit(threaded, 2)
                self.emit("else:")
                for line in serial:
                    self.emit(line, 2)
        else:
            for line in serial:
                self.emit(line)
        for r in loop.reductions:
            self.emit(f"for {c} in range({count}):")
            self.accumulate(r, f"{parts[r]}[{c}]", stored[r], loop.shape, [c], flat, 2)

    def combine_rows(self, accumulators: dict[Node, str], shape: Shape, index: list[str]) -> None:
        """After the innermost loop of a nested loop: add each row of terms (see loop) up
        in order, then into the result's element."""
        depth = len(shape)
        for r, row in self.rows.items():
            total, j = self.namer.fresh(f"{self.base(r)}_part"), self.namer.fresh("j")
            self.emit(f"{total} = {self.identity(r)}  # {self.comment(r)}: the row's terms, in order", depth)
            self.emit(f"for {j} in range({self.dim(shape[-1])}):", depth)
            for line in lookup(r.op).combine(total, f"{row}[{j}]"):
                self.emit(line, depth + 1)
            full = len(r.attrs["axes"]) == len(shape)
            target = accumulators[r] if full else self.reduced_element(r, accumulators[r], shape, index)
            for line in lookup(r.op).combine(target, total):
                self.emit(line, depth)
        self.rows = {}

    def blocked_loop(self, loop: Loop, stored: dict[Node, str], flat: bool, i: str) -> None:
        """A flat or 1-D loop whose full reductions are combined apart (see loop), in the
        kernel itself: blocks of TERMS_BLOCK elements, each walked through views of the
        block indexed from 0 (Numba then knows no index is negative: x[i] for i in
        range(lo, hi) checks i < 0 on every element, and vectorizes worse), its terms
        combined in order after it. (A helper function of its own would cost Numba a
        whole compile, ~0.1 s, for a dozen statements.)"""
        loads = [(u, self.value(u)) for u in loop.loads()]
        walked = [self.flat_name(v.expr) if flat else v.expr
                  for u, v in loads if not v.scalar and u.shape == loop.shape]
        walked += [self.flat_name(stored[m]) if flat else stored[m]
                   for m in loop.stores if lookup(m.op).kind != "reduce"]
        views = {a: self.namer.fresh(f"{a}_block") for a in dict.fromkeys(walked)}
        block, length = self.namer.fresh("block"), self.namer.fresh("length")
        for r, t in self.terms.items():
            self.emit(f"{t} = np.empty({TERMS_BLOCK}, dtype={self.np_dtype(r)})")
        self.emit(f"for {block} in range(0, n, {TERMS_BLOCK}):")
        self.emit(f"{length} = min({TERMS_BLOCK}, n - {block})", 2)
        for a, view in views.items():
            self.emit(f"{view} = {a}[{block}:{block} + {length}]", 2)
        self.emit(f"for {i} in range({length}):", 2)
        start = len(self.lines)
        accumulators = {r: stored[r] for r in loop.reductions}
        self.loop_body(loop, stored, accumulators, [i], flat, 3)
        # the body reads and writes the block's views: its arrays renamed in its code
        pattern = re.compile(r"\b(" + "|".join(map(re.escape, views)) + r")\b") if views else None
        for k in range(start, len(self.lines)):
            code, sep, note = self.lines[k].partition("  # ")
            if pattern is not None:
                self.lines[k] = pattern.sub(lambda m: views[m.group(1)], code) + sep + note
        self.combine_terms(accumulators, length, 2)

    def combine_terms(self, accumulators: dict[Node, str], size: str, depth: int) -> None:
        """Combine the ``size`` terms that full reductions stored apart (see loop), in order."""
        for r, terms in self.terms.items():
            j = self.namer.fresh("j")
            self.emit(f"for {j} in range({size}):", depth)
            for k, line in enumerate(lookup(r.op).combine(accumulators[r], f"{terms}[{j}]")):
                self.emit(line + (f"  # {self.comment(r)}: its terms, in order" if k == 0 else ""), depth + 1)
        self.terms = {}

    def loop_header(self, shape: Shape, flat: bool, loads: Sequence[Node], chunked: bool = False) -> list[str]:
        self.alloc_at = len(self.lines)
        if flat or chunked:
            size = " * ".join(self.dim(d) for d in shape)
            self.emit(f"n = {size}")
            self.alloc_at = len(self.lines)
            for u in loads if flat else ():
                v = self.value(u)
                if not v.scalar:
                    self.emit(f"{self.flat_name(v.expr)} = {self.flat(v.expr)}")
            if not chunked:
                self.emit("for i in range(n):")
            return ["i"] if flat else ["i0"]
        return self.nested_loops(shape)

    def load_index(self, ushape: Shape, shape: Shape, index: list[str], flat: bool) -> str:
        if flat:
            return "0" if _single(ushape) and ushape != shape else "i"  # one element broadcasts
        offset = len(shape) - len(ushape)
        return ", ".join("0" if d == 1 and shape[offset + j] != 1 else index[offset + j]
                         for j, d in enumerate(ushape))

    def identity(self, r: Node) -> str:
        return literal(lookup(r.op).identity(r.dtype), r.dtype)

    def init_reduction(self, r: Node, stored: dict[Node, str]) -> None:
        identity = self.identity(r)
        name = self.namer.fresh(self.base(r))
        stored[r] = name
        if len(r.attrs["axes"]) == r.inputs[0].ndim:
            lines = [f"{name} = {identity}"]  # a full reduction accumulates in a scalar
        else:
            lines = self.filled(name, r.shape, r, identity, holder=r)
        lines[0] += f"  # {self.comment(r)}"
        self.prologue(lines)

    def prologue(self, lines: list[str]) -> None:
        """Insert statements before the current loop's header."""
        self.lines[self.alloc_at:self.alloc_at] = ["    " + line for line in lines]
        self.alloc_at += len(lines)

    def accumulate(self, r: Node, element: str, acc: str, shape: Shape, index: list[str], flat: bool,
                   depth: int) -> None:
        axes = r.attrs["axes"]
        if r in self.terms:  # stored, and combined after its block or loop (see loop)
            position = "".join(f"{k} * ({self.size_expr(shape[j + 1:])}) + " for j, k in enumerate(index[:-1]))
            self.emit(f"{self.terms[r]}[{position}{index[-1]}] = {element}  # {self.comment(r)}: a term", depth)
            return
        if r in self.rows:  # stored, and combined after the innermost loop (see loop)
            self.emit(f"{self.rows[r]}[{index[-1]}] = {element}  # {self.comment(r)}: a term of the row", depth)
            return
        target = acc if len(axes) == len(shape) else self.reduced_element(r, acc, shape, index)
        for k, line in enumerate(lookup(r.op).combine(target, element)):
            self.emit(line + (f"  # {self.comment(r)}" if k == 0 else ""), depth)

    @staticmethod
    def reduced_element(r: Node, acc: str, shape: Shape, index: list[str]) -> str:
        """The element of a partial reduction's result that the loop's element adds to."""
        axes, keep = r.attrs["axes"], r.attrs["keepdims"]
        idx = [("0" if keep else None) if k in axes else index[k] for k in range(len(shape))]
        return f"{acc}[{', '.join(i for i in idx if i is not None)}]"

    def finish(self, m: Node, name: str, flat: bool) -> None:
        """After the loop: give stored members their final form."""
        if lookup(m.op).kind == "reduce":
            full = len(m.attrs["axes"]) == m.inputs[0].ndim
            if full and m.shape != ():  # keepdims: the scalar total as an array of ones' shape
                kept = self.namer.fresh(f"{name}_kept")
                for line in self.filled(kept, m.shape, m, name, holder=m):
                    self.emit(line)
                name = kept
        elif flat:
            self.emit(f"{name} = {self.shaped(self.flat_name(name), m.shape)}")
        self.values[m] = Value(name, m.shape == ())


def _single(shape: Shape) -> bool:
    """A shape of one element (all dims 1): it broadcasts along any loop."""
    return all(d == 1 for d in shape)
