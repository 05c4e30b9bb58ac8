"""Optimisers (SGD, Adam, AdamW) and learning-rate schedules (StepLR, CosineAnnealingLR).

The update rules follow PyTorch's definitions exactly. Optimisers update the parameters' arrays in
place, outside the graph (no tape, no new tensors), so a step costs a few numpy operations per
parameter. Gradients are only read: an engine may share one gradient array between several leaves.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .tensor import Tensor

__all__ = ["SGD", "Adam", "AdamW", "CosineAnnealingLR", "LRScheduler", "Optimizer", "StepLR"]


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

    def step(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _scratch(self, p: np.ndarray, k: int = 0) -> np.ndarray:
        """Work array number `k` of p's shape and dtype (contents undefined)."""
        key = (id(p), k)
        w = self._work.get(key)
        if w is None or w.shape != p.shape or w.dtype != p.dtype:
            w = self._work[key] = np.empty_like(p)
        return w

    def _params_with_grads(self, group: dict[str, Any]):
        """(values array, gradient array, state) of each parameter of `group` that has a gradient."""
        state = self.state
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            s = state.get(id(p))
            if s is None:
                s = state[id(p)] = {}
            yield p.numpy(), g.numpy(), s

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

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        for group in self.param_groups:
            lr, mom, damp = group["lr"], group["momentum"], group["dampening"]
            wd, nesterov = group["weight_decay"], group["nesterov"]
            for p, g, s in self._params_with_grads(group):
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
                p -= np.multiply(g, lr, out=work)


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

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p, g, s in self._params_with_grads(group):
                work = self._scratch(p)
                if wd:
                    if self.decoupled:
                        p *= 1 - lr * wd
                    else:
                        g = np.add(
                            g, np.multiply(p, wd, out=self._scratch(p, 1)), out=self._scratch(p, 1)
                        )
                if not s:
                    s["step"] = 0
                    s["exp_avg"] = np.zeros_like(p)
                    s["exp_avg_sq"] = np.zeros_like(p)
                s["step"] = t = s["step"] + 1
                m, v = s["exp_avg"], s["exp_avg_sq"]
                m *= b1
                m += np.multiply(g, 1 - b1, out=work)
                v *= b2
                np.multiply(g, g, out=work)
                work *= 1 - b2
                v += work
                denom = np.sqrt(v, out=work)
                denom /= math.sqrt(1 - b2**t)
                denom += eps
                np.divide(m, denom, out=work)
                work *= lr / (1 - b1**t)
                p -= work


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


# --- learning-rate schedules -------------------------------------------------------------------------


class LRScheduler:
    """Base class: sets each group's "lr" from its initial value and the epoch count.

    Call `step()` once per epoch after `optimizer.step()`; `last_epoch` counts the calls (the
    constructor makes the first, setting epoch 0's rate, as in PyTorch).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        self.optimizer = optimizer
        for g in optimizer.param_groups:
            if last_epoch == -1:
                g.setdefault("initial_lr", g["lr"])
            elif "initial_lr" not in g:
                raise KeyError("resuming a schedule (last_epoch != -1) needs 'initial_lr' in each group")
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set the learning rates for it."""
        self.last_epoch += 1
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = self.lr_at(base, self.last_epoch)
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last `step()`, one per group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """lr = initial_lr * gamma ** (epoch // step_size): decay by `gamma` every `step_size` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (initial_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2: from the initial rate
    down to `eta_min` at epoch T_max along half a cosine (and back up after, as in PyTorch)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = int(T_max), float(eta_min)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2
