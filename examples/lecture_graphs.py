"""The lecture's two circuits and their backward graphs.

Prints the backward graph of f = (x + y) z and of the sigmoid neuron
f = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))) as text (gc.show), one line per node with
its gate pattern, and writes each as a Graphviz DOT file (gc.to_dot), backward nodes
coloured by pattern:

    python examples/lecture_graphs.py [DIR]      # DOT files go to DIR (default: .)
    dot -Tsvg DIR/add_mul.dot -o add_mul.svg     # to look at one (needs Graphviz)
"""

from __future__ import annotations

import sys
from pathlib import Path

import graphc as gc


def add_mul() -> list[gc.Node]:
    """f = (x + y) z: the add gate distributes, the mul gate switches."""
    x, y, z = gc.input("x"), gc.input("y"), gc.input("z")
    f = (x + y) * z
    return [f, *gc.grad(f, [x, y, z])]


def neuron() -> list[gc.Node]:
    """The sigmoid neuron written gate by gate, as on the lecture's slide."""
    w0, w1, w2, x0, x1 = (gc.input(n) for n in ("w0", "w1", "w2", "x0", "x1"))
    f = 1.0 / (1.0 + gc.exp(-(w0 * x0 + w1 * x1 + w2)))
    return [f, *gc.grad(f, [w0, w1, w2, x0, x1])]


def main(argv: list[str]) -> int:
    out_dir = Path(argv[1]) if len(argv) > 1 else Path(".")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, outputs in (("add_mul", add_mul()), ("neuron", neuron())):
        print(f"--- {name}: f and its gradients (outputs: f, then d f / d each input)")
        print(gc.show(*outputs))
        path = out_dir / f"{name}.dot"
        path.write_text(gc.to_dot(*outputs))
        print(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
