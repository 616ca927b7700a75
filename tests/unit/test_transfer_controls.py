"""The controls that make a transfer claim honest: shuffled audio, the untrained adapter, paired tests."""

from __future__ import annotations

import pytest
import torch

from components.data.manifest import Utterance
from components.evaluation.metrics import accuracy_scores, paired_bootstrap
from components.evaluation.transfer import format_markdown, transfer_summary
from components.evaluation.zero_shot import CONDITIONS, Query, score, shuffled_partners


def utterance(index: int, text: str) -> Utterance:
    return Utterance(
        id=f"eng_{index:04d}",
        audio=f"audio/{index}.wav",
        language="eng",
        text=text,
        duration_s=1.0,
        sample_rate=16000,
        split="test",
    )


def test_shuffled_audio_always_comes_from_another_sentence() -> None:
    # Voice variants share a transcript: pairing them would not be a control at all.
    utterances = [utterance(i, f"sentence {i // 3}") for i in range(12)]
    partners = shuffled_partners(utterances, seed=0)
    by_id = {u.id: u for u in utterances}
    assert set(partners) == set(by_id)
    assert all(by_id[a].text != by_id[b].text for a, b in partners.items())
    assert partners == shuffled_partners(utterances, seed=0)
    assert partners != shuffled_partners(utterances, seed=1)


def test_the_untrained_control_is_the_adapter_as_initialised(fresh_model) -> None:
    initial = {k: v.clone() for k, v in fresh_model.speech.adapter.state_dict().items()}
    with torch.no_grad():
        for parameter in fresh_model.speech.adapter.parameters():
            parameter.add_(1.0)  # "training"
    control = fresh_model.untrained(seed=0)
    for key, value in control.speech.adapter.state_dict().items():
        assert torch.equal(value, initial[key]), key
    assert control.llm is fresh_model.llm and control.speech.encoder is fresh_model.speech.encoder


def test_accuracy_ignores_case_and_punctuation() -> None:
    assert accuracy_scores(["movement", "the red cat"], ["Movement.", "the cat"])["accuracy"] == 0.5


def test_shuffled_audio_comes_from_the_same_language() -> None:
    utterances = [
        utterance(i, f"sentence {i}").model_copy(update={"language": lang, "id": f"{lang}_{i:04d}"})
        for i, lang in enumerate(["eng", "spa"] * 6)
    ]
    partners = shuffled_partners(utterances, seed=0)
    by_id = {u.id: u for u in utterances}
    assert len(partners) == 12
    assert all(by_id[a].language == by_id[b].language for a, b in partners.items())
    alone = [*utterances[:4], utterance(99, "only one").model_copy(update={"language": "fra", "id": "fra_0"})]
    partner = shuffled_partners(alone, seed=0).get("fra_0")  # no other French: another language
    assert partner is not None and {u.id: u for u in alone}[partner].language != "fra"


def test_the_paired_bootstrap_interval_matches_the_sampling_spread() -> None:
    import numpy as np

    # differences with a known spread: the 95% interval of the mean is about mean ± 1.96 σ/√n
    values = np.random.default_rng(3).normal(0.05, 0.2, size=400)
    gap = paired_bootstrap(values.tolist())
    half = 1.96 * values.std() / np.sqrt(values.size)
    assert gap["low"] == pytest.approx(values.mean() - half, abs=0.004)
    assert gap["high"] == pytest.approx(values.mean() + half, abs=0.004)
    assert gap["low"] < 0.05 < gap["high"] and gap["resampled"] == "utterances"
    no_effect = paired_bootstrap((values - values.mean()).tolist())  # centred: the interval holds 0
    assert no_effect["low"] < 0 < no_effect["high"]
    assert paired_bootstrap([])["n"] == 0


def test_the_bootstrap_resamples_sentences_not_voices() -> None:
    import numpy as np

    # three voices per sentence say it alike: 40 sentences, not 120 independent samples
    per_sentence = np.random.default_rng(4).normal(0.1, 0.3, size=40)
    values = np.repeat(per_sentence, 3).tolist()
    sentences = [f"s{i // 3}" for i in range(120)]
    naive = paired_bootstrap(values)
    clustered = paired_bootstrap(values, clusters=sentences)
    assert clustered["clusters"] == 40 and clustered["resampled"] == "sentences"
    ratio = (clustered["high"] - clustered["low"]) / (naive["high"] - naive["low"])
    assert ratio == pytest.approx(np.sqrt(3), rel=0.15)  # √3 wider: a third of the samples
    with pytest.raises(ValueError, match="cluster keys"):
        paired_bootstrap(values, clusters=sentences[:-1])


