"""The paper's scalar engine: `Node` (a value in a computation graph) and `Dual` (a dual number).

`Node` is the graph of Andrews, Hu and Ye's "Automatic Differentiation": every arithmetic operation on
nodes makes a new node that remembers its parents and its operation. `backward()` is reverse
accumulation (their Algorithm 2) over a topological order; `forward_accumulate()` is forward
accumulation (Algorithm 1) over the same graph. Both read the partial derivatives of each operation
from the one primitive table in `wengert.core.primitives`.

The paper's operation classes are here too: `Add`, `Sub`, `Mul`, `Div`, `Pow`, `Neg`, `Sigmoid`,
`ReLU`, `Tanh`, `Exp`, `Log`, `Sin`, `Cos`, `Sqrt`, `Abs` on the bases `BinaryOp` and `UnaryOp`, each
with `forward()`, `backward()` and `apply(...)`. `node.op` is the operation object of a node. A built-in
operation's `forward` and `backward` read the same table, so the classes hold no derivative formula of
their own; an operation a user writes in the paper's style (a subclass of `BinaryOp` or `UnaryOp` with
its own `forward` and `backward`) joins the graph like the built-in ones.

`Dual` is forward mode by operator overloading: a value and its derivative travel together.
"""

from __future__ import annotations

import numbers
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .core import primitives as P
from .core.forward import ForwardTrace
from .core.operators import Arithmetic
from .core.primitive import guarded_partial
from .core.trace import BOX_TYPES, DUAL_LEVEL, next_level

_new = object.__new__


