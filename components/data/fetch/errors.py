"""The error a fetch from a package registry raises: one line naming the package and what failed."""

from __future__ import annotations


class FetchError(RuntimeError):
    """A package could not be obtained or did not match its pinned hash; the message names it."""
