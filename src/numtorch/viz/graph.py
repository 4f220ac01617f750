"""``make_dot``: the autograd graph behind a tensor, as Graphviz DOT text (torchviz's names).

Every tensor made by a recorded op has a ``grad_fn``: the backward node that will send the output's
gradient on to the op's inputs.  ``grad_fn.next_functions`` lists, per input, where that gradient
goes -- another backward node, or ``AccumulateGrad`` for a leaf (a parameter, or an input that
requires grad), which adds it into ``leaf.grad``.  Walking ``next_functions`` from ``y.grad_fn``
therefore visits exactly the graph that ``y.backward()`` runs, and this module writes it down::

    >>> import numtorch
    >>> from numtorch.viz import make_dot
    >>> w = numtorch.ones(3, requires_grad=True)
    >>> dot = make_dot((w * 2).sum(), params={"w": w})
    >>> print(dot.source)                                   # doctest: +SKIP
    digraph {
    ...

The result behaves like ``graphviz.Digraph`` for the common uses (``.source``, ``.render``,
``.pipe``, display in a notebook) without depending on the ``graphviz`` package.  Drawing it as PNG
or SVG needs Graphviz's ``dot`` program (``apt-get install graphviz``, ``brew install graphviz``,
``conda install graphviz``); without it those calls raise one ``RuntimeError`` saying so, and the
DOT text is still there to paste into any Graphviz viewer.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, Iterable, Mapping, Optional, Union

from numtorch.tensor import Tensor

__all__ = ["Digraph", "make_dot"]

_NO_DOT = ("drawing the graph needs Graphviz's `dot` program, which was not found on PATH "
           "(install it: apt-get install graphviz, brew install graphviz or conda install graphviz); "
           "the DOT text is in .source")

# colours as torchviz uses them
_LEAF, _OUTPUT, _SAVED = "lightblue", "darkolivegreen1", "orange"


def _quote(s: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, newlines as DOT's ``\\l``-free ``\\n``."""
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(attrs: Mapping[str, str]) -> str:
    return " [" + " ".join(f"{k}={_quote(v)}" for k, v in attrs.items()) + "]" if attrs else ""


