"""gc.show, gc.to_networkx and gc.to_dot: the same numbering, typed lines, the gate
patterns on backward nodes, and a DOT picture with forward and backward clusters."""

from __future__ import annotations

import re
import shutil
import subprocess

import networkx as nx
import numpy as np
import pytest

import graphc as gc
from graphc.inspect import PATTERN_COLOURS

LINE = re.compile(
    r"^%(?P<id>\d+):(?P<dtype>f64|f32|i64)\[(?P<shape>[^\]]*)\] = (?P<op>\w+)(?P<attrs>\[[^\]]*\])?"
    r"(?P<rest>(?: [-\w.%'()]+)*?)(?:\s+# (?P<note>.*))?$"
)
GATES = {"distribute", "route", "switch", "sum", "unbroadcast", "local"}


@pytest.fixture
def layer():
    """A mul gate inside a (N, 100) layer: its VJP is the SPEC's example line."""
    x = gc.input("x", ("N", 1000))
    w1 = gc.input("w1", (1000, 100))
    m = gc.input("m", ("N", 100))
    z = x @ w1
    loss = gc.sum(z * m)
    dw1 = gc.grad(loss, w1)
    return (x, w1, m, z, loss, dw1)


def parse(listing):
    lines = listing.splitlines()
    assert lines[-1].startswith("outputs: ")
    parsed = []
    for line in lines[:-1]:
        match = LINE.match(line)
        assert match, f"not a listing line: {line!r}"
        parsed.append(match)
    return parsed, lines[-1]


def test_show_has_the_spec_line(layer):
    x, w1, m, z, loss, dw1 = layer
    text = gc.show(loss, dw1)
    assert re.search(r"^%\d+:f64\[N,100\] = mul %\d+ %\d+\s+# switch, grad of %\d+$", text, re.M), text
    # and the mul's "grad of" names the matmul z (a contraction), whose line is typed f64[N,100]
    mul_line = re.search(r"^%\d+:f64\[N,100\] = mul %\d+ %(\d+)\s+# switch, grad of %(\d+)$", text, re.M)
    of = mul_line.group(2)
    assert re.search(rf"^%{of}:f64\[N,100\] = contract\[spec=ik,kj->ij\] %0 %1$", text, re.M), text
    assert re.search(r"^%\d+:f64\[N,100\] = input m$", text, re.M)
    assert re.search(r"^%0:f64\[N,1000\] = input x$", text, re.M)


def test_show_one_line_per_node_numbered_in_order(layer):
    *_, loss, dw1 = layer
    text = gc.show(loss, dw1)
    parsed, outputs = parse(text)
    g = gc.to_networkx(loss, dw1)
    assert len(parsed) == g.number_of_nodes()
    assert [int(p["id"]) for p in parsed] == list(range(len(parsed)))
    for p in parsed:
        i = int(p["id"])
        d = g.nodes[i]
        assert p["op"] == d["op"]
        assert p["shape"] == ",".join(str(s) for s in d["shape"])
        assert {"f64": "float64", "f32": "float32", "i64": "int64"}[p["dtype"]] == d["dtype"]
        # operands are earlier lines, in slot order
        operands = [int(a) for a in re.findall(r"%(\d+)", p["rest"] or "")]
        preds = sorted(g.predecessors(i), key=lambda s: g.edges[s, i]["index"])
        assert all(a < i for a in operands)
        assert set(operands) == set(preds)
        if d["role"] == "backward":
            assert p["note"] and re.fullmatch(rf"{d['pattern']}, grad of %{d['of']}", p["note"]), p.string
        else:
            assert not p["note"] or "grad of" not in p["note"]
    assert outputs == f"outputs: %{_num(g, loss)} %{_num(g, dw1)}"


def _num(g, node):
    return next(n for n, d in g.nodes(data=True) if d["node"] is node)


def test_show_operands_of_a_node_using_one_input_twice():
    x = gc.input("x", (3,))
    text = gc.show(x * x)
    assert "= mul %0 %0" in text


