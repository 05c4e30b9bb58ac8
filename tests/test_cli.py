"""Tests for the training loop (wengert.train) and the `wengert` command (wengert.cli)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import wengert as W
from wengert import nn, optim
from wengert.cli import main
from wengert.data import DataLoader
from wengert.train import confusion_matrix, evaluate, format_confusion, predict, train

SRC = str(Path(__file__).resolve().parents[1] / "src")


def blobs(n=300, seed=0):
    """Three well separated Gaussian blobs in 2-d."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    x = (centers[y] + rng.standard_normal((n, 2))).astype(np.float32)
    return x, y


# --- the training loop ----------------------------------------------------------------------------


def test_train_learns_and_reports():
    x, y = blobs()
    model = nn.MLP([2, 8, 3], "relu", seed=0)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.StepLR(opt, 2, 0.5)
    lines = []
    hist = train(
        model,
        opt,
        DataLoader(x, y, 32, shuffle=True, seed=0),
        4,
        scheduler=sched,
        test_data=blobs(100, 1),
        log=lines.append,
    )
    assert [r["epoch"] for r in hist] == [1, 2, 3, 4]
    assert [r["lr"] for r in hist] == [0.1, 0.1, 0.05, 0.05]
    assert hist[-1]["loss"] < hist[0]["loss"] and hist[-1]["test_accuracy"] > 0.9
    assert len(lines) == 4 and lines[0].startswith("epoch 1/4  loss ")
    assert "test acc" in lines[0]


def test_train_hooks_for_data_parallel():
    # what an MPI wrapper plugs in: a sharded loader, gradient sync after backward, metric reduction
    x, y = blobs(64)
    model = nn.MLP([2, 4, 3], seed=0)
    synced = []

    def sync_grads(params):
        assert all(p.grad is not None for p in params)
        synced.append(len(params))

    reduced = []

    def reduce(counts):
        reduced.append(counts.copy())
        return counts * 2  # as if a second worker saw the same

    loader = DataLoader(x, y, 8, shuffle=True, seed=0, shard=(1, 2))
    hist = train(
        model,
        optim.SGD(model.parameters(), lr=0.1),
        loader,
        1,
        sync_grads=sync_grads,
        reduce=reduce,
        verbose=False,
    )
    assert synced == [4] * 4  # 32 samples of the shard, batches of 8
    assert reduced[0][2] == 32
    assert 0 <= hist[0]["accuracy"] <= 1


def test_predict_evaluate_and_confusion():
    x, y = blobs(50)
    model = nn.Sequential(nn.Linear(2, 3, seed=0), nn.Dropout(0.5, seed=0))
    p1 = predict(model, x, batch_size=7)
    assert model.training  # restored
    np.testing.assert_array_equal(p1, predict(model, x))  # dropout off while predicting
    acc, pred = evaluate(model, x, y)
    assert acc == np.mean(pred == y)
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    text = format_confusion(cm, ["a", "b", "c"])
    assert text.splitlines()[0].split() == ["true\\pred", "a", "b", "c", "recall"]
    assert text.splitlines()[2].split() == ["a", "1", "1", "0", "50.0%"]


# --- the command ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = main(
        ["train", "--epochs", "2", "--hidden", "16", "--limit", "500", "--out", str(out), "--no-plot"]
    )
    assert code == 0
    return out


def test_train_writes_model_and_history(trained, capsys):
    model_path = trained / "model.safetensors"
    meta = W.io.load_metadata(model_path)
    assert meta["sizes"] == [784, 16, 10] and meta["activation"] == "sigmoid"
    assert meta["dataset"] == "mnist-bundled" and meta["training"]["limit"] == 500
    assert 0.05 < meta["input_mean"] < 0.2 and 0.2 < meta["input_std"] < 0.4  # pixels standardised
    assert 0.5 < meta["test_accuracy"] <= 1.0  # 2 epochs on 500 images: far better than chance
    hist = json.loads((trained / "history.json").read_text())["history"]
    assert len(hist) == 2 and "test_accuracy" in hist[0]
    assert not (trained / "training_curve.png").exists()


