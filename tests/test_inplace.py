"""In-place updates with PyTorch's semantics: identity kept, leaves stay leaves under no_grad, recorded
updates of computed tensors, refusals with clear messages, and version checks of saved values."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as W
from wengert import nn, optim


def test_manual_sgd_idiom_keeps_the_leaf():
    w = W.tensor([1.0, -2.0, 3.0], requires_grad=True)
    alias = w
    for _ in range(3):
        loss = (w * w).sum()
        loss.backward()
        with W.no_grad():
            w -= 0.25 * w.grad
        w.grad = None
    assert alias is w and w.is_leaf and w.requires_grad and w.grad is None
    np.testing.assert_allclose(w.numpy(), np.array([1.0, -2.0, 3.0]) * 0.5**3)


@pytest.mark.parametrize(
    "op, expect",
    [
        (lambda t: t.add_(2.0), [3.0, 4.0]),
        (lambda t: t.sub_(W.tensor([1.0, 1.0]), alpha=2), [-1.0, 0.0]),
        (lambda t: t.mul_(3.0), [3.0, 6.0]),
        (lambda t: t.div_(2.0), [0.5, 1.0]),
        (lambda t: t.clamp_(1.5, 1.8), [1.5, 1.8]),
        (lambda t: t.fill_(7.0), [7.0, 7.0]),
        (lambda t: t.zero_(), [0.0, 0.0]),
        (lambda t: t.copy_(np.array([4.0, 5.0])), [4.0, 5.0]),
    ],
)
def test_methods_mutate_the_data_and_return_self(op, expect):
    w = W.tensor([1.0, 2.0], requires_grad=True)
    memory = w.numpy()
    with W.no_grad():
        assert op(w) is w
    assert w.is_leaf and w.requires_grad
    np.testing.assert_allclose(memory, expect)  # the same memory was written


def test_operators_mutate_constants_and_keep_identity():
    a = W.tensor([1.0, 2.0])
    b = a
    a += 1
    a *= 2
    a -= W.tensor([1.0, 1.0])
    a /= 2
    assert a is b
    np.testing.assert_allclose(b.numpy(), [1.5, 2.5])
    assert a.dtype == np.float32  # a float64 operand is cast into the tensor, as in PyTorch
    a += np.float64(0.5)
    assert a.dtype == np.float32


def test_in_place_on_a_leaf_that_requires_grad_is_refused_outside_no_grad():
    w = W.tensor([1.0, 2.0], requires_grad=True)
    for update in (lambda: w.add_(1.0), lambda: w.zero_(), lambda: w.__isub__(1.0)):
        with pytest.raises(RuntimeError, match=r"leaf tensor that requires grad .* wengert.no_grad"):
            update()
    np.testing.assert_array_equal(w.numpy(), [1.0, 2.0])  # nothing changed


def test_in_place_on_a_computed_tensor_is_recorded():
    x = W.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 2
    alias = h
    h += 1
    h *= x  # (2x + 1) x
    h.clamp_(None, 20.0)  # clamps 21 at x = 3: no gradient there
    assert alias is h and not h.is_leaf
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 9.0, 0.0])


def test_constant_updated_by_a_tensor_that_requires_grad_joins_the_graph():
    w = W.tensor([1.0, 2.0], requires_grad=True)
    acc = W.zeros(2)
    acc += w * w
    acc.copy_(acc * 3)
    assert acc.requires_grad and not acc.is_leaf
    acc.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [6.0, 12.0])
    z = W.tensor([1.0, 2.0], requires_grad=True)
    y = z * 1.0
    y.zero_()  # recorded: the old values get no gradient
    (y + z).sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), [1.0, 1.0])


def test_saved_tensor_modified_in_place_makes_backward_raise():
    w = W.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    with W.no_grad():
        w.sub_(0.1)
    with pytest.raises(
        RuntimeError, match=r"input 0 of 'mul' .* modified by an in-place operation \(sub_\)"
    ):
        loss.backward()


def test_saved_output_modified_in_place_makes_backward_raise():
    x = W.tensor([0.5, 1.0], requires_grad=True)
    y = W.exp(x)  # exp saves its output
    z = y.sum()
    with W.no_grad():
        y += 1
    with pytest.raises(RuntimeError, match=r"output of 'exp' .* \(add_\)"):
        z.backward()


def test_modifying_a_constant_saved_by_mul_and_a_view_of_it():
    w = W.tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = W.tensor([1.0, 1.0, 1.0])
    loss = (w * c).sum()
    c[1:].fill_(5.0)  # a view of c's memory: c's version moves too
    with pytest.raises(RuntimeError, match="'mul'"):
        loss.backward()
    c2 = np.ones(3)
    loss = (w * c2).sum()
    W.from_numpy(c2)[0] = 2.0  # __setitem__ writes are versioned as well
    with pytest.raises(RuntimeError, match=r"'mul' .* \(__setitem__\)"):
        loss.backward()


def test_updates_before_recording_or_after_backward_are_fine():
    w = W.tensor([1.0, 2.0], requires_grad=True)
    with W.no_grad():
        w.mul_(2.0)
    loss = (w * w).sum()  # recorded after the update: it saved the new values
    loss.backward(retain_graph=True)
    with W.no_grad():
        w.mul_(2.0)
    np.testing.assert_allclose(w.grad.numpy(), [4.0, 8.0])
    with pytest.raises(RuntimeError, match="'mul'"):  # but not a second backward of the old graph
        loss.backward()


def test_grad_is_private_to_each_leaf():
    a = W.tensor([1.0, 2.0], requires_grad=True)
    b = W.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()  # both leaves receive the same cotangent
    a.grad.zero_()
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])
    b.grad += 1.0
    np.testing.assert_array_equal(b.grad.numpy(), [2.0, 2.0])
    c = W.tensor(np.ones((2, 3)), requires_grad=True)
    (c * np.ones(3)).sum().backward()
    c.grad.mul_(2)  # a broadcast cotangent would be read-only
    np.testing.assert_array_equal(c.grad.numpy(), np.full((2, 3), 2.0))


def test_grad_none_works_everywhere():
    w = W.tensor([1.0], requires_grad=True)
    w.grad = None
    c = W.tensor([1.0])
    c.grad = None
    assert c.grad is None
    with pytest.raises(RuntimeError, match="leaf tensors"):
        c.grad = np.ones(1)


def test_errors_name_the_operation_shapes_and_dtypes():
    a = W.tensor([1.0, 2.0])
    with pytest.raises(
        ValueError, match=r"add_: operands of shapes \(3,\) do not broadcast to the shape \(2,\)"
    ):
        a += np.ones(3)
    i = W.tensor([1, 2])
    with pytest.raises(TypeError, match="mul_: cannot write the result into a tensor of dtype int64"):
        i *= 1.5
    with pytest.raises(ValueError, match="fill_: the value must be a number"):
        a.fill_(np.ones(2))
    x = W.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1
    with pytest.raises(ValueError, match="cannot change the shape"):
        h += W.ones((3, 2))
    np.testing.assert_array_equal(a.numpy(), [1.0, 2.0])  # nothing was written


def test_inside_transforms_operators_rebind_and_methods_are_refused():
    def f(x):
        acc = x * 0
        for k in range(3):
            acc += x**k
        return acc.sum()

    np.testing.assert_allclose(W.grad(f)(np.array([2.0])), [1.0 + 4.0])

    def g(x):
        y = x * 1
        y.add_(1.0)
        return y.sum()

    with pytest.raises(RuntimeError, match="not supported on values traced by a function transform"):
        W.grad(g)(np.array([1.0]))


def test_scalar_results_can_be_updated():
    x = W.tensor([1.0, 2.0])
    s = x.sum()
    s += 1
    assert s.item() == 4.0


def test_optimizers_update_in_place_and_keep_parameters():
    model = nn.Linear(3, 2, seed=0)
    params = list(model.parameters())
    memory = [p.numpy() for p in params]
    for cls in (optim.SGD, optim.Adam, optim.RMSprop, optim.Adagrad):
        opt = cls(model.parameters(), lr=0.1)
        loss = model(np.ones((4, 3), np.float32)).sum()
        loss.backward()
        before = [m.copy() for m in memory]
        opt.step()
        assert list(model.parameters()) == params and all(p.is_leaf and p.requires_grad for p in params)
        assert all(np.shares_memory(p.numpy(), m) for p, m in zip(params, memory))
        assert all(not np.array_equal(a, b) for a, b in zip(before, memory))
        opt.zero_grad()


def test_optimizer_step_between_forward_and_backward_is_caught():
    model = nn.Linear(3, 2, seed=0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = np.ones((4, 3), np.float32)
    model(x).sum().backward()
    loss = model(x).sum()
    opt.step()  # changes the weight that `loss`'s graph saved
    with pytest.raises(RuntimeError, match=r"'linear' .* \(sub_\)"):
        loss.backward()


def test_load_state_dict_writes_in_place():
    m = nn.Linear(2, 2, seed=0)
    w = m.weight
    m.load_state_dict(nn.Linear(2, 2, seed=1).state_dict())
    assert m.weight is w and w.is_leaf
