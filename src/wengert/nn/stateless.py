"""A module called with given parameter values: the bridge from `nn.Module` to function transforms.

`functional_call(model, params, x)` runs `model(x)` with each parameter replaced by the value of the
same name in `params` (a dict, as `model.named_parameters()` names them). The model is unchanged
afterwards. With it a training step is a pure function of a pytree of arrays, which `wengert.grad`
differentiates and `wengert.jit` compiles::

    params = {k: p.numpy() for k, p in model.named_parameters()}

    @wengert.jit
    def step(params, x, y):
        loss = lambda p: nn.cross_entropy(functional_call(model, p, x), y)
        g = wengert.grad(loss)(params)
        return {k: params[k] - 0.1 * g[k] for k in params}

    params = step(params, x, y)          # ... and at the end: model.load_state_dict(params)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .module import Module

__all__ = ["functional_call", "parameter_arrays"]


def parameter_arrays(model: Module) -> dict:
    """The model's parameters as a dict of numpy arrays (copies), named as `named_parameters` names
    them: the pytree a functional training step takes."""
    return {k: p.numpy().copy() for k, p in model.named_parameters()}


def functional_call(model: Module, params: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
    """`model(*args, **kwargs)` with the parameters named in `params` taking those values."""
    owners = {}
    for mname, mod in model.named_modules():
        for pname in mod._param_names:
            owners[f"{mname}.{pname}" if mname else pname] = (mod, pname)
    unknown = sorted(set(params) - set(owners))
    if unknown:
        raise KeyError(f"functional_call: {type(model).__name__} has no parameters named {unknown}")
    saved = []
    try:
        for name, value in params.items():
            mod, pname = owners[name]
            saved.append((mod, pname, mod.__dict__[pname]))
            mod.__dict__[pname] = value  # bypasses registration: restored below
        return model(*args, **kwargs)
    finally:
        for mod, pname, old in reversed(saved):
            mod.__dict__[pname] = old
