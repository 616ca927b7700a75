"""A JSON Lines corpus holding one row of each kind of bad row people bring, beside clean rows in every
split; shared by the one-report data test and the retrain test that must register nothing.

Of the twelve kinds reported, a path escaping the root is not bad at import: the import reads the file a
row names wherever it lies (relative to the manifest, like the fetched Asterisk manifest's ``../``
paths) and writes its copy inside the data root; validation refuses manifest paths that leave the data
root (``tests/data/test_validation.py``). Its row here must import.

Built with :class:`tests.data.layouts.Tones`, so its clean rows pass validation as they are.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.data.layouts import CHARS_PER_SECOND, Tones

RATE = 16000
MAX_SECONDS = 10.0  # the validate.max_duration_s the builder's "too long" row exceeds

# bad id -> the rule that names it: ``import.*`` where the import left the row out, else the manifest's
BAD_ROWS = {
    "unreadable": "import.audio_decodable",  # bytes that are no audio format
    "missing": "import.audio_exists",  # the manifest names a file that is not there
    "empty": "import.audio_decodable",  # a 0-byte file
    "rate8k": "audio_sample_rate",  # 8 kHz, with resampling off
    "stereo": "audio_mono",  # two channels, with down-mixing off
    "toolong": "audio_too_long",  # longer than validate.max_duration_s
    "notext": "text_not_blank",  # an empty transcript
    "badlang": "import.language_known",  # language "xx"
    "dup": "import.id_unique",  # the second row with id "dup"
    "leak": "transcript_leak",  # a test transcript that is also a train transcript
    "badutf8": "import.text_utf8",  # a transcript with bytes that are not UTF-8
}


def sentence(uid: str) -> str:
    return f"this is what was said in the clip called {uid}"


def make_bad_corpus(root: Path) -> Path:
    """``root/corpus.jsonl`` and ``root/clips``: three clean rows per split and the twelve bad rows."""
    tones = Tones()
    clips = root / "clips"
    lines: list[bytes] = []

    def add(uid: str, split: str = "train", rate: int = RATE, channels: int = 1, **fields: object) -> None:
        text = str(fields.pop("text", sentence(uid)))
        seconds = fields.pop("seconds", max(1.0, len(text) / CHARS_PER_SECOND))
        name = str(fields.pop("audio", f"clips/{uid}.wav"))
        if fields.pop("write", True):
            tones.write(root / name, float(seconds), rate=rate, channels=channels)
        record = {"id": uid, "audio": name, "text": text, "split": split, "language": "eng", **fields}
        lines.append(json.dumps(record, ensure_ascii=False).encode("utf-8"))

    for split in ("train", "dev", "test"):
        for number in range(3):
            add(f"{split}{number}", split)
    add("unreadable", audio="clips/unreadable.wav", write=False)
    (clips / "unreadable.wav").write_bytes(b"RIFF, but no audio format at all" * 20)
    add("missing", "dev", write=False)
    add("empty", audio="clips/empty.wav", write=False)
    (clips / "empty.wav").write_bytes(b"")
    add("rate8k", rate=8000)
    add("stereo", "dev", channels=2)
    add("toolong", seconds=MAX_SECONDS + 2)
    add("notext", text="")
    add("badlang", language="xx")
    add("dup", "dev")
    add("dup", "test", audio="clips/dup-again.wav")
    add("outside", audio="../outside.wav", write=False)  # not bad: a corpus may name files beside it
    tones.write(root.parent / "outside.wav", 3.5, rate=RATE)
    add("leak", "test", text=sentence("train0"), audio="clips/leak.wav")
    add("badutf8", text="caf@@ au lait")
    lines[-1] = lines[-1].replace(b"@@", b"\xe9\xff")
    (root / "corpus.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return root / "corpus.jsonl"
