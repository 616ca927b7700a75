"""Speech encoder wrappers: Whisper's layer outputs, and the wav2vec2 family (wav2vec2, HuBERT, WavLM)
loaded by path through the real loader, with exact lengths and batch-independent outputs."""

from __future__ import annotations

import pytest

from tests.tiny_encoders import SAMPLE_RATE, save_tiny_wav2vec2

# HF's WavLM attention passes a bool key-padding mask beside its float position bias; torch warns
pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask:UserWarning")

# samples per clip: odd and even frame counts after the tiny conv stack (receptive field 20, hop 10)
SAMPLES = [400, 401, 999, 1600, 2345]
FAMILY = ["wav2vec2", "hubert", "wavlm"]


@pytest.fixture(scope="module")
def family_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("w2v")
    dirs = {name: save_tiny_wav2vec2(name, root / name) for name in FAMILY}
    dirs["wav2vec2-group"] = save_tiny_wav2vec2("wav2vec2", root / "group", feat_extract_norm="group")
    return dirs


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    from components.config import TinyEncoderParams
    from components.modeling.base_models import build_tiny_encoder

    out = tmp_path_factory.mktemp("whisper") / "encoder"
    build_tiny_encoder(TinyEncoderParams(max_seconds=2.0), out, seed=0, sample_rate=SAMPLE_RATE)
    return str(out)


def _loaded(source: str):
    from components.modeling.base_models import load_encoder
    from components.modeling.encoder import speech_encoder

    model, extractor = load_encoder(source)
    return speech_encoder(model).eval(), extractor


def _waves(samples: list[int], seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(n) * 0.1).astype(np.float32) for n in samples]


def _inputs(extractor, waves):
    from components.modeling.encoder import encoder_features
    from components.modeling.speech_llm import collate_features

    return collate_features([encoder_features(extractor, wave) for wave in waves])


@pytest.mark.parametrize("name", [*FAMILY, "wav2vec2-group"])
def test_loader_and_factory_give_the_full_wav2vec2_family_model_and_its_extractor(family_dirs, name) -> None:
    from transformers import Wav2Vec2FeatureExtractor

    from components.modeling.encoder import Wav2Vec2SpeechEncoder

    encoder, extractor = _loaded(family_dirs[name])
    assert isinstance(encoder, Wav2Vec2SpeechEncoder) and isinstance(extractor, Wav2Vec2FeatureExtractor)
    assert hasattr(encoder.model, "feature_extractor")  # the conv front end, not only the Transformer
    assert encoder.model.config.model_type == name.removesuffix("-group")
    assert encoder.hidden_size == 32 and encoder.num_layers == 2
    assert (encoder.masked_norm is not None) == (name == "wav2vec2-group")


def test_factory_picks_whisper_and_rejects_unknown_models(whisper_dir) -> None:
    from types import SimpleNamespace

    from components.modeling.encoder import SpeechEncoder, speech_encoder

    encoder, _ = _loaded(whisper_dir)
    assert type(encoder) is SpeechEncoder and encoder.num_layers == 2
    unknown = SimpleNamespace(config=SimpleNamespace(model_type="bert"))
    with pytest.raises(ValueError, match="unsupported speech encoder 'bert'"):
        speech_encoder(unknown)


