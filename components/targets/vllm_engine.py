"""Target writing on vLLM (Kwon et al., 2023: PagedAttention, continuous batching) for a GPU machine:
``targets.engine: vllm``. vLLM pins its own torch and transformers, which this project's pins do not
meet, so it runs in a worker process of an environment of its own (``targets.vllm_python``).

The Hugging Face engine feeds the LLM ``[prefix][transcript][suffix]`` as embeddings, the transcript's
being the LLM's own token embeddings of :func:`~components.modeling.prompts.text_ids`. Those are the
embeddings of the token ids ``prefix + text_ids + suffix``, so vLLM is given exactly those ids and
decodes them greedily with the same limit and the same end tokens; its answers are decoded by the
same tokenizer with the same clean-up. Greedy decoding on the same weights gives the same text up to
the kernels' rounding (checked on a real LLM where vLLM is installed).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.compute import Precision, resolve_precision
from components.modeling.prompts import prompt_ids, stop_ids, text_ids
from components.targets.generation import Request

WORKER = Path(__file__).with_name("vllm_worker.py")
INSTALL_HINT = "set targets.vllm_python to the interpreter of an environment with vLLM, or targets.engine: hf"
CLOSE_GRACE_S = 10.0  # a worker whose input is closed ends on its own within this, or is killed


def prompt_token_ids(model: Any, request: Request) -> list[int]:
    """The token ids whose embeddings the HF engine feeds for ``request``: prompt prefix (with BOS
    where the LLM has one), the transcript's tokens, prompt suffix."""
    ids = prompt_ids(model.tokenizer, request.instruction, model.template, model.system_prompt)
    return [*ids.prefix, *text_ids(model.tokenizer, request.text), *ids.suffix]


def vllm_dtype(precision: Precision, device_type: str) -> str:
    """The dtype vLLM reads the weights in: ``bfloat16`` where ``precision`` resolves to bf16 on the
    device, else ``float32``."""
    return "bfloat16" if resolve_precision(precision, device_type) == "bf16" else "float32"


def greedy_sampling(model: Any, max_new_tokens: int) -> dict[str, Any]:
    """vLLM ``SamplingParams`` fields of the HF engine's decoding: greedy, at most ``max_new_tokens``,
    stopping on every end token the HF engine stops on, with the repetition penalty the LLM's
    generation config gives HF's greedy search (Qwen2.5-Instruct ships 1.1).

    Raises:
        ValueError: the generation config asks HF for what vLLM does not do (``no_repeat_ngram_size``).
    """
    config = model.llm.generation_config
    if getattr(config, "no_repeat_ngram_size", None):
        raise ValueError(
            "targets.engine: vllm: the LLM's generation config sets no_repeat_ngram_size, which vLLM "
            "does not apply; use targets.engine: hf"
        )
    return {
        "temperature": 0.0,
        "max_tokens": max_new_tokens,
        "stop_token_ids": stop_ids(model.tokenizer, config),
        "repetition_penalty": float(getattr(config, "repetition_penalty", None) or 1.0),
    }


class VllmEngine:
    """Writes batches with vLLM in a worker process (:mod:`components.targets.vllm_worker`) started
    by ``python`` (an interpreter whose environment has vLLM; default: this one). Call it as
    ``engine(requests, max_new_tokens)``; :meth:`close` (or ``with``) ends the worker.

    ``llm_source`` is the directory the speech LLM's own LLM was loaded from; vLLM reads its weights
    in ``dtype`` (``bfloat16`` or ``float32``). The worker has ``timeout_s`` seconds to load the LLM
    and as long for each batch; past that it is killed, so a worker stuck in a GPU's initialisation
    cannot hold the stage until its time limit.

    Raises:
        ValueError: the worker cannot import vLLM or load the LLM, or fails on a batch (one line
            naming ``targets.engine``), or gives no answer within ``timeout_s`` (naming
            ``targets.vllm_timeout_s``).
    """

    def __init__(
        self,
        model: Any,
        llm_source: str,
        dtype: str,
        seed: int,
        python: str | None = None,
        timeout_s: float = 1800.0,
    ) -> None:
        self.model = model
        self.timeout_s = timeout_s
        self.process = subprocess.Popen(
            [python or sys.executable, str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: vLLM's engine process goes with it
        )
        try:
            self.ask({"model": llm_source, "dtype": dtype, "seed": seed})
        except BaseException:  # a stop while it loads too: no ``with`` holds the engine yet
            self.close()
            raise

    def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one line to the worker and read its answer."""
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            pass  # the worker has already ended; its answer says why
        # one answer line per message, so nothing waits in the reader's buffer while the selector waits
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            ready = selector.select(self.timeout_s)
        if not ready:
            self.close()
            raise ValueError(
                f"targets.vllm_timeout_s: the vllm worker gave no answer within {self.timeout_s:g} s "
                "and was stopped; raise targets.vllm_timeout_s if loading or a batch needs longer"
            )
        line = self.process.stdout.readline()
        if not line.strip():
            answer = {"error": f"the vllm worker ended (exit {self.process.wait()})"}
        else:
            try:
                answer = json.loads(line)
            except ValueError:
                answer = {"error": f"the vllm worker answered something else: {line.strip()[:200]!r}"}
        if "error" in answer:
            self.close()
            raise ValueError(f"targets.engine: vllm: {answer['error']} ({INSTALL_HINT})")
        return answer

    def __call__(self, requests: Sequence[Request], max_new_tokens: int) -> list[str]:
        answer = self.ask(
            {
                "prompts": [prompt_token_ids(self.model, r) for r in requests],
                "sampling": greedy_sampling(self.model, max_new_tokens),
            }
        )
        decode = self.model.tokenizer.decode
        return [decode(ids, skip_special_tokens=True).strip() for ids in answer["token_ids"]]

    def close(self) -> None:
        """End the worker (its input closed, then killed after :data:`CLOSE_GRACE_S`) and what it
        started."""
        try:
            if self.process.poll() is None:
                assert self.process.stdin is not None
                with contextlib.suppress(BrokenPipeError):
                    self.process.stdin.close()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=CLOSE_GRACE_S)
        finally:  # a stop arriving during the grace still ends the worker and its engine
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)  # an engine process left behind holds the GPU

    def __enter__(self) -> VllmEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
