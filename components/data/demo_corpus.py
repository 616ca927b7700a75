"""The embedded demo corpus: the project's own sentences spoken by espeak-ng, 16 kHz mono.

Every sentence carries a translation into one other corpus language (so speech translation can be
scored), an intent and a question/answer pair. Splits are drawn per sentence, so no test sentence is
ever heard in training, whatever the voice.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from components.data.manifest import Utterance

AUDIO_PREFIX = "audio"  # audio_dir's name under the data root
ESPEAK_VOICES = {"eng": "en-us", "fra": "fr-fr", "deu": "de", "spa": "es"}
# (voice suffix, words per minute, pitch): variant 0 is the plain voice.
VOICE_VARIANTS = [("", 160, 50), ("+f3", 185, 65), ("+m3", 145, 35), ("+f2", 170, 55)]


class SynthesisError(RuntimeError):
    """espeak-ng or sox failed; the message names the utterance."""


@dataclass(frozen=True)
class DemoSentence:
    language: str
    text: str
    translation: dict[str, str]
    intent: str
    question: str
    answer: str


def load_sentences(languages: list[str], per_language: int) -> list[DemoSentence]:
    """The first ``per_language`` sentences of each requested language, in file order."""
    raw = json.loads(resources.files("components.data").joinpath("demo_sentences.json").read_text("utf-8"))
    unknown = sorted(set(languages) - set(ESPEAK_VOICES))
    if unknown:
        raise ValueError(
            f"prepare.languages: no demo voice for {unknown}; choose from {sorted(ESPEAK_VOICES)}"
        )
    chosen: list[DemoSentence] = []
    for language in languages:
        rows = [DemoSentence(**row) for row in raw if row["language"] == language][:per_language]
        chosen.extend(rows)
    return chosen


def assign_splits(sentences: list[DemoSentence], dev_share: float, test_share: float, seed: int) -> list[str]:
    """Split per language by sentence, with a seeded shuffle: the same params give the same split."""
    splits = ["train"] * len(sentences)
    rng = random.Random(seed)
    by_language: dict[str, list[int]] = {}
    for index, sentence in enumerate(sentences):
        by_language.setdefault(sentence.language, []).append(index)
    for indices in by_language.values():
        order = indices[:]
        rng.shuffle(order)
        n_dev = max(1, round(len(order) * dev_share)) if dev_share > 0 else 0
        n_test = max(1, round(len(order) * test_share)) if test_share > 0 else 0
        for index in order[:n_test]:
            splits[index] = "test"
        for index in order[n_test : n_test + n_dev]:
            splits[index] = "dev"
    return splits


def synthesize(text: str, language: str, variant: int, out_path: Path, sample_rate: int) -> None:
    """espeak-ng → sox resample to mono 16-bit at ``sample_rate``; written atomically.

    sox's dither (``-D`` turns it off) adds random noise, which would make every run's audio differ.
    """
    suffix, rate, pitch = VOICE_VARIANTS[variant]
    voice = ESPEAK_VOICES[language] + suffix
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, suffix=".wav")
    os.close(fd)
    try:
        speech = subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "--stdout", text],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["sox", "-q", "-D", "-t", "wav", "-", "-r", str(sample_rate), "-c", "1", "-b", "16", tmp],
            input=speech.stdout,
            check=True,
            capture_output=True,
        )
        os.replace(tmp, out_path)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        Path(tmp).unlink(missing_ok=True)
        detail = getattr(exc, "stderr", b"") or str(exc).encode()
        raise SynthesisError(
            f"{out_path.name}: speech synthesis failed: {detail.decode(errors='replace')}"
        ) from None


def require_tools() -> None:
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        raise SynthesisError(
            f"missing system tools {missing}: install them with `apt-get install espeak-ng sox`"
        )


def build_demo_corpus(
    audio_dir: Path,
    languages: list[str],
    per_language: int,
    voice_variants: int,
    dev_share: float,
    test_share: float,
    sample_rate: int,
    seed: int,
    progress: bool = True,
) -> list[Utterance]:
    """Synthesize every (sentence, voice variant) into ``audio_dir`` and return manifest rows.

    Audio paths in the rows are relative to the data root, the parent of ``audio_dir``.
    """
    from tqdm import tqdm

    require_tools()
    sentences = load_sentences(languages, per_language)
    splits = assign_splits(sentences, dev_share, test_share, seed)
    jobs = []
    for index, (sentence, split) in enumerate(zip(sentences, splits, strict=True)):
        for variant in range(voice_variants):
            utt_id = f"{sentence.language}_{index:04d}_v{variant}"
            jobs.append((utt_id, sentence, split, variant, Path(sentence.language) / f"{utt_id}.wav"))

    def run(job: tuple) -> None:
        utt_id, sentence, _, variant, rel = job
        synthesize(sentence.text, sentence.language, variant, audio_dir / rel, sample_rate)

    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        list(
            tqdm(pool.map(run, jobs), total=len(jobs), desc="synthesizing demo corpus", disable=not progress)
        )

    import soundfile as sf

    rows = []
    for utt_id, sentence, split, variant, rel in jobs:
        info = sf.info(str(audio_dir / rel))
        rows.append(
            Utterance(
                id=utt_id,
                audio=(Path(AUDIO_PREFIX) / rel).as_posix(),
                language=sentence.language,
                text=sentence.text,
                duration_s=round(info.frames / info.samplerate, 4),
                sample_rate=info.samplerate,
                split=split,
                translation=sentence.translation,
                intent=sentence.intent,
                question=sentence.question,
                answer=sentence.answer,
                speaker=f"espeak-{ESPEAK_VOICES[sentence.language]}{VOICE_VARIANTS[variant][0]}",
            )
        )
    return rows
