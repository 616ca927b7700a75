"""Shared fixtures: tiny base models built once per session, on CPU, with no network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
for _key, _value in {
    "DVC_NO_ANALYTICS": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ.setdefault(_key, _value)


def share_cores_among_workers() -> None:
    """Under pytest-xdist (``make test`` runs ``-n auto``), give each worker its share of the usable cores,
    for torch and onnxruntime here and in every stage a test starts (``SPEECHALIGN_THREADS``): two
    workers each spinning one thread per core would take the cores from each other (training slows tens
    of times on two oversubscribed cores). A ``SPEECHALIGN_THREADS`` already set is kept."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2 or os.environ.get("SPEECHALIGN_THREADS"):
        return
    from components.compute import usable_cores

    share = str(max(1, usable_cores() // workers))
    os.environ["SPEECHALIGN_THREADS"] = share
    for library in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[library] = share
    import torch

    torch.set_num_threads(int(share))


share_cores_among_workers()

TINY_TEXTS = [
    "the quick brown fox jumps over the lazy dog",
    "hello world",
    "speech is a sequence of sounds",
    "a small adapter joins two frozen models",
    "the cat sat on the mat",
    "please repeat the following sentence",
    "translate this speech into french",
    "good morning to everyone here",
    "the weather is nice today",
    "i would like a cup of tea",
    "where is the nearest train station",
    "numbers like one two three and four",
    "she sells sea shells by the sea shore",
    "the rain in spain stays mainly in the plain",
    "open the window and let the air in",
    "we trained the model for ten steps",
    "listen carefully and answer the question",
    "the meeting starts at nine tomorrow",
    "bonjour tout le monde",
    "guten morgen und willkommen",
    "hola como estas amigo",
    "music fills the quiet room",
    "a red apple fell from the tree",
    "the river runs to the sea",
    "light travels faster than sound",
    "keep calm and carry on",
    "the library closes at six",
    "birds sing in the early morning",
    "my phone battery is almost empty",
    "summer holidays are too short",
    "he reads a book every week",
    "the children play in the park",
]


@pytest.fixture(scope="session")
def tiny_texts() -> list[str]:
    """The sentences the tiny LLM's tokenizer is trained on."""
    return list(TINY_TEXTS)


@pytest.fixture(scope="session")
def tiny_base_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(encoder_dir, llm_dir) of a tiny Whisper-style encoder and a tiny Llama-style LLM."""
    from components.config import TinyEncoderParams, TinyLLMParams
    from components.modeling.base_models import build_tiny_encoder, build_tiny_llm

    root = tmp_path_factory.mktemp("base")
    encoder_dir, llm_dir = Path(root) / "encoder", Path(root) / "llm"
    build_tiny_encoder(TinyEncoderParams(), encoder_dir, seed=0, sample_rate=16000)
    build_tiny_llm(TinyLLMParams(vocab_size=300), TINY_TEXTS, llm_dir, seed=0)
    return str(encoder_dir), str(llm_dir)


@pytest.fixture(scope="session")
def tiny_model(tiny_base_dirs: tuple[str, str]):
    """A shared SpeechLLM in eval mode. Read-only: tests that change it use ``fresh_model``."""
    from components.modeling.speech_llm import SpeechLLM

    return SpeechLLM.from_base(*tiny_base_dirs)


@pytest.fixture
def fresh_model(tiny_base_dirs: tuple[str, str]):
    """A SpeechLLM of one's own, for tests that train, perturb or export it."""
    from components.modeling.speech_llm import SpeechLLM

    return SpeechLLM.from_base(*tiny_base_dirs)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """End-to-end modules (marked ``slow``) first, the longest (``slow(minutes=N)``) first of all, each
    file's tests in their own order: pytest-xdist hands out whole files in this order, and a long one
    started last would leave one worker running alone."""
    minutes: dict[Path, float] = {}
    for item in items:
        marker = item.get_closest_marker("slow")
        if marker is not None:
            minutes[item.path] = max(minutes.get(item.path, 0.0), float(marker.kwargs.get("minutes", 1.0)))
    items.sort(key=lambda item: -minutes.get(item.path, 0.0))
