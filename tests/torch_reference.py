"""Reference values from PyTorch for the layers, losses and optimizers that follow PyTorch's definitions.

`compute(torch)` evaluates every case with PyTorch (float64); `python tests/torch_reference.py` stores
the inputs and results in tests/data/torch_reference.npz, so the suite checks wengert against them
without PyTorch installed (tests/test_torch_compat.py), and against live PyTorch when it is. It also
writes tests/data/reference.safetensors with the `safetensors` package's PyTorch API: a file as
PyTorch and Hugging Face tools write it, for tests/test_safetensors.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PATH = Path(__file__).resolve().parent / "data" / "torch_reference.npz"
SAFETENSORS_PATH = PATH.parent / "reference.safetensors"
SAFETENSORS_METADATA = {"format": "pt", "written_by": "safetensors.torch"}


def safetensors_reference(torch) -> dict:
    """The tensors of reference.safetensors, one of each dtype PyTorch checkpoints commonly hold."""
    return {
        "layer.weight": torch.arange(12, dtype=torch.float32).reshape(3, 4) / 4,
        "layer.bias": torch.arange(3, dtype=torch.float64) - 1,
        "ids": torch.tensor([5, -3], dtype=torch.int64),
        "small_ids": torch.tensor([7, -8, 9], dtype=torch.int32),
        "mask": torch.tensor([True, False, True]),
        "half": torch.tensor([0.5, -2.0], dtype=torch.float16),
        "bf16": torch.tensor([1.0, -0.5, 3.0, 256.0], dtype=torch.bfloat16),
        "bytes": torch.tensor([0, 255], dtype=torch.uint8),
        "empty": torch.zeros(0, 2),
    }


def inputs() -> dict[str, np.ndarray]:
    """The fixed inputs of every case (float64)."""
    rng = np.random.default_rng(14)
    return {
        "x": rng.normal(size=(4, 5)) * 2,
        "w": rng.normal(size=(4, 5)),
        "table": rng.normal(size=(6, 3)),
        "idx": np.array([[0, 2, 5, 0], [1, 1, 3, 4]]),
        "v": rng.normal(size=(2, 4, 3)),
        "logits": rng.normal(size=(6, 4)) * 3,
        "labels": np.array([0, 3, 1, 1, 2, 0]),
        "labels_ignored": np.array([0, 3, -100, 1, 2, -100]),
        "class_weight": np.array([1.0, 2.0, 0.5, 3.0]),
        "target": rng.normal(size=(6, 4)),
        "p0": rng.normal(size=(3, 2)),
        "goal": rng.normal(size=(3, 2)),
    }


#: Cross-entropy options (labels with ignored entries): name -> keyword arguments ("str": an input).
CE_OPTIONS = {
    "ignore": {},
    "weight": {"weight": "class_weight"},
    "smooth": {"label_smoothing": 0.2},
    "weight_smooth": {"weight": "class_weight", "label_smoothing": 0.3},
}

#: Optimizer cases: name -> (class name, keyword arguments), 6 steps on sum(c * (p - goal)**2 + p**4/10).
OPTIMIZERS = {
    "rmsprop": ("RMSprop", {"lr": 0.01}),
    "rmsprop_centered": (
        "RMSprop",
        {"lr": 0.02, "alpha": 0.9, "momentum": 0.5, "centered": True, "weight_decay": 0.1},
    ),
    "adagrad": ("Adagrad", {"lr": 0.1}),
    "adagrad_decay": (
        "Adagrad",
        {"lr": 0.2, "lr_decay": 0.05, "weight_decay": 0.01, "initial_accumulator_value": 0.3},
    ),
}
STEPS = 6

#: Schedule cases: name -> (class name, keyword arguments); the rates of 8 epochs from lr = 0.5.
SCHEDULERS = {
    "step": ("StepLR", {"step_size": 3, "gamma": 0.5}),
    "multistep": ("MultiStepLR", {"milestones": [2, 5], "gamma": 0.1}),
    "exponential": ("ExponentialLR", {"gamma": 0.8}),
    "cosine": ("CosineAnnealingLR", {"T_max": 5, "eta_min": 0.01}),
}
EPOCHS = 8


def compute(torch) -> dict[str, np.ndarray]:
    """Every case evaluated by PyTorch: outputs and gradients, keyed by name."""
    F = torch.nn.functional
    a = {k: torch.from_numpy(v) for k, v in inputs().items()}
    out: dict[str, np.ndarray] = {}

    def value_and_grad(name, fn, *args):
        xs = [t.clone().requires_grad_(True) for t in args]
        y = fn(*xs)
        y.backward(torch.ones_like(y) if y.ndim else None)
        out[name] = y.detach().numpy()
        for i, x in enumerate(xs):
            out[f"{name}.grad{i}"] = x.grad.numpy()

    value_and_grad("gelu", lambda x, w: F.gelu(x) * w, a["x"], a["w"])
    value_and_grad("gelu_tanh", lambda x, w: F.gelu(x, approximate="tanh") * w, a["x"], a["w"])
    value_and_grad("silu", lambda x, w: F.silu(x) * w, a["x"], a["w"])
    value_and_grad("leaky_relu", lambda x, w: F.leaky_relu(x, 0.1) * w, a["x"], a["w"])
    value_and_grad("embedding", lambda t: F.embedding(a["idx"], t, padding_idx=0) * a["v"], a["table"])
    for red in ("mean", "sum", "none"):
        value_and_grad(
            f"cross_entropy.{red}",
            lambda z, red=red: F.cross_entropy(z, a["labels"], reduction=red),
            a["logits"],
        )
        value_and_grad(
            f"nll.{red}",
            lambda z, red=red: F.nll_loss(F.log_softmax(z, 1), a["labels"], reduction=red),
            a["logits"],
        )
        for opt, kw in CE_OPTIONS.items():
            kw = {k: a[v] if isinstance(v, str) else v for k, v in kw.items()}
            value_and_grad(
                f"cross_entropy_{opt}.{red}",
                lambda z, red=red, kw=kw: F.cross_entropy(z, a["labels_ignored"], reduction=red, **kw),
                a["logits"],
            )
        value_and_grad(
            f"nll_weighted.{red}",
            lambda z, red=red: F.nll_loss(
                F.log_softmax(z, 1), a["labels_ignored"], weight=a["class_weight"], reduction=red
            ),
            a["logits"],
        )
        value_and_grad(
            f"mse.{red}", lambda z, t, red=red: F.mse_loss(z, t, reduction=red), a["logits"], a["target"]
        )
        value_and_grad(
            f"l1.{red}", lambda z, t, red=red: F.l1_loss(z, t, reduction=red), a["logits"], a["target"]
        )
    for name, (cls, kw) in OPTIMIZERS.items():
        p = a["p0"].clone().requires_grad_(True)
        opt = getattr(torch.optim, cls)([p], **kw)
        for _ in range(STEPS):
            opt.zero_grad()
            loss = (
                torch.arange(1.0, 7.0, dtype=torch.float64).reshape(3, 2) * (p - a["goal"]) ** 2
            ).sum()
            (loss + (p**4).sum() / 10).backward()
            opt.step()
        out[f"optim.{name}"] = p.detach().numpy().copy()
    for name, (cls, kw) in SCHEDULERS.items():
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=0.5)
        sched = getattr(torch.optim.lr_scheduler, cls)(opt, **kw)
        lrs = []
        for _ in range(EPOCHS):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        out[f"sched.{name}"] = np.array(lrs)
    return out


def main() -> None:
    import torch

    PATH.parent.mkdir(exist_ok=True)
    data = {f"input.{k}": v for k, v in inputs().items()}
    data.update(compute(torch))
    np.savez(PATH, **data)
    print(f"wrote {len(data)} arrays to {PATH} (torch {torch.__version__})")
    from safetensors.torch import save_file

    save_file(safetensors_reference(torch), SAFETENSORS_PATH, metadata=SAFETENSORS_METADATA)
    print(f"wrote {SAFETENSORS_PATH}")


if __name__ == "__main__":
    main()
