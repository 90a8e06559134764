"""Draw the README's pictures of the lecture's circuits: python docs/pictures.py"""

from pathlib import Path

import graphc as gc

here = Path(__file__).parent

x, y, z = (gc.input(n) for n in "xyz")
q = gc.add(x, y, name="q")
f = gc.mul(q, z, name="f")
gc.draw(f, *gc.grad(f, [x, y, z]), path=here / "add_mul.png")

w0, w1, w2, x0, x1 = ws = [gc.input(n) for n in ("w0", "w1", "w2", "x0", "x1")]
neuron = gc.div(1.0, 1.0 + gc.exp(-(w0 * x0 + w1 * x1 + w2)), name="f")
gc.draw(neuron, *gc.grad(neuron, ws), path=here / "neuron.png", size=(1700, 420))
