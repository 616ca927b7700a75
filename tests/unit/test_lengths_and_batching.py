"""Output lengths, padding masks and batching of the speech path and generation (methods.md §7.2, §7.10)."""

from __future__ import annotations

import pytest

# odd and even mel-frame counts, none of them multiples of 16 except 64
FEATURE_LENGTHS = [17, 18, 31, 64, 99, 100, 161, 250]


def _random_features(n_mels: int, lengths: list[int], seed: int = 0):
    """Zero-padded random features (B, n_mels, T_max) and their (B, T_max) mask, plus the unpadded clips."""
    import torch

    from components.modeling.speech_llm import collate_features

    generator = torch.Generator().manual_seed(seed)
    clips = [torch.randn(n_mels, n, generator=generator).numpy() for n in lengths]
    features, mask = collate_features(clips)
    return features, mask, clips


def _n_mels(model) -> int:
    return model.speech.encoder.model.config.num_mel_bins


def test_speech_mask_lengths_follow_whisper_then_three_stride2_convs_for_odd_and_even_lengths(
    tiny_model,
) -> None:
    import torch

    from components.modeling.adapters import conv_output_lengths
    from components.modeling.encoder import whisper_output_lengths

    features, mask, _ = _random_features(_n_mels(tiny_model), FEATURE_LENGTHS)
    lengths = torch.tensor(FEATURE_LENGTHS)
    with torch.no_grad():
        hidden, encoder_mask = tiny_model.speech.encoder(features, mask)
        embeds, speech_mask = tiny_model.speech(features, mask)
    want_encoder = whisper_output_lengths(lengths)
    want_speech = conv_output_lengths(want_encoder, 3, 5)
    assert torch.equal(encoder_mask.sum(dim=1), want_encoder)
    assert torch.equal(speech_mask.sum(dim=1), want_speech)
    assert torch.equal(tiny_model.speech.adapter.output_lengths(want_encoder), want_speech)
    assert torch.equal(tiny_model.speech.output_lengths(lengths), want_speech)  # no forward pass
    # the masks are prefixes (1…1 0…0) and padded positions are exactly zero
    for out, out_mask, want in ((hidden, encoder_mask, want_encoder), (embeds, speech_mask, want_speech)):
        for row, n in enumerate(want.tolist()):
            assert out_mask[row, :n].eq(1).all() and out_mask[row, n:].eq(0).all()
            assert out[row, n:].eq(0).all()
    # a spot check of the formulas themselves: 17→9→5→3→2, 100→50→25→13→7
    assert whisper_output_lengths(torch.tensor([17, 100])).tolist() == [9, 50]
    assert conv_output_lengths(torch.tensor([9, 50]), 3, 5).tolist() == [2, 7]


@pytest.mark.parametrize("frames", [17, 18, 33, 100, 161])
def test_length_formulas_match_the_shapes_the_convolutions_produce_on_an_unpadded_clip(
    tiny_model, frames
) -> None:
    import torch

    from components.modeling.adapters import conv_output_lengths
    from components.modeling.encoder import whisper_output_lengths

    features, mask, _ = _random_features(_n_mels(tiny_model), [frames], seed=frames)
    with torch.no_grad():
        hidden, encoder_mask = tiny_model.speech.encoder(features, mask)
        embeds, speech_mask = tiny_model.speech(features, mask)
    t_enc = int(whisper_output_lengths(torch.tensor(frames)))
    assert hidden.shape[1] == t_enc and int(encoder_mask.sum()) == t_enc
    t_speech = int(conv_output_lengths(torch.tensor(t_enc), 3, 5))
    assert embeds.shape[1] == t_speech and int(speech_mask.sum()) == t_speech


