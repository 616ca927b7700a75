"""Running a function on a given number of torch CPU threads, for tests of thread-count independence."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def on_threads(threads: int, function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` with torch's intra-op pool at ``threads``, then the pool as it was."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return function(*args)
    finally:
        torch.set_num_threads(before)
