"""graphc's exceptions.

Every error a user can cause is one of these, and its message names the node or
argument, what was expected and what was given. They subclass ValueError or TypeError
so that code catching the builtin exceptions keeps working.
"""

from __future__ import annotations


class GraphcError(Exception):
    """Base class of every graphc exception."""


class ShapeError(GraphcError, ValueError):
    """Shapes that do not fit: at declaration (broadcast, matmul, reshape) or a call."""


class DTypeError(GraphcError, TypeError):
    """A dtype an operation or a compiled function does not accept."""


class ArgumentError(GraphcError, ValueError):
    """A call of a compiled function with the wrong arguments (count, type, layout)."""


class GraphError(GraphcError, ValueError):
    """A malformed graph: a cycle, an unknown op, grad of a non-scalar, a disconnected wrt."""


class IndexRangeError(ArgumentError, IndexError):
    """An index outside its axis when the graph runs: an entry of a gather's index array,
    or a fixed slice of a named dim that the call made too small. Compiled kernels raise
    it with the runtime values as separate arguments; the message is them joined."""

    def __str__(self) -> str:
        return "".join(str(a) for a in self.args)


class CacheWarning(UserWarning):
    """The kernel cache cannot be used safely (its directory is shared, read-only, not a
    directory): graphc compiles without it."""


class SymbolicError(GraphcError, TypeError):
    """A symbolic node where Python needs a concrete value: ``if node``, ``max(0, node)``."""
