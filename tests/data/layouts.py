"""Every corpus layout the importers read, built on the fly at any size, with clean and distinct content.

Shared by the importer tests, the clean-layout validation test and ``bench/import_layouts.py``. The
content is what a well-made corpus holds, so an imported layout passes validation as it is:

- every file is a sine tone at a frequency no other file of the corpus uses, so no two files share a
  content hash (the validation's duplicate-audio rule);
- every transcript is distinct, so no dev or test transcript repeats a train one (transcript leakage);
- each file lasts as long as its transcript takes to say at :data:`CHARS_PER_SECOND` (the
  characters-per-second rule), and never less than :data:`MIN_SECONDS`;
- a speaker speaks in one split only (speaker leakage).

A test that needs broken content breaks a built layout on purpose. Each builder takes the folder to
build in and a ``size`` (about how many utterances; the default is the small corpus the importer tests
assert on), and returns (source to import, {id: (split, seconds, ISO 639-3 language)}).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from components.data.languages import iso639_3
from components.data.manifest import SPLITS

RATE = 16000  # the rate the importer converts to in these tests
CHARS_PER_SECOND = 15.0  # a calm speaking rate, well inside validate's 2-35 characters per second
MIN_SECONDS = 0.5
TONE_HZ, TONE_STEP_HZ = 200.0, 3.0  # 1,200 files stay below 4 kHz, the Nyquist limit of the 8 kHz CSV layout
AMPLITUDE = 0.3

Expected = dict[str, tuple[str, float, str]]
Builder = Callable[..., tuple[Path, Expected]]


class Tones:
    """Sine tones for one corpus, each at a frequency no earlier tone of it used: distinct content hashes."""

    def __init__(self) -> None:
        self.count = 0

    def wave(self, seconds: float, rate: int) -> np.ndarray:
        hz = TONE_HZ + TONE_STEP_HZ * self.count
        self.count += 1
        t = np.arange(round(seconds * rate)) / rate
        return (AMPLITUDE * np.sin(2 * np.pi * hz * t)).astype("float32")

    def write(self, path: Path, seconds: float, rate: int = 22050, channels: int = 1) -> Path:
        """A tone in the format the file name says (wav, flac, mp3), with ``channels`` identical channels."""
        wave = self.wave(seconds, rate)
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.repeat(wave[:, None], channels, axis=1) if channels > 1 else wave, rate)
        return path

    def flac_bytes(self, seconds: float, rate: int = 22050) -> bytes:
        """FLAC bytes of a tone, as a dataset's Audio column holds them."""
        buffer = io.BytesIO()
        sf.write(buffer, self.wave(seconds, rate), rate, format="FLAC")
        return buffer.getvalue()


def seconds_for(text: str, index: int) -> float:
    """How long ``text`` takes to say, plus up to 0.4 s of pause varied by ``index`` so durations differ."""
    return round(max(MIN_SECONDS, len(text) / CHARS_PER_SECOND) + 0.1 * (index % 5), 2)


