"""The embedded demo corpus: the demo grammar's sentences spoken by espeak-ng, 16 kHz mono.

Every sentence carries its translation into each other corpus language, an intent and a spoken
question with its answer. Splits are drawn per sentence, and a sentence is spoken in one language
only, so no test sentence is ever heard or read in training, whatever the voice or language.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from components.data import demo_grammar as grammar
from components.data.demo_grammar import Clause
from components.data.manifest import Utterance

AUDIO_PREFIX = "audio"  # audio_dir's name under the data root
ESPEAK_VOICES = {"eng": "en-us", "fra": "fr-fr", "deu": "de", "spa": "es"}
# (voice suffix, words per minute, pitch): variant 0 is the plain voice.
VOICE_VARIANTS = [("", 160, 50), ("+f3", 185, 65), ("+m3", 145, 35), ("+f2", 170, 55)]


class SynthesisError(RuntimeError):
    """espeak-ng or sox failed; the message names the utterance."""


@dataclass(frozen=True)
class DemoSentence:
    """A clause, the one language it is spoken in, and its split."""

    clause: Clause
    language: str
    split: str


def plan_sentences(
    languages: list[str], per_language: int, dev_share: float, test_share: float, seed: int
) -> list[DemoSentence]:
    """``per_language`` distinct clauses per language, none shared between languages, split per clause."""
    grammar.check_languages(languages)
    missing = sorted(set(languages) - set(ESPEAK_VOICES))
    if missing:
        raise ValueError(
            f"prepare.languages: no demo voice for {missing}; choose from {sorted(ESPEAK_VOICES)}"
        )
    clauses = grammar.sample_clauses(per_language * len(languages), random.Random(seed))
    spoken = [(clause, languages[index % len(languages)]) for index, clause in enumerate(clauses)]
    splits = assign_splits([language for _, language in spoken], dev_share, test_share, seed)
    return [
        DemoSentence(clause, language, split)
        for (clause, language), split in zip(spoken, splits, strict=True)
    ]


def assign_splits(languages: list[str], dev_share: float, test_share: float, seed: int) -> list[str]:
    """Split per language by sentence, with a seeded shuffle: the same params give the same split."""
    splits = ["train"] * len(languages)
    rng = random.Random(seed)
    by_language: dict[str, list[int]] = {}
    for index, language in enumerate(languages):
        by_language.setdefault(language, []).append(index)
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
    sentences: list[DemoSentence],
    languages: list[str],
    voice_variants: int,
    sample_rate: int,
    progress: bool = True,
) -> list[Utterance]:
    """Synthesize every (sentence, voice variant) into ``audio_dir`` and return manifest rows.

    Audio paths in the rows are relative to the data root, the parent of ``audio_dir``.
    """
    from tqdm import tqdm

    require_tools()
    jobs = []
    for index, sentence in enumerate(sentences):
        for variant in range(voice_variants):
            utt_id = f"{sentence.language}_{index:04d}_v{variant}"
            jobs.append((utt_id, sentence, variant, Path(sentence.language) / f"{utt_id}.wav"))

    def run(job: tuple) -> None:
        _, sentence, variant, rel = job
        text = grammar.render(sentence.clause, sentence.language)
        synthesize(text, sentence.language, variant, audio_dir / rel, sample_rate)

    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        list(
            tqdm(pool.map(run, jobs), total=len(jobs), desc="synthesizing demo corpus", disable=not progress)
        )

    import soundfile as sf

    rows = []
    for utt_id, sentence, variant, rel in jobs:
        samples, rate = sf.read(str(audio_dir / rel), dtype="int16")  # facts from the samples, not the header
        clause, language = sentence.clause, sentence.language
        rows.append(
            Utterance(
                id=utt_id,
                audio=(Path(AUDIO_PREFIX) / rel).as_posix(),
                language=language,
                text=grammar.render(clause, language),
                duration_s=round(len(samples) / rate, 4),
                sample_rate=rate,
                split=sentence.split,
                translation={other: grammar.render(clause, other) for other in languages if other != language}
                or None,
                intent=grammar.intent(clause),
                question=grammar.SUBJECT_QUESTION,
                answer=grammar.subject_phrase(clause, language),
                speaker=f"espeak-{ESPEAK_VOICES[language]}{VOICE_VARIANTS[variant][0]}",
            )
        )
    return rows
