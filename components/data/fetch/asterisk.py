"""The Asterisk core sound prompts as a corpus: fetched from Debian by package name, one manifest out.

Each language comes as two packages: ``asterisk-core-sounds-XX`` holds the transcript
(``core-sounds-XX.txt.gz``, ``key: text`` per line) and ``asterisk-core-sounds-XX-wav`` the recordings
(8 kHz 16-bit mono WAV, one voice, ``sounds/VOICE/KEY.wav``). The same key names the same prompt in
every language, so prompts recorded in several languages are parallel: a row's ``translation`` holds the
other fetched languages' texts of its key, and splits are drawn per key so that no prompt is in two.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from components.data.fetch.debian import download_debian_packages, extract_deb
from components.data.fetch.errors import FetchError
from components.data.languages import iso639_3
from components.data.manifest import SPLITS, read_rows, utf8_text, write_rows

VERSION = "1.6.1-1"  # Debian bookworm's, the one `apt-cache policy asterisk-core-sounds-en-wav` offers
DEBIAN_CODES = {"eng": "en", "spa": "es", "fra": "fr", "ita": "it", "rus": "ru"}  # ISO 639-3 → Debian's
DEV_SHARE = 0.1
TEST_SHARE = 0.1
SEED = 0

# Text in brackets, parentheses or angle brackets is a note about the sound, not words spoken in it.
_NOTE = re.compile(r"\[[^\]]*\]|\([^)]*\)|<[^>]*>")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def package_names(code: str) -> list[str]:
    """The transcript package and the WAV package of a Debian language code (``en``)."""
    return [f"asterisk-core-sounds-{code}", f"asterisk-core-sounds-{code}-wav"]


def language_codes(language: str) -> tuple[str, str]:
    """(ISO 639-3, Debian code) of ``en``/``eng``/``en-US``; ``ValueError`` naming a language Debian lacks."""
    iso = iso639_3(language)
    if iso not in DEBIAN_CODES:
        known = ", ".join(f"{code} ({name})" for name, code in DEBIAN_CODES.items())
        raise ValueError(f"no Asterisk core sounds in language {language!r}; Debian packages {known}")
    return iso, DEBIAN_CODES[iso]


def parse_core_sounds(text: str, origin: str = "core-sounds") -> dict[str, str]:
    """Prompt key → text of a transcript; ``ValueError`` naming ``origin`` and the line that is not one.

    A ``;`` starts a comment only at the start of a line: prompts hold ``;`` in their text. When a key
    is repeated the first line wins (Spanish lists ``digits/0`` as "cero", then again as "diez").
    """
    prompts: dict[str, str] = {}
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        key, colon, prompt = line.partition(":")
        if not colon or not key.strip():
            raise ValueError(f"{origin}:{number}: expected 'key: text', got {line!r}")
        prompts.setdefault(key.strip(), prompt.strip())
    return prompts


def is_stage_direction(text: str) -> bool:
    """Whether ``text`` only describes a sound (``[beep]``, ``(5 seconds of silence)``, ``<beep>``)."""
    return bool(text.strip()) and not re.search(r"\w", _NOTE.sub("", text))


def spoken_text(text: str) -> str:
    """The words a prompt says: notes about the sound (``at [@]``, ``IAX (note: does not say "2")``)
    removed and spaces collapsed, so a transcription is scored against what was spoken."""
    return " ".join(_NOTE.sub(" ", text).split())


def read_transcript(path: Path) -> dict[str, str]:
    """The prompts of a (gzipped) transcript file; a bad line or invalid UTF-8 names the file and line."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return parse_core_sounds(utf8_text(data, path), str(path))


def language_files(root: Path, code: str) -> tuple[Path, Path]:
    """(transcript, voice folder) of one language, under ``root``: one unpacked tree per package."""
    transcripts = sorted(root.glob(f"*/usr/share/doc/*/core-sounds-{code}.txt*"))
    voices = sorted(path for path in root.glob("*/usr/share/asterisk/sounds/*") if path.is_dir())
    if len(transcripts) != 1 or len(voices) != 1:
        raise FetchError(
            f"{root}: expected one core-sounds-{code}.txt[.gz] and one sounds/VOICE folder in the unpacked"
            f" {' and '.join(package_names(code))}, found {len(transcripts)} and {len(voices)}"
        )
    return transcripts[0], voices[0]


