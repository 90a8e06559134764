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
import keyword
import re

# module names, the helpers the generated module imports, and the variables the code
# generator uses itself (loop indices and sizes, gemm's alpha and beta)
HELPERS = {"flat_view", "shaped_view", "permuted_view", "gemm_f64", "gemm_f32", "ArgumentError", "IndexRangeError",
           *(f"{f}_{t}" for f in ("exp", "log", "tanh", "sigmoid") for t in ("f64", "f32"))}
RESERVED = {"np", "numba", "math", "n", "i", "one", "zero", *(f"i{k}" for k in range(32)), *HELPERS,
            *dir(builtins)}
MAX_LENGTH = 40  # of a generated name's stem: a listing stays readable, LLVM's symbols short


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
        self.used: set[str] = set(RESERVED)

    def fresh(self, wanted: str) -> str:
        base = ascii_stem(wanted) or "v"
        if base[0].isdigit():
            base = "v" + base
        if keyword.iskeyword(base) or base in RESERVED or base.startswith("__"):
            base += "_"
        name, k = base, 1
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name