def test_show_attrs_constants_names_and_dtypes():
    x = gc.input("x", ("N", 3), "float32")
    i = gc.input("i", ("N",), "int64")
    y = gc.sum(gc.exp(x * 2.0, name="e"), axis=1) + gc.cast(i, "float32")
    text = gc.show(y)
    assert re.search(r"^%\d+:f32\[\] = const 2\.0$", text, re.M), text
    assert re.search(r"^%\d+:f32\[N,3\] = exp %\d+\s+# e$", text, re.M), text
    assert re.search(r"^%\d+:f32\[N\] = sum\[axes=\(1,\) keepdims=False\] %\d+$", text, re.M), text
    assert re.search(r"^%\d+:f32\[N\] = cast\[dtype=float32\] %\d+$", text, re.M), text
    assert re.search(r"^%\d+:i64\[N\] = input i$", text, re.M), text
    assert gc.show(gc.const(np.zeros((0,)))).splitlines()[0] == "%0:f64[0] = const"  # no value to print
    assert gc.show(gc.const(np.ones((2, 2)))).splitlines()[0] == "%0:f64[2,2] = const"


def test_show_a_gradient_of_an_unlisted_node_does_not_borrow_a_number():
    x = gc.input("x", (3,))
    dx = gc.grad(gc.sum(gc.exp(x) * gc.tanh(x)), x)
    text = gc.show(dx)  # the loss itself is not listed: its seed is "grad of" something unlisted
    listed = {int(m) for m in re.findall(r"^%(\d+):", text, re.M)}
    for of in re.findall(r"grad of %(\d+)", text):
        assert int(of) in listed
    assert "not listed" in text
    g = gc.to_networkx(dx)
    for _, d in g.nodes(data=True):
        if d["role"] == "backward":
            assert (isinstance(d["of"], int) and d["of"] in g) or "not listed" in d["of"]


def test_to_networkx_attributes(layer):
    x, w1, m, z, loss, dw1 = layer
    g = gc.to_networkx(loss, dw1)
    assert isinstance(g, nx.DiGraph) and nx.is_directed_acyclic_graph(g)
    roles = set()
    for n, d in g.nodes(data=True):
        for key in ("op", "shape", "dtype", "name", "role", "pattern", "of"):
            assert key in d, (n, key)
        assert isinstance(d["shape"], tuple) and d["dtype"] in ("float64", "float32", "int64")
        roles.add(d["role"])
        if d["role"] == "backward":
            assert d["pattern"] in GATES
            assert g.nodes[d["of"]]["role"] == "forward"
        else:
            assert d["role"] == "forward" and d["pattern"] is None and d["of"] is None
        for src in g.predecessors(n):
            assert src < n  # numbered in topological order
    assert roles == {"forward", "backward"}
    by_name = {d["name"]: d for _, d in g.nodes(data=True)}
    assert by_name["x"]["shape"] == ("N", 1000) and by_name["x"]["op"] == "input"
    assert by_name["w1"]["role"] == "forward"
    # unnamed nodes are named as listed
    for n, d in g.nodes(data=True):
        if d["node"].name is None:
            assert d["name"] == f"%{n}"
    # the backward nodes of dw1: the mul switch (grad of z) and the matmul switch (grad of w1)
    zn, w1n = _num(g, z), _num(g, w1)
    dw1n = _num(g, dw1)
    assert g.nodes[dw1n]["of"] == w1n and g.nodes[dw1n]["pattern"] == "switch"
    assert any(d["op"] == "mul" and d["pattern"] == "switch" and d["of"] == zn for _, d in g.nodes(data=True))
    # edges carry the input slot
    assert {g.edges[s, dw1n]["index"] for s in g.predecessors(dw1n)} == {0, 1}


def test_to_networkx_and_show_agree_on_numbers(layer):
    *_, loss, dw1 = layer
    g = gc.to_networkx(loss, dw1)
    for p in parse(gc.show(loss, dw1))[0]:
        assert g.nodes[int(p["id"])]["op"] == p["op"]