def test_encoder_features_are_the_normalised_waveform_or_the_unpadded_log_mel(
    family_dirs, whisper_dir
) -> None:
    import numpy as np

    from components.modeling.encoder import encoder_features
    from components.modeling.speech_llm import extract_features

    (wave,) = _waves([2345])
    _, w2v_extractor = _loaded(family_dirs["wav2vec2"])
    raw = encoder_features(w2v_extractor, wave)
    assert raw.shape == (1, 2345) and raw.dtype == np.float32
    assert abs(raw.mean()) < 1e-5 and abs(raw.std() - 1) < 1e-3
    _, whisper_extractor = _loaded(whisper_dir)
    mel = encoder_features(whisper_extractor, wave)
    assert mel.shape == (whisper_extractor.feature_size, 2345 // whisper_extractor.hop_length)
    assert np.array_equal(mel, extract_features(whisper_extractor, wave))


@pytest.mark.parametrize("name", [*FAMILY, "wav2vec2-group"])
def test_mask_lengths_follow_the_models_own_length_formula(family_dirs, name) -> None:
    import torch

    encoder, extractor = _loaded(family_dirs[name])
    features, mask = _inputs(extractor, _waves(SAMPLES))
    with torch.no_grad():
        hidden, out_mask = encoder(features, mask)
    want = encoder.model._get_feat_extract_output_lengths(torch.tensor(SAMPLES))
    # conv (k10, s5) then (k3, s2): 400 samples → 79 → 39 frames
    assert want.tolist()[:2] == [39, 39] and int(want[-1]) == 233
    assert torch.equal(out_mask.sum(dim=1), want)
    assert torch.equal(encoder.output_lengths(torch.tensor(SAMPLES)), want)
    assert hidden.shape == (len(SAMPLES), int(want.max()), 32)
    for row, n in enumerate(want.tolist()):
        assert out_mask[row, :n].eq(1).all() and out_mask[row, n:].eq(0).all()
        assert hidden[row, n:].eq(0).all()


@pytest.mark.parametrize("name", [*FAMILY, "wav2vec2-group"])
def test_every_model_gives_a_clip_the_same_output_alone_and_in_a_zero_padded_batch(family_dirs, name) -> None:
    import torch

    encoder, extractor = _loaded(family_dirs[name])
    waves = _waves(SAMPLES, seed=1)
    features, mask = _inputs(extractor, waves)
    with torch.no_grad():
        hidden, out_mask = encoder(features, mask)
        for row, wave in enumerate(waves):
            alone, alone_mask = encoder(*_inputs(extractor, [wave]))
            n = int(alone_mask.sum())
            assert alone.shape[1] == n == int(out_mask[row].sum())
            torch.testing.assert_close(hidden[row, :n], alone[0], rtol=0, atol=1e-5)


def test_the_masked_group_norm_gives_each_clip_of_a_batch_the_models_own_output_for_it_alone(
    family_dirs,
) -> None:
    import torch
    from transformers import AutoModel

    source = family_dirs["wav2vec2-group"]
    encoder, extractor = _loaded(source)
    reference = AutoModel.from_pretrained(source).eval()  # HF's model, its own group norm untouched
    assert type(reference.feature_extractor.conv_layers[0]).__name__ == "Wav2Vec2GroupNormConvLayer"
    waves = _waves([2345, 999], seed=4)
    features, mask = _inputs(extractor, waves)
    with torch.no_grad():
        batch, out_mask = encoder(features, mask)
        hf_padded = reference(features[:, 0]).last_hidden_state  # HF's way: zero padding, no mask
        for row, wave in enumerate(waves):
            alone = reference(_inputs(extractor, [wave])[0][:, 0]).last_hidden_state[0]
            n = int(out_mask[row].sum())
            assert alone.shape[0] == n
            torch.testing.assert_close(batch[row, :n], alone, rtol=0, atol=1e-5)
            if row == 1:  # HF's norm takes the short clip's padding into its statistics
                assert (hf_padded[row, :n] - alone).abs().max() > 1e-3
    assert encoder.masked_norm.frame_lengths is None  # the lengths hold for one forward only


def test_the_masked_group_norm_survives_a_second_wrap_and_concurrent_forwards(family_dirs) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from components.modeling.encoder import Wav2Vec2SpeechEncoder
    from components.modeling.masked_group_norm import MaskedGroupNormConvLayer

    encoder, extractor = _loaded(family_dirs["wav2vec2-group"])
    again = Wav2Vec2SpeechEncoder(encoder.model)  # e.g. a control built over the same frozen model
    assert again.masked_norm is encoder.masked_norm
    assert not isinstance(encoder.masked_norm.conv, MaskedGroupNormConvLayer)
    batches = [
        _inputs(extractor, _waves(lengths, seed=5)) for lengths in ([2345, 400], [999], [1600, 401, 999])
    ]
    with torch.no_grad():
        serial = [encoder(*batch)[0] for batch in batches]
        with ThreadPoolExecutor(max_workers=3) as pool:
            parallel = list(pool.map(lambda batch: again(*batch)[0], batches * 4))
    for index, hidden in enumerate(parallel):
        assert torch.equal(hidden, serial[index % len(batches)])


@pytest.mark.parametrize("name", [*FAMILY, "wav2vec2-group"])
def test_wav2vec2_family_forward_layers_gives_every_transformer_layer(family_dirs, name) -> None:
    import torch

    encoder, extractor = _loaded(family_dirs[name])
    features, mask = _inputs(extractor, _waves(SAMPLES[1:4], seed=2))
    with torch.no_grad():
        layers, layer_mask = encoder.forward_layers(features, mask)
        hidden, hidden_mask = encoder(features, mask)
    assert torch.equal(layer_mask, hidden_mask)
    assert layers.shape == (encoder.num_layers, *hidden.shape)
    torch.testing.assert_close(layers[-1], hidden, rtol=0, atol=1e-6)
    assert layers.masked_select(hidden_mask[None, ..., None].eq(0)).eq(0).all()
    assert not torch.allclose(layers[0], layers[1])


def test_whisper_forward_layers_gives_every_layer_with_the_last_after_the_final_norm(whisper_dir) -> None:
    import torch

    encoder, extractor = _loaded(whisper_dir)
    waves = _waves([3200, 5120, 8000], seed=3)  # odd and even frame counts
    features, mask = _inputs(extractor, waves)
    with torch.no_grad():
        layers, layer_mask = encoder.forward_layers(features, mask)
        hidden, hidden_mask = encoder(features, mask)
        alone, _ = encoder.forward_layers(*_inputs(extractor, waves[:1]))
    assert torch.equal(layer_mask, hidden_mask)
    assert layers.shape == (encoder.num_layers, *hidden.shape)
    assert torch.equal(layers[-1], hidden)  # forward is the same computation
    assert layers.masked_select(hidden_mask[None, ..., None].eq(0)).eq(0).all()
    n = alone.shape[2]
    torch.testing.assert_close(layers[:, 0, :n], alone[:, 0], rtol=0, atol=1e-5)
    # the first layer's output is taken before the final norm: it is not normalised
    normed = encoder.model.layer_norm(layers[0, 0, :n])
    assert not torch.allclose(layers[0, 0, :n], normed)
