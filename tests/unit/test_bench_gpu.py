"""``bench/gpu.py`` runs end to end at its smoke size on a CPU, prints every figure the GPU check reports,
and loads nothing the GPU machine's image lacks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_gpu_check_runs_at_smoke_size_and_imports_only_what_the_gpu_image_has() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.gpu", "--smoke", "--device", "cpu"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    train = re.search(r"train: ([\d.]+) ms/step, (\d+) LLM tokens/s, peak memory [\d.]+ GiB, MFU (.+)", out)
    assert train and float(train[1]) > 0 and int(train[2]) > 0, out
    generate = re.search(
        r"generate: batched (\d+) tokens/s, one by one (\d+) tokens/s .* (\d+)/(\d+) outputs", out
    )
    assert generate and int(generate[1]) > 0 and int(generate[2]) > 0, out
    # greedy decoding of a batch gives each prompt what it gets alone (left padding, masked)
    assert generate[3] == generate[4], out
    assert "modules the GPU image lacks, loaded: none" in out


def test_a_device_it_cannot_use_is_one_line() -> None:
    for device in ("nonsense", "cuda"):
        done = subprocess.run(
            [sys.executable, "-m", "bench.gpu", "--smoke", "--device", device],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )
        if device == "cuda" and done.returncode == 0:
            continue  # a machine with a GPU runs it
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.strip().splitlines()[-1].startswith("gpu.py: error: ")
