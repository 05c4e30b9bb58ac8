"""`Module`, the base class of layers and models, and `Parameter`, the trainable tensors they hold.

A module registers what is assigned to its attributes: a `Module` becomes a sub-module, and a leaf tensor
with `requires_grad=True` (what `Parameter(...)` makes) becomes a parameter. Parameters are named by
their attribute path (`"0.weight"`, `"encoder.layer1.bias"`), which is how `state_dict` and
`load_state_dict` address them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from ..tensor import Tensor, no_grad, tensor

__all__ = ["IncompatibleKeys", "Module", "Parameter", "is_parameter"]


def Parameter(data: Any, dtype: Any = np.float32) -> Tensor:
    """A new trainable tensor: a float32 (by default) copy of `data` with requires_grad=True.

    It is an ordinary `Tensor` leaf (not a subclass), so the engine handles it at full speed; assigning
    it to a `Module` attribute registers it as a parameter.
    """
    if isinstance(data, Tensor):
        data = data.numpy()
    return tensor(np.array(data, dtype=dtype), requires_grad=True)


def is_parameter(value: Any) -> bool:
    """True for what a Module registers as a parameter: a leaf tensor with requires_grad=True."""
    return type(value) is Tensor and value.requires_grad and value.is_leaf


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(..., strict=False)` skipped."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of layers and models. Subclasses call `super().__init__()` and define `forward`.

    Calling a module calls `forward`. Parameters and sub-modules are registered by assigning them to
    attributes; `train()`/`eval()` switch the `training` flag of the module and all its sub-modules
    (layers such as `Dropout` behave differently in the two modes).
    """

    training: bool

    def __init__(self) -> None:
        # Parameters and sub-modules also live in __dict__, so reading them in forward() is plain
        # attribute access; these ordered name sets say which attributes they are.
        object.__setattr__(self, "_param_names", {})
        object.__setattr__(self, "_module_names", {})
        object.__setattr__(self, "_buffer_names", {})  # name -> persistent (kept in state_dict)
        object.__setattr__(self, "training", True)

    # --- registration ----------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        registry = self.__dict__.get("_param_names")
        if registry is None:
            raise AttributeError(
                f"cannot assign attribute {name!r} before Module.__init__() ran: call "
                f"super().__init__() at the start of {type(self).__name__}.__init__"
            )
        modules = self.__dict__["_module_names"]
        registry.pop(name, None)
        modules.pop(name, None)
        buffers = self.__dict__.get("_buffer_names", {})
        if name in buffers and (value is None or (type(value) is Tensor and not is_parameter(value))):
            pass  # a buffer given new values stays a buffer
        elif isinstance(value, Module):
            buffers.pop(name, None)
            modules[name] = None
        elif is_parameter(value):
            buffers.pop(name, None)
            registry[name] = None
        else:
            buffers.pop(name, None)
            if isinstance(value, (list, tuple, dict)):
                _warn_unregistered(self, name, value)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._param_names.pop(name, None)
        self._module_names.pop(name, None)
        self.__dict__.get("_buffer_names", {}).pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, value: Tensor | None) -> None:
        """Register `value` (a leaf tensor with requires_grad=True) as parameter `name`."""
        if value is not None and not is_parameter(value):
            raise TypeError(
                f"register_parameter({name!r}): expected a leaf tensor with requires_grad=True "
                f"(make one with Parameter(data)), got {type(value).__name__}"
            )
        setattr(self, name, value)

    def register_buffer(self, name: str, value: Any, persistent: bool = True) -> None:
        """Register `value` (an array or tensor, kept as a tensor outside the graph) as buffer `name`:
        state that is not trained, such as BatchNorm's running statistics. Persistent buffers are part
        of `state_dict`."""
        if value is not None:
            value = tensor(value.numpy() if isinstance(value, Tensor) else np.asarray(value))
        self.__dict__["_buffer_names"][name] = bool(persistent)
        self._param_names.pop(name, None)
        self._module_names.pop(name, None)
        object.__setattr__(self, name, value)

    def add_module(self, name: str, module: Module) -> None:
        """Register `module` as sub-module `name`."""
        if not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): expected a Module, got {type(module).__name__}")
        setattr(self, name, module)

    # --- traversal -------------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, sub-module) for the direct sub-modules, in registration order."""
        d = self.__dict__
        for name in self._module_names:
            yield name, d[name]

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module ("" for itself) and every module below it."""
        stack = [(prefix, self)]
        seen: set[int] = set()
        while stack:
            name, mod = stack.pop()
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            yield name, mod
            kids = [(f"{name}.{n}" if name else n, m) for n, m in mod.named_children()]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, parameter) for every parameter, each shared tensor listed once."""
        seen: set[int] = set()
        mods = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mname, mod in mods:
            d = mod.__dict__
            for pname in mod._param_names:
                p = d[pname]
                if id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mname}.{pname}" if mname else pname), p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, persistent_only: bool = False
    ) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer) for every buffer that is not None."""
        mods = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mname, mod in mods:
            d = mod.__dict__
            for bname, persistent in d.get("_buffer_names", {}).items():
                if d[bname] is not None and (persistent or not persistent_only):
                    yield (f"{mname}.{bname}" if mname else bname), d[bname]

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def parameters(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every parameter (each shared tensor once), in a fixed order."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def num_parameters(self) -> int:
        """The number of trainable scalars."""
        return sum(p.size for p in self.parameters())

    # --- gradients and modes ---------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Reset every parameter's gradient to None (backward() accumulates into it otherwise)."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        """Set training mode (True) or evaluation mode (False) here and in every sub-module."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: dropout off (same as `train(False)`)."""
        return self.train(False)

    # --- state -----------------------------------------------------------------------------------
    def state_dict(self, keep_vars: bool = False) -> dict[str, Tensor]:
        """{dotted name: tensor} for every parameter and persistent buffer, under PyTorch's key names
        ("0.weight", "encoder.bias", "bn.running_mean"), ready for `wengert.save` or for PyTorch's
        `load_state_dict` (after `torch.from_numpy(v.numpy())`). The values are copies outside the
        graph; `keep_vars=True` gives the parameters and buffers themselves."""
        items = [*self.named_parameters(), *self.named_buffers(persistent_only=True)]
        return {name: t if keep_vars else tensor(t.numpy()) for name, t in items}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy the values of `state_dict` into the parameters of the same names (in place).

        With `strict`, the keys must match exactly; otherwise keys missing from either side are skipped
        and returned. A shape mismatch is always an error. Nothing is changed if an error is raised.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected a dict, got {type(state_dict).__name__}")
        own = dict(self.named_parameters())
        own.update(self.named_buffers(persistent_only=True))
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(repr(k) for k in missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(repr(k) for k in unexpected))
        values = {}
        for name, p in own.items():
            if name not in state_dict:
                continue
            v = state_dict[name]
            # wengert tensors, numpy arrays, and anything numpy can read (a PyTorch CPU tensor)
            v = v.numpy() if isinstance(v, Tensor) else np.asarray(v)
            if v.shape != p.shape:
                problems.append(
                    f"shape mismatch for {name!r}: the checkpoint has {v.shape}, the model {p.shape}"
                )
            elif not (np.issubdtype(v.dtype, np.number) or v.dtype == np.bool_):
                problems.append(f"{name!r} has non-numeric dtype {v.dtype}")
            values[name] = v
        if problems:
            raise ValueError(
                f"load_state_dict into {type(self).__name__} failed:\n  " + "\n  ".join(problems)
            )
        with no_grad():  # the in-place path: parameters keep their identity, versions tick
            for name, v in values.items():
                own[name].copy_(v)
        return IncompatibleKeys(missing, unexpected)

    # --- calling and printing --------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def extra_repr(self) -> str:
        """The arguments shown between the parentheses of this module's repr."""
        return ""

    def __repr__(self) -> str:
        kids = list(self.named_children())
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not kids:
            return head + ")"
        lines = [head]
        for name, m in kids:
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


def _warn_unregistered(module: Module, name: str, value: Any) -> None:
    """Layers kept in a plain list, tuple or dict are invisible to parameters(), state_dict(),
    train()/eval() and optimizers: say so where it happens."""
    items = value.values() if isinstance(value, dict) else value
    if any(isinstance(v, Module) or is_parameter(v) for v in items):
        kind = type(value).__name__
        fix = "nn.ModuleDict" if isinstance(value, dict) else "nn.ModuleList"
        warnings.warn(
            f"{type(module).__name__}.{name} is a plain {kind} of modules or parameters: they are not "
            f"registered, so parameters(), state_dict(), train()/eval() and optimizers will not see "
            f"them; use {fix}(...) instead",
            UserWarning,
            stacklevel=3,
        )
