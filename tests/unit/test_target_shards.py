"""Target generation resumes after a kill: finished batches are read back, not generated again, and the
result is byte-identical to an unstopped run's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from components.targets.generation import Request, greedy_outputs
from components.targets.shards import ShardStore, run_key

REQUESTS = [Request(f"u{i}", "Continue.", "word " * (1 + i % 4) + str(i)) for i in range(10)]


class Killed(RuntimeError):
    """Stands for a kill: the run ends here, whatever it had not saved is lost."""


class CountingLLM:
    """Answers each prompt with its text reversed; counts the batches it generates; dies at ``die_at``."""

    def __init__(self, die_at: int | None = None) -> None:
        self.batches = 0
        self.die_at = die_at

    def text_slots(self, texts):  # noqa: ANN001, ANN201 - the model's interface, with texts as slots
        return list(texts)

    def generate(self, instructions, slots, max_new_tokens):  # noqa: ANN001, ANN201
        if self.die_at is not None and self.batches == self.die_at:
            raise Killed
        self.batches += 1
        return [
            f"{instruction} {slot[::-1]}"[:max_new_tokens]
            for instruction, slot in zip(instructions, slots, strict=True)
        ]


def test_a_run_stopped_after_some_batches_resumes_with_only_the_rest(tmp_path: Path) -> None:
    whole = greedy_outputs(CountingLLM(), REQUESTS, 40, 3, progress=False)

    key = run_key("llm", 40)
    with pytest.raises(Killed):
        greedy_outputs(
            CountingLLM(die_at=2), REQUESTS, 40, 3, progress=False, shards=ShardStore(tmp_path, key)
        )
    assert len(list(tmp_path.glob("batch-*.json"))) == 2 and not list(tmp_path.glob(".batch.*"))

    model, shards = CountingLLM(), ShardStore(tmp_path, key)
    resumed = greedy_outputs(model, REQUESTS, 40, 3, progress=False, shards=shards)
    assert resumed == whole
    assert (shards.reused, model.batches) == (2, 2)  # 4 batches of 3: two read back, two generated
    shards.clear()
    assert not tmp_path.exists()


def test_batches_of_other_settings_or_requests_are_never_read(tmp_path: Path) -> None:
    greedy_outputs(
        CountingLLM(), REQUESTS, 40, 3, progress=False, shards=ShardStore(tmp_path, run_key("a", 40))
    )
    # other decoding settings: every batch is generated again
    model = CountingLLM()
    greedy_outputs(model, REQUESTS, 40, 3, progress=False, shards=ShardStore(tmp_path, run_key("a", 41)))
    assert model.batches == 4
    # one request's text changed: only its batch is generated again
    changed = [*REQUESTS[:-1], Request("u9", "Continue.", "word wore 9")]  # same length, same batches
    model, shards = CountingLLM(), ShardStore(tmp_path, run_key("a", 40))
    greedy_outputs(model, changed, 40, 3, progress=False, shards=shards)
    assert (model.batches, shards.reused) == (1, 3)


def test_a_damaged_batch_file_is_generated_again(tmp_path: Path) -> None:
    shards = ShardStore(tmp_path, run_key("a"))
    greedy_outputs(CountingLLM(), REQUESTS, 40, 5, progress=False, shards=shards)
    first = sorted(tmp_path.glob("batch-*.json"))[0]
    first.write_text('{"outputs": ["only one"]', encoding="utf-8")  # cut short
    model = CountingLLM()
    again = greedy_outputs(model, REQUESTS, 40, 5, progress=False, shards=ShardStore(tmp_path, run_key("a")))
    assert model.batches == 1 and again == greedy_outputs(CountingLLM(), REQUESTS, 40, 5, progress=False)


SCRIPT = """
import json, sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from components.data.manifest import Utterance
from components.modeling.speech_llm import SpeechLLM
from components.targets.continuation import continuation_targets
from components.targets.shards import ShardStore, run_key
model = SpeechLLM.from_base({encoder!r}, {llm!r})
utterances = [
    Utterance(id=f"u{{i}}", audio=f"{{i}}.wav", language="eng", text=f"the cat number {{i}} sat on a mat",
              duration_s=1.0, sample_rate=16000, split="train")
    for i in range(24)
]
shards = ShardStore(Path(sys.argv[1]), run_key("tiny", 16))
rows = continuation_targets(model, utterances, "Continue.", 16, 1, "tiny", progress=False, shards=shards)
Path(sys.argv[2]).write_text(json.dumps(rows, sort_keys=True), encoding="utf-8")
"""


def test_kill_9_mid_generation_then_rerun_writes_the_same_bytes(tiny_base_dirs, tmp_path: Path) -> None:
    repo = str(Path(__file__).resolve().parents[2])
    script = tmp_path / "targets.py"
    script.write_text(
        textwrap.dedent(SCRIPT.format(repo=repo, encoder=tiny_base_dirs[0], llm=tiny_base_dirs[1]))
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SPEECHALIGN_THREADS": "1"}

    def generate(directory: str, out: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / directory), str(tmp_path / out)], env=env
        )

    assert generate("whole", "whole.json").wait(timeout=600) == 0
    killed = generate("killed", "unused.json")
    deadline = time.monotonic() + 300
    while len(list((tmp_path / "killed").glob("batch-*.json"))) < 3 and time.monotonic() < deadline:
        assert killed.poll() is None, "generation ended before it could be killed"
        time.sleep(0.02)
    os.kill(killed.pid, signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL
    saved = len(list((tmp_path / "killed").glob("batch-*.json")))
    assert 3 <= saved < 24, saved
    assert generate("killed", "resumed.json").wait(timeout=600) == 0
    assert (tmp_path / "resumed.json").read_bytes() == (tmp_path / "whole.json").read_bytes()
    assert len(json.loads((tmp_path / "whole.json").read_text())) == 24
