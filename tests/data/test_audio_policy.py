"""The audio policy decides what is fatal: resampling, down-mixing and over-long audio, on or off."""

from __future__ import annotations

import pytest

from components.config import AudioPolicy, ValidateParams


def policy(**audio) -> ValidateParams:
    # the duration limit the validate stage fills in from the demo's encoder
    return ValidateParams(audio=AudioPolicy(**audio), max_quarantine_share=0.2, max_duration_s=10.0)


@pytest.fixture
def odd_audio(corpus):
    """Clean rows plus a 22.05 kHz file, a stereo file and a 4 kHz file."""
    rows = corpus.clean_rows()
    corpus.wav("rate22k", rate=22050)
    corpus.wav("stereo", channels=2)
    rows += [corpus.row("rate22k", sample_rate=22050), corpus.row("stereo", "dev")]
    corpus.write(rows)
    return corpus


def test_with_resampling_and_down_mixing_on_other_rates_and_stereo_pass(odd_audio) -> None:
    outcome = odd_audio.validate(policy(resample=True, downmix=True))
    assert outcome.success, outcome.format_table()
    assert "audio_mono" not in outcome.summary()["unexpected"]


def test_with_resampling_off_a_wrong_rate_is_critical(odd_audio) -> None:
    outcome = odd_audio.validate(policy(resample=False, downmix=True))
    assert not outcome.success
    failure = next(f for f in outcome.failures if f.rule == "audio_sample_rate")
    assert failure.severity == "critical" and failure.ids == ["rate22k"]


def test_with_down_mixing_off_stereo_is_critical(odd_audio) -> None:
    outcome = odd_audio.validate(policy(resample=True, downmix=False))
    assert not outcome.success
    failure = next(f for f in outcome.failures if f.rule == "audio_mono")
    assert failure.severity == "critical" and failure.ids == ["stereo"]


def test_with_resampling_on_a_rate_below_the_minimum_still_fails(corpus) -> None:
    rows = corpus.clean_rows()
    corpus.wav("rate4k", rate=4000)
    rows.append(corpus.row("rate4k", sample_rate=4000))
    corpus.write(rows)
    assert corpus.validate(policy(resample=True)).ids_by_rule() == {"audio_sample_rate": ["rate4k"]}


def test_a_manifest_rate_that_is_not_the_files_is_critical(corpus) -> None:
    rows = corpus.clean_rows()
    corpus.wav("liar", rate=22050)
    rows.append(corpus.row("liar"))  # the manifest says 16000
    corpus.write(rows)
    outcome = corpus.validate(policy(resample=True))
    assert outcome.ids_by_rule() == {"sample_rate_matches": ["liar"]}
    assert not outcome.success


@pytest.fixture
def long_audio(corpus):
    rows = corpus.clean_rows()
    corpus.wav("toolong", 11.0)
    rows.append(corpus.row("toolong", "train", 11.0))
    corpus.write(rows)
    return corpus


def test_over_long_audio_rejected_stops_validation(long_audio) -> None:
    outcome = long_audio.validate(policy(too_long="reject"))
    assert not outcome.success
    assert [f.severity for f in outcome.failures if f.rule == "audio_too_long"] == ["critical"]


def test_over_long_audio_under_split_is_quarantined_not_cut(long_audio) -> None:
    from components.data.manifest import read_manifest

    outcome = long_audio.validate(policy(too_long="split"))
    assert outcome.success, outcome.format_table()
    assert outcome.quarantine.rules == {"train.jsonl:5": ["audio_too_long"]}
    assert "toolong" not in [u.id for u in read_manifest("train", long_audio.validated)]


@pytest.mark.parametrize(
    ("resample", "downmix"), [(False, False), (True, True), (True, False), (False, True)]
)
def test_an_import_converts_only_what_the_policy_allows_and_validation_judges_the_rest(
    corpus, resample: bool, downmix: bool
) -> None:
    import soundfile as sf

    from components.config import CorpusParams
    from components.data.importers import import_corpus
    from tests.data.layouts import make_jsonl

    source, expected = make_jsonl(corpus.base / "source")  # stereo 22.05 kHz clips
    params = policy(resample=resample, downmix=downmix)
    rows, rejected = import_corpus(
        CorpusParams(kind="jsonl", source=str(source)),
        16000,
        corpus.root,
        progress=False,
        policy=params.audio,
    )
    assert rejected == []
    want_rate, want_channels = (16000 if resample else 22050), (1 if downmix else 2)
    for utterance in rows:
        info = sf.info(str(corpus.root / utterance.audio))
        assert (utterance.sample_rate, info.samplerate, info.channels) == (
            want_rate,
            want_rate,
            want_channels,
        )
        assert utterance.duration_s == pytest.approx(expected[utterance.id][1], abs=0.01)
    by_rule = corpus.validate(params).ids_by_rule()
    every = sorted(expected)
    assert by_rule.get("audio_sample_rate", []) == ([] if resample else every)
    assert by_rule.get("audio_mono", []) == ([] if downmix else every)