def split_sizes(size: int) -> dict[str, int]:
    """About 10% of ``size`` each for dev and test (at least one), the rest for train."""
    held_out = max(1, size // 10)
    return {"train": max(1, size - 2 * held_out), "dev": held_out, "test": held_out}


def write_tsv(path: Path, header: list[str] | None, rows: list[list[str]]) -> Path:
    """Tab-separated and unquoted, as Common Voice, CoVoST and FLEURS write them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ([header] if header else []) + rows
    path.write_text("".join("\t".join(fields) + "\n" for fields in lines), encoding="utf-8")
    return path


# ---------------------------------------------------------------- jsonl and csv: the manifest contract

# id, then split and language as the file writes them, then as the manifest must hold them
CONTRACT = (
    ("utt-a", "train", "en", "train", "eng"),
    ("utt-b", "train", "en-US", "train", "eng"),
    ("utt-c", "validation", "fre", "dev", "fra"),
    ("utt-d", "test", "de_DE", "test", "deu"),
)
EXTRA_LANGUAGES = (("en", "eng"), ("fr", "fra"), ("de", "deu"))
EXTRA_SPLITS = ("train",) * 8 + ("dev", "test")


def contract_plan(size: int) -> list[tuple[str, str, str, str, str]]:
    """:data:`CONTRACT`, then rows ``utt-0004``… over the splits and languages up to ``size``."""
    plan = list(CONTRACT)
    for i in range(len(CONTRACT), size):
        split, (code, iso) = EXTRA_SPLITS[i % len(EXTRA_SPLITS)], EXTRA_LANGUAGES[i % len(EXTRA_LANGUAGES)]
        plan.append((f"utt-{i:04d}", split, code, split, iso))
    return plan


def contract_records(size: int = len(CONTRACT)) -> list[dict]:
    """The manifest records of a contract corpus: ``utt-a`` also has a translation and a speaker."""
    return [
        {
            "id": uid,
            "audio": f"clips/{uid}.wav",
            "text": f"transcript of {uid}",
            "split": split,
            "language": code,
            **({"translation": {"fr": "bonjour"}, "speaker": "spk1"} if uid == "utt-a" else {}),
        }
        for uid, split, code, _, _ in contract_plan(size)
    ]


def write_contract_audio(root: Path, size: int, rate: int, channels: int = 1) -> Expected:
    """The clips of :func:`contract_records` under ``root/clips``; what the manifests must hold."""
    tones, expected = Tones(), {}
    for index, (record, (uid, _, _, split, language)) in enumerate(
        zip(contract_records(size), contract_plan(size), strict=True)
    ):
        seconds = seconds_for(record["text"], index)
        tones.write(root / record["audio"], seconds, rate=rate, channels=channels)
        expected[uid] = (split, seconds, language)
    return expected


def make_jsonl(root: Path, size: int = len(CONTRACT)) -> tuple[Path, Expected]:
    """A JSON Lines manifest over stereo 22.05 kHz clips."""
    expected = write_contract_audio(root, size, rate=22050, channels=2)
    path = root / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in contract_records(size)), encoding="utf-8")
    return path, expected


def make_csv(root: Path, size: int = len(CONTRACT)) -> tuple[Path, Expected]:
    """A CSV manifest (translation as a JSON cell) over 8 kHz clips; the source is its folder."""
    import csv

    expected = write_contract_audio(root, size, rate=8000)
    fields = ["id", "audio", "text", "split", "language", "translation", "speaker"]
    with (root / "corpus.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for record in contract_records(size):
            if "translation" in record:
                record["translation"] = json.dumps(record["translation"])
            writer.writerow(record)
    return root, expected


# ---------------------------------------------------------------- the public layouts

CV_COLUMNS = ["client_id", "path", "sentence", "up_votes", "down_votes", "age", "gender", "accents", "locale"]


def cv_suffix() -> str:
    return ".mp3" if "MP3" in sf.available_formats() else ".wav"  # Common Voice ships MP3


def make_commonvoice(root: Path, locale: str = "en", size: int = 5) -> tuple[Path, Expected]:
    """A Common Voice locale folder: 48 kHz clips, transcripts with unescaped quotes, one client per clip."""
    tones, expected = Tones(), {}
    for split, count in split_sizes(size).items():
        rows = []
        for i in range(count):
            uid = f"common_voice_{locale}_{split}{i}"
            text = f'He said "hi" in {split} clip {i}'
            seconds = seconds_for(text, i)
            tones.write(root / "clips" / f"{uid}{cv_suffix()}", seconds, rate=48000)
            rows.append([f"client-{split}-{i}", f"{uid}{cv_suffix()}", text, "2", "0", "", "", "", locale])
            expected[uid] = (split, seconds, iso639_3(locale))
        write_tsv(root / f"{split}.tsv", CV_COLUMNS, rows)
    return root, expected


def make_librispeech(root: Path, size: int = 12) -> tuple[Path, Expected]:
    """Three subsets, two speakers each (a speaker belongs to one subset), FLAC and ``.trans.txt``."""
    tones, expected = Tones(), {}
    per_speaker = max(1, size // 6)
    subsets = {"train-clean-100": ("train", "19"), "dev-clean": ("dev", "84"), "test-clean": ("test", "121")}
    for subset, (split, first_speaker) in subsets.items():
        for speaker, chapter in ((first_speaker, "198"), (str(int(first_speaker) + 7), "495")):
            folder = root / subset / speaker / chapter
            lines = []
            for utt in range(per_speaker):
                uid = f"{speaker}-{chapter}-{utt:04d}"
                text = f"SPEAKER {speaker} READS LINE {utt} OF CHAPTER {chapter}"
                seconds = seconds_for(text, utt)
                tones.write(folder / f"{uid}.flac", seconds, rate=RATE)
                lines.append(f"{uid} {text}")
                expected[uid] = (split, seconds, "eng")
            (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root, expected


FLEURS_SENTENCES = {
    "fr_fr": ("fra", "La phrase {n} est lue à voix haute."),
    "cmn_hans_cn": ("cmn", "第{n}句话读出来。"),
}


def make_fleurs(root: Path, size: int = 12) -> tuple[Path, Expected]:
    """Two FLEURS language folders, French and Mandarin, with header-less TSVs and big-number file names."""
    tones, expected = Tones(), {}
    per_split = max(1, size // 6)
    for lang_dir, (language, sentence) in FLEURS_SENTENCES.items():
        for split in SPLITS:
            rows = []
            for i in range(per_split):
                name = f"{len(expected) + 12741024238657315067}.wav"  # FLEURS names files by a big number
                text = sentence.format(n=len(expected))
                seconds = seconds_for(text, i)
                tones.write(root / lang_dir / "audio" / split / name, seconds, rate=RATE)
                normalised = text.lower().rstrip(".。")
                samples = str(round(seconds * RATE))
                rows.append([str(1000 + i), name, text, normalised, "p h r a z", samples, "FEMALE"])
                expected[Path(name).stem] = (split, seconds, language)
            write_tsv(root / lang_dir / f"{split}.tsv", None, rows)
    return root, expected


COVOST_SPLITS = ("train", "train_covost", "dev", "test")


def make_covost2(root: Path, size: int = 4) -> tuple[Path, Expected]:
    """``covost_v2.fr_en.tsv`` beside French Common Voice clips, cycling over CoVoST's four splits."""
    tones, expected, rows = Tones(), {}, []
    for i in range(size):
        uid, split = f"common_voice_fr_{i}", COVOST_SPLITS[i % len(COVOST_SPLITS)]
        text = f"Bonjour numéro {i}"
        seconds = seconds_for(text, i)
        tones.write(root / "clips" / f"{uid}.wav", seconds, rate=48000)
        rows.append([f"{uid}.wav", text, f"Hello number {i}", f"client{i}", split])
        expected[uid] = (split.removesuffix("_covost"), seconds, "fra")
    write_tsv(root / "covost_v2.fr_en.tsv", ["path", "sentence", "translation", "client_id", "split"], rows)
    return root / "covost_v2.fr_en.tsv", expected


def make_hf(root: Path, size: int = 7) -> tuple[Path, Expected]:
    """A ``save_to_disk`` DatasetDict (``validation`` is dev) of FLAC bytes, plus one row whose audio is a
    file beside the dataset."""
    from datasets import Audio, Dataset, DatasetDict

    tones, expected, parts = Tones(), {}, {}
    per_split = max(1, (size - 1) // 3)
    loose = "Satz hf-train-path"
    loose_seconds = seconds_for(loose, 0)
    tones.write(root / "loose" / "path-only.wav", loose_seconds, rate=RATE)
    for split, name in (("train", "train"), ("dev", "validation"), ("test", "test")):
        ids = [f"hf-{split}-{i}" for i in range(per_split)]
        texts = [f"Satz {uid}" for uid in ids]
        seconds = [seconds_for(text, i) for i, text in enumerate(texts)]
        audio = [
            {"bytes": tones.flac_bytes(s), "path": f"{u}.flac"} for u, s in zip(ids, seconds, strict=True)
        ]
        if split == "train":  # a row whose audio is a file beside the dataset, not bytes in it
            ids.append("hf-train-path")
            texts.append(loose)
            seconds.append(loose_seconds)
            audio.append({"bytes": None, "path": str(root / "loose" / "path-only.wav")})
        expected.update({uid: (split, s, "deu") for uid, s in zip(ids, seconds, strict=True)})
        parts[name] = Dataset.from_dict(
            {"id": ids, "audio": audio, "sentence": texts, "locale": ["de"] * len(ids)}
        ).cast_column("audio", Audio(decode=False))
    DatasetDict(parts).save_to_disk(str(root / "saved"))
    return root / "saved", expected


BUILDERS: dict[str, Builder] = {
    "jsonl": make_jsonl,
    "csv": make_csv,
    "hf": make_hf,
    "commonvoice": make_commonvoice,
    "librispeech": make_librispeech,
    "fleurs": make_fleurs,
    "covost2": make_covost2,
}