def test_clip_speech_embeddings_are_the_same_alone_and_in_a_zero_padded_batch(tiny_model) -> None:
    import numpy as np
    import torch

    model = tiny_model
    rng = np.random.default_rng(0)
    # 0.37 s, 1.01 s, 1.63 s, 0.8 s: odd and even frame counts, different padding per clip
    waves = [(rng.standard_normal(n) * 0.1).astype(np.float32) for n in (5920, 16160, 26080, 12800)]
    features, mask = model.features(waves)
    with torch.no_grad():
        batched = model.speech_slots(features, mask)
        for index, wave in enumerate(waves):
            alone_features, alone_mask = model.features([wave])
            (alone,) = model.speech_slots(alone_features, alone_mask)
            assert alone.shape == batched[index].shape
            torch.testing.assert_close(batched[index], alone, rtol=0, atol=1e-5)
        # and independent of the order of its batch mates
        reordered = model.speech_slots(features.flip(0), mask.flip(0))[::-1]
    for a, b in zip(batched, reordered, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_speech_embeddings_ignore_the_values_of_padded_feature_frames(tiny_model) -> None:
    import torch

    features, mask, _ = _random_features(_n_mels(tiny_model), [60, 100])
    garbage = features.clone()
    padded = mask == 0
    noise = torch.randn(garbage.shape, generator=torch.Generator().manual_seed(1)) * 5
    garbage = torch.where(padded[:, None, :], noise, garbage)
    with torch.no_grad():
        clean, clean_mask = tiny_model.speech(features, mask)
        dirty, dirty_mask = tiny_model.speech(garbage, mask)
    assert torch.equal(clean_mask, dirty_mask)
    torch.testing.assert_close(dirty, clean, rtol=0, atol=1e-5)


def test_clip_longer_than_the_encoder_positions_is_rejected_not_silently_truncated(tiny_model) -> None:
    import numpy as np
    import torch

    rate = tiny_model.feature_extractor.sampling_rate
    limit = tiny_model.max_input_seconds
    assert limit == 2 * tiny_model.speech.encoder.max_frames / 100  # 100 mel frames per second
    wave = np.random.default_rng(0).standard_normal(int((limit + 0.5) * rate)).astype(np.float32) * 0.1
    features, mask = tiny_model.features([wave])
    assert features.shape[-1] == int((limit + 0.5) * 100)  # the feature extractor cut nothing
    with pytest.raises(ValueError, match=r"mel frames exceed the \d+ this encoder reads"), torch.no_grad():
        tiny_model.speech(features, mask)


def test_splice_left_padding_puts_padding_first_with_attention_zero(tiny_model) -> None:
    import torch

    model = tiny_model
    hidden = model.llm.get_input_embeddings().embedding_dim
    generator = torch.Generator().manual_seed(0)
    slots = [torch.randn(n, hidden, generator=generator) * 0.02 for n in (2, 7, 4)]
    instructions = ["Repeat the speech.", "Say it", "Translate the following speech into French."]
    right = model.splice(instructions, slots)
    left = model.splice(instructions, slots, padding_side="left")
    assert left.labels is None
    width = left.attention_mask.shape[1]
    lengths = right.attention_mask.sum(dim=1)
    assert torch.equal(left.attention_mask.sum(dim=1), lengths)
    assert len(set(lengths.tolist())) == 3, "the test needs three different lengths"
    for row, n in enumerate(lengths.tolist()):
        pad = width - n
        assert left.attention_mask[row, :pad].eq(0).all() and left.attention_mask[row, pad:].eq(1).all()
        assert left.inputs_embeds[row, :pad].eq(0).all()
        # the same tokens, just shifted to end at the right edge (where generation continues)
        assert torch.equal(left.inputs_embeds[row, pad:], right.inputs_embeds[row, :n])

    targeted = model.splice(instructions, slots, ["a", "bb", "ccc"], padding_side="left")
    targeted_width = targeted.attention_mask.shape[1]
    for row in range(3):
        pad = targeted_width - int(targeted.attention_mask[row].sum())
        row_mask = targeted.attention_mask[row]
        assert row_mask[:pad].eq(0).all() and row_mask[pad:].eq(1).all()
        assert targeted.labels[row, :pad].eq(-100).all()
        assert targeted.labels[row, -1].item() == model.tokenizer.eos_token_id


@pytest.fixture
def chatty_model(fresh_model):
    """The tiny LLM's 0.02-scale init greedily emits one token whatever the input; rescale its weights so
    different prompts give different continuations and the batch-vs-single comparison means something."""
    import torch

    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in fresh_model.llm.named_parameters():
            if parameter.dim() == 2:
                scale = 0.3 if "embed" in name else parameter.shape[1] ** -0.5
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)
    return fresh_model


def test_batched_left_padded_greedy_generate_equals_one_by_one_for_slots_of_different_lengths(
    chatty_model,
) -> None:
    import numpy as np
    import torch

    model = chatty_model
    rng = np.random.default_rng(3)
    waves = [(rng.standard_normal(n) * 0.1).astype(np.float32) for n in (4000, 21000, 11000)]
    features, mask = model.features(waves)
    with torch.no_grad():
        speech = model.speech_slots(features, mask)
    text = model.text_slots(["hello world"])
    slots = [*speech, *text]
    assert len({s.shape[0] for s in slots}) == len(slots), "the test needs slots of different lengths"
    instructions = ["Repeat the speech.", "Say it", "Translate the following speech into French.", "Go"]

    batched = model.generate(instructions, slots, max_new_tokens=6)
    singles = [
        model.generate([i], [s], max_new_tokens=6)[0] for i, s in zip(instructions, slots, strict=True)
    ]
    assert batched == singles
    assert len(set(batched)) > 1, "degenerate model: every prompt gives the same text"

    # token-level check of the first step: the next-token logits of the left-padded batch equal each alone
    def first_scores(batch):
        out = model.llm.generate(
            inputs_embeds=batch.inputs_embeds,
            attention_mask=batch.attention_mask,
            max_new_tokens=1,
            do_sample=False,
            pad_token_id=model.tokenizer.pad_token_id,
            output_scores=True,
            return_dict_in_generate=True,
        )
        return out.scores[0]

    with torch.no_grad():
        joint = first_scores(model.splice(instructions, slots, padding_side="left"))
        for row, (instruction, slot) in enumerate(zip(instructions, slots, strict=True)):
            alone = first_scores(model.splice([instruction], [slot], padding_side="left"))
            torch.testing.assert_close(joint[row], alone[0], rtol=1e-4, atol=1e-4)


def test_variable_length_encoder_equals_hf_whisper_encoder_on_a_full_length_unpadded_clip(tiny_model) -> None:
    import torch

    encoder = tiny_model.speech.encoder
    frames = 2 * encoder.max_frames  # HF's encoder only accepts exactly max_source_positions * 2 mel frames
    features, mask, _ = _random_features(_n_mels(tiny_model), [frames], seed=11)
    with torch.no_grad():
        ours, ours_mask = encoder(features, mask)
        reference = encoder.model(input_features=features).last_hidden_state
    assert ours_mask.all()
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)
