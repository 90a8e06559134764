"""Legal, unique, readable variable names for the generated source (as torch.fx does).

Generated identifiers are ASCII. Python folds identifiers with NFKC normalization, so a
user's ``𝐲`` (mathematical bold y) or ``ｎ`` (fullwidth n) would be the very variable
``y`` or ``n`` in the generated source: another node's value, or a loop variable. So each
non-ASCII character becomes an escape of its code point (``𝐲`` -> ``u1d432``), a long
name is cut short, and the generated code's comments carry the user's name as written
(see ``is_plain``).
"""

from __future__ import annotations

import builtins
import functools
import importlib
import keyword
import re
from types import ModuleType

# the modules generated code imports helpers from (errors: raised by checks in lowerings)
HELPER_MODULES = ("graphc.codegen.blas", "graphc.codegen.parallel", "graphc.codegen.views", "graphc.codegen.vecmath",
                  "graphc.errors")
MAX_LENGTH = 40  # of a generated name's stem: a listing stays readable, LLVM's symbols short


def helper_modules() -> list[ModuleType]:
    """The HELPER_MODULES (their files are part of the disk cache key: graphc.runtime.cache)."""
    return [importlib.import_module(m) for m in HELPER_MODULES]


@functools.cache
def reserved() -> frozenset[str]:
    """Names a generated variable may not take: module names, every public name of the
    helper modules, and the variables the code generator uses itself (loop indices and
    sizes, gemm's alpha and beta)."""
    helpers = {n for m in helper_modules() for n in vars(m) if not n.startswith("_")}
    return frozenset({"np", "numba", "math", "n", "i", "one", "zero", *(f"i{k}" for k in range(32)), *helpers,
                      *dir(builtins)})


def is_plain(name: str) -> bool:
    """Whether ``name`` is its own generated identifier's stem (an ASCII identifier, not too
    long): otherwise the generated code names it in a comment."""
    return name.isascii() and name.isidentifier() and len(name) <= MAX_LENGTH


def ascii_stem(wanted: str) -> str:
    """``wanted`` as an ASCII identifier stem: a non-ASCII character as ``u`` and its code
    point in hex, anything else not allowed in an identifier as ``_``, cut at MAX_LENGTH."""
    escaped = "".join(c if c.isascii() else f"u{ord(c):x}" for c in wanted)
    return re.sub(r"[^0-9A-Za-z_]", "_", escaped)[:MAX_LENGTH]


class Namer:
    """Hands out names derived from the user's names; never the same name twice."""

    def __init__(self) -> None:
        self.used: set[str] = set(reserved())

    def fresh(self, wanted: str) -> str:
        base = ascii_stem(wanted) or "v"
        if base[0].isdigit():
            base = "v" + base
        if keyword.iskeyword(base) or base in reserved() or base.startswith("__"):
            base += "_"
        name, k = base, 1
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name