def recorded_keys(prompts: dict[str, str], recorded: set[str]) -> dict[str, str]:
    """``prompts`` with each key spelt as its recording's file is, where they differ only in case.

    Transcripts and file names disagree on case now and then (Italian ``letters/O`` is ``letters/o.wav``,
    Spanish ``digits/1f`` is ``digits/1F.wav``); the file's spelling is the one other languages share.
    A key is kept as written when its file exists, when the case-blind match is ambiguous, or when the
    transcript lists the file's spelling itself.
    """
    folded = Counter(key.casefold() for key in recorded)
    by_fold = {key.casefold(): key for key in recorded}
    spelt = {}
    for key, text in prompts.items():
        name = by_fold.get(key.casefold()) if key not in recorded and folded[key.casefold()] == 1 else None
        spelt[key if name is None or name in prompts else name] = text
    return spelt


def split_of_key(key: str, seed: int, dev_share: float, test_share: float) -> str:
    """The split of a prompt key: a hash of key and seed, so every language puts the key in the same one."""
    draw = int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big") / 2**64
    return "test" if draw < test_share else "dev" if draw < test_share + dev_share else "train"


def key_splits(
    speech: dict[str, dict[str, str]], seed: int, dev_share: float, test_share: float
) -> dict[str, str]:
    """Prompt key → split, drawn per group of keys that say the same text in some language.

    Different keys often hold one text (``pbx-invalid`` and ``invalid`` both "I'm sorry, that's not a
    valid extension"): drawn per key, such a text would be in training and test at once. Keys are
    joined when any language speaks them alike (case and spacing aside), and each group takes the
    split its first key draws, so no prompt and no transcript is in two splits.
    """
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]  # path halving
            key = parent[key]
        return key

    for texts in speech.values():
        first_with: dict[str, str] = {}
        for key in sorted(texts):
            canonical = " ".join(texts[key].casefold().split())
            other = first_with.setdefault(canonical, key)
            a, b = sorted((root(key), root(other)))
            parent[b] = a
    return {key: split_of_key(root(key), seed, dev_share, test_share) for key in sorted(parent)}


def safe_ids(keys: set[str]) -> dict[str, str]:
    """Key → id part made of letters, digits, ``.``, ``_``, ``-`` (``digits/5`` → ``digits-5``).

    Keys that would share one (``a/b`` and ``a-b``) each get a hash of the key, so ids stay unique
    whichever languages are fetched."""
    safe = {key: _UNSAFE.sub("_", key.replace("/", "-")) for key in keys}
    shared = Counter(safe.values())
    return {
        key: f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:8]}" if shared[name] > 1 else name
        for key, name in safe.items()
    }


@dataclass
class AsteriskSummary:
    """What a manifest holds and what was left out, per language (ISO 639-3)."""

    manifest: Path
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # language → split → rows
    stage_directions: dict[str, int] = field(default_factory=dict)  # dropped: texts that are no speech
    empty_texts: dict[str, int] = field(default_factory=dict)  # dropped: keys listed with no text
    without_audio: dict[str, int] = field(default_factory=dict)  # dropped: texts with no recording
    audio_without_text: dict[str, int] = field(default_factory=dict)  # recordings the transcript lacks
    parallel_keys: int = 0  # keys with a row in every fetched language

    def lines(self) -> list[str]:
        """The summary as lines for a terminal."""
        lines = [f"asterisk manifest {self.manifest}"]
        for language, splits in self.rows.items():
            lines.append(
                f"  {language}: {sum(splits.values())} rows ("
                + ", ".join(f"{split} {splits[split]}" for split in SPLITS)
                + f"); dropped {self.stage_directions[language]} stage directions,"
                f" {self.empty_texts[language]} empty texts, {self.without_audio[language]} without audio;"
                f" {self.audio_without_text[language]} recordings without text"
            )
        lines.append(f"  {self.parallel_keys} prompt keys in all of {', '.join(self.rows)}")
        return lines