def test_forward_only_graph_has_no_backward_nodes():
    x = gc.input("x", (3,))
    g = gc.to_networkx(gc.sum(gc.tanh(x)))
    assert {d["role"] for _, d in g.nodes(data=True)} == {"forward"}
    dot = gc.to_dot(gc.sum(gc.tanh(x)))
    assert "cluster_forward" in dot and "cluster_backward" not in dot


DOT_LINE = re.compile(
    r'^(digraph graphc \{|  rankdir=LR;|  node \[[^\]]*\];|  \}|\}|'
    r'  subgraph cluster_\w+ \{ label="[^"]*"; color="#[0-9a-f]{6}";|'
    r'    (n\d+|legend_\w+) \[label="[^"]*", fillcolor="#[0-9a-f]{6}"(, penwidth=[\d.]+)?\];|'
    r'  n\d+ -> n\d+;)$'
)


def test_to_dot_is_valid_dot_with_clusters_and_colours(layer):
    *_, loss, dw1 = layer
    dot = gc.to_dot(loss, dw1)
    lines = dot.rstrip("\n").splitlines()
    for line in lines:
        assert DOT_LINE.match(line), f"not a DOT line graphc writes: {line!r}"
    assert dot.count("{") == dot.count("}")
    assert "subgraph cluster_forward" in dot and "subgraph cluster_backward" in dot
    g = gc.to_networkx(loss, dw1)
    # each node once, in the cluster of its role, filled with its pattern's colour
    cluster = None
    seen = {}
    for line in lines:
        if line.startswith("  subgraph cluster_"):
            cluster = line.split()[1][len("cluster_"):]
        m = re.match(r'    n(\d+) \[label="([^"]*)", fillcolor="(#[0-9a-f]{6})"', line)
        if m:
            seen[int(m[1])] = (cluster, m[2], m[3])
    assert set(seen) == set(g.nodes)
    for n, d in g.nodes(data=True):
        cl, label, fill = seen[n]
        assert cl == d["role"]
        assert label.startswith(f"%{n} ")
        if d["role"] == "backward":
            assert fill == PATTERN_COLOURS[d["pattern"]]
        else:
            assert fill == "#ffffff"
    assert len(set(PATTERN_COLOURS.values())) == len(PATTERN_COLOURS)  # patterns tell apart
    assert set(PATTERN_COLOURS) == GATES
    edges = set(re.findall(r"^  n(\d+) -> n(\d+);$", dot, re.M))
    assert {(int(a), int(b)) for a, b in edges} == set(g.edges)


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")
def test_to_dot_parses_with_graphviz(layer):
    *_, loss, dw1 = layer
    x = gc.input("q", (2,))
    weird = gc.sum(gc.const(np.array([1.0, 2.0])) * x, name='a"quoted"name') + gc.const(0.5)
    for dot in (gc.to_dot(loss, dw1), gc.to_dot(weird, gc.grad(weird, x))):
        result = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "<svg" in result.stdout and "Warning" not in result.stderr and "Error" not in result.stderr


def test_inspection_of_a_second_order_graph():
    x = gc.input("x")
    d2 = gc.grad(gc.grad(x ** 3, x), x)
    g = gc.to_networkx(d2)
    assert any(d["role"] == "backward" for _, d in g.nodes(data=True))
    parse(gc.show(d2))
    assert "cluster_backward" in gc.to_dot(d2)


# -- one numbering from declaration to kernel ------------------------------------------------
def _small_w1():
    x, y = gc.input("x", ("N", 6)), gc.input("y", ("N", 3))
    w1, w2 = gc.input("w1", (6, 4)), gc.input("w2", (4, 3))
    loss = gc.sum((gc.sigmoid(x @ w1) @ w2 - y) ** 2)
    return [x, y, w1, w2], loss