class Digraph:
    """A directed graph as DOT text, with the part of ``graphviz.Digraph``'s API that make_dot needs.

    ``node(name, label, **attrs)``, ``edge(tail, head, **attrs)`` and ``attr(kind, **attrs)`` add
    lines; ``source`` is the DOT text; ``pipe(format)`` returns it drawn (bytes) and
    ``render(filename, format)`` writes it drawn to ``filename.<format>``, both through Graphviz's
    ``dot`` program.
    """

    def __init__(self, name: Optional[str] = None, graph_attr: Optional[Mapping[str, str]] = None,
                 node_attr: Optional[Mapping[str, str]] = None) -> None:
        self.name = name
        self.graph_attr = dict(graph_attr or {})
        self.node_attr = dict(node_attr or {})
        self.body: list = []

    def node(self, name: str, label: Optional[str] = None, **attrs: str) -> None:
        if label is not None:
            attrs = {"label": label, **attrs}
        self.body.append(f"\t{_quote(name)}{_attrs(attrs)}")

    def edge(self, tail_name: str, head_name: str, **attrs: str) -> None:
        self.body.append(f"\t{_quote(tail_name)} -> {_quote(head_name)}{_attrs(attrs)}")

    def attr(self, kw: Optional[str] = None, **attrs: str) -> None:
        """``attr(size="12,12")`` sets graph attributes; ``attr("node", shape="box")`` node defaults."""
        self.body.append(f"\t{kw or 'graph'}{_attrs(attrs)}")

    @property
    def source(self) -> str:
        head = "digraph" + (f" {_quote(self.name)}" if self.name else "") + " {\n"
        lines = []
        if self.graph_attr:
            lines.append(f"\tgraph{_attrs(self.graph_attr)}")
        if self.node_attr:
            lines.append(f"\tnode{_attrs(self.node_attr)}")
        return head + "".join(line + "\n" for line in lines + self.body) + "}\n"

    def __str__(self) -> str:
        return self.source

    def pipe(self, format: str = "svg", encoding: Optional[str] = None) -> Union[bytes, str]:
        """The graph drawn by ``dot -T<format>``: bytes, or text when ``encoding`` is given."""
        out = _run_dot(self.source, format)
        return out.decode(encoding) if encoding else out

    def render(self, filename: Union[str, os.PathLike, None] = None, directory=None, view: bool = False,
               cleanup: bool = False, format: str = "png") -> str:
        """Writes the DOT text to ``filename`` and the drawing to ``filename.<format>``; returns the latter.

        As ``graphviz.Digraph.render``: ``cleanup=True`` removes the DOT file afterwards.  Both files
        are written atomically (a temporary file renamed into place), so a failure leaves neither.
        """
        if view:
            raise ValueError("render: view=True is not supported; open the returned file yourself")
        path = Path(directory or ".") / (filename or (self.name or "Digraph") + ".gv")
        drawing = _run_dot(self.source, format)          # raises before anything is written
        out = path.with_name(path.name + "." + format)
        if not cleanup:
            _write_atomic(path, self.source.encode())
        _write_atomic(out, drawing)
        return str(out)

    def _repr_mimebundle_(self, include=None, exclude=None) -> Dict[str, str]:
        """Shown as SVG in a notebook when ``dot`` is installed, as its DOT text otherwise."""
        svg = self._repr_svg_()
        return {"image/svg+xml": svg} if svg is not None else {"text/plain": self.source}

    def _repr_svg_(self) -> Optional[str]:
        try:
            return self.pipe("svg", encoding="utf-8")
        except RuntimeError:
            return None


def dot_available() -> bool:
    """True when Graphviz's ``dot`` program can be run."""
    return shutil.which("dot") is not None


