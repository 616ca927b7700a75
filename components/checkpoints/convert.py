"""Base-model sources in any supported format → an HF directory ``from_pretrained`` loads.

An HF id or directory is used as it is. A CTranslate2 (faster-whisper) Whisper folder or a GGUF file is
converted once to safetensors, checked, and kept in ``CACHE/converted/FORMAT-SHA256/``, keyed by the
source's sha256: the same bytes anywhere convert once, and changed bytes convert again. Conversion
writes into a temporary sibling and renames, under a file lock, so concurrent runs never see half a
model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from components.atomic import atomic_directory
from components.cache import cache_root, sha256_file, sha256_tree
from components.checkpoints.errors import CheckpointError

SourceFormat = Literal["hf", "ctranslate2", "gguf"]
RECORD = "conversion.json"  # written last: its presence marks a finished, checked conversion
# the files a CTranslate2 Whisper reader uses: what its sha256 covers
CT2_FILES = ["model.bin", "config.json", "tokenizer.json", "preprocessor_config.json", "vocabulary.txt"]
MAX_CHECK_WER = 0.0  # the converted decoder must say every word of the check clips


@dataclass(frozen=True)
class ResolvedSource:
    """A base-model source: as the param names it, its format, its sha256 (converted formats only),
    and what ``from_pretrained`` loads."""

    source: str
    format: SourceFormat
    sha256: str | None
    load_path: str

    def record(self) -> dict[str, str | None]:
        return {"source": self.source, "format": self.format, "sha256": self.sha256}


def source_path(source: str, cache: Path | None = None) -> Path:
    """The local path a source names: a catalog name (``whisper-base``) is its fetched folder or file.

    Raises:
        CheckpointError: a catalog name that has not been fetched on this machine.
    """
    from components.checkpoints.catalog import CATALOG

    if source not in CATALOG:
        return Path(source).expanduser()
    checkpoint = CATALOG[source]
    folder = (cache or cache_root()) / "sources" / source
    if not (folder / ".complete").is_file():
        raise CheckpointError(f"{source}: not fetched yet; run `speechalign checkpoints fetch {source}`")
    return folder / checkpoint.entry


def source_format(source: str, cache: Path | None = None) -> SourceFormat:
    """``gguf`` for a GGUF file, ``ctranslate2`` for a CTranslate2 Whisper folder, else ``hf``."""
    path = source_path(source, cache)
    if not path.exists():
        if path.is_absolute() or source.startswith((".", "~")) or path.suffix == ".gguf":
            raise CheckpointError(f"{source}: no such file or folder")
        return "hf"  # an HF hub id
    from components.checkpoints.ctranslate2_whisper import is_ctranslate2_whisper
    from components.checkpoints.gguf_llm import is_gguf

    if path.is_file() and is_gguf(path):
        return "gguf"
    if path.is_dir() and is_ctranslate2_whisper(path):
        return "ctranslate2"
    if path.is_file():
        raise CheckpointError(f"{path}: a file, but not GGUF; name an HF directory, an HF id or a GGUF file")
    return "hf"


def source_sha256(path: Path, fmt: SourceFormat) -> str:
    return sha256_file(path) if fmt == "gguf" else sha256_tree(path, CT2_FILES)


def converted_dir(fmt: SourceFormat, sha256: str, cache: Path | None = None) -> Path:
    return (cache or cache_root()) / "converted" / f"{fmt}-{sha256}"


def resolve_source(source: str, cache: Path | None = None) -> ResolvedSource:
    """Resolve a base-model param value, converting (once) what is not in HF's format.

    Raises:
        CheckpointError: the source is unreadable, incomplete, or fails its behaviour check.
    """
    fmt = source_format(source, cache)
    if fmt == "hf":
        return ResolvedSource(source, "hf", None, source)
    path = source_path(source, cache).resolve()
    sha256 = source_sha256(path, fmt)
    return ResolvedSource(source, fmt, sha256, str(convert_once(path, fmt, sha256, cache)))


def load_path(record: dict[str, str | None], cache: Path | None = None) -> str:
    """What ``from_pretrained`` loads for a recorded source: the cached conversion, made again from the
    source when this machine has not converted it (the sha256 must still match)."""
    fmt, sha256, source = record.get("format", "hf"), record.get("sha256"), str(record["source"])
    if fmt == "hf" or sha256 is None:
        return source
    out = converted_dir(fmt, sha256, cache)  # type: ignore[arg-type]
    if (out / RECORD).is_file():
        return str(out)
    path = source_path(source, cache).resolve()
    if not path.exists():
        raise CheckpointError(f"{source}: missing, and its conversion ({sha256[:12]}) is not cached here")
    if source_sha256(path, fmt) != sha256:  # type: ignore[arg-type]
        raise CheckpointError(f"{source}: changed since it was recorded (sha256 {sha256[:12]}); run prepare")
    return str(convert_once(path, fmt, sha256, cache))  # type: ignore[arg-type]


def convert_once(path: Path, fmt: SourceFormat, sha256: str, cache: Path | None = None) -> Path:
    """The checked HF conversion of ``path`` in the cache, made now if it is not there."""
    from filelock import FileLock

    out = converted_dir(fmt, sha256, cache)
    if (out / RECORD).is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock"):
        if (out / RECORD).is_file():  # another process converted it while this one waited
            return out
        with atomic_directory(out) as tmp:
            checks = convert_and_check(path, fmt, tmp)
            record = {"source": str(path), "format": fmt, "sha256": sha256, "checks": checks}
            (tmp / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return out


def convert_and_check(path: Path, fmt: SourceFormat, out: Path) -> dict[str, object]:
    """Convert into ``out`` and check the result's behaviour; returns what the checks measured."""
    if fmt == "gguf":
        from components.checkpoints.gguf_llm import check_gguf_conversion, convert_gguf_llm

        convert_gguf_llm(path, out)
        return {"next_token_logits_max_abs_diff": check_gguf_conversion(path, out)}
    from components.checkpoints.ctranslate2_whisper import convert_ctranslate2_whisper

    convert_ctranslate2_whisper(path, out)
    return check_whisper_hears(path, out)


def normalise_words(text: str) -> list[str]:
    return re.sub(r"[^\w\s']", " ", text.lower()).split()


def check_whisper_hears(path: Path, out: Path) -> dict[str, object]:
    """The converted model's own decoder transcribes recorded check clips to their words.

    Raises:
        CheckpointError: a clip's transcript misses a word (one line, naming the source and clip).
    """
    import jiwer

    from components.checkpoints.check_clips import check_clips
    from components.checkpoints.ctranslate2_whisper import transcribe

    heard = {}
    for clip in check_clips():
        said = " ".join(normalise_words(transcribe(out, clip.audio, clip.sample_rate, language="en")))
        wer = jiwer.wer(clip.reference, said or "<empty>")
        if wer > MAX_CHECK_WER:
            raise CheckpointError(
                f"{path}: converted Whisper heard {said!r} in the check clip {clip.name} "
                f"({clip.reference!r}); the conversion is wrong or the checkpoint is not Whisper"
            )
        heard[clip.name] = said
    return {"check_clips": heard}
