"""Convolution, pooling and normalisation (wengert.nn.conv, wengert.nn.norm) against PyTorch.

Every functional form and layer is compared with PyTorch twice: live, when torch is installed (values
and gradients on fresh random inputs), and against reference values that PyTorch computed once and
that are stored in tests/data/torch_conv_reference.npz, so the comparison runs without torch too.
Regenerate the file with `python tests/test_nn_conv.py` (needs torch).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import wengert as W
from wengert import nn
from wengert.testing import check_grads

F = nn.functional
REFERENCE = Path(__file__).parent / "data" / "torch_conv_reference.npz"

# name: (wengert function, torch function name and keyword arguments, input shapes). Each function
# takes its differentiable arrays positionally; the torch twin is torch.nn.functional.<name>(**kw).
CASES = {
    "conv2d_groups_stride_dilation": (
        lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2),
        ("conv2d", dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)),
        [(2, 4, 7, 6), (6, 2, 3, 3), (6,)],
    ),
    "conv2d_same_5x5": (
        lambda x, w, b: F.conv2d(x, w, b, padding="same"),
        ("conv2d", dict(padding="same")),
        [(2, 3, 6, 7), (4, 3, 5, 5), (4,)],
    ),
    "conv2d_depthwise_stride3": (
        lambda x, w: F.conv2d(x, w, stride=3, padding=1, groups=3),
        ("conv2d", dict(stride=3, padding=1, groups=3)),
        [(1, 3, 8, 9), (6, 1, 3, 2)],
    ),
    "conv1d": (
        lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, dilation=2, groups=2),
        ("conv1d", dict(stride=2, padding=1, dilation=2, groups=2)),
        [(2, 4, 11), (6, 2, 3), (6,)],
    ),
    "max_pool2d_2x2": (
        lambda x: F.max_pool2d(x, 2),
        ("max_pool2d", dict(kernel_size=2)),
        [(2, 3, 7, 8)],
    ),
    "max_pool2d_overlap_pad_dilation": (
        lambda x: F.max_pool2d(x, 3, stride=2, padding=1, dilation=(1, 2)),
        ("max_pool2d", dict(kernel_size=3, stride=2, padding=1, dilation=(1, 2))),
        [(2, 2, 9, 10)],
    ),
    "max_pool2d_ceil_mode": (
        lambda x: F.max_pool2d(x, 3, stride=2, ceil_mode=True),
        ("max_pool2d", dict(kernel_size=3, stride=2, ceil_mode=True)),
        [(1, 2, 8, 9)],
    ),
    "avg_pool2d_2x2": (
        lambda x: F.avg_pool2d(x, 2),
        ("avg_pool2d", dict(kernel_size=2)),
        [(2, 3, 7, 8)],
    ),
    "avg_pool2d_pad_exclude": (
        lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False),
        ("avg_pool2d", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
        [(2, 2, 7, 6)],
    ),
    "avg_pool2d_pad_include": (
        lambda x: F.avg_pool2d(x, (3, 2), stride=(1, 2), padding=(1, 0)),
        ("avg_pool2d", dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 0))),
        [(1, 2, 6, 7)],
    ),
    "adaptive_avg_pool2d": (
        lambda x: F.adaptive_avg_pool2d(x, (3, 5)),
        ("adaptive_avg_pool2d", dict(output_size=(3, 5))),
        [(2, 3, 7, 8)],
    ),
    "adaptive_avg_pool2d_1": (
        lambda x: F.adaptive_avg_pool2d(x, 1),
        ("adaptive_avg_pool2d", dict(output_size=1)),
        [(2, 3, 5, 6)],
    ),
    "batch_norm_training": (
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
        ("batch_norm", dict(running_mean=None, running_var=None, training=True)),
        [(4, 3, 5, 6), (3,), (3,)],
    ),
    "batch_norm_1d_training": (
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True, eps=1e-3),
        ("batch_norm", dict(running_mean=None, running_var=None, training=True, eps=1e-3)),
        [(6, 4), (4,), (4,)],
    ),
    "layer_norm": (
        lambda x, w, b: F.layer_norm(x, (5, 6), w, b),
        ("layer_norm", dict(normalized_shape=(5, 6))),
        [(2, 3, 5, 6), (5, 6), (5, 6)],
    ),
}


def inputs(name: str, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng([seed, len(name)])
    return [rng.standard_normal(s) for s in CASES[name][2]]


def torch_result(name: str, arrays: list[np.ndarray], cotangent: np.ndarray | None = None):
    """(output, gradients) of the torch twin; the gradients of <output, cotangent>."""
    import torch

    fname, kw = CASES[name][1]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    fn = getattr(torch.nn.functional, fname)
    if fname in ("batch_norm", "layer_norm"):
        out = fn(ts[0], weight=ts[1], bias=ts[2], **kw)
    elif fname.startswith("conv"):
        out = fn(*ts, **kw)
    else:
        out = fn(ts[0], **kw)
    if cotangent is None:
        cotangent = np.random.default_rng(1).standard_normal(tuple(out.shape))
    out.backward(torch.tensor(cotangent))
    return out.detach().numpy(), [t.grad.numpy() for t in ts], cotangent


def wengert_result(name: str, arrays: list[np.ndarray], cotangent: np.ndarray):
    ts = [W.tensor(a, requires_grad=True) for a in arrays]
    out = CASES[name][0](*ts)
    out.backward(cotangent)
    return out.numpy(), [t.grad.numpy() for t in ts]


def _assert_match(name, got, want):
    (out, grads), (tout, tgrads) = got, want
    assert out.shape == tout.shape, name
    np.testing.assert_allclose(out, tout, rtol=1e-9, atol=1e-10, err_msg=f"{name}: output")
    for i, (g, tg) in enumerate(zip(grads, tgrads)):
        np.testing.assert_allclose(g, tg, rtol=1e-9, atol=1e-10, err_msg=f"{name}: gradient {i}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_stored_torch_reference(name):
    ref = np.load(REFERENCE)
    arrays = [ref[f"{name}/in{i}"] for i in range(len(CASES[name][2]))]
    cot = ref[f"{name}/cotangent"]
    want = ref[f"{name}/out"], [ref[f"{name}/grad{i}"] for i in range(len(arrays))]
    _assert_match(name, wengert_result(name, arrays, cot), want)


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch_live(name):
    pytest.importorskip("torch")
    arrays = inputs(name, seed=7)
    tout, tgrads, cot = torch_result(name, arrays)
    _assert_match(name, wengert_result(name, arrays, cot), (tout, tgrads))


@pytest.mark.parametrize("name", ["conv2d_groups_stride_dilation", "batch_norm_training", "layer_norm"])
def test_composites_and_functional_forms_check_grads_to_order_2(name):
    check_grads(CASES[name][0], *inputs(name))


def test_pooling_check_grads_to_order_2():
    rng = np.random.default_rng(0)
    for name in ("max_pool2d_overlap_pad_dilation", "max_pool2d_2x2", "avg_pool2d_pad_exclude"):
        shape = CASES[name][2][0]
        x = rng.permutation(np.prod(shape)).reshape(shape) * 0.3  # distinct values: no ties
        check_grads(CASES[name][0], x)
    check_grads(CASES["adaptive_avg_pool2d"][0], inputs("adaptive_avg_pool2d")[0])


# --- layers ----------------------------------------------------------------------------------------

LAYERS = {  # wengert constructor, torch constructor (same arguments), input shape
    "Conv2d": (
        lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2),
        (4, 6, 3),
        dict(stride=2, padding=1, groups=2),
        (2, 4, 9, 8),
    ),
    "Conv2d_nobias": (
        lambda: nn.Conv2d(3, 5, (3, 2), bias=False, dilation=2),
        (3, 5, (3, 2)),
        dict(bias=False, dilation=2),
        (2, 3, 9, 8),
    ),
    "Conv1d": (lambda: nn.Conv1d(3, 4, 5, padding=2), (3, 4, 5), dict(padding=2), (2, 3, 10)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), (3,), {}, (4, 3, 5, 5)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(4, momentum=None), (4,), dict(momentum=None), (6, 4)),
    "BatchNorm1d_3d": (lambda: nn.BatchNorm1d(3, affine=False), (3,), dict(affine=False), (4, 3, 5)),
    "LayerNorm": (lambda: nn.LayerNorm(6), (6,), {}, (3, 4, 6)),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), (2,), {}, (2, 3, 6, 7)),
    "AvgPool2d": (
        lambda: nn.AvgPool2d(3, stride=1, padding=1),
        (3,),
        dict(stride=1, padding=1),
        (2, 3, 6, 7),
    ),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d((2, 3)), ((2, 3),), {}, (2, 3, 6, 7)),
}


def _torch_layer(name):
    import torch

    _, args, kw, _ = LAYERS[name]
    return getattr(torch.nn, name.split("_")[0])(*args, **kw).double()


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_state_dict_moves_between_wengert_and_torch(name):
    torch = pytest.importorskip("torch")
    ours, theirs = LAYERS[name][0](), _torch_layer(name)
    sd, tsd = ours.state_dict(), theirs.state_dict()
    assert list(sd) == list(tsd)  # the same keys in the same order
    for k in sd:
        assert sd[k].shape == tuple(tsd[k].shape), k
    # torch's state into wengert, train both for three steps, compare outputs, gradients and state
    ours.load_state_dict({k: v.numpy() for k, v in tsd.items()})
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.standard_normal(LAYERS[name][3])
        xt = torch.tensor(x, requires_grad=True)
        xw = W.tensor(x, requires_grad=True)
        out, tout = ours(xw), theirs(xt)
        np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-6, atol=1e-6)
        cot = rng.standard_normal(tuple(tout.shape))
        out.backward(cot)
        tout.backward(torch.tensor(cot))
        np.testing.assert_allclose(xw.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-6)
        for (pn, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-6, atol=1e-6, err_msg=pn)
    for k, v in ours.state_dict().items():
        np.testing.assert_allclose(v, theirs.state_dict()[k].numpy(), rtol=1e-6, atol=1e-7, err_msg=k)
    ours.eval(), theirs.eval()
    x = rng.standard_normal(LAYERS[name][3])
    np.testing.assert_allclose(
        np.asarray(ours(x)), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-6, atol=1e-6
    )


def test_conv_default_init_is_pytorchs_kaiming_uniform():
    conv = nn.Conv2d(8, 16, 3, seed=0)
    bound = 1 / np.sqrt(8 * 9)  # kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    for p in (conv.weight.numpy(), conv.bias.numpy()):
        assert p.dtype == np.float32 and np.abs(p).max() <= bound
        assert np.abs(p).max() > 0.8 * bound
    assert conv.weight.numpy().std() == pytest.approx(bound / np.sqrt(3), rel=0.1)
    assert [n for n, _ in conv.named_parameters()] == ["weight", "bias"]
    assert nn.Conv2d(8, 16, 3, seed=0).weight.numpy().tolist() == conv.weight.numpy().tolist()


def test_batch_norm_running_statistics_train_and_eval():
    bn = nn.BatchNorm2d(2, momentum=0.5)
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((8, 2, 3, 3)) * [[[[2.0]], [[0.5]]]] + [[[[1.0]], [[-3.0]]]]).astype(
        np.float32
    )
    y = bn(W.tensor(x)).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)  # batch statistics in training
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.5 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.5 + 0.5 * var, rtol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 1
    bn.eval()
    y = bn(W.tensor(x)).numpy()  # the running statistics, unchanged by evaluation
    want = (x - bn.running_mean.numpy()[:, None, None]) / np.sqrt(
        bn.running_var.numpy()[:, None, None] + 1e-5
    )
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 1
    assert sorted(bn.state_dict()) == [
        "bias",
        "num_batches_tracked",
        "running_mean",
        "running_var",
        "weight",
    ]
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]  # buffers are not trained


def test_buffers_round_trip_through_save_and_load(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU())
    model(np.random.default_rng(0).standard_normal((4, 1, 5, 5)).astype(np.float32))
    path = tmp_path / "m.wgt"
    W.save(model.state_dict(), path)
    fresh = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU())
    fresh.load_state_dict(W.load(path))
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[k], v)
    assert int(fresh[1].num_batches_tracked.item()) == 1


def test_cnn_shapes_keys_and_flat_input():
    model = nn.CNN(seed=0)
    assert list(model.state_dict()) == [
        "conv1.weight",
        "conv1.bias",
        "conv2.weight",
        "conv2.bias",
        "fc.weight",
        "fc.bias",
    ]
    x = np.random.default_rng(0).random((3, 784), dtype=np.float32)
    a, b = model(x).numpy(), model(x.reshape(3, 1, 28, 28)).numpy()
    assert a.shape == (3, 10) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)


def test_cnn_training_step_stays_float32():
    model = nn.CNN(seed=0)
    x = np.random.default_rng(0).standard_normal((4, 784)).astype(np.float32)
    loss = nn.cross_entropy(model(x), np.array([0, 1, 2, 3]))
    loss.backward()
    assert loss.numpy().dtype == np.float32
    for name, p in model.named_parameters():
        assert p.grad.dtype == np.float32, name


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: F.conv2d(np.zeros((1, 3, 5, 5)), np.zeros((4, 2, 3, 3))), "conv2d: input of shape"),
        (
            lambda: F.conv2d(np.zeros((1, 3, 2, 2)), np.zeros((4, 3, 3, 3))),
            "larger than the padded input",
        ),
        (
            lambda: F.conv2d(np.zeros((3, 5)), np.zeros((4, 3, 3, 3))),
            "conv2d: expected an input of shape",
        ),
        (
            lambda: F.conv2d(np.zeros((1, 3, 5, 5)), np.zeros((4, 3, 3, 3)), stride=0),
            "stride must be >= 1",
        ),
        (
            lambda: F.conv2d(np.zeros((1, 3, 5, 5)), np.zeros((4, 3, 3, 3)), padding="full"),
            "padding must be",
        ),
        (lambda: F.conv2d(np.zeros((1, 3, 5, 5)), np.zeros((4, 3, 3, 3)), np.zeros(3)), "bias of shape"),
        (
            lambda: F.conv1d(np.zeros((1, 3, 5)), np.zeros((4, 3, 3)), stride=(1, 1)),
            "stride must be an int or 1",
        ),
        (lambda: F.max_pool2d(np.zeros((1, 1, 4, 4)), 2, padding=2), "at most half of the kernel"),
        (lambda: F.max_pool2d(np.zeros((1, 1, 2, 2)), 3), "larger than the padded input"),
        (lambda: F.avg_pool2d(np.zeros((1, 1, 4, 4)), 2, ceil_mode=True), "ceil_mode"),
        (lambda: F.adaptive_avg_pool2d(np.zeros((1, 1, 4, 4)), 0), "output_size"),
        (lambda: F.batch_norm(np.zeros((2, 3)), np.zeros(4), np.ones(4)), "running_mean of shape"),
        (
            lambda: F.batch_norm(np.zeros((1, 3)), None, None, training=True),
            "more than 1 value per channel",
        ),
        (lambda: F.layer_norm(np.zeros((2, 3)), 4), "normalized_shape"),
        (lambda: nn.Conv2d(3, 4, 3, groups=2), "divisible by groups"),
        (lambda: nn.BatchNorm2d(3)(np.zeros((2, 3))), "expected a 4-d input"),
    ],
)
def test_bad_input_names_the_op_and_shapes(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.slow
def test_pytorch_mnist_example_port_runs(tmp_path, monkeypatch):
    """examples/mnist_cnn.py --dry-run: one training batch, a test pass, a saved model."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "examples" / "mnist_cnn.py"
    spec = importlib.util.spec_from_file_location("mnist_cnn_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    monkeypatch.chdir(tmp_path)
    accuracy = example.main(["--dry-run", "--save-model"])
    assert 0.15 < accuracy <= 1.0  # one Adadelta step already beats chance (0.1)
    state = W.load(tmp_path / "mnist_cnn.wgt")
    assert sorted(state) == sorted(example.Net().state_dict())


def regenerate() -> None:
    """Write the reference file from PyTorch (float64)."""
    import torch

    out = {"torch_version": np.array(torch.__version__)}
    for name in sorted(CASES):
        arrays = inputs(name)
        tout, tgrads, cot = torch_result(name, arrays)
        for i, a in enumerate(arrays):
            out[f"{name}/in{i}"] = a
        out[f"{name}/cotangent"] = cot
        out[f"{name}/out"] = tout
        for i, g in enumerate(tgrads):
            out[f"{name}/grad{i}"] = g
    REFERENCE.parent.mkdir(exist_ok=True)
    np.savez_compressed(REFERENCE, **out)
    print(f"wrote {REFERENCE} ({REFERENCE.stat().st_size:,} bytes) with torch {torch.__version__}")


if __name__ == "__main__":
    sys.exit(regenerate())
