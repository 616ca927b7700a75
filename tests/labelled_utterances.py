"""Test-split utterances with every label the evaluation scores (transcript, translation, intent)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def labelled_utterances(languages: Sequence[str], text: str = "the cat {i}") -> list[Any]:
    """One utterance per entry of ``languages``, numbered ``i``: ``text`` formatted with ``i`` as its
    transcript, a French translation, and intents alternating perception / movement."""
    from components.data.manifest import Utterance

    return [
        Utterance(
            id=f"{lang}_{i}",
            audio=f"{i}.wav",
            language=lang,
            text=text.format(i=i),
            duration_s=1.0,
            sample_rate=16000,
            split="test",
            translation={"fra": f"le chat {i}"},
            intent="movement" if i % 2 else "perception",
        )
        for i, lang in enumerate(languages)
    ]