def test_predict_reports_the_same_accuracy(trained, capsys):
    meta = W.io.load_metadata(trained / "model.safetensors")
    assert main(["predict", str(trained / "model.safetensors"), "--limit", "500"]) == 0
    out = capsys.readouterr().out
    assert f"accuracy on the mnist-bundled test split: {meta['test_accuracy']:.2%}" in out
    assert "true\\pred" in out and "recall" in out
    assert (
        main(
            [
                "predict",
                str(trained / "model.safetensors"),
                "--split",
                "train",
                "--quiet",
                "--limit",
                "100",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("accuracy on the mnist-bundled train split")


def test_model_file_is_safetensors_and_predict_reads_both_formats(trained, tmp_path, capsys):
    st = trained / "model.safetensors"
    raw = st.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])  # any safetensors reader sees the run's settings
    assert header["__metadata__"]["activation"] == "sigmoid"
    assert json.loads(header["__metadata__"]["training"])["limit"] == 500
    meta = W.io.load_metadata(st)
    old = tmp_path / "model.wgt"  # the format of earlier versions
    W.save(W.load(st), old, metadata=meta)
    assert main(["predict", str(old), "--limit", "300", "--quiet"]) == 0
    from_old = capsys.readouterr().out
    assert main(["predict", str(st), "--limit", "300", "--quiet"]) == 0
    assert capsys.readouterr().out == from_old
    st_numpy = pytest.importorskip("safetensors.numpy")
    assert set(st_numpy.load_file(st)) == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_train_output_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    args = ["train", "--epochs", "1", "--hidden", "8", "--limit", "200", "--out", str(tmp_path)]
    extra = ["--optimizer", "adam", "--activation", "relu", "--schedule", "step", "--normalize", "none"]
    assert main([*args, *extra]) == 0
    out = capsys.readouterr().out
    assert "MLP 784-8-10 (relu) on mnist-bundled: 200 training, 200 test images; adam lr 0.001" in out
    assert "epoch 1/1  loss" in out and "test accuracy:" in out and "confusion matrix" in out
    meta = W.io.load_metadata(tmp_path / "model.safetensors")
    assert (meta["input_mean"], meta["input_std"]) == (0.0, 1.0)
    png = tmp_path / "training_curve.png"
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_quiet_prints_only_the_result(tmp_path, capsys):
    args = [
        "train",
        "--epochs",
        "1",
        "--hidden",
        "8",
        "--limit",
        "100",
        "--out",
        str(tmp_path),
        "--no-plot",
        "--quiet",
    ]
    assert main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert (
        len(lines) == 2
        and lines[0].startswith("test accuracy:")
        and lines[1].startswith("model saved to")
    )


def test_errors(tmp_path, capsys):
    assert main(["train", "--dataset", "mnist", "--out", str(tmp_path)]) == 2  # usage
    assert "--dataset mnist needs --data-dir" in capsys.readouterr().err
    assert (
        main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--out", str(tmp_path)]) == 1
    )
    assert "IDX files not found" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "nope.wgt")]) == 1
    assert "no such model file" in capsys.readouterr().err
    (tmp_path / "junk.wgt").write_text("hello")
    assert main(["predict", str(tmp_path / "junk.wgt")]) == 1
    assert "not a wengert state file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--activation", "gelu"])
    with pytest.raises(SystemExit):
        main(["train", "--epochs", "0"])


def test_python_dash_m(tmp_path):
    env = {**os.environ, "PYTHONPATH": SRC}
    r = subprocess.run(
        [sys.executable, "-m", "wengert", "train", "--help"], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0
    for opt in (
        "--hidden",
        "--activation",
        "--optimizer",
        "--lr",
        "--momentum",
        "--epochs",
        "--batch-size",
        "--seed",
        "--dataset",
        "--data-dir",
        "--out",
        "--no-plot",
        "--quiet",
    ):
        assert opt in r.stdout
