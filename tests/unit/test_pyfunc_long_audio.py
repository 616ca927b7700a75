"""The registered model's answer to audio longer than its encoder reads: cut into chunks or refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mlflow.exceptions import MlflowException


def _served(model, too_long: str, batch_size: int = 16):
    """The pyfunc as served, reading paths under ``/`` (these tests are about length, not confinement:
    that is ``test_serving_requests``)."""
    from components.registry.engines import TorchEngine
    from components.registry.pyfunc_model import SpeechAlignModel
    from components.registry.requests import Limits

    served = SpeechAlignModel()
    served.engine, served.max_new_tokens, served.too_long = TorchEngine(model, batch_size), 4, too_long
    served.limits = Limits(audio_root=Path("/"))
    return served


def _wav(path: Path, seconds: float, rate: int, seed: int) -> str:
    import soundfile as sf

    wave = np.random.default_rng(seed).standard_normal(int(seconds * rate)).astype(np.float32) * 0.1
    sf.write(path, wave, rate, subtype="FLOAT")
    return str(path)


def test_over_long_audio_is_answered_chunk_by_chunk_under_split(tiny_model, tmp_path: Path) -> None:
    import pandas as pd
    import soundfile as sf

    from components.data.audio import split_audio

    rate = tiny_model.feature_extractor.sampling_rate
    limit = tiny_model.max_input_seconds
    long_path = _wav(tmp_path / "long.wav", 2.5 * limit, rate, seed=0)
    short_path = _wav(tmp_path / "short.wav", 0.5, rate, seed=1)
    table = pd.DataFrame({"audio_path": [long_path, short_path], "instruction": ["Repeat.", "Repeat."]})
    answers = _served(tiny_model, "split", batch_size=2).predict(None, table)  # 4 pieces, 2 batches
    assert _served(tiny_model, "split").predict(None, table.iloc[:0]) == []
    chunks = split_audio(sf.read(long_path, dtype="float32")[0], rate, limit)
    assert len(chunks) == 3
    one_by_one = _served(tiny_model, "split")
    expected = []
    for chunk in chunks:
        sf.write(tmp_path / "chunk.wav", chunk, rate, subtype="FLOAT")
        piece = pd.DataFrame({"audio_path": [str(tmp_path / "chunk.wav")], "instruction": ["Repeat."]})
        expected.append(one_by_one.predict(None, piece)[0])
    assert answers[0] == " ".join(expected)
    alone = pd.DataFrame({"audio_path": [short_path], "instruction": ["Repeat."]})
    assert answers[1] == one_by_one.predict(None, alone)[0]


def test_over_long_or_empty_audio_is_refused_by_row_and_file(tiny_model, tmp_path: Path) -> None:
    import pandas as pd

    rate = tiny_model.feature_extractor.sampling_rate
    short_path = _wav(tmp_path / "short.wav", 0.5, rate, seed=1)
    long_path = _wav(tmp_path / "long.wav", tiny_model.max_input_seconds + 1, rate, seed=0)
    table = pd.DataFrame({"audio_path": [short_path, long_path], "instruction": ["Repeat.", "Repeat."]})
    with pytest.raises(
        MlflowException,
        match=r"row 1 \(.*long\.wav\): .* exceeds the .* s the encoder reads \(too_long: reject\)",
    ):
        _served(tiny_model, "reject").predict(None, table)
    empty_path = _wav(tmp_path / "empty.wav", 0.0, 22050, seed=2)  # another rate: nothing to resample
    table = pd.DataFrame({"audio_path": [empty_path], "instruction": ["Repeat."]})
    with pytest.raises(MlflowException, match=r"row 0 \(.*empty\.wav\): the audio has no samples"):
        _served(tiny_model, "split").predict(None, table)


@pytest.mark.parametrize("bad", ["one", "all", "inf"])
def test_audio_with_non_finite_samples_is_refused_by_name(tiny_model, tmp_path: Path, bad: str) -> None:
    import pandas as pd
    import soundfile as sf

    from components.data.audio import AudioError, load_audio

    rate = tiny_model.feature_extractor.sampling_rate
    wave = np.random.default_rng(0).standard_normal(rate).astype(np.float32) * 0.1
    if bad == "all":
        wave[:] = np.nan
    else:
        wave[rate // 2] = np.nan if bad == "one" else np.inf
    path = tmp_path / f"{bad}.wav"
    sf.write(path, wave, rate, subtype="FLOAT")
    count = rate if bad == "all" else 1
    with pytest.raises(AudioError, match=rf"{bad}\.wav: {count} of {rate} samples are not finite"):
        load_audio(path, rate)
    table = pd.DataFrame({"audio_path": [str(path)], "instruction": ["Repeat."]})
    with pytest.raises(
        MlflowException, match="row 0: .*not finite"
    ):  # the registered model answers nothing for it
        _served(tiny_model, "split").predict(None, table)


def test_a_clip_shorter_than_the_encoder_reads_is_refused_by_rule(tiny_model, tmp_path: Path) -> None:
    import pandas as pd

    rate = tiny_model.feature_extractor.sampling_rate
    shortest = tiny_model.min_input_seconds
    assert 0 < shortest < 1
    tiny = _wav(tmp_path / "ten_ms.wav", 0.01, rate, seed=2)
    table = pd.DataFrame({"audio_path": [tiny], "instruction": ["Repeat."]})
    with pytest.raises(
        MlflowException, match=rf"ten_ms.wav\): 0.010 s of audio is shorter than the {shortest:g} s"
    ):
        _served(tiny_model, "split").predict(None, table)
    enough = _wav(tmp_path / "enough.wav", shortest, rate, seed=3)  # exactly the shortest: answered
    assert len(_served(tiny_model, "split").predict(None, table.assign(audio_path=[enough]))) == 1


def test_an_instruction_past_the_llms_context_is_refused(tiny_model, tmp_path: Path) -> None:
    import pandas as pd

    context = tiny_model.llm.config.max_position_embeddings
    clip = _wav(tmp_path / "clip.wav", 1.0, tiny_model.feature_extractor.sampling_rate, seed=4)
    table = pd.DataFrame({"audio_path": [clip], "instruction": ["the cat " * context]})
    with pytest.raises(
        MlflowException, match=rf"row 0: the instruction's prompt takes \d+ tokens; .* context of {context}"
    ):
        _served(tiny_model, "split").predict(None, table)
