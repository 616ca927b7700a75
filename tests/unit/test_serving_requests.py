"""What the served model reads from a request: bytes, or a path confined to its audio root; limits."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from components.data.audio import load_audio
from components.registry.requests import Limits, RequestError, encode_file, request_audio, row_audio

RATE = 16000


def wav(path: Path, seconds: float = 0.5, seed: int = 0) -> Path:
    wave = np.random.default_rng(seed).standard_normal(int(seconds * RATE)).astype(np.float32) * 0.1
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave, RATE, subtype="FLOAT")
    return path


def test_base64_bytes_decode_to_the_same_waveform_as_the_file(tmp_path: Path) -> None:
    clip = wav(tmp_path / "clip.wav")
    [waveform] = request_audio([encode_file(clip)], [None], Limits(), RATE)
    assert np.array_equal(waveform, load_audio(clip, RATE))


def test_a_path_is_read_only_under_the_audio_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    inside = wav(root / "in" / "clip.wav")
    outside = wav(tmp_path / "secret.wav", seed=1)
    confined = Limits(audio_root=root.resolve())
    assert np.array_equal(row_audio(None, "in/clip.wav", confined, RATE), load_audio(inside, RATE))
    assert np.array_equal(row_audio(None, str(inside), confined, RATE), load_audio(inside, RATE))

    with pytest.raises(RequestError, match="this model serves no audio root; send `audio`"):
        row_audio(None, str(inside), Limits(), RATE)
    with pytest.raises(RequestError, match=r"`\.\.` is not allowed"):
        row_audio(None, "in/../../secret.wav", confined, RATE)
    with pytest.raises(RequestError, match="outside the audio root"):
        row_audio(None, str(outside), confined, RATE)
    (root / "link.wav").symlink_to(outside)  # a symlink inside that leads out
    with pytest.raises(RequestError, match="link.wav: outside the audio root"):
        row_audio(None, "link.wav", confined, RATE)
    os.mkfifo(root / "pipe.wav")  # reading a FIFO would block the server forever
    with pytest.raises(RequestError, match="pipe.wav: not a regular file"):
        row_audio(None, "pipe.wav", confined, RATE)
    with pytest.raises(RequestError, match="no such file under the audio root"):
        row_audio(None, "missing.wav", confined, RATE)


def test_limits_and_malformed_rows_are_refused_all_in_one_message(tmp_path: Path) -> None:
    clip = encode_file(wav(tmp_path / "clip.wav", seconds=2.0))
    size = len(base64.b64decode(clip))
    limits = Limits(max_rows=4, max_audio_bytes=size - 1, max_audio_seconds=1.0)
    with pytest.raises(RequestError, match="5 rows in one request; at most 4"):
        request_audio([clip] * 5, [None] * 5, limits, RATE)
    short = encode_file(wav(tmp_path / "short.wav", seconds=1.5))
    rows = [clip, "not base64!", None, short]
    paths = [None, None, None, None]
    with pytest.raises(RequestError) as refused:
        request_audio(rows, paths, Limits(max_rows=4, max_audio_bytes=size - 1, max_audio_seconds=1.0), RATE)
    message = str(refused.value)
    assert message.startswith(f"row 0: {size} bytes of audio; at most {size - 1}")
    assert "row 1: `audio` is not base64" in message
    assert "row 2: give exactly one of `audio` (base64 of the file) and `audio_path`" in message
    assert "row 3: 1.5 s of audio; at most 1 s" in message
    with pytest.raises(RequestError, match="row 0: give exactly one"):
        request_audio([clip], ["clip.wav"], Limits(audio_root=tmp_path), RATE)
    noise = base64.b64encode(b"RIFF not really a wave file").decode()
    with pytest.raises(RequestError, match="row 0: audio: cannot decode audio"):
        request_audio([noise], [None], Limits(), RATE)


def test_predict_sends_bytes_to_a_model_that_takes_them_and_a_path_to_one_registered_before(
    tmp_path: Path,
) -> None:
    from types import SimpleNamespace

    from components.registry.pyfunc_model import SIGNATURE
    from components.registry.requests import request_columns

    clip = wav(tmp_path / "clip.wav")

    def loaded(names: list[str]) -> SimpleNamespace:
        schema = SimpleNamespace(input_names=lambda: names)
        return SimpleNamespace(metadata=SimpleNamespace(get_input_schema=lambda: schema))

    current = loaded(SIGNATURE.inputs.input_names())
    assert request_columns(current, clip) == {"audio": [encode_file(clip)]}
    # a version registered when `audio` was a path keeps being answered
    assert request_columns(loaded(["audio", "instruction"]), clip) == {"audio": [str(clip.resolve())]}


def test_an_empty_file_is_refused_as_audio_not_as_a_missing_column(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(RequestError, match="row 0: audio: cannot decode audio"):
        request_audio([encode_file(tmp_path / "empty.wav")], [None], Limits(), RATE)
