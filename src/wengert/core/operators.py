"""Python's arithmetic operators and the common math methods, mapped onto the primitives.

Shared by the box classes (`Tensor`, `Dual`) so that `x * y`, `2 - x`, `x ** 3` and `x.exp()` mean
the same primitive whatever the box.
"""

from __future__ import annotations

from . import primitives as P


class Arithmetic:
    """Mixin: `+ - * / **` with the box on either side, unary `-` and `abs`, and math methods."""

    __slots__ = ()

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

    def exp(self):
        return P.exp(self)

    def log(self):
        return P.log(self)

    def sin(self):
        return P.sin(self)

    def cos(self):
        return P.cos(self)

    def tan(self):
        return P.tan(self)

    def tanh(self):
        return P.tanh(self)

    def sigmoid(self):
        return P.sigmoid(self)

    def relu(self):
        return P.relu(self)

    def sqrt(self):
        return P.sqrt(self)

    def abs(self):
        return P.abs_(self)

    def pow(self, exponent):
        return P.power(self, exponent)
