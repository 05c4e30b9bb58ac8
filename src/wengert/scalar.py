"""The paper's scalar engine: `Node` (a value in a computation graph) and `Dual` (a dual number).

`Node` is the graph of Andrews, Hu and Ye's "Automatic Differentiation": every arithmetic operation on
nodes makes a new node that remembers its parents and its operation. `backward()` is reverse
accumulation (their Algorithm 2) over a topological order; `forward_accumulate()` is forward
accumulation (Algorithm 1) over the same graph. Both read the partial derivatives of each operation
from the one primitive table in `wengert.core.primitives`.

`Dual` is forward mode by operator overloading: a value and its derivative travel together.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

from .core import primitives as P
from .core.forward import ForwardTrace
from .core.graph import toposort
from .core.trace import BOX_TYPES, DUAL_LEVEL, next_level

_new = object.__new__


def _real(value: Any, who: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{who}: value must be a real number, got {value!r} ({type(value).__name__})")
    return float(value)


class Node:
    """A scalar value in a computation graph.

    Attributes: `value` (float), `grad` (float, d output / d this node after `backward`), `parents`
    (the nodes it was computed from), `op` (the operation's name, None for an input), `name` (an
    optional label for pictures).
    """

    __slots__ = ("__weakref__", "_prim", "grad", "name", "parents", "value")

    def __init__(self, value: float, name: str | None = None) -> None:
        self.value = _real(value, "Node")
        self.grad = 0.0
        self.parents: tuple[Node, ...] = ()
        self._prim = None
        self.name = name

    @property
    def op(self) -> str | None:
        return None if self._prim is None else self._prim.name

    def __repr__(self) -> str:
        label = f"name={self.name!r}, " if self.name else ""
        op = f", op={self.op!r}" if self._prim is not None else ""
        return f"Node({label}value={self.value:.6g}, grad={self.grad:.6g}{op})"

    # --- reverse and forward accumulation ---------------------------------------------------------
    def topological_sort(self) -> list[Node]:
        """Every node this one depends on, each after its parents, ending with this node."""
        return toposort([self])

    def backward(self, seed: float = 1.0) -> None:
        """Reverse accumulation: add d(self)/d(node) * seed to the `grad` of every node of the graph.

        Gradients accumulate across calls (as in PyTorch); `zero_grad()` resets them.
        """
        order = toposort([self])
        cts = {self: float(seed)}
        for node in reversed(order):
            g = cts.pop(node)
            node.grad += g
            prim = node._prim
            if prim is None:
                continue
            parents = node.parents
            vals = [p.value for p in parents] if prim.save_args else ()
            for i, p in enumerate(parents):
                d = prim.partials[i]
                c = g * (d if d.__class__ is int else d(node.value, *vals))
                cts[p] = cts[p] + c if p in cts else c

    def forward_accumulate(self, wrt: Node | dict, seed: float = 1.0) -> dict[Node, float]:
        """Forward accumulation: d(node)/d(wrt) for every node of the graph, in topological order.

        `wrt` is an input node (seeded with `seed`), or a dict {input: seed} for a directional
        derivative. The entry for `self` is the derivative of the output.
        """
        seeds = {wrt: float(seed)} if isinstance(wrt, Node) else dict(wrt)
        tangent: dict[Node, float] = {}
        for node in toposort([self]):
            prim = node._prim
            if node in seeds:
                t = seeds[node]
            elif prim is None:
                t = 0.0
            else:
                vals = [p.value for p in node.parents]
                t = 0.0
                for i, p in enumerate(node.parents):
                    d = prim.partials[i]
                    t += (d if d.__class__ is int else d(node.value, *vals)) * tangent[p]
            tangent[node] = t
        return tangent

    def zero_grad(self) -> None:
        """Set the grad of every node of this graph to 0."""
        for node in toposort([self]):
            node.grad = 0.0

    # --- operations ---------------------------------------------------------------------------------
    def __add__(self, other):
        return _op2(P.add, self, other)

    def __radd__(self, other):
        return _op2(P.add, other, self)

    def __sub__(self, other):
        return _op2(P.sub, self, other)

    def __rsub__(self, other):
        return _op2(P.sub, other, self)

    def __mul__(self, other):
        return _op2(P.mul, self, other)

    def __rmul__(self, other):
        return _op2(P.mul, other, self)

    def __truediv__(self, other):
        return _op2(P.div, self, other)

    def __rtruediv__(self, other):
        return _op2(P.div, other, self)

    def __pow__(self, other):
        return _op2(P.power, self, other)

    def __rpow__(self, other):
        return _op2(P.power, other, self)

    def __neg__(self):
        return _op1(P.neg, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _op1(P.abs_, self)

    def __lt__(self, other):
        return self.value < _value(other)

    def __le__(self, other):
        return self.value <= _value(other)

    def __gt__(self, other):
        return self.value > _value(other)

    def __ge__(self, other):
        return self.value >= _value(other)

    def __float__(self) -> float:
        return self.value

    def sigmoid(self):
        return _op1(P.sigmoid, self)

    def relu(self):
        return _op1(P.relu, self)

    def tanh(self):
        return _op1(P.tanh, self)

    def exp(self):
        return _op1(P.exp, self)

    def log(self):
        return _op1(P.log, self)

    def sin(self):
        return _op1(P.sin, self)

    def cos(self):
        return _op1(P.cos, self)

    def sqrt(self):
        return _op1(P.sqrt, self)

    def abs(self):
        return _op1(P.abs_, self)


def _value(x) -> float:
    return x.value if type(x) is Node else x


def _lift(x) -> Node:
    if type(x) is Node:
        return x
    n = _new(Node)
    n.value = _real(x, "Node")
    n.grad = 0.0
    n.parents = ()
    n._prim = None
    n.name = None
    return n


def _make(value: float, parents: tuple, prim) -> Node:
    n = _new(Node)
    n.value = value
    n.grad = 0.0
    n.parents = parents
    n._prim = prim
    n.name = None
    return n


def _op2(prim, a, b) -> Node:
    if type(a) is not Node:
        if not isinstance(a, numbers.Real):
            return NotImplemented
        a = _lift(a)
    if type(b) is not Node:
        if not isinstance(b, numbers.Real):
            return NotImplemented
        b = _lift(b)
    return _make(prim.scalar(a.value, b.value), (a, b), prim)


def _op1(prim, a: Node) -> Node:
    return _make(prim.scalar(a.value), (a,), prim)


# --- dual numbers ------------------------------------------------------------------------------------


class Dual:
    """A dual number value + deriv·ε with ε² = 0: arithmetic on it carries the derivative along.

    `Dual(3.0, 1.0)` seeds d/dx at x = 3. Functions of wengert (`wengert.sin`, ...) and the methods
    below accept duals. Nested `derivative` calls give higher derivatives without confusing their
    perturbations.
    """

    __slots__ = ("_node", "_tangent", "_trace", "_value")

    def __init__(self, value: Any, deriv: Any = 0.0) -> None:
        self._value = value if type(value) is Dual else _real(value, "Dual")
        self._tangent = deriv if type(deriv) is Dual else _real(deriv, "Dual")
        self._trace = DUAL
        self._node = None

    @property
    def value(self):
        return self._value

    @property
    def deriv(self):
        return self._tangent

    def __repr__(self) -> str:
        return f"Dual({self._value!r}, {self._tangent!r})"

    def __add__(self, other):
        return P.add(self, other)

    def __radd__(self, other):
        return P.add(other, self)

    def __sub__(self, other):
        return P.sub(self, other)

    def __rsub__(self, other):
        return P.sub(other, self)

    def __mul__(self, other):
        return P.mul(self, other)

    def __rmul__(self, other):
        return P.mul(other, self)

    def __truediv__(self, other):
        return P.div(self, other)

    def __rtruediv__(self, other):
        return P.div(other, self)

    def __pow__(self, other):
        return P.power(self, other)

    def __rpow__(self, other):
        return P.power(other, self)

    def __neg__(self):
        return P.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return P.abs_(self)

    def __lt__(self, other):
        return _primal(self) < _primal(other)

    def __le__(self, other):
        return _primal(self) <= _primal(other)

    def __gt__(self, other):
        return _primal(self) > _primal(other)

    def __ge__(self, other):
        return _primal(self) >= _primal(other)

    def __float__(self) -> float:
        return float(_primal(self))

    def sigmoid(self):
        return P.sigmoid(self)

    def relu(self):
        return P.relu(self)

    def tanh(self):
        return P.tanh(self)

    def exp(self):
        return P.exp(self)

    def log(self):
        return P.log(self)

    def sin(self):
        return P.sin(self)

    def cos(self):
        return P.cos(self)

    def sqrt(self):
        return P.sqrt(self)

    def abs(self):
        return P.abs_(self)


def _primal(x) -> float:
    while type(x) is Dual:
        x = x._value
    return x


def _dual_box(value, tr, tangent) -> Dual:
    d = _new(Dual)
    d._value = value
    d._trace = tr
    d._tangent = tangent
    d._node = None
    return d


BOX_TYPES.add(Dual)
DUAL = ForwardTrace(DUAL_LEVEL, _dual_box)


def derivative(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """f' by forward mode with dual numbers: derivative(f)(x) = df/dx at x.

    Nests: derivative(derivative(f)) is f''.
    """

    def df(x):
        tr = ForwardTrace(next_level(), _dual_box)
        with tr:
            out = f(_dual_box(x if type(x) is Dual else _real(x, "derivative"), tr, 1.0))
        if type(out) is Dual and out._trace is tr:
            return out._tangent
        return 0.0

    df.__name__ = f"derivative({getattr(f, '__name__', 'f')})"
    df.__doc__ = f"The derivative of {getattr(f, '__name__', 'f')} (forward mode)."
    return df