def build_asterisk_manifest(
    extracted: dict[str, Path], out: Path, dev_share: float, test_share: float, seed: int
) -> AsteriskSummary:
    """Write the JSON Lines manifest ``out``: one row per language and prompt key with text and audio.

    ``extracted`` maps a language (``en`` or ``eng``) to the folder holding its two unpacked packages.
    ``out`` is left untouched when its rows would not change, so the import's snapshot of it holds.
    """
    if min(dev_share, test_share) < 0 or dev_share + test_share >= 1:
        raise ValueError(f"dev_share {dev_share} and test_share {test_share}: need both >= 0 and a sum < 1")
    speech: dict[str, dict[str, str]] = {}  # language → key → spoken text
    audio: dict[str, dict[str, Path]] = {}  # language → key → recording, for keys with speech
    voices: dict[str, str] = {}
    summary = AsteriskSummary(manifest=out)
    for language, root in sorted(extracted.items(), key=lambda item: language_codes(item[0])):
        iso, code = language_codes(language)
        transcript, voice = language_files(root, code)
        recorded = {path.relative_to(voice).with_suffix("").as_posix(): path for path in voice.rglob("*.wav")}
        prompts = recorded_keys(read_transcript(transcript), set(recorded))
        speech[iso] = {
            key: spoken_text(text) for key, text in prompts.items() if text and not is_stage_direction(text)
        }
        summary.stage_directions[iso] = sum(map(is_stage_direction, prompts.values()))
        summary.empty_texts[iso] = sum(not text for text in prompts.values())
        audio[iso] = {key: recorded[key] for key in speech[iso] if key in recorded}
        summary.without_audio[iso] = len(speech[iso]) - len(audio[iso])
        summary.audio_without_text[iso] = len(recorded.keys() - prompts.keys())
        voices[iso] = voice.name
    ids = safe_ids({key for keys in audio.values() for key in keys})
    split_of = key_splits(
        {iso: {k: speech[iso][k] for k in keys} for iso, keys in audio.items()}, seed, dev_share, test_share
    )
    rows = []
    for iso, recordings in audio.items():
        splits: Counter[str] = Counter()
        for key in sorted(recordings):
            split = split_of[key]
            splits[split] += 1
            row = {
                "id": f"{iso}_{ids[key]}",
                "audio": Path(os.path.relpath(recordings[key], out.parent)).as_posix(),
                "text": speech[iso][key],
                "language": iso,
                "speaker": voices[iso],
                "split": split,
            }
            translation = {
                other: texts[key] for other, texts in speech.items() if other != iso and key in texts
            }
            if translation:
                row["translation"] = translation
            rows.append(row)
        summary.rows[iso] = {split: splits[split] for split in SPLITS}
    summary.parallel_keys = len(set.intersection(*(set(keys) for keys in audio.values()))) if audio else 0
    if not (out.is_file() and _same_rows(out, rows)):
        write_rows(out, rows)
    return summary


def _same_rows(path: Path, rows: list[dict]) -> bool:
    try:
        return read_rows(path) == rows
    except ValueError:  # a damaged manifest is rewritten
        return False


def fetch_asterisk(
    languages: list[str],
    cache_dir: Path,
    dev_share: float = DEV_SHARE,
    test_share: float = TEST_SHARE,
    seed: int = SEED,
) -> AsteriskSummary:
    """The manifest of the Asterisk prompts in ``languages`` (``en``/``eng``, ...), built in ``cache_dir``.

    Packages are downloaded into ``cache_dir/debian/`` and unpacked beside them, each only once; the
    manifest is ``cache_dir/corpora/asterisk/LANGS/manifest.jsonl`` (``LANGS`` like ``eng-spa``), its
    audio paths relative to it. Returns the manifest's summary, its path included.
    """
    if not languages:
        raise ValueError("no language given; Asterisk core sounds exist in en, es, fr, it, ru")
    codes = dict(sorted(language_codes(language) for language in languages))  # ISO 639-3 → Debian code
    debian = Path(cache_dir) / "debian"
    names = [f"{name}={VERSION}" for code in codes.values() for name in package_names(code)]
    debs = dict(zip(names, download_debian_packages(names, debian), strict=True))
    extracted = {}
    for iso, code in codes.items():
        root = debian / "unpacked" / f"asterisk-core-sounds-{code}_{VERSION}"
        for name in package_names(code):
            if not (root / name).is_dir():  # unpacking is atomic: a folder there is complete
                extract_deb(debs[f"{name}={VERSION}"], root / name)
        extracted[iso] = root
    out = Path(cache_dir) / "corpora" / "asterisk" / "-".join(codes) / "manifest.jsonl"
    return build_asterisk_manifest(extracted, out, dev_share, test_share, seed)
