"""The run folder of `wengert train`: checked (and created) before any work starts, unique when chosen
by the command, and filled model first, so that a later failure (the history, the plot) never loses
the trained model."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from .. import io
from .errors import CLIError

__all__ = ["HISTORY_FILE", "MODEL_FILE", "PLOT_FILE", "RunDir"]

# safetensors, with the run's settings in its header metadata; `wengert predict` reads it and the
# model.wgt (wengert's own format) of earlier versions
MODEL_FILE = "model.safetensors"
HISTORY_FILE = "history.json"
PLOT_FILE = "training_curve.png"
RUN_FILES = (MODEL_FILE, "model.wgt", HISTORY_FILE, PLOT_FILE)


class RunDir:
    """The folder a training run writes to.

    `RunDir.prepare(out, overwrite)` checks it before training: --out must be (or become) a writable
    folder that holds no earlier run unless `overwrite`; without --out a fresh runs/<timestamp>[-k] is
    made, never shared with another run.
    """

    def __init__(self, path: Path, created: bool, root_created: bool = False) -> None:
        self.path = path
        self.created = created  # made by this run: removed again if the run saves nothing
        self.root_created = root_created  # runs/ itself was made by this run

    @classmethod
    def prepare(cls, out: str | None, overwrite: bool = False) -> RunDir:
        if out is None:
            return cls._fresh(Path("runs"))
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise CLIError(f"--out {path}: exists and is not a directory")
        created = False
        if path.is_dir():
            earlier = [f for f in RUN_FILES if (path / f).exists()]
            if earlier and not overwrite:
                raise CLIError(
                    f"--out {path} holds an earlier run ({', '.join(earlier)}); pass --overwrite to "
                    "replace it, or choose another folder"
                )
        else:
            try:
                path.mkdir(parents=True)
            except OSError as e:
                raise CLIError(f"--out {path}: cannot create the folder: {e.strerror or e}") from None
            created = True
        run = cls(path, created)
        run.check_writable("--out")
        return run

    @classmethod
    def _fresh(cls, root: Path) -> RunDir:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        root_created = not root.exists()
        for k in range(1, 1000):
            path = root / (stamp if k == 1 else f"{stamp}-{k}")
            try:
                path.mkdir(parents=True)  # fails if another run took the name: try the next one
            except FileExistsError:
                continue
            except OSError as e:
                raise CLIError(
                    f"cannot create the run folder {path}: {e.strerror or e}; choose one with --out"
                ) from None
            run = cls(path, True, root_created)
            run.check_writable("the run folder")
            return run
        raise CLIError(f"{root}: too many runs started at {stamp}; choose a folder with --out")

    def check_writable(self, what: str) -> None:
        try:
            with tempfile.TemporaryFile(dir=self.path):
                pass
        except OSError as e:
            self.discard()
            raise CLIError(f"{what} {self.path} is not writable: {e.strerror or e}") from None

    def discard(self) -> None:
        """Remove the folder if this run created it and left nothing in it."""
        if self.created:
            with contextlib.suppress(OSError):
                self.path.rmdir()
                if self.root_created:
                    self.path.parent.rmdir()

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    def save_model(self, state: dict[str, Any], meta: dict[str, Any]) -> Path:
        """Write the model (atomically) and drop the outputs an earlier run left that this run will not
        write again (they would describe another model)."""
        io.save(state, self.model_path, metadata=meta)
        self.created = False  # it holds a model now: keep it whatever happens next
        for stale in (HISTORY_FILE, PLOT_FILE):
            with contextlib.suppress(FileNotFoundError):
                (self.path / stale).unlink()
        return self.model_path

    def save_history(self, meta: dict[str, Any], history: list[dict[str, float]]) -> Path:
        """Write history.json (the metadata and one record per epoch) atomically."""
        path = self.path / HISTORY_FILE
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=f".{HISTORY_FILE}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"metadata": meta, "history": history}, f, indent=1)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return path
