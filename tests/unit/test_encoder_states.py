"""The encoder-state cache: states are the frozen encoder's own output, computed once per clip and
encoder, reused while neither changes, and training on them gives the weights it gives without them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from tests.noise_examples import noise_examples


def _wave(seed: int, seconds: float) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(16000 * seconds)) * 0.1).astype(np.float32)


def test_a_clips_states_are_the_encoders_output_on_it_alone(tiny_model) -> None:
    import torch

    from components.modeling.encoder_states import clip_states, collate_states
    from components.modeling.speech_llm import extract_features

    encoder = tiny_model.speech.encoder
    features = extract_features(tiny_model.feature_extractor, _wave(0, 0.7))
    batch = torch.from_numpy(features)[None]
    mask = torch.ones(1, features.shape[-1], dtype=torch.long)
    with torch.no_grad():
        hidden, _ = encoder(batch, mask)
        layers, _ = encoder.forward_layers(batch, mask)
    last = clip_states(encoder, features, every_layer=False)
    every = clip_states(encoder, features, every_layer=True)
    assert last.shape == (hidden.shape[1], encoder.hidden_size) and last.dtype == np.float32
    assert every.shape == (encoder.num_layers, hidden.shape[1], encoder.hidden_size)
    assert np.array_equal(last, hidden[0].numpy()) and np.array_equal(every, layers[:, 0].numpy())
    padded, padded_mask = collate_states([last, last[:3]])
    assert padded.shape == (2, last.shape[0], last.shape[1])
    assert padded_mask.sum(dim=1).tolist() == [last.shape[0], 3] and not padded[1, 3:].any()
    stacked, _ = collate_states([every, every[:, :3]])
    assert stacked.shape == (encoder.num_layers, 2, last.shape[0], last.shape[1])


def test_speech_from_states_is_speech_from_audio(tiny_model) -> None:
    import torch

    from components.modeling.speech_llm import extract_features

    waves = [_wave(1, 0.5), _wave(2, 0.9)]
    features = [extract_features(tiny_model.feature_extractor, w) for w in waves]
    with torch.no_grad():
        from_audio = tiny_model.speech_slots(*tiny_model.features(waves))
        from_states = tiny_model.state_slots([tiny_model.clip_states(f) for f in features])
    assert [s.shape for s in from_states] == [s.shape for s in from_audio]
    for cached, live in zip(from_states, from_audio, strict=True):
        torch.testing.assert_close(cached, live, rtol=0, atol=1e-5)  # live runs the padded batch


def test_the_encoder_key_changes_with_weights_settings_and_layer_choice(fresh_model) -> None:
    import torch

    from components.modeling.encoder_states import encoder_key

    encoder, extractor = fresh_model.speech.encoder, fresh_model.feature_extractor
    key = encoder_key(encoder, extractor, every_layer=False)
    assert key == encoder_key(encoder, extractor, every_layer=False)
    assert key != encoder_key(encoder, extractor, every_layer=True)
    with torch.no_grad():
        next(encoder.parameters()).view(-1)[0] += 1e-3
    assert encoder_key(encoder, extractor, every_layer=False) != key


def _clips(root: Path, count: int) -> dict[str, Path]:
    import soundfile as sf

    root.mkdir(parents=True, exist_ok=True)
    clips = {}
    for index in range(count):
        path = root / f"c{index}.wav"
        sf.write(path, _wave(index, 0.3 + 0.1 * index), 16000)
        clips[f"u{index}"] = path
    return clips


def test_a_refresh_encodes_only_what_changed_and_keeps_nothing_stale(tmp_path: Path) -> None:
    import soundfile as sf

    from components.data.state_store import STATES, load_states, refresh_states

    clips = _clips(tmp_path / "audio", 3)
    clips["u3"] = clips["u0"]  # the same audio under two ids: encoded once
    calls: list[Path] = []

    def compute(path: Path) -> np.ndarray:
        calls.append(path)
        return np.full((int(path.stat().st_size % 7) + 2, 4), float(len(calls)), dtype=np.float32)

    store = tmp_path / "encoded"
    first = refresh_states(store, clips, "enc-a", False, compute, progress=False)
    assert (first.clips, first.computed, first.reused, first.removed) == (4, 3, 0, 0)
    states = load_states(store, ["u0", "u3", "u2"], "enc-a")
    assert np.array_equal(states["u0"], states["u3"])
    again = refresh_states(store, clips, "enc-a", False, compute, progress=False)
    assert (again.computed, again.reused, again.removed) == (0, 3, 0) and len(calls) == 3

    sf.write(clips["u2"], _wave(99, 0.5), 16000)  # new audio under an old id
    changed = refresh_states(store, clips, "enc-a", False, compute, progress=False)
    assert (changed.computed, changed.reused, changed.removed) == (1, 2, 1) and calls[-1] == clips["u2"]
    assert not np.array_equal(load_states(store, ["u2"], "enc-a")["u2"], states["u2"])

    other = refresh_states(store, clips, "enc-b", False, compute, progress=False)
    assert (other.computed, other.reused, other.removed) == (3, 0, 3)
    assert len(list((store / STATES).glob("*.npy"))) == 3


def test_states_of_another_encoder_or_missing_clips_are_refused(tmp_path: Path) -> None:
    from components.data.state_store import StaleStates, load_states, refresh_states

    store = tmp_path / "encoded"
    with pytest.raises(StaleStates, match="no encoder states"):
        load_states(store, ["u0"], "enc-a")
    refresh_states(
        store, _clips(tmp_path / "audio", 2), "enc-a", False, lambda p: np.zeros((2, 4), np.float32), False
    )
    with pytest.raises(StaleStates, match="another encoder"):
        load_states(store, ["u0"], "enc-b")
    with pytest.raises(StaleStates, match=r"no states for 1 clips, e\.g\. \['u9'\]"):
        load_states(store, ["u0", "u9"], "enc-a")


def test_a_refresh_killed_midway_is_completed_by_the_next(tmp_path: Path) -> None:
    from components.data.state_store import INDEX, STATES, refresh_states

    clips = _clips(tmp_path / "audio", 3)
    store = tmp_path / "encoded"
    done: list[Path] = []

    def dies_on_third(path: Path) -> np.ndarray:
        if len(done) == 2:
            raise KeyboardInterrupt
        done.append(path)
        return np.zeros((2, 4), np.float32)

    with pytest.raises(KeyboardInterrupt):
        refresh_states(store, clips, "enc-a", False, dies_on_third, progress=False)
    assert not (store / INDEX).exists() and len(list((store / STATES).iterdir())) == 2
    done.clear()
    finished = refresh_states(store, clips, "enc-a", False, dies_on_third, progress=False)
    assert (finished.computed, finished.reused) == (1, 2) and (store / INDEX).exists()


def test_training_on_stored_states_gives_the_weights_of_training_on_live_ones(
    tiny_base_dirs, tmp_path: Path
) -> None:
    import torch

    from components.config import PhaseParams, TrainParams
    from components.data.state_store import load_states, refresh_states
    from components.modeling.encoder_states import encoder_key
    from components.modeling.speech_llm import SpeechLLM, extract_features
    from components.training.trainer import train_recipe

    texts = ["hello world", "the cat sat on the mat", "good morning", "keep calm"]
    params = TrainParams(
        batch_size=2, warmup_steps=1, phases=[PhaseParams(name="align", steps=4, tasks={"asr": 1.0})]
    )

    def trained(use_store: bool) -> dict[str, torch.Tensor]:
        model = SpeechLLM.from_base(*tiny_base_dirs)
        live = noise_examples(model, texts, [6400, 8000, 9600, 11200])
        if not use_store:
            train_recipe(model, live, live[:2], params, progress=False)
            return model.speech.adapter.state_dict()
        # the same noise clips, as files, through the store
        import soundfile as sf

        rng = np.random.default_rng(0)
        clips = {}
        for example, samples in zip(live, [6400, 8000, 9600, 11200], strict=True):
            clips[example.id] = tmp_path / f"{example.id}.wav"
            sf.write(clips[example.id], rng.standard_normal(samples).astype("float32") * 0.1, 16000, "FLOAT")
        encoder, extractor = model.speech.encoder, model.feature_extractor
        key = encoder_key(encoder, extractor, model.speech.every_layer)

        def compute(path: Path) -> np.ndarray:
            return model.clip_states(extract_features(extractor, sf.read(path, dtype="float32")[0]))

        refresh_states(tmp_path / "encoded", clips, key, False, compute, progress=False)
        states = load_states(tmp_path / "encoded", list(clips), key)
        assert all(np.array_equal(states[e.id], e.states) for e in live)  # what the store holds is exact
        stored = [dataclasses.replace(e, states=states[e.id]) for e in live]
        train_recipe(model, stored, stored[:2], params, progress=False)
        return model.speech.adapter.state_dict()

    initial = SpeechLLM.from_base(*tiny_base_dirs).speech.adapter.state_dict()
    live, stored = trained(False), trained(True)
    assert live.keys() == stored.keys()
    assert not all(torch.equal(live[name], initial[name]) for name in live)  # training moved them
    assert all(torch.equal(live[name], stored[name]) for name in live)
