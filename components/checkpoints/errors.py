"""The one error a checkpoint that cannot be used raises: its message names the file and what is wrong."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint is unreadable, incomplete, or does not behave as its source; one line, naming the file."""
