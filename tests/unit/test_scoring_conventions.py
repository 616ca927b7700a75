"""Figures scored as the field scores them: Whisper's normalisers per language, CER without spaces
and no WER where words are not spaced, BLEU tokenised for the target language with its signature,
and an empty answer scored as empty."""

from __future__ import annotations

import pytest

from components.evaluation.metrics import asr_scores, bleu_tokenizer, translation_scores, utterance_cer


def test_english_is_normalised_by_whispers_english_normaliser() -> None:
    # numbers, titles and spellings that Whisper's English normaliser makes equal
    scores = asr_scores(["Twenty-one, Mr. Smith!"], ["21 mister smith"], ["eng"])
    assert scores["cer"] == 0.0 and scores["wer"] == 0.0


def test_other_languages_are_normalised_by_the_basic_normaliser() -> None:
    assert asr_scores(["¿Qué hora es?"], ["qué hora es"], ["spa"])["cer"] == 0.0
    # the basic normaliser keeps accents and does not spell out numbers
    assert asr_scores(["extensión"], ["extension"], ["spa"])["cer"] > 0
    assert asr_scores(["veintiuno"], ["21"], ["spa"])["cer"] > 0


def test_languages_without_spaces_get_cer_without_spaces_and_no_wer() -> None:
    scores = asr_scores(["私は猫です。"], ["私 は 猫 です"], ["jpn"])
    assert scores["cer"] == 0.0
    assert "wer" not in scores
    mixed = asr_scores(["hello there", "私は猫です"], ["hello there", "私は犬です"], ["eng", "jpn"])
    assert "wer" not in mixed and mixed["cer"] > 0


def test_an_empty_answer_scores_as_empty() -> None:
    assert asr_scores(["hello world"], [""], ["eng"])["cer"] == 1.0
    assert utterance_cer("a b", "", "eng") == 1.0  # three characters deleted, none inserted
    assert asr_scores(["hi", "hello"], ["hi", ""], ["eng", "eng"])["cer"] == pytest.approx(5 / 7)


@pytest.mark.parametrize(
    ("languages", "tokenizer"),
    [
        (["jpn"], "ja-mecab"),
        (["kor"], "ko-mecab"),
        (["zho", "cmn"], "zh"),
        (["spa"], "13a"),
        (["jpn", "spa"], "13a"),
    ],
)
def test_bleu_is_tokenised_for_the_target_language(languages, tokenizer) -> None:
    assert bleu_tokenizer(languages) == tokenizer


def test_the_bleu_signature_is_stored_beside_the_score() -> None:
    japanese = translation_scores(["私は猫です"], ["私は犬です"], ["jpn"])
    assert "tok:ja-mecab" in japanese["bleu_signature"]
    assert japanese["bleu"] > 0  # mecab splits the words; 13a would see one unmatched token
    assert translation_scores(["私は猫です"], ["私は犬です"], ["fra"])["bleu"] == 0.0
    assert "tok:13a" in translation_scores(["un chat"], ["un chien"], ["fra"])["bleu_signature"]


def test_queries_are_scored_in_their_references_language() -> None:
    from components.config import EvaluateParams
    from components.data.manifest import Utterance
    from components.evaluation.transfer import format_markdown, transfer_summary
    from components.evaluation.zero_shot import build_queries, score

    utterance = Utterance(
        id="u1",
        audio="a.wav",
        text="Twenty-one",
        language="eng",
        duration_s=1.0,
        sample_rate=16000,
        split="test",
        translation={"jpn": "二十一"},
    )
    queries = build_queries([utterance], EvaluateParams())
    assert {(q.task, q.language) for q in queries} == {("asr", "eng"), ("st", "jpn")}
    outputs = {c: ["21", "二十一"] for c in ("speech", "shuffled", "untrained", "text")}
    report = score(queries, outputs)
    assert report["asr"]["speech"]["all"]["cer"] == 0.0  # "21" is "twenty-one" once normalised
    assert "tok:ja-mecab" in report["st"]["speech"]["eng-jpn"]["bleu_signature"]
    markdown = format_markdown(transfer_summary(report, queries, outputs, 0), report)
    assert "whisper-normalizer" in markdown and "tok:ja-mecab" in markdown


def test_spoken_qa_scores_exact_match_and_token_f1() -> None:
    from components.evaluation.metrics import qa_scores

    perfect = qa_scores(["The red cat."], ["red cat"], ["eng"])  # articles and punctuation do not count
    assert perfect["exact_match"] == 1.0 and perfect["f1"] == 1.0
    partial = qa_scores(["the red cat"], ["a red dog"], ["eng"])  # 1 of 2 words right both ways
    assert partial["exact_match"] == 0.0 and partial["f1"] == pytest.approx(0.5)
    assert qa_scores(["el gato"], ["gato el gato"], ["spa"])["f1"] == pytest.approx(0.8)  # P 2/3, R 1
    assert qa_scores(["yes"], [""], ["eng"]) == {"exact_match": 0.0, "f1": 0.0, "n": 1}
    both = qa_scores(["red cat", "blue"], ["red cat", "green"], ["eng", "eng"])
    assert both["exact_match"] == 0.5 and both["f1"] == 0.5


def test_a_reference_that_normalises_to_nothing_is_left_out_and_counted() -> None:
    scores = asr_scores(["(laughs)", "hello world"], ["anything", "hello world"], ["eng", "eng"])
    assert scores["cer"] == 0.0 and scores["n"] == 1 and scores["unscorable"] == 1
    assert utterance_cer("[noise]", "x", "spa") != utterance_cer("[noise]", "x", "spa")  # NaN: no CER


def test_marks_are_letters_for_the_basic_normaliser() -> None:
    # Hindi vowel signs and viramas are part of the word, not punctuation to strip
    assert asr_scores(["नमस्ते दुनिया"], ["नमस्ते दुनिया"], ["hin"])["wer"] == 0.0
    assert asr_scores(["नमस्ते"], ["नमसत"], ["hin"])["cer"] > 0  # the signs count


def test_qa_f1_counts_characters_where_words_are_not_spaced() -> None:
    from components.evaluation.metrics import qa_scores

    assert qa_scores(["東京都"], ["東京"], ["jpn"])["f1"] == pytest.approx(0.8)  # P 1, R 2/3
