"""``viz.make_dot``: the DOT text of autograd graphs, checked node by node and edge by edge.

The expected graphs are written down by hand from the ops each expression performs (the oracle),
and the DOT text is read back by a small parser independent of the code that wrote it.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter

import pytest

import numtorch
from numtorch.cli.main import main as cli_main
from numtorch.models import TwoLayerNet
from numtorch.nn.functional import cross_entropy
from numtorch.viz import Digraph, make_dot
from numtorch.viz import graph as graph_module

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_NODE = re.compile(r'^\t"([^"]+)" \[label="((?:[^"\\]|\\.)*)"(.*)\]$')
_EDGE = re.compile(r'^\t"([^"]+)" -> "([^"]+)"(?: \[(.*)\])?$')
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def parse(source: str):
    """``({id: label}, [(tail, head, attrs)])`` from DOT text of the shape make_dot writes."""
    lines = source.splitlines()
    assert lines[0] == "digraph {" and lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if m := _NODE.match(line):
            assert m.group(1) not in nodes, f"node {m.group(1)} declared twice"
            nodes[m.group(1)] = m.group(2).replace("\\n", "\n")
        elif m := _EDGE.match(line):
            edges.append((m.group(1), m.group(2), m.group(3) or ""))
        else:
            assert re.match(r"^\t(graph|node) \[", line), line
    for tail, head, _ in edges:
        assert tail in nodes and head in nodes, f"edge {tail} -> {head} to an undeclared node"
    return nodes, edges


def by_label(nodes, label):
    return [k for k, v in nodes.items() if v == label]


def two_layer_loss():
    net = TwoLayerNet(784, 100, 10)
    x, t = numtorch.randn(8, 784), numtorch.tensor([3, 1, 4, 1, 5, 9, 2, 6])
    return net, cross_entropy(net(x), t)


def test_two_layer_net_loss_graph():
    net, loss = two_layer_loss()
    nodes, edges = parse(make_dot(loss, params=dict(net.named_parameters())).source)
    # loss = CE(Linear2(ReLU(Linear1(x; W1, b1)); W2, b2), t): x and t need no gradient, so they are absent
    expected_labels = Counter({"CrossEntropyBackward0": 1, "LinearBackward0": 2, "ReluBackward0": 1,
                               "fc1.weight\n(100, 784)": 1, "fc1.bias\n(100)": 1,
                               "fc2.weight\n(10, 100)": 1, "fc2.bias\n(10)": 1, "()": 1})
    assert Counter(nodes.values()) == expected_labels
    (w1,), (b1,), (w2,), (b2,) = (by_label(nodes, n) for n in ("fc1.weight\n(100, 784)", "fc1.bias\n(100)",
                                                                  "fc2.weight\n(10, 100)", "fc2.bias\n(10)"))
    (ce,), (relu,), (out,) = by_label(nodes, "CrossEntropyBackward0"), by_label(nodes, "ReluBackward0"), \
        by_label(nodes, "()")
    heads = {t: h for t, h, _ in edges}
    lin1, lin2 = heads[w1], heads[w2]
    assert lin1 != lin2 and {lin1, lin2} == set(by_label(nodes, "LinearBackward0"))
    # a gradient flows from each input's node into the node of the op that used it
    assert sorted((t, h) for t, h, _ in edges) == sorted([
        (w1, lin1), (b1, lin1), (lin1, relu),
        (relu, lin2), (w2, lin2), (b2, lin2), (lin2, ce), (ce, out)])
    # colours: leaves blue, the output green
    attrs = {k: line for line in make_dot(loss, params=dict(net.named_parameters())).source.splitlines()
             if (m := _NODE.match(line)) for k in [m.group(1)]}
    assert all("lightblue" in attrs[k] for k in (w1, b1, w2, b2)) and "darkolivegreen1" in attrs[out]


def test_named_parameters_pairs_work_as_a_dict():
    net, loss = two_layer_loss()
    a = parse(make_dot(loss, params=dict(net.named_parameters())).source)[0]
    b = parse(make_dot(loss, params=net.named_parameters()).source)[0]
    assert sorted(a.values()) == sorted(b.values())


def test_unnamed_leaves_show_their_shape():
    _, loss = two_layer_loss()
    labels = Counter(parse(make_dot(loss).source)[0].values())
    assert labels["(100, 784)"] == 1 and labels["(10)"] == 1


def test_reused_input_is_one_node_with_two_edges():
    x = numtorch.ones(3, requires_grad=True)
    y = (x * x).sum()                                    # SumBackward0 <- MulBackward0 <= x (twice)
    nodes, edges = parse(make_dot(y, params={"x": x}).source)
    assert Counter(nodes.values()) == Counter({"SumBackward0": 1, "MulBackward0": 1, "x\n(3)": 1, "()": 1})
    (xk,), (mul,) = by_label(nodes, "x\n(3)"), by_label(nodes, "MulBackward0")
    assert Counter((t, h) for t, h, _ in edges)[(xk, mul)] == 2


def test_diamond_visits_the_shared_node_once():
    x = numtorch.ones(2, requires_grad=True)
    e = x.exp()
    y = (e.sin() + e.cos()).sum()                        # exp feeds both sin and cos
    nodes, edges = parse(make_dot(y).source)
    assert Counter(nodes.values())["ExpBackward0"] == 1
    (exp,) = by_label(nodes, "ExpBackward0")
    assert sorted(nodes[h] for t, h, _ in edges if t == exp) == ["CosBackward0", "SinBackward0"]


def test_deep_graph_needs_no_recursion():
    x = numtorch.ones(1, requires_grad=True)
    y = x
    for _ in range(3 * sys.getrecursionlimit()):
        y = y * 1.0
    nodes, edges = parse(make_dot(y).source)
    assert len(nodes) == 3 * sys.getrecursionlimit() + 2     # the ops, the leaf, the output
    assert len(edges) == len(nodes) - 1                      # a chain


def test_several_outputs_and_a_leaf_output():
    x = numtorch.ones(2, 3, requires_grad=True)
    nodes, edges = parse(make_dot([x.sum(), x.mean(), x]).source)
    assert Counter(nodes.values()) == Counter({"SumBackward0": 1, "MeanBackward0": 1, "(2, 3)": 2, "()": 2})
    (xk,) = [k for k in by_label(nodes, "(2, 3)") if not k.startswith("out")]   # the leaf, not the output
    assert sorted(nodes[h] for t, h, _ in edges if t == xk) == ["(2, 3)", "MeanBackward0", "SumBackward0"]


def test_show_saved_draws_what_backward_keeps():
    x = numtorch.randn(4, 5, requires_grad=True)
    y = x.exp().sum()                                    # exp saves its output (4, 5) for backward
    plain = parse(make_dot(y).source)[0]
    nodes, edges = parse(make_dot(y, show_saved=True).source)
    saved = [k for k, v in nodes.items() if v.startswith("saved")]
    assert len(nodes) > len(plain) and saved
    assert any(nodes[k] == "saved 0\n(4, 5) float32" for k in saved)
    (exp,) = by_label(nodes, "ExpBackward0")
    assert all(("dashed" in a) for t, h, a in edges if t in saved) and any(t in saved and h == exp
                                                                         for t, h, _ in edges)


def test_non_tensor_and_bad_params_raise_type_error():
    with pytest.raises(TypeError, match="make_dot"):
        make_dot([1.0])
    with pytest.raises(TypeError, match="make_dot: params"):
        make_dot(numtorch.ones(1, requires_grad=True).sum(), params={"w": 3})


def test_quotes_and_newlines_in_labels_are_escaped():
    g = Digraph()
    g.node("a", 'say "hi"\nthere')
    g.edge("a", "b")
    assert '"a" [label="say \\"hi\\"\\nthere"]' in g.source and '"a" -> "b"' in g.source


def test_without_dot_render_raises_one_runtime_error(tmp_path, monkeypatch):
    monkeypatch.setattr(graph_module.shutil, "which", lambda name: None)
    _, loss = two_layer_loss()
    dot = make_dot(loss)
    with pytest.raises(RuntimeError, match="Graphviz's `dot` program"):
        dot.render(tmp_path / "g", format="png")
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        dot.pipe("svg")
    assert not list(tmp_path.iterdir())                       # nothing half-written
    assert dot._repr_mimebundle_() == {"text/plain": dot.source}


@needs_dot
def test_render_and_pipe_with_dot(tmp_path):
    net, loss = two_layer_loss()
    dot = make_dot(loss, params=dict(net.named_parameters()), show_saved=True)
    png = dot.render(tmp_path / "graph", format="png")
    assert png == str(tmp_path / "graph.png")
    assert (tmp_path / "graph.png").read_bytes()[:8] == PNG_SIGNATURE
    assert (tmp_path / "graph").read_text() == dot.source
    svg = dot.pipe("svg", encoding="utf-8")
    assert "<svg" in svg and "fc1.weight" in svg and "CrossEntropyBackward0" in svg
    assert "image/svg+xml" in dot._repr_mimebundle_()
    # dot itself accepts the text (a syntax error would fail here)
    subprocess.run(["dot", "-Tcanon"], input=dot.source.encode(), check=True, capture_output=True)


def test_cli_plot_graph_writes_dot_text(tmp_path, capsys):
    assert cli_main(["plot", "graph", "--out", str(tmp_path / "g.dot")]) == 0
    nodes, _ = parse((tmp_path / "g.dot").read_text())
    assert "fc1.weight\n(100, 784)" in nodes.values() and "CrossEntropyBackward0" in nodes.values()


def test_cli_plot_graph_without_dot_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(graph_module.shutil, "which", lambda name: None)
    assert cli_main(["plot", "graph", "--out", str(tmp_path / "g.png")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "numtorch plot: error:" in err and "Graphviz" in err
    assert not (tmp_path / "g.png").exists()
    assert cli_main(["plot", "graph", "--out", str(tmp_path / "g.jpg")]) == 1


@needs_dot
def test_cli_plot_graph_png(tmp_path):
    assert cli_main(["plot", "graph", "--out", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").read_bytes()[:8] == PNG_SIGNATURE
