"""Finished generation batches, saved one file each as they finish, so a killed target run resumes.

Writing targets with a real LLM takes hours; a ``kill -9``, a pre-empted GPU worker or a time limit
must not throw that away. Each batch's outputs are written atomically (a temporary file renamed into
place) under a name derived from everything that decides them: the run's key (the LLM, the prompt
layout, the decoding settings, the precision) and the batch's own requests in order. A run started
again reads the batches it finds under the same name and generates only the rest; its outputs are
those of an unstopped run, byte for byte. A batch of other requests or settings has another name and
is never read. The shards live outside the stage's DVC outputs and are removed once those are written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class ShardStore:
    """Batches of generated text under ``directory``, named by ``run_key`` and their requests."""

    def __init__(self, directory: Path, run_key: str) -> None:
        self.directory = Path(directory)
        self.run_key = run_key
        self.reused = 0  # batches read back rather than generated, in this process

    def name(self, requests: Sequence[Any]) -> str:
        """The file name of the batch of these requests (each with ``key``, ``instruction``, ``text``)."""
        digest = hashlib.sha256(self.run_key.encode())
        for request in requests:
            digest.update("\x1f".join([request.key, request.instruction, request.text]).encode())
            digest.update(b"\x1e")
        return f"batch-{digest.hexdigest()[:32]}.json"

    def has(self, requests: Sequence[Any]) -> bool:
        """Whether this batch was saved (not read: :meth:`load` checks it whole)."""
        return (self.directory / self.name(requests)).is_file()

    def load(self, requests: Sequence[Any]) -> list[str] | None:
        """The saved outputs of this batch, or None if it was not finished (or its file is unreadable)."""
        path = self.directory / self.name(requests)
        try:
            outputs = json.loads(path.read_text(encoding="utf-8"))["outputs"]
        except (OSError, ValueError, KeyError):
            return None
        if not isinstance(outputs, list) or len(outputs) != len(requests):
            return None
        self.reused += 1
        return [str(text) for text in outputs]

    def save(self, requests: Sequence[Any], outputs: Sequence[str]) -> None:
        """Write the batch's outputs whole or not at all."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".batch.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"outputs": list(outputs)}, handle, ensure_ascii=False)
            os.replace(tmp, self.directory / self.name(requests))
        finally:
            Path(tmp).unlink(missing_ok=True)

    def clear(self) -> None:
        """Remove every saved batch: the stage's outputs are written, nothing is left to resume."""
        shutil.rmtree(self.directory, ignore_errors=True)


def run_key(*parts: Any) -> str:
    """A key from the settings that decide a generation's outputs (JSON-serialisable parts)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
