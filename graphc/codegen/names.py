"""Legal, unique, readable variable names for the generated source (as torch.fx does)."""

from __future__ import annotations

import builtins
import keyword
import re

# module names, the helpers the generated module imports, and the variables the code
# generator uses itself (loop indices and sizes, gemm's alpha and beta)
HELPERS = {"flat_view", "shaped_view", "permuted_view", "gemm_call",
           *(f"{f}_{t}" for f in ("exp", "log", "tanh", "sigmoid") for t in ("f64", "f32"))}
RESERVED = {"np", "numba", "math", "n", "i", "one", "zero", *(f"i{k}" for k in range(32)), *HELPERS,
            *dir(builtins)}


class Namer:
    """Hands out names derived from the user's names; never the same name twice."""

    def __init__(self) -> None:
        self.used: set[str] = set(RESERVED)

    def fresh(self, wanted: str) -> str:
        base = re.sub(r"\W", "_", wanted) or "v"
        if base[0].isdigit():
            base = "v" + base
        if keyword.iskeyword(base) or base in RESERVED or base.startswith("__"):
            base += "_"
        name, k = base, 1
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name