def _run_dot(source: str, format: str) -> bytes:
    """``dot -T<format>`` on ``source``; one ``RuntimeError`` when dot is missing or fails."""
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError(_NO_DOT)
    proc = subprocess.run([exe, f"-T{format}"], input=source.encode(), capture_output=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"dot -T{format} failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# ---- the autograd graph ------------------------------------------------------------------

def _size(shape) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def _param_names(params) -> Dict[int, str]:
    """``{id(tensor): name}`` from a dict or from ``(name, tensor)`` pairs (``named_parameters()``)."""
    if params is None:
        return {}
    items = params.items() if isinstance(params, Mapping) else params
    names = {}
    for name, t in items:
        if not isinstance(t, Tensor):
            raise TypeError(f"make_dot: params must map names to Tensors, got {type(t).__name__} for "
                            f"{name!r}")
        names[id(t)] = str(name)
    return names


def _ctx_attrs(fn) -> Dict[str, str]:
    """What a backward node keeps besides saved tensors: the attributes forward set on ``ctx``."""
    out = {}
    for k, v in sorted(getattr(fn, "__dict__", {}).items()):
        if k.startswith("_") or callable(v):
            continue
        if isinstance(v, (bool, int, float, str, type(None))) or (
                isinstance(v, tuple) and all(isinstance(e, (bool, int, float, str, type(None))) for e in v)):
            out[k] = repr(v)
        elif hasattr(v, "shape"):
            out[k] = f"array {_size(v.shape)}"
    return out


def _saved(fn) -> list:
    """The tensors a node saved for backward, as ``[(tensor_or_None, shape, dtype)]``."""
    entries = getattr(fn, "saved", None) or ()
    out = []
    for entry in entries:
        obj = entry[1] if isinstance(entry, tuple) and len(entry) == 3 else entry
        if hasattr(obj, "shape") and hasattr(obj, "dtype"):
            out.append((obj if isinstance(obj, Tensor) else None, tuple(obj.shape), str(obj.dtype)))
    return out


def make_dot(var: Union[Tensor, Iterable[Tensor]], params=None, show_attrs: bool = False,
             show_saved: bool = False, max_attr_chars: int = 50) -> Digraph:
    """The autograd graph that ``var.backward()`` would run, as a ``Digraph`` (DOT text).

    Args:
        var: the output tensor (usually the loss), or several outputs.
        params: names for leaf tensors, a dict ``{name: tensor}`` or ``model.named_parameters()``.
    show_attrs: also list what each op kept on ``ctx`` besides tensors (dims, flags, ...).
        show_saved: also draw the tensors each op saved for backward (orange), linked by dashed edges.
        max_attr_chars: attribute values longer than this are shortened with "...".
    Returns:
        A ``Digraph``: backward nodes (grey boxes) named as ``grad_fn.name()`` shows them
        (``LinearBackward0``, ``ReluBackward0``, ...), leaves (blue) with their names and shapes, the
        outputs (green) with their shapes; each edge runs from where a gradient is computed to the
        node it flows into, as in torchviz.

    The walk keeps its own stack, so graphs thousands of ops deep draw without recursion.
    """
    names = _param_names(params)
    outputs = [var] if isinstance(var, Tensor) else list(var)
    dot = Digraph(node_attr=dict(style="filled", shape="box", align="left", fontsize="10", ranksep="0.1",
                                 height="0.2", fontname="monospace"), graph_attr=dict(size="12,12"))
    seen = set()

    def short(s: str) -> str:
        return s if len(s) <= max_attr_chars else s[:max_attr_chars - 3] + "..."

    def leaf(t: Tensor) -> str:
        key = str(id(t))
        if key not in seen:
            seen.add(key)
            dot.node(key, f"{names.get(id(t), '')}\n{_size(t.shape)}".lstrip("\n"), fillcolor=_LEAF)
        return key

    def fn_node(fn) -> str:
        label = fn.name()
        if show_attrs:
            label += "".join(f"\n{k}: {short(v)}" for k, v in _ctx_attrs(fn).items())
        dot.node(str(id(fn)), label)
        if show_saved:
            for i, (t, shape, dtype) in enumerate(_saved(fn)):
                if t is not None and t.grad_fn is None and t.requires_grad:
                    # a saved leaf: drawn once
                    dot.edge(leaf(t), str(id(fn)), style="dashed", arrowhead="none")
                    continue
                sid = f"{id(fn)}_saved{i}"
                dot.node(sid, f"saved {i}\n{_size(shape)} {dtype.replace('numtorch.', '')}", fillcolor=_SAVED)
                dot.edge(sid, str(id(fn)), style="dashed", arrowhead="none")
        return str(id(fn))

    stack = []
    for out in outputs:
        if not isinstance(out, Tensor):
            raise TypeError(f"make_dot: expected a Tensor or a sequence of Tensors, got {type(out).__name__}")
        okey = f"out{id(out)}"
        dot.node(okey, f"{names.get(id(out), '')}\n{_size(out.shape)}".lstrip("\n"), fillcolor=_OUTPUT)
        if out.grad_fn is None:
            if out.requires_grad:           # the output is itself a leaf
                dot.edge(leaf(out), okey)
            continue
        dot.edge(str(id(out.grad_fn)), okey)
        stack.append(out.grad_fn)

    while stack:                            # depth-first without recursion
        fn = stack.pop()
        if str(id(fn)) in seen:
            continue
        seen.add(str(id(fn)))
        head = fn_node(fn)
        for nxt, _ in getattr(fn, "next_functions", ()):
            if nxt is None:
                continue
            variable = getattr(nxt, "variable", None)
            if variable is not None:        # AccumulateGrad: the gradient lands in a leaf's .grad
                dot.edge(leaf(variable), head)
            else:
                dot.edge(str(id(nxt)), head)
                if str(id(nxt)) not in seen:
                    stack.append(nxt)
    return dot
