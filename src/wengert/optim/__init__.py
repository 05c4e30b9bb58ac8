"""Optimisers (SGD, Adam, AdamW, RMSprop, Adagrad); learning-rate schedules live in
`wengert.optim.lr_scheduler` (and stay importable from here).

The update rules follow PyTorch's definitions exactly. A step computes each update with numpy into
reused work arrays, then writes it through the tensors' in-place path (`inplace.write_update`, what
`with no_grad(): p -= u` does): the parameter keeps its identity and stays a leaf, and a graph that
saved the old values refuses a later backward. Gradients are only read: an engine may share one
gradient array between several leaves. `state_dict()`/`load_state_dict()` save and restore the
per-parameter state, so training resumes exactly where it stopped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..inplace import write_update
from ..tensor import Tensor, no_grad
from . import lr_scheduler
from .lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LRScheduler,
    MultiStepLR,
    StepLR,
)

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "MultiStepLR",
    "Optimizer",
    "RMSprop",
    "StepLR",
    "lr_scheduler",
]


class Optimizer:
    """Base class: holds parameter groups (dicts with "params" and the hyperparameters) and per-parameter
    state. `params` is an iterable of tensors, or of dicts {"params": [...], "lr": ...} to give groups
    their own hyperparameters (those not given come from the defaults)."""

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[int, dict[str, Any]] = {}  # id(param) -> state
        # Work arrays reused across steps: a fresh temporary of a large parameter's size costs a
        # page-faulting allocation each step, as much as the arithmetic itself.
        self._work: dict[tuple[int, int], np.ndarray] = {}
        items = list(params)
        if not items:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        groups = items if isinstance(items[0], dict) else [{"params": items}]
        seen: set[int] = set()
        for g in groups:
            if not isinstance(g, dict):
                raise TypeError(f"{type(self).__name__}: mix of parameter groups and tensors in params")
            unknown = set(g) - set(self.defaults) - {"params"}
            if unknown:
                raise ValueError(f"{type(self).__name__}: unknown group options {sorted(unknown)}")
            group = {**self.defaults, **g, "params": list(g["params"])}
            for p in group["params"]:
                if type(p) is not Tensor or not p.requires_grad or not p.is_leaf:
                    raise TypeError(
                        f"{type(self).__name__}: parameters must be leaf tensors with "
                        f"requires_grad=True (e.g. model.parameters()), got {type(p).__name__}"
                    )
                if id(p) in seen:
                    raise ValueError(f"{type(self).__name__}: a parameter appears twice")
                seen.add(id(p))
            self._check(group)
            self.param_groups.append(group)

    def _check(self, group: dict[str, Any]) -> None:
        if group["lr"] < 0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate {group['lr']}")
        if group.get("weight_decay", 0.0) < 0:
            raise ValueError(f"{type(self).__name__}: invalid weight_decay {group['weight_decay']}")

    def zero_grad(self) -> None:
        """Reset the gradients of all parameters to None."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient (outside the graph: under `no_grad()`)."""
        with no_grad():
            for group in self.param_groups:
                self._update(group)

    def _update(self, group: dict[str, Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _scratch(self, p: np.ndarray, k: int = 0) -> np.ndarray:
        """Work array number `k` of p's shape and dtype (contents undefined)."""
        key = (id(p), k)
        w = self._work.get(key)
        if w is None or w.shape != p.shape or w.dtype != p.dtype:
            w = self._work[key] = np.empty_like(p)
        return w

    def _params_with_grads(self, group: dict[str, Any]):
        """(tensor, values array, gradient array, state) of each parameter of `group` with a gradient."""
        state = self.state
        for t in group["params"]:
            g = t._node.grad  # read only: no private copy needed (see Tensor.grad)
            if g is None:
                continue
            s = state.get(id(t))
            if s is None:
                s = state[id(t)] = {}
            yield t, t.numpy(), np.asarray(g), s

    # --- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """{"state": {str(index): {name: array or number}}, "param_groups": [options + param indices]},
        with parameters numbered in group order (savable with `wengert.save`)."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {
            str(index[pid]): {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
            for pid, s in self.state.items()
            if pid in index
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and state saved by `state_dict` (the parameters must match in number
        and shape, group by group)."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"load_state_dict: the saved state has {len(groups)} parameter groups, this optimizer "
                f"{len(self.param_groups)}"
            )
        params: dict[int, Tensor] = {}
        for i, (saved, group) in enumerate(zip(groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"load_state_dict: group {i} has {len(saved['params'])} parameters in the saved "
                    f"state and {len(group['params'])} here"
                )
            for k, p in zip(saved["params"], group["params"]):
                params[int(k)] = p
        new_state: dict[int, dict[str, Any]] = {}
        for k, s in state_dict["state"].items():
            p = params[int(k)]
            entry = {}
            for name, v in s.items():
                if isinstance(v, Tensor):
                    v = v.numpy()
                if isinstance(v, np.ndarray):
                    if v.shape != p.shape:
                        raise ValueError(
                            f"load_state_dict: state {name!r} of parameter {k} has shape {v.shape}, "
                            f"the parameter {p.shape}"
                        )
                    v = v.astype(p.dtype, copy=True)
                entry[name] = v
            new_state[id(p)] = entry
        for saved, group in zip(groups, self.param_groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            opts = ", ".join(f"{k}={v}" for k, v in g.items() if k != "params")
            lines.append(f"  group {i}: {len(g['params'])} tensors, {opts}")
        return "\n".join(lines) + "\n)"


class SGD(Optimizer):
    """Stochastic gradient descent, with PyTorch's momentum and weight decay:

    g <- grad + weight_decay * p;  b <- momentum * b + (1 - dampening) * g (b = g on the first step);
    g <- g + momentum * b if nesterov else b;  p <- p - lr * g.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        if momentum < 0:
            raise ValueError(f"SGD: invalid momentum {momentum}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov momentum needs momentum > 0 and dampening = 0")
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov
        )
        super().__init__(params, defaults)

    def _update(self, group: dict[str, Any]) -> None:
        lr, mom, damp = group["lr"], group["momentum"], group["dampening"]
        wd, nesterov = group["weight_decay"], group["nesterov"]
        for t, p, g, s in self._params_with_grads(group):
            work = self._scratch(p)
            if wd:
                g = np.add(g, np.multiply(p, wd, out=self._scratch(p, 1)), out=self._scratch(p, 1))
            if mom:
                buf = s.get("momentum_buffer")
                if buf is None:
                    buf = s["momentum_buffer"] = np.array(g, dtype=p.dtype)
                else:
                    buf *= mom
                    buf += g if damp == 0 else np.multiply(g, 1 - damp, out=work)
                g = np.add(g, np.multiply(buf, mom, out=work), out=work) if nesterov else buf
            write_update(t, "sub_", np.multiply(g, lr, out=work))


class Adam(Optimizer):
    """Adam (Kingma & Ba), as in PyTorch: with g = grad + weight_decay * p (L2 penalty),

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g**2;
    p <- p - lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps).
    """

    decoupled = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"{type(self).__name__}: betas must be in [0, 1), got {betas}")
        if eps < 0:
            raise ValueError(f"{type(self).__name__}: invalid eps {eps}")
        super().__init__(params, dict(lr=lr, betas=(b1, b2), eps=eps, weight_decay=weight_decay))

    def _update(self, group: dict[str, Any]) -> None:
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        for t, p, g, s in self._params_with_grads(group):
            work = self._scratch(p)
            if wd:
                if self.decoupled:
                    write_update(t, "mul_", 1 - lr * wd)
                else:
                    g = np.add(g, np.multiply(p, wd, out=self._scratch(p, 1)), out=self._scratch(p, 1))
            if not s:
                s["step"] = 0
                s["exp_avg"] = np.zeros_like(p)
                s["exp_avg_sq"] = np.zeros_like(p)
            s["step"] = step = s["step"] + 1
            m, v = s["exp_avg"], s["exp_avg_sq"]
            m *= b1
            m += np.multiply(g, 1 - b1, out=work)
            v *= b2
            np.multiply(g, g, out=work)
            work *= 1 - b2
            v += work
            denom = np.sqrt(v, out=work)
            denom /= math.sqrt(1 - b2**step)
            denom += eps
            np.divide(m, denom, out=work)
            work *= lr / (1 - b1**step)
            write_update(t, "sub_", work)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p <- p (1 - lr weight_decay) before the
    Adam update, instead of adding the decay to the gradient."""

    decoupled = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)


class RMSprop(Optimizer):
    """RMSprop (Hinton), as in PyTorch: with g = grad + weight_decay * p,

    v <- alpha v + (1 - alpha) g**2;  centered: a <- alpha a + (1 - alpha) g, v~ = v - a**2, else v~ = v;
    d = g / (sqrt(v~) + eps);  with momentum: b <- momentum b + d, p <- p - lr b;  else p <- p - lr d.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"RMSprop: alpha must be in [0, 1], got {alpha}")
        if eps < 0 or momentum < 0:
            raise ValueError(f"RMSprop: invalid eps {eps} or momentum {momentum}")
        defaults = dict(
            lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered
        )
        super().__init__(params, defaults)

    def _update(self, group: dict[str, Any]) -> None:
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        wd, mom, centered = group["weight_decay"], group["momentum"], group["centered"]
        for t, p, g, s in self._params_with_grads(group):
            work = self._scratch(p)
            if wd:
                g = np.add(g, np.multiply(p, wd, out=self._scratch(p, 1)), out=self._scratch(p, 1))
            if not s:
                s["step"] = 0
                s["square_avg"] = np.zeros_like(p)
                if mom:
                    s["momentum_buffer"] = np.zeros_like(p)
                if centered:
                    s["grad_avg"] = np.zeros_like(p)
            s["step"] += 1
            v = s["square_avg"]
            v *= alpha
            np.multiply(g, g, out=work)
            work *= 1 - alpha
            v += work
            if centered:
                a = s["grad_avg"]
                a *= alpha
                a += np.multiply(g, 1 - alpha, out=work)
                np.multiply(a, a, out=work)
                np.subtract(v, work, out=work)
                avg = np.sqrt(work, out=work)
            else:
                avg = np.sqrt(v, out=work)
            avg += eps
            np.divide(g, avg, out=work)
            if mom:
                buf = s["momentum_buffer"]
                buf *= mom
                buf += work
                write_update(t, "sub_", np.multiply(buf, lr, out=work))
            else:
                work *= lr
                write_update(t, "sub_", work)


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), as in PyTorch: with g = grad + weight_decay * p and step count k,

    s <- s + g**2;  p <- p - lr / (1 + (k - 1) lr_decay) * g / (sqrt(s) + eps),

    the sum s starting at `initial_accumulator_value`.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        if lr_decay < 0 or initial_accumulator_value < 0 or eps < 0:
            raise ValueError(
                f"Adagrad: invalid lr_decay {lr_decay}, initial_accumulator_value "
                f"{initial_accumulator_value} or eps {eps}"
            )
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
        )
        super().__init__(params, defaults)

    def _update(self, group: dict[str, Any]) -> None:
        lr, decay, wd, eps = group["lr"], group["lr_decay"], group["weight_decay"], group["eps"]
        for t, p, g, s in self._params_with_grads(group):
            work = self._scratch(p)
            if wd:
                g = np.add(g, np.multiply(p, wd, out=self._scratch(p, 1)), out=self._scratch(p, 1))
            if not s:
                s["step"] = 0
                s["sum"] = np.full_like(p, group["initial_accumulator_value"])
            s["step"] = k = s["step"] + 1
            clr = lr / (1 + (k - 1) * decay)
            acc = s["sum"]
            acc += np.multiply(g, g, out=work)
            std = np.sqrt(acc, out=work)
            std += eps
            np.divide(g, std, out=work)
            work *= clr
            write_update(t, "sub_", work)
