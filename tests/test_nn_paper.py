"""The paper's MNIST classifier on tensors: y = sigmoid(W2 sigmoid(W1 x + b1) + b2), softmax and the
categorical cross-entropy on one-hot targets, trained by plain SGD on raw pixels."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as W
from wengert import nn, optim
from wengert.data import DataLoader, load_mnist
from wengert.nn.paper import PaperClassifier, paper_loss, softmax_cross_entropy
from wengert.testing import check_grads
from wengert.train import evaluate, train


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_forward_is_the_papers_formula():
    model = PaperClassifier((5, 4, 3), seed=0)
    x = np.random.default_rng(1).random((7, 5)).astype(np.float32)
    l1, l2 = model[0], model[2]
    w1, b1, w2, b2 = (p.numpy().astype(np.float64) for p in (l1.weight, l1.bias, l2.weight, l2.bias))
    want = sigmoid(sigmoid(x @ w1.T + b1) @ w2.T + b2)
    got = model(W.tensor(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert ((got > 0) & (got < 1)).all()
    assert "sizes=[5, 4, 3]" in repr(model)
    with pytest.raises(ValueError, match="inputs, hidden, classes"):
        PaperClassifier((784, 10))


def test_loss_is_the_categorical_cross_entropy_of_the_softmax():
    y = np.random.default_rng(0).random((4, 3))
    labels = np.array([0, 2, 1, 2])
    onehot = np.eye(3)[labels]
    p = np.exp(y) / np.exp(y).sum(1, keepdims=True)
    want = -np.mean(np.sum(onehot * np.log(p), 1))
    assert float(softmax_cross_entropy(W.tensor(y), onehot).item()) == pytest.approx(want, rel=1e-12)
    assert float(paper_loss(W.tensor(y), labels).item()) == pytest.approx(want, rel=1e-12)
    # the same as the fused integer-label cross-entropy
    assert float(nn.cross_entropy(W.tensor(y), labels).item()) == pytest.approx(want, rel=1e-12)
    check_grads(lambda v: softmax_cross_entropy(v, onehot), y)
    with pytest.raises(ValueError, match="one-hot"):
        softmax_cross_entropy(W.tensor(y), labels)


def test_plain_sgd_learns_the_digits():
    x, y, x_test, y_test = load_mnist()
    idx = np.random.default_rng(0).permutation(len(x))[:1000]  # the splits are ordered by class
    x, y = x[idx], y[idx]
    model = PaperClassifier(seed=0)
    before = evaluate(model, x_test, y_test)[0]
    opt = optim.SGD(model.parameters(), lr=3.0)
    hist = train(
        model, opt, DataLoader(x, y, 16, shuffle=True, seed=0), 5, loss_fn=paper_loss, verbose=False
    )
    after = evaluate(model, x_test, y_test)[0]
    assert hist[-1]["loss"] < hist[0]["loss"] and hist[-1]["loss"] > 1.46  # the sigmoid's floor
    assert before < 0.2 and after > 0.6


def test_wengert_train_model_paper_uses_the_papers_settings(tmp_path, capsys):
    from wengert.cli import main
    from wengert.cli.runs import MODEL_FILE

    out = tmp_path / "run"
    args = ["train", "--model", "paper", "--limit", "500", "--epochs", "1", "--out", str(out)]
    assert main([*args, "--no-plot", "--quiet"]) == 0
    meta = W.io.load_metadata(out / MODEL_FILE)
    assert meta["model"] == "paper" and meta["architecture"]["sizes"] == [784, 256, 10]
    training = meta["training"]
    assert training["optimizer"] == "sgd" and training["lr"] == 6.0 and training["momentum"] == 0.0
    assert training["schedule"] == "none" and training["normalize"] == "none"
    assert meta.get("input_mean", 0.0) == 0.0 and meta.get("input_std", 1.0) == 1.0  # raw pixels
    assert main(["predict", str(out / MODEL_FILE), "--limit", "500", "--quiet"]) == 0
    capsys.readouterr()
    # an explicit setting still wins over the model's default
    out2 = tmp_path / "run2"
    assert main([*args[:-1], str(out2), "--momentum", "0.5", "--no-plot", "--quiet"]) == 0
    assert W.io.load_metadata(out2 / MODEL_FILE)["training"]["momentum"] == 0.5
    assert main(["train", "--model", "paper", "--hidden", "8", "8", "--out", str(tmp_path / "x")]) == 2
    assert "one hidden layer" in capsys.readouterr().err


@pytest.mark.slow
def test_wengert_train_model_paper_reaches_its_reported_accuracy(tmp_path):
    from wengert.cli import main
    from wengert.cli.runs import MODEL_FILE

    out = tmp_path / "run"
    assert main(["train", "--model", "paper", "--out", str(out), "--no-plot", "--quiet"]) == 0
    assert W.io.load_metadata(out / MODEL_FILE)["test_accuracy"] > 0.945  # README: 95.45% at seed 0
