"""The errors the `wengert` command reports as one line, without a traceback."""

from __future__ import annotations

__all__ = ["CLIError", "UsageError"]


class CLIError(Exception):
    """A problem met while running the command (a missing file, an unwritable folder...): exit code 1."""


class UsageError(CLIError):
    """Arguments that do not fit together: exit code 2, as for argparse's own usage errors."""
