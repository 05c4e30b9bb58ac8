"""The gradient checker must catch wrong rules, at first and at second order, in both modes."""

import math

import numpy as np
import pytest

import wengert as W
from wengert.core.primitive import Elementwise
from wengert.core.trace import raw
from wengert.testing import check_grads, numerical_jvp

x0 = np.array([0.3, -0.7, 1.1])

# cube with a wrong derivative (2x^2 instead of 3x^2)
wrong_first = Elementwise("cube_wrong", lambda x: x**3, None, partials=(lambda ans, x: 2 * x * x,))
# cube whose derivative is right in value but computed on raw numbers, so it cannot be differentiated
# again: its second derivative comes out 0 instead of 6x
wrong_second = Elementwise(
    "cube_opaque", lambda x: x**3, None, partials=(lambda ans, x: 3 * np.asarray(raw(x)) ** 2,)
)
right = Elementwise("cube", lambda x: x**3, None, partials=(lambda ans, x: 3 * x * x,))


def test_accepts_a_right_rule():
    check_grads(right, x0, order=3)


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_catches_a_wrong_first_order_rule(mode):
    with pytest.raises(AssertionError, match=r"order 1"):
        check_grads(wrong_first, x0, modes=(mode,), order=1)


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_catches_a_wrong_second_order_rule(mode):
    check_grads(wrong_second, x0, modes=(mode,), order=1)  # first order is right
    with pytest.raises(AssertionError, match=r"order 2"):
        check_grads(wrong_second, x0, modes=(mode,), order=2)


def test_catches_a_wrong_structural_rule():
    from wengert.core.primitive import Structural

    bad_sum = Structural(
        "bad_sum",
        lambda x: np.sum(x),
        vjps=(lambda g, ans, x: g * np.ones(np.shape(x)) * 2,),
        jvp=lambda ts, ans, x: W.sum(ts[0]),
    )
    with pytest.raises(AssertionError, match="reverse mode"):
        check_grads(bad_sum, x0, modes=("rev",), order=1)


def test_numerical_jvp_is_central_difference():
    (d,) = numerical_jvp(np.sin, [np.array(1.0)], [np.array(1.0)])
    assert abs(d - math.cos(1.0)) < 1e-9


def test_rejects_unknown_mode():
    with pytest.raises(ValueError, match="unknown mode"):
        check_grads(np.sin, x0, modes=("sideways",))
