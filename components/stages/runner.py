"""What every stage entry point shares: quiet third-party output, params, and a one-line failure."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

from components.compute import set_threads
from components.config import Params, ParamsError, load_params
from components.data.fetch.errors import FetchError

# Errors a user can fix (a registry out of reach among them); anything else is a bug and keeps its traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (ParamsError, FileNotFoundError, ValueError, FetchError)


def quiet_libraries() -> None:
    """Nothing is fetched at run time and third-party progress noise stays out of stage logs."""
    for key, value in {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "GX_ANALYTICS_ENABLED": "false",
    }.items():
        os.environ.setdefault(key, value)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    set_threads()


def run_stage(name: str, body: Callable[[Params], None]) -> None:
    """Load params, run the stage, and turn a user error into one line naming what is wrong."""
    try:
        quiet_libraries()
        body(load_params())
    except USER_ERRORS as exc:
        print(f"speechalign {name}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def exit_on_sigterm() -> None:
    """Make a stop (a stage's time limit, a scheduler's cancel) raise ``SystemExit(143)`` in the main
    thread, so the stage's ``with`` blocks close what they started (a vLLM worker holding a GPU, in a
    process group of its own that the stop does not reach) before the process ends."""

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