def test_the_summary_says_whether_speech_beats_each_control() -> None:
    utterances = [utterance(i, text) for i, text in enumerate(["the red cat sees the dog", "the dog sees"])]
    queries = [Query(u, "asr", "Repeat.", u.text, "eng") for u in utterances]
    queries += [Query(u, "intent", "Intent?", "perception", "eng") for u in utterances]
    outputs = {
        "speech": ["the red cat sees the dog", "the dog sees", "perception", "perception"],
        "shuffled": ["the dog sees", "the red cat sees the dog", "perception", "movement"],
        "untrained": ["the the the", "the the", "movement", "movement"],
        "text": ["the red cat sees the dog", "the dog sees", "perception", "perception"],
    }
    assert set(outputs) == set(CONDITIONS)
    report = score(queries, outputs)
    summary = transfer_summary(report, queries, outputs, seed=0)
    assert summary["tasks"]["asr"]["beats_shuffled"] and summary["tasks"]["asr"]["beats_untrained"]
    assert summary["tasks"]["intent"]["speech"] == 1.0 and summary["tasks"]["intent"]["shuffled"] == 0.5
    assert summary["asr_paired_cer_gap"]["shuffled"]["mean"] > 0
    markdown = format_markdown(summary, report)
    assert "| ASR | cer | **0.000** |" in markdown and "control: shuffled audio" in markdown


def test_the_cascade_is_the_text_condition_given_the_asr_transcript(
    tiny_model, tiny_base_dirs, monkeypatch
) -> None:
    import numpy as np

    from components.config import EvaluateParams
    from components.evaluation.cascade import has_speech_decoder, whisper_language
    from components.evaluation.zero_shot import CASCADE, answer

    utterances = [utterance(i, text) for i, text in enumerate(["hello world", "the cat sat on the mat"])]
    queries = [Query(u, "asr", "Repeat.", u.text, "eng") for u in utterances]
    rng = np.random.default_rng(0)
    states = {
        u.id: tiny_model.clip_states(rng.standard_normal((80, 40)).astype(np.float32)) for u in utterances
    }
    models = {"trained": tiny_model, "untrained": tiny_model.untrained()}
    params = EvaluateParams(max_new_tokens=4, batch_size=2)
    partners = shuffled_partners(utterances, seed=0)
    plain = answer(models, queries, states, partners, params, progress=False)
    assert CASCADE not in plain  # no decoder, no column
    heard_right = {u.id: u.text for u in utterances}
    perfect = answer(models, queries, states, partners, params, progress=False, transcripts=heard_right)
    assert perfect[CASCADE] == perfect["text"] and perfect["speech"] == plain["speech"]
    misheard = {u.id: "numbers like one two three" for u in utterances}
    read: list[list[str]] = []  # what the LLM is given in the slot, call by call
    real_text_slots = type(tiny_model).text_slots
    monkeypatch.setattr(
        type(tiny_model),
        "text_slots",
        lambda self, texts: read.append(list(texts)) or real_text_slots(self, texts),
    )
    wrong = answer(models, queries, states, partners, params, progress=False, transcripts=misheard)
    assert read == [[u.text for u in utterances], list(misheard.values())]  # text, then the cascade's
    expected = tiny_model.generate(["Repeat."] * 2, real_text_slots(tiny_model, list(misheard.values())), 4)
    assert wrong[CASCADE] == expected

    assert not has_speech_decoder(tiny_base_dirs[0])  # the demo encoder is a WhisperModel, no ASR head
    assert (whisper_language("eng"), whisper_language("spa"), whisper_language("rus")) == ("en", "es", "ru")


def test_the_report_has_a_cascade_column_only_where_there_is_a_cascade() -> None:
    from components.evaluation.zero_shot import CASCADE

    utterances = [utterance(i, text) for i, text in enumerate(["the red cat", "the dog sees"])]
    queries = [Query(u, "asr", "Repeat.", u.text, "eng") for u in utterances]
    outputs = {c: ["the red cat", "the dog sees"] for c in CONDITIONS}
    with_cascade = {**outputs, CASCADE: ["the red hat", "the dog sees"]}
    for given, column in ((outputs, False), (with_cascade, True)):
        report = score(queries, given)
        summary = transfer_summary(report, queries, given, seed=0)
        markdown = format_markdown(summary, report)
        assert ("cascade: encoder's own ASR → LLM" in markdown) is column
        assert (CASCADE in summary["tasks"]["asr"]) is column
    row = next(line for line in markdown.splitlines() if line.startswith("| ASR | cer"))
    assert row.endswith(f"| {score(queries, with_cascade)['asr'][CASCADE]['all']['cer']:.3f} |")


