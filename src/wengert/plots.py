"""Plots of training runs (matplotlib, an optional extra: pip install "wengert[plot]")."""

from __future__ import annotations

import os
from collections.abc import Sequence

__all__ = ["plot_history"]


def plot_history(history: Sequence[dict[str, float]], path: str | os.PathLike[str], title: str) -> None:
    """Draw the training loss and the accuracies per epoch of `history` (as returned by
    `wengert.train.train`) side by side into the image file `path`.

    Raises ImportError naming the extra when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError as e:
        raise ImportError(
            "plotting needs matplotlib: pip install 'wengert[plot]'", name="matplotlib"
        ) from e
    epochs = [r["epoch"] for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    try:
        ax1.plot(epochs, [r["loss"] for r in history], marker="o")
        ax1.set(xlabel="epoch", ylabel="training loss (cross-entropy)", yscale="log")
        ax2.plot(epochs, [100 * r["accuracy"] for r in history], marker="o", label="train")
        if history and "test_accuracy" in history[0]:
            ax2.plot(epochs, [100 * r["test_accuracy"] for r in history], marker="o", label="test")
        ax2.set(xlabel="epoch", ylabel="accuracy (%)")
        ax2.legend()
        for ax in (ax1, ax2):
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
