"""gc.draw (matplotlib + networkx, no Graphviz), gc.to_dot(path=...), and notebook display."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import numpy as np
import pytest

import graphc as gc
from graphc.inspect import PATTERN_COLOURS

matplotlib = pytest.importorskip("matplotlib")
from matplotlib import colors as mcolors  # noqa: E402
from matplotlib import image as mimage  # noqa: E402


def lecture():
    x, y, z = (gc.input(n) for n in "xyz")
    q = gc.add(x, y, name="q")
    f = gc.mul(q, z, name="f")
    return [x, y, z], [f, *gc.grad(f, [x, y, z])]


def _fills(fig):
    """The fill colours of the drawn nodes (hex)."""
    found = set()
    for ax in fig.axes:
        for collection in ax.collections:
            found |= {mcolors.to_hex(c) for c in collection.get_facecolors()}
    return found


def test_png_of_the_requested_pixel_size(tmp_path):
    _, outputs = lecture()
    path = tmp_path / "addmul.png"
    fig = gc.draw(*outputs, path=path, size=(640, 400))
    assert path.stat().st_size > 5000
    assert mimage.imread(path).shape == (400, 640, 4)
    # backward nodes are filled with their gate's colour: the seed (local), the switches
    # of q and z, the distribution to x and y; forward nodes white
    assert {PATTERN_COLOURS[p] for p in ("local", "switch", "distribute")} | {"#ffffff"} <= _fills(fig)
    assert PATTERN_COLOURS["route"] not in _fills(fig)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["forward", "distribute", "switch", "local", "output"]
    labels = {t.get_text() for t in fig.axes[0].texts}
    assert {"%0\nx", "%3 add\nq", "%8\nidentity", "%9\nidentity"} <= labels


def test_default_size_follows_the_graph_and_svg(tmp_path):
    _, small = lecture()
    x = gc.input("x", (3,))
    deep = gc.sum(gc.exp(gc.tanh(gc.sigmoid(gc.exp(x)))))
    big = [deep, gc.grad(deep, x)]
    a, b = tmp_path / "a.png", tmp_path / "b.svg"
    gc.draw(*small, path=a)
    gc.draw(*big, path=b)
    assert mimage.imread(a).shape[1] < gc.draw(*big).get_size_inches()[0] * 100
    text = b.read_text()
    assert text.startswith("<?xml") and "<svg" in text and "distribute" in text


def test_draw_into_an_axis_and_a_compiled_function():
    from matplotlib.figure import Figure

    inputs, outputs = lecture()
    fig = Figure()
    ax = fig.add_subplot(1, 2, 2)
    assert gc.draw(*outputs, ax=ax) is fig
    assert ax.collections and ax.get_legend() is not None
    f = gc.compile(inputs, outputs, backend="interpret")
    assert {t.get_text() for t in gc.draw(f).axes[0].texts} == {t.get_text() for t in ax.texts}


def test_draw_errors():
    _, outputs = lecture()
    with pytest.raises(gc.GraphError, match="draw: expected graphc nodes or a compiled function but got int"):
        gc.draw(outputs[0], 3)
    with pytest.raises(gc.GraphError, match=r"size to be \(width, height\) in positive pixels but got \(0, 3\)"):
        gc.draw(*outputs, size=(0, 3))
    with pytest.raises(gc.GraphError, match="at least one node"):
        gc.draw()


def test_notebook_display_of_a_node_and_of_compiled_functions():
    inputs, outputs = lecture()
    html = outputs[1]._repr_html_()
    assert html.startswith("<pre") and "= identity %" in html and "<svg" in html and "<?xml" not in html
    assert "distribute, grad of x" in html  # x is not listed: dx alone
    f = gc.compile(inputs, outputs)
    html = f._repr_html_()
    assert gc.show(f).splitlines()[1] in html and "<svg" in html
    step = gc.compile_grad(outputs[0], inputs, inputs, backend="interpret")
    assert "the tape saves" in step._repr_html_()


@pytest.mark.parametrize("module", ["matplotlib", "numba"])  # drawing and compiling load them when used
def test_import_graphc_does_not_import(module):
    code = "import sys, graphc; assert graphc.__file__.startswith(sys.argv[1]); sys.exit(sys.argv[2] in sys.modules)"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root}  # this checkout's graphc
    assert subprocess.run([sys.executable, "-c", code, root, module], env=env).returncode == 0


def test_to_dot_writes_dot_text_and_renders_with_dot_when_on_path(tmp_path, monkeypatch):
    _, outputs = lecture()
    text = gc.to_dot(*outputs, path=tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text() == text
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(gc.GraphError, match="needs Graphviz's dot on PATH.*gc.draw"):
        gc.to_dot(*outputs, path=tmp_path / "g.svg")
    # a stand-in dot that records its arguments and writes its input to the -o file
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dot"
    fake.write_text(f'#!{sys.executable}\nimport sys\nopen(sys.argv[3], "w").write(sys.argv[1] + "\\n" + '
                    'sys.stdin.read())\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir))
    gc.to_dot(*outputs, path=tmp_path / "g.svg")
    assert (tmp_path / "g.svg").read_text() == "-Tsvg\n" + text


def test_pictures_for_the_readme_are_current():
    """docs/ holds the README's pictures of the lecture's circuits, drawn by gc.draw."""
    docs = os.path.join(os.path.dirname(__file__), "..", "docs")
    for name in ("add_mul.png", "neuron.png"):
        image = mimage.imread(os.path.join(docs, name))
        assert image.ndim == 3 and image.shape[0] > 200 and np.any(image[..., :3] < 0.5)