def test_each_condition_is_batched_shortest_first_and_answers_in_query_order(tiny_model, monkeypatch) -> None:
    import numpy as np

    from components.config import EvaluateParams
    from components.evaluation.zero_shot import answer

    texts = ["a long sentence said slowly", "hi", "the cat sat", "good morning to you"]
    utterances = [utterance(i, text) for i, text in enumerate(texts)]
    queries = [Query(u, "asr", "Repeat.", u.text, "eng") for u in utterances]
    rng = np.random.default_rng(0)
    frames = {u.id: n for u, n in zip(utterances, (90, 20, 40, 60), strict=True)}
    states = {
        uid: tiny_model.clip_states(rng.standard_normal((80, n)).astype(np.float32))
        for uid, n in frames.items()
    }
    batches: list[list[int]] = []

    def lengths(self, instructions, slots, max_new_tokens):  # answers with each slot's length
        batches.append([int(slot.shape[0]) for slot in slots])
        return [str(int(slot.shape[0])) for slot in slots]

    monkeypatch.setattr(type(tiny_model), "generate", lengths)
    partners = {u.id: utterances[(i + 1) % 4].id for i, u in enumerate(utterances)}
    params = EvaluateParams(max_new_tokens=4, batch_size=2)
    outputs = answer(
        {"trained": tiny_model, "untrained": tiny_model}, queries, states, partners, params, False
    )
    slot = {uid: int(tiny_model.state_slots([s])[0].shape[0]) for uid, s in states.items()}
    assert outputs["speech"] == [str(slot[u.id]) for u in utterances]  # back in query order
    assert outputs["shuffled"] == [str(slot[partners[u.id]]) for u in utterances]
    speech_batches = batches[:2]
    assert [length for batch in speech_batches for length in batch] == sorted(slot.values())
    tokens = [int(tiny_model.text_slots([text])[0].shape[0]) for text in texts]
    assert outputs["text"] == [str(n) for n in tokens]
    by_characters = [tokens[i] for i in sorted(range(4), key=lambda i: len(texts[i]))]
    assert [n for batch in batches[6:8] for n in batch] == by_characters  # speech, shuffled, untrained, text


def test_the_own_asr_cascade_answers_from_the_models_own_transcription(tiny_model, monkeypatch) -> None:
    from components.config import EvaluateParams
    from components.evaluation.zero_shot import generate_by_length, own_asr_cascade

    utterances = [utterance(i, text) for i, text in enumerate(["hello world", "the cat sat on the mat"])]
    queries = [Query(u, "asr", "Repeat.", u.text, "eng") for u in utterances]
    queries += [Query(u, "st", "Translate.", "hola", "eng-spa", "spa") for u in utterances]
    params = EvaluateParams(max_new_tokens=4, batch_size=2)
    heard = ["numbers one two", "a dog", "(st answer)", "(st answer)"]  # the speech condition's answers
    expected = generate_by_length(tiny_model, ["Translate."] * 2, heard[:2], params)
    read: list[list[str]] = []  # what the LLM is given in the slot
    real_text_slots = type(tiny_model).text_slots
    monkeypatch.setattr(
        type(tiny_model),
        "text_slots",
        lambda self, texts: read.append(list(texts)) or real_text_slots(self, texts),
    )
    own = own_asr_cascade(tiny_model, queries, heard, params)
    assert own[:2] == heard[:2]  # an ASR query's cascade answer is the model's own transcription
    assert sorted(read) == [sorted(heard[:2])] and own[2:] == expected  # translated from what it heard
    assert own_asr_cascade(tiny_model, queries[2:], heard[2:], params) is None  # no ASR asked: no row


def test_answers_are_bounded_by_their_querys_seconds_of_speech(tiny_model, monkeypatch) -> None:
    import numpy as np

    from components.config import EvaluateParams
    from components.evaluation.zero_shot import answer, token_limit

    fixed = EvaluateParams(max_new_tokens=40)
    bounded = EvaluateParams(max_new_tokens=40, new_tokens_per_second=6.0)
    assert (
        token_limit(1.0, fixed) == 40 and token_limit(1.0, bounded) == 14 and token_limit(9.0, bounded) == 40
    )
    utterances = [
        utterance(i, text).model_copy(update={"duration_s": seconds})
        for i, (text, seconds) in enumerate([("hi", 0.5), ("the cat sat on the mat", 2.0)])
    ]
    queries = [Query(u, "asr", "Repeat.", u.text, "eng") for u in utterances]
    rng = np.random.default_rng(0)
    states = {
        u.id: tiny_model.clip_states(rng.standard_normal((80, 40)).astype(np.float32)) for u in utterances
    }
    asked: list[int] = []
    real = type(tiny_model).generate
    monkeypatch.setattr(
        type(tiny_model), "generate", lambda self, i, s, n: asked.append(n) or real(self, i, s, n)
    )
    models = {"trained": tiny_model, "untrained": tiny_model.untrained()}
    params = bounded.model_copy(update={"batch_size": 1})
    answer(models, queries, states, shuffled_partners(utterances, 0), params, progress=False)
    # one batch per query and condition: 8 + ceil(6 × 0.5) = 11 and 8 + 12 = 20, whatever the input
    assert sorted(set(asked)) == [11, 20] and len(asked) == 2 * 4
