"""Converted checkpoints are cached by their source's sha256: converted once, again only when the bytes
change, rebuilt from the source where the cache lacks them, and refused when the source changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.checkpoints import convert
from components.checkpoints.errors import CheckpointError
from tests.unit.test_gguf_llm import write_tiny_gguf


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SPEECHALIGN_CACHE", str(folder))
    return folder


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Each conversion's source, in order (the real conversion still runs)."""
    calls: list[Path] = []
    real = convert.convert_and_check

    def counting(path: Path, fmt: str, out: Path) -> dict:
        calls.append(path)
        return real(path, fmt, out)

    monkeypatch.setattr(convert, "convert_and_check", counting)
    return calls


def test_a_gguf_converts_once_into_the_cache_keyed_by_its_sha256(tmp_path, cache, counted) -> None:
    from components.cache import sha256_file

    source = tmp_path / "tiny.gguf"
    write_tiny_gguf(source)
    first = convert.resolve_source(str(source))
    assert first.format == "gguf" and first.sha256 == sha256_file(source)
    assert Path(first.load_path) == cache / "converted" / f"gguf-{first.sha256}"
    record = json.loads((Path(first.load_path) / convert.RECORD).read_text(encoding="utf-8"))
    assert record["sha256"] == first.sha256 and "next_token_logits_max_abs_diff" in record["checks"]
    again = convert.resolve_source(str(source))
    assert again == first and counted == [source.resolve()]  # the second call converted nothing

    write_tiny_gguf(source, seed=1)  # other bytes at the same path: another key, converted again
    changed = convert.resolve_source(str(source))
    assert changed.sha256 != first.sha256 and len(counted) == 2
    assert Path(first.load_path).is_dir() and Path(changed.load_path).is_dir()


def test_a_recorded_source_is_converted_again_where_the_cache_lacks_it_and_refused_once_changed(
    tmp_path, cache, counted
) -> None:
    import shutil

    source = tmp_path / "tiny.gguf"
    write_tiny_gguf(source)
    resolved = convert.resolve_source(str(source))
    record = {"source": str(source), "format": "gguf", "sha256": resolved.sha256}
    shutil.rmtree(cache)  # another machine, or a cleared cache
    assert convert.load_path(record) == resolved.load_path and len(counted) == 2

    write_tiny_gguf(source, seed=1)
    shutil.rmtree(cache)
    with pytest.raises(CheckpointError, match=r"tiny\.gguf: changed since it was recorded"):
        convert.load_path(record)


def test_an_unfetched_catalog_name_says_how_to_fetch_it(cache) -> None:
    with pytest.raises(CheckpointError, match="run `speechalign checkpoints fetch whisper-base`"):
        convert.resolve_source("whisper-base")


def test_hub_ids_and_hf_folders_are_loaded_as_they_are(tmp_path, cache, counted, tiny_base_dirs) -> None:
    assert convert.resolve_source("openai/whisper-tiny") == convert.ResolvedSource(
        "openai/whisper-tiny", "hf", None, "openai/whisper-tiny"
    )
    assert convert.resolve_source(tiny_base_dirs[1]).format == "hf" and counted == []
    for missing in (tmp_path / "gone", "./models/gone", "llm.gguf"):  # paths, not hub ids
        with pytest.raises(CheckpointError, match="gone: no such file or folder|llm.gguf: no such file"):
            convert.resolve_source(str(missing))
    stray = tmp_path / "weights.bin"
    stray.write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match=r"weights\.bin: a file, but not GGUF"):
        convert.resolve_source(str(stray))


def test_a_whisper_that_mishears_the_check_clips_is_refused(monkeypatch, tmp_path) -> None:
    import numpy as np

    from components.checkpoints import check_clips, ctranslate2_whisper

    clip = check_clips.CheckClip("Front_Left", np.zeros(160, dtype=np.float32), 16000, "front left")
    monkeypatch.setattr(check_clips, "check_clips", lambda cache=None: [clip])
    monkeypatch.setattr(ctranslate2_whisper, "transcribe", lambda *args, **kwargs: "Front, left!")
    assert convert.check_whisper_hears(tmp_path, tmp_path) == {"check_clips": {"Front_Left": "front left"}}
    monkeypatch.setattr(ctranslate2_whisper, "transcribe", lambda *args, **kwargs: "Fun left.")
    with pytest.raises(CheckpointError, match=r"heard 'fun left' in the check clip Front_Left"):
        convert.check_whisper_hears(tmp_path, tmp_path)
