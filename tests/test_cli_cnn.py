"""`wengert train --model cnn` and `wengert predict` on its model."""

from __future__ import annotations

import json

import pytest

from wengert.cli import main
from wengert.cli.args import apply_model_defaults, build_parser
from wengert.cli.runs import MODEL_FILE


def test_cnn_has_its_own_defaults_and_the_mlp_keeps_the_papers():
    cnn = apply_model_defaults(build_parser().parse_args(["train", "--model", "cnn"]))
    assert (cnn.optimizer, cnn.lr, cnn.epochs, cnn.batch_size, cnn.channels) == (
        "adam",
        2e-3,
        6,
        64,
        [16, 32],
    )
    mlp = apply_model_defaults(build_parser().parse_args(["train"]))
    assert (mlp.model, mlp.optimizer, mlp.lr, mlp.epochs, mlp.batch_size) == ("mlp", "sgd", None, 20, 16)
    # a setting given on the command line wins; the CNN's rate goes with its own optimizer only
    sgd = apply_model_defaults(
        build_parser().parse_args(["train", "--model", "cnn", "--optimizer", "sgd"])
    )
    assert (sgd.optimizer, sgd.lr, sgd.epochs) == ("sgd", None, 6)
    mine = apply_model_defaults(build_parser().parse_args(["train", "--model", "cnn", "--epochs", "2"]))
    assert mine.epochs == 2


def test_train_cnn_then_predict_reads_it_back(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--limit", "200", "--epochs", "1", "--channels", "4", "8", "--no-plot", "--quiet"]
    assert main(["train", "--model", "cnn", "--out", str(out), *args]) == 0
    trained = capsys.readouterr().out
    meta = json.loads((out / "history.json").read_text())["metadata"]
    assert meta["model"] == "cnn"
    assert meta["architecture"] == {"channels": [4, 8], "image_size": 28, "num_classes": 10}
    assert meta["training"]["optimizer"] == "adam" and meta["training"]["batch_size"] == 64
    assert main(["predict", str(out / MODEL_FILE), "--limit", "200", "--quiet"]) == 0
    acc = f"{meta['test_accuracy']:.2%}"
    assert acc in trained and acc in capsys.readouterr().out  # the same model, the same accuracy


@pytest.mark.slow
def test_cnn_defaults_reach_98_percent_on_the_bundled_digits(tmp_path, capsys):
    assert main(["train", "--model", "cnn", "--out", str(tmp_path / "run"), "--no-plot", "--quiet"]) == 0
    meta = json.loads((tmp_path / "run" / "history.json").read_text())["metadata"]
    assert meta["test_accuracy"] >= 0.98