def _real(value: Any, who: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{who}: value must be a real number, got {value!r} ({type(value).__name__})")
    return float(value)


class Node:
    """A scalar value in a computation graph.

    `Node(value)` is an input; `Node(value, op, parents)` is the output of operation `op` (an
    operation object, see `BinaryOp` and `UnaryOp`) on the nodes `parents`, as in the paper. The
    arithmetic operators and the methods `sigmoid`, `relu`, ... make such nodes directly.

    Attributes: `value` (float), `grad` (float, d output / d this node after `backward`), `parents`
    (the nodes it was computed from), `op` (the operation object, None for an input), `name` (an
    optional label for pictures).
    """

    # The operands live in two slots, `_x` and `_y` (None when absent), rather than in a tuple: one
    # allocation per operation instead of two, which halves the garbage collector's work while a
    # graph is built. `_prim` is what backward reads: the table's primitive for a built-in operation,
    # or a `_UserRule` for a user's. `_op` (unset until asked for) caches the operation object.
    # `_ct` holds a node's cotangent during one backward sweep.
    __slots__ = ("__weakref__", "_ct", "_op", "_prim", "_x", "_y", "grad", "name", "value")

    def __init__(
        self,
        value: float,
        op: Operation | None = None,
        parents: Sequence[Node] = (),
        name: str | None = None,
    ) -> None:
        self.value = _real(value, "Node")
        self.grad = 0.0
        self.name = name
        self._x = self._y = self._prim = None
        if op is None:
            if parents:
                raise ValueError("Node: parents were given without the op that computed this node")
            return
        _attach(self, op, parents)

    @property
    def parents(self) -> tuple[Node, ...]:
        """The nodes this one was computed from, in argument order (empty for an input)."""
        x = self._x
        if x is None:
            return ()
        y = self._y
        return (x,) if y is None else (x, y)

    @property
    def op(self) -> Operation | None:
        """The operation that computed this node (an `Add`, a `Sigmoid`, ...), None for an input.

        For a node made by an operator (`x + y`) the operation object is made when first asked for
        (and kept), so building a graph costs one object per node, not two.
        """
        try:
            return self._op
        except AttributeError:
            pass
        prim = self._prim
        if prim is None:
            return None
        op = _OP_CLASSES[prim.name]._view(self)
        self._op = op
        return op

    def __repr__(self) -> str:
        label = f"name={self.name!r}, " if self.name else ""
        op = f", op={_op_name(self)!r}" if self._prim is not None else ""
        return f"Node({label}value={self.value:.6g}, grad={self.grad:.6g}{op})"

    # --- reverse and forward accumulation ---------------------------------------------------------
    def topological_sort(self) -> list[Node]:
        """Every node this one depends on, each after its parents, ending with this node.

        The order is deterministic: parents are visited in argument order.
        """
        return toposort(self)

    def backward(self, seed: float = 1.0) -> None:
        """Reverse accumulation (the paper's Algorithm 2): set this node's grad to `seed`, then add
        d(self)/d(node) * seed to the `grad` of every other node of the graph.

        As in the paper's listing, the output's grad is set, not added to; every other node adds
        its share, so a second `backward()` on the same graph doubles the inputs' grads (as the
        paper's operations, which do `grad +=`, would). `zero_grad()` sets every grad of the graph
        to 0, which is what a training loop does before each step. Each node's cotangent is summed
        afresh during the sweep, so the result does not depend on the grads left by earlier calls.

        Built-in operations read their partial derivatives from the primitive table; a user's
        operation supplies them through its own `backward()`. Where a partial divides by zero on
        floats (sqrt or x**0.5 at 0) the gradient is inf, or 0 where the cotangent reaching it is 0.
        """
        order = toposort(self)  # also sets every node's `_ct` to 0.0
        self.grad = 0.0  # the loop adds the seed: the output's grad becomes the seed
        self._ct = float(seed)
        for node in reversed(order):
            g = node._ct
            node.grad += g
            prim = node._prim
            if prim is None:
                continue
            a = node._x
            b = node._y
            if b is not None:
                da, db = prim.partials
                # constant partials (add, sub): no call needed
                if da.__class__ in _CONSTANT and db.__class__ in _CONSTANT:
                    a._ct += g * da
                    b._ct += g * db
                    continue
                av, bv = a.value, b.value
                try:
                    ca = g * (da if da.__class__ in _CONSTANT else da(node.value, av, bv))
                    cb = g * (db if db.__class__ in _CONSTANT else db(node.value, av, bv))
                except (ZeroDivisionError, OverflowError):
                    ca, cb = _limit_terms(prim, g, node.value, (av, bv))
                a._ct += ca
                b._ct += cb
            else:
                (da,) = prim.partials
                if da.__class__ in _CONSTANT:
                    a._ct += g * da
                    continue
                try:
                    a._ct += g * da(node.value, a.value)
                except (ZeroDivisionError, OverflowError):
                    a._ct += _limit_terms(prim, g, node.value, (a.value,))[0]

    def forward_accumulate(self, wrt: Node | dict, seed: float = 1.0) -> dict[Node, float]:
        """Forward accumulation: d(node)/d(wrt) for every node of the graph, in topological order.

        `wrt` is an input node (seeded with `seed`), or a dict {input: seed} for a directional
        derivative. The entry for `self` is the derivative of the output.
        """
        seeds = {wrt: float(seed)} if isinstance(wrt, Node) else dict(wrt)
        tangent: dict[Node, float] = {}
        for node in toposort(self):
            prim = node._prim
            if node in seeds:
                t = seeds[node]
            elif prim is None:
                t = 0.0
            else:
                parents = node.parents
                ts = [tangent[p] for p in parents]
                vals = [p.value for p in parents]
                t = 0.0
                for ti, di in zip(ts, partial_terms(prim, 1.0, node.value, vals)):
                    # a zero tangent times an infinite partial counts as 0
                    if ti:
                        t += ti * di
            tangent[node] = t
        return tangent

    def zero_grad(self) -> None:
        """Set the grad of every node of this graph (this node and all it depends on) to 0."""
        for node in toposort(self):
            node.grad = 0.0

    # --- operations -------------------------------------------------------------------------------
    # The arithmetic operators and the methods sigmoid, relu, tanh, exp, log, sin, cos, sqrt, abs are
    # made by `_binary` / `_unary` below (one small function each, reading its primitive from the
    # table); these declarations give their signatures to type checkers.
    if TYPE_CHECKING:

        def __add__(self, other: Node | float) -> Node: ...
        def __radd__(self, other: float) -> Node: ...
        def __sub__(self, other: Node | float) -> Node: ...
        def __rsub__(self, other: float) -> Node: ...
        def __mul__(self, other: Node | float) -> Node: ...
        def __rmul__(self, other: float) -> Node: ...
        def __truediv__(self, other: Node | float) -> Node: ...
        def __rtruediv__(self, other: float) -> Node: ...
        def __pow__(self, other: Node | float) -> Node: ...
        def __rpow__(self, other: float) -> Node: ...
        def __neg__(self) -> Node: ...
        def __abs__(self) -> Node: ...
        def abs(self) -> Node: ...
        def sigmoid(self) -> Node: ...
        def relu(self) -> Node: ...
        def tanh(self) -> Node: ...
        def exp(self) -> Node: ...
        def log(self) -> Node: ...
        def sin(self) -> Node: ...
        def cos(self) -> Node: ...
        def sqrt(self) -> Node: ...

    def __pos__(self) -> Node:
        return self

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


_CONSTANT = frozenset((int, float))  # the table gives constant partials (add, sub, neg) as numbers
_MARK = object()  # on the toposort stack: "the node below me has all its parents placed"


def toposort(root: Node) -> list[Node]:
    """Post-order depth-first sort, iterative, and allocating no per-node containers.

    A stack of bare nodes and markers keeps the garbage collector out of the way on deep graphs
    (a stack of tuples or iterators a million deep triggers full collections). Sets `_ct = 0.0` on
    every node, ready for a backward sweep.
    """
    order: list[Node] = []
    seen: set[Node] = set()
    stack: list = [root]
    push, pop, mark, out = stack.append, stack.pop, seen.add, order.append
    while stack:
        node = pop()
        if node is _MARK:
            out(pop())
            continue
        if node in seen:
            continue
        mark(node)
        node._ct = 0.0
        push(node)
        push(_MARK)
        # the second operand is pushed first so that operands are visited (and listed) in order
        p = node._y
        if p is not None and p not in seen:
            push(p)
        p = node._x
        if p is not None and p not in seen:
            push(p)
    return order


def partial_terms(prim, g: float, ans: float, vals: list) -> list[float]:
    """g * (d prim / d arg i) for each argument, from the table's partials."""
    try:
        out = []
        partials = prim.partials  # once: a user's operation computes them by running its backward
        for i in range(len(vals)):
            d = partials[i]
            if d is None:
                raise prim.missing("scalar", i)
            out.append(g * (d if d.__class__ in _CONSTANT else d(ans, *vals)))
        return out
    except (ZeroDivisionError, OverflowError):
        return _limit_terms(prim, g, ans, vals)


def _limit_terms(prim, g: float, ans: float, vals) -> list[float]:
    """The terms g * partial where a partial divides by zero or overflows on Python floats: the
    core's guarded partial gives the limit (inf), and a zero g times an infinite partial counts as 0,
    as in the tensor engine."""
    out = []
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        for i in range(len(vals)):
            d = prim.partials[i]
            if d.__class__ not in _CONSTANT:
                d = guarded_partial(d, ans, vals)
            out.append(float(g * d) if g else 0.0)
    return out


def _value(x) -> float:
    return x.value if type(x) is Node else x


def _const(x) -> Node | None:
    """A number as an input node; None for anything that is not a real number."""
    cls = x.__class__
    if cls is float or cls is int:
        value = float(x)
    elif isinstance(x, numbers.Real):
        value = _real(x, "Node")  # refuses bool with a TypeError
    else:
        return None
    n = _new(Node)
    n.value = value
    n.grad = 0.0
    n._x = n._y = n._prim = n.name = None
    return n


def _as_node(x, who: str) -> Node:
    if x.__class__ is Node:
        return x
    n = _const(x)
    if n is None:
        raise TypeError(f"{who}: operands must be Nodes or real numbers, got {x!r} ({type(x).__name__})")
    return n


def _binary(prim, name: str, symbol: str, reflected: bool):
    """The Node method `name` for binary primitive `prim` (`reflected`: the Node is the right operand).

    Built once per operator so each call does the least work: the table's Python-float function
    (with its domain check where the primitive has one) and a node made without `__init__`.
    """
    f = prim.scalar if prim.domain is not None else prim.scalar_impl

    if reflected:

        def method(self, other):
            if other.__class__ is not Node:
                other = _const(other)
                if other is None:
                    return NotImplemented
            n = _new(Node)
            n.value = f(other.value, self.value)
            n.grad = 0.0
            n._x = other
            n._y = self
            n._prim = prim
            n.name = None
            return n

    else:

        def method(self, other):
            if other.__class__ is not Node:
                other = _const(other)
                if other is None:
                    return NotImplemented
            n = _new(Node)
            n.value = f(self.value, other.value)
            n.grad = 0.0
            n._x = self
            n._y = other
            n._prim = prim
            n.name = None
            return n

    expr = f"other {symbol} self" if reflected else f"self {symbol} other"
    method.__doc__ = f"The node {expr} (op {prim.name!r}); `other` may be a Node or a real number."
    method.__name__ = name
    method.__qualname__ = f"Node.{name}"
    return method


def _unary(prim, name: str, doc: str):
    f = prim.scalar if prim.domain is not None else prim.scalar_impl

    def method(self):
        n = _new(Node)
        n.value = f(self.value)
        n.grad = 0.0
        n._x = self
        n._y = None
        n._prim = prim
        n.name = None
        return n

    method.__doc__ = doc
    method.__name__ = name
    method.__qualname__ = f"Node.{name}"
    return method


_BINARY = (("add", "+", P.add), ("sub", "-", P.sub), ("mul", "*", P.mul), ("truediv", "/", P.div))
for _name, _symbol, _prim in (*_BINARY, ("pow", "**", P.power)):
    for _reflected, _method in ((False, f"__{_name}__"), (True, f"__r{_name}__")):
        setattr(Node, _method, _binary(_prim, _method, _symbol, _reflected))
for _name, _prim, _doc in (
    ("__neg__", P.neg, "The node -x."),
    ("__abs__", P.abs_, "The node |x| (its derivative at 0 is taken to be 0)."),
    ("abs", P.abs_, "The node |x| (its derivative at 0 is taken to be 0)."),
    ("sigmoid", P.sigmoid, "The node 1 / (1 + exp(-x))."),
    ("relu", P.relu, "The node max(x, 0) (its derivative at 0 is taken to be 0)."),
    ("tanh", P.tanh, "The node tanh(x)."),
    ("exp", P.exp, "The node exp(x)."),
    ("log", P.log, "The node ln(x); raises DomainError (a ValueError) unless x > 0."),
    ("sin", P.sin, "The node sin(x)."),
    ("cos", P.cos, "The node cos(x)."),
    ("sqrt", P.sqrt, "The node sqrt(x); raises DomainError (a ValueError) if x < 0."),
):
    setattr(Node, _name, _unary(_prim, _name, _doc))
del _name, _symbol, _prim, _reflected, _method, _doc


# --- the paper's operation classes -------------------------------------------------------------------


class Operation:
    """An operation of the graph in the paper's style.

    `forward()` returns the output's value from the operands' values; `backward()` adds the output's
    grad times each local partial derivative to the operands' grads; `apply(...)` makes the output
    node. Subclass `BinaryOp` (operands `a`, `b`, output `c`) or `UnaryOp` (operand `a`, output `b`).

    A built-in operation names its `primitive` and inherits `forward` and `backward`, which read the
    one primitive table (they hold no formula of their own). A user's operation overrides both;
    `Node.backward` and `Node.forward_accumulate` then take its local partial derivatives from its
    `backward()`, run with the output's grad set to 1 (every grad it touches is restored).

    An operation refers to its output node weakly, so graphs hold no reference cycles.
    """

    #: The table's primitive of a built-in operation; None for a user's operation.
    primitive: ClassVar[Any] = None
    #: How many operands the operation takes.
    arity: ClassVar[int] = 0

    @property
    def name(self) -> str:
        """The primitive's name for a built-in operation ("add", "pow", ...), else the class name
        in lower case."""
        prim = type(self).primitive
        return prim.name if prim is not None else type(self).__name__.lower()

    def _operands(self) -> tuple[Node, ...]:  # pragma: no cover - defined by BinaryOp and UnaryOp
        raise NotImplementedError

    def _output(self) -> Node | None:  # pragma: no cover - defined by BinaryOp and UnaryOp
        raise NotImplementedError

    def _bind(self, parents: tuple[Node, ...], node: Node) -> None:  # pragma: no cover
        raise NotImplementedError

    def forward(self) -> float:
        """The output's value, computed from the operands' values (through the primitive table)."""
        prim = type(self).primitive
        if prim is None:
            raise NotImplementedError(f"{type(self).__name__}: a new operation must define forward()")
        return prim.scalar(*(n.value for n in self._operands()))

    def backward(self) -> None:
        """Add output.grad * d output / d operand to each operand's grad (partials from the table)."""
        prim = type(self).primitive
        if prim is None:
            raise NotImplementedError(f"{type(self).__name__}: a new operation must define backward()")
        out = self._output()
        operands = self._operands()
        for node, term in zip(
            operands, partial_terms(prim, out.grad, out.value, [n.value for n in operands])
        ):
            node.grad += term

    def __str__(self) -> str:
        return self.name

    def __format__(self, spec: str) -> str:
        return format(self.name, spec)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _weak(node: Node | None):
    return None if node is None else weakref.ref(node)


class BinaryOp(Operation):
    """An operation of two operands, `a` and `b`, with output node `c` (the paper's names).

    `Add().apply(x, y)` and `Add(x, y).apply()` both return the node `c` = x + y; numbers are taken
    as constant nodes.
    """

    arity = 2

    def __init__(self, a: Node | float | None = None, b: Node | float | None = None) -> None:
        self.a = a
        self.b = b
        self._c = None

    @property
    def c(self) -> Node | None:
        """The output node (None before `apply`)."""
        ref = self._c
        return None if ref is None else ref()

    @c.setter
    def c(self, node: Node | None) -> None:
        self._c = _weak(node)

    def _operands(self) -> tuple[Node, ...]:
        return (self.a, self.b)

    def _output(self) -> Node | None:
        return self.c

    def _bind(self, parents: tuple[Node, ...], node: Node) -> None:
        if getattr(self, "a", None) is None and getattr(self, "b", None) is None:
            self.a, self.b = parents
        if self.c is None:
            self.c = node

    def apply(self, a: Node | float | None = None, b: Node | float | None = None) -> Node:
        """The output node `c` of this operation on `a` and `b` (by default the operands given to the
        constructor): `Node(self.forward(), self, [a, b])`."""
        if a is not None:
            self.a = a
        if b is not None:
            self.b = b
        if self.a is None or self.b is None:
            raise TypeError(f"{type(self).__name__}.apply: a binary operation needs two operands")
        who = f"{type(self).__name__}.apply"
        self.a, self.b = _as_node(self.a, who), _as_node(self.b, who)
        c = Node(self.forward(), self, (self.a, self.b))
        self.c = c  # a weak reference: the node keeps the operation, not the other way round
        return c

    @classmethod
    def _view(cls, node: Node) -> BinaryOp:
        op = cls.__new__(cls)
        op.a, op.b, op._c = node._x, node._y, weakref.ref(node)
        return op


class UnaryOp(Operation):
    """An operation of one operand `a` with output node `b` (the paper's names).

    `Sigmoid().apply(x)` and `Sigmoid(x).apply()` both return the node `b` = sigmoid(x).
    """

    arity = 1

    def __init__(self, a: Node | float | None = None) -> None:
        self.a = a
        self._b = None

    @property
    def b(self) -> Node | None:
        """The output node (None before `apply`)."""
        ref = self._b
        return None if ref is None else ref()

    @b.setter
    def b(self, node: Node | None) -> None:
        self._b = _weak(node)

    def _operands(self) -> tuple[Node, ...]:
        return (self.a,)

    def _output(self) -> Node | None:
        return self.b

    def _bind(self, parents: tuple[Node, ...], node: Node) -> None:
        if getattr(self, "a", None) is None:
            (self.a,) = parents
        if self.b is None:
            self.b = node

    def apply(self, a: Node | float | None = None) -> Node:
        """The output node `b` of this operation on `a` (by default the operand given to the
        constructor): `Node(self.forward(), self, [a])`."""
        if a is not None:
            self.a = a
        if self.a is None:
            raise TypeError(f"{type(self).__name__}.apply: a unary operation needs an operand")
        self.a = _as_node(self.a, f"{type(self).__name__}.apply")
        b = Node(self.forward(), self, (self.a,))
        self.b = b
        return b

    @classmethod
    def _view(cls, node: Node) -> UnaryOp:
        op = cls.__new__(cls)
        op.a, op._b = node._x, weakref.ref(node)
        return op


# The built-in operations: each names its primitive; forward and backward read it from the table.


class Add(BinaryOp):
    """c = a + b."""

    primitive = P.add


class Sub(BinaryOp):
    """c = a - b."""

    primitive = P.sub


class Mul(BinaryOp):
    """c = a * b."""

    primitive = P.mul


class Div(BinaryOp):
    """c = a / b."""

    primitive = P.div


class Pow(BinaryOp):
    """c = a ** b."""

    primitive = P.power


class Neg(UnaryOp):
    """b = -a."""

    primitive = P.neg


class Abs(UnaryOp):
    """b = |a| (derivative 0 at 0)."""

    primitive = P.abs_


class Sigmoid(UnaryOp):
    """b = 1 / (1 + exp(-a))."""

    primitive = P.sigmoid


class ReLU(UnaryOp):
    """b = max(a, 0) (derivative 0 at 0)."""

    primitive = P.relu


class Tanh(UnaryOp):
    """b = tanh(a)."""

    primitive = P.tanh


class Exp(UnaryOp):
    """b = exp(a)."""

    primitive = P.exp


class Log(UnaryOp):
    """b = ln(a), for a > 0."""

    primitive = P.log


class Sin(UnaryOp):
    """b = sin(a)."""

    primitive = P.sin


class Cos(UnaryOp):
    """b = cos(a)."""

    primitive = P.cos


class Sqrt(UnaryOp):
    """b = sqrt(a), for a >= 0."""

    primitive = P.sqrt


OPERATIONS: tuple[type, ...] = (
    Add, Sub, Mul, Div, Pow, Neg, Abs, Sigmoid, ReLU, Tanh, Exp, Log, Sin, Cos, Sqrt
)  # fmt: skip
_OP_CLASSES = {cls.primitive.name: cls for cls in OPERATIONS}


class _UserRule:
    """What backward and forward_accumulate read for a node made by a user's operation.

    `partials` are the local partial derivatives d node / d parent, found by running the operation's
    own `backward()` with the node's grad set to 1 and its parents' grads to 0 (then restored). An
    operand used twice (x op x) gets the sum of both partials at its first position.
    """

    __slots__ = ("name", "node", "op")

    def __init__(self, op: Any, node: Node) -> None:
        self.op = op
        self.node = weakref.ref(node)  # the node holds this rule: no reference cycle
        name = op.name if isinstance(op, Operation) else None
        self.name = name if isinstance(name, str) else type(op).__name__.lower()

    @property
    def partials(self) -> tuple[float, ...]:
        node = self.node()
        parents = node.parents
        unique = list(dict.fromkeys(parents))
        saved = [p.grad for p in unique]
        saved_out = node.grad
        try:
            for p in unique:
                p.grad = 0.0
            node.grad = 1.0
            self.op.backward()
            local = {p: float(p.grad) for p in unique}
        finally:
            for p, g in zip(unique, saved):
                p.grad = g
            node.grad = saved_out
        out = []
        for p in parents:
            out.append(local.pop(p, 0.0))  # a repeated operand: its partials sum at the first use
        return tuple(out)


def _attach(node: Node, op: Any, parents: Sequence[Node]) -> None:
    """Make `node` the output of `op` on `parents` (Node(value, op, parents))."""
    if not callable(getattr(op, "backward", None)):
        raise TypeError(
            "Node: op must be an operation object with a backward() method (wengert.scalar.Add(), "
            f"or a subclass of BinaryOp or UnaryOp), got {op!r}"
        )
    ps = tuple(parents)
    if not 1 <= len(ps) <= 2:
        raise ValueError(
            f"Node: an operation takes one or two parents (a UnaryOp or a BinaryOp), got {len(ps)}"
        )
    for p in ps:
        if not isinstance(p, Node):
            raise TypeError(f"Node: parents must be Nodes, got {p!r} ({type(p).__name__})")
    cls = type(op)
    if isinstance(op, Operation):
        if cls.arity != len(ps):
            raise ValueError(f"Node: {cls.__name__} takes {cls.arity} operand(s), got {len(ps)} parents")
        op._bind(ps, node)
    node._x = ps[0]
    node._y = ps[1] if len(ps) == 2 else None
    builtin = (
        isinstance(op, Operation) and cls.primitive is not None and cls.backward is Operation.backward
    )
    node._prim = cls.primitive if builtin else _UserRule(op, node)
    node._op = op


def _op_name(node: Node) -> str:
    return node._prim.name


# --- dual numbers ------------------------------------------------------------------------------------


class Dual(Arithmetic):
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

    Nests: derivative(derivative(f)) is f''. Dual numbers are scalars: for a function of an array
    (or one that indexes arrays) use `wengert.jvp` or `wengert.grad`.
    """

    def df(x):
        tr = ForwardTrace(next_level(), _dual_box)
        with tr:
            out = f(_dual_box(x if type(x) in BOX_TYPES else _real(x, "derivative"), tr, 1.0))
        if type(out) is Dual and out._trace is tr:
            return out._tangent
        return 0.0

    df.__name__ = f"derivative({getattr(f, '__name__', 'f')})"
    df.__doc__ = f"The derivative of {getattr(f, '__name__', 'f')} (forward mode)."
    return df