def _check_one_numbering(f, declared_outputs):
    declared = {int(p["id"]): p for p in parse(gc.show(*declared_outputs))[0]}
    listing = gc.show(f)
    lines = {int(m[1]): m[0] for m in re.finditer(r"^%(\d+):.*$", listing, re.M)}
    # every number in the kernels' comments is a line of gc.show(f)
    in_source = {int(n) for n in re.findall(r"%(\d+)", f.source)}
    assert in_source and in_source <= set(lines), (in_source - set(lines), listing)
    for number, line in lines.items():
        op = re.match(r"%\d+:\S+ = (\w+)", line)[1]
        made = re.search(r"made by (simplify|fold|cse) from ((?:%\d+ ?)+)", line)
        if made:  # a node a pass made: a new number, and the declared nodes it replaced
            assert number >= len(declared)
            assert all(int(s) in declared for s in re.findall(r"%(\d+)", made[2]))
        else:  # a declared node keeps its number and its op
            assert declared[number]["op"] == op, (line, declared[number].string)
        for of in re.findall(r"grad of %(\d+)", line):
            assert int(of) in lines  # `of` follows the rewrites: it names a listed node
    return listing


def test_a_node_keeps_its_number_from_show_to_the_kernel():
    inputs, loss = _small_w1()
    grads = gc.grad(loss, inputs[2:])
    f = gc.compile(inputs, [loss, *grads])
    listing = _check_one_numbering(f, [loss, *grads])
    assert listing.splitlines()[0] == "passes: simplify, fold, cse, fusion"
    assert re.search(r"^%\d+:f64\[N,4\] = sigmoid %\d+\s+# loop \d$", listing, re.M)  # fused loops marked
    assert "made by simplify from %9" in listing  # pow %7 %8 became mul %7 %7
    assert f.show() == listing


def test_compile_grad_lists_the_forward_and_backward_kernels_and_the_tape():
    inputs, loss = _small_w1()
    step = gc.compile_grad(loss, inputs, inputs[2:])
    listing = _check_one_numbering(step, step.outputs)
    tape = " ".join(f"%{step.passes.numbering[t]}" for t in step.partition.tape)
    assert f"  returns %10 (the loss); the tape saves {tape}" in listing
    heads = [line for line in listing.splitlines() if re.match(r"^(forward|backward)\(", line)]
    assert [h.split("(")[0] for h in heads] == ["forward", "backward"]
    assert heads[1] == f"backward({tape} %11):"  # the tape and the upstream gradient (the seed's number)


def test_show_of_an_interpreted_function_lists_the_declared_graph():
    x, y, z = (gc.input(n) for n in "xyz")
    f = (x + y) * z
    outs = [f, *gc.grad(f, [x, y, z])]
    assert gc.show(gc.compile([x, y, z], outs, backend="interpret")) == gc.show(*outs)


def test_the_distribute_marks_in_every_view_and_in_an_unoptimized_kernel():
    x, y, z = (gc.input(n) for n in "xyz")
    f = (x + y) * z
    outs = [f, *gc.grad(f, [x, y, z])]
    fill = PATTERN_COLOURS["distribute"]
    dot = gc.to_dot(*outs)
    assert re.search(rf'n8 \[label="%8 identity[^"]*", fillcolor="{fill}"', dot)
    assert re.search(rf'n9 \[label="%9 identity[^"]*", fillcolor="{fill}"', dot)
    g = gc.to_networkx(*outs)
    assert [(g.nodes[n]["pattern"], g.nodes[n]["of"]) for n in (8, 9)] == [("distribute", 0), ("distribute", 1)]
    # with the passes off the kernel computes the declared graph, marks included
    raw = gc.compile([x, y, z], outs, passes="none")
    listing = _check_one_numbering(raw, outs)
    assert listing.splitlines()[0] == "passes: none"
    assert "# %8 = identity %6  (distribute, grad of %0)" in raw.source
    assert [float(v) for v in raw(-2.0, 5.0, -4.0)] == [-12.0, -4.0, -4.0, 3.0]
