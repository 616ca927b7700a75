"""The validation suite passes a clean corpus and names every bad row of a broken one under its rule."""

from __future__ import annotations

import json
import shutil
import unicodedata
from pathlib import Path

import pytest

from components.config import AudioPolicy, LeakageChecks, ValidateParams

LANGS = ("eng", "fra", "deu", "spa")
PARAMS = ValidateParams(languages=list(LANGS), max_duration_s=10.0)
# Strict policy: no resampling, no down-mixing, over-long audio rejected, both leakage checks on.
STRICT = ValidateParams(
    languages=list(LANGS),
    max_duration_s=PARAMS.max_duration_s,
    audio=AudioPolicy(resample=False, downmix=False, too_long="reject"),
    leakage=LeakageChecks(transcript=True, speaker=True),
)

# bad id -> the rule that must name it
BROKEN = {
    "garbage": "audio_decodable",  # unreadable file
    "missing": "audio_exists",  # missing file
    "empty": "audio_too_short",  # zero-length audio
    "rate8k": "audio_sample_rate",  # wrong sample rate, resampling off
    "stereo": "audio_mono",  # two channels, down-mixing off
    "toolong": "audio_too_long",  # longer than max_duration_s
    "notext": "text_length",  # empty transcript
    "badlang": "language_known",  # unknown language code
    "dup": "id_unique",  # duplicate id
    "escape": "audio_in_root",  # path with ..
    "symlink": "audio_in_root",  # symlink resolving outside the data root
    "leak": "transcript_leak",  # a train transcript in test
    "badutf8": "text_utf8",  # invalid UTF-8 bytes in the manifest line
    # one more for each remaining rule
    "drift": "duration_matches",
    "copy": "audio_unique",
    "spkleak": "speaker_leak",
    "mumble": "chars_per_second",
    "silent": "audio_silent",
    # text that only looks right
    "nfdleak": "transcript_leak",  # a train transcript in test, differing only in Unicode normalisation
    "zwsp": "text_not_blank",  # zero-width spaces only
    "symbols": "text_not_blank",  # punctuation and symbols only: no letter or digit
    # audio whose samples are not sound (float WAVs)
    "onenan": "audio_finite",  # one NaN among real samples
    "allnan": "audio_finite",  # nothing but NaN
    "huge": "audio_magnitude",  # samples of 1e30
    "clipped": "audio_clipped",  # most samples at full scale
    "dc": "audio_constant",  # one constant non-zero value
}


def float_wav(corpus, uid: str, wave) -> None:
    """A 1-second 32-bit float WAV holding ``wave`` as it is: no PCM conversion to clip or repair it."""
    import soundfile as sf

    sf.write(corpus.root / "audio" / f"{uid}.wav", wave.astype("float32"), 16000, subtype="FLOAT")


def unsound_rows(corpus) -> list[dict]:
    import numpy as np

    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)
    with_nan = tone.copy()
    with_nan[8000] = np.nan
    float_wav(corpus, "onenan", with_nan)
    float_wav(corpus, "allnan", np.full(16000, np.nan))
    float_wav(corpus, "huge", tone * 1e30)
    float_wav(corpus, "clipped", np.clip(tone * 50, -1.0, 1.0))
    float_wav(corpus, "dc", np.full(16000, 0.25))
    return [corpus.row(uid, "dev") for uid in ("onenan", "allnan", "huge", "clipped", "dc")]


def broken_rows(corpus) -> list[dict]:
    """One row per defect in :data:`BROKEN` (except ``badutf8``, which is raw bytes), plus an outside
    file that the escaping paths point at."""
    outside = corpus.base / "x.wav"
    corpus.wav("x").rename(outside)
    (corpus.root / "audio/symlink.wav").symlink_to(outside)
    (corpus.root / "audio/garbage.wav").write_bytes(b"RIFF not really a wave file" * 10)
    corpus.wav("empty", 0.0)
    corpus.wav("rate8k", rate=8000)
    corpus.wav("stereo", channels=2)
    corpus.wav("silent", silent=True)
    seconds = PARAMS.max_duration_s + 1
    corpus.wav("toolong", seconds)
    shutil.copy(corpus.root / "audio/ok1.wav", corpus.root / "audio/copy.wav")
    clean_train_text = corpus.row("ok2", seconds=1.5)["text"]
    return [
        corpus.row("missing"),
        corpus.row("garbage", "dev"),
        corpus.row("empty", seconds=0.0, text="hm"),
        corpus.row("rate8k", sample_rate=8000),
        corpus.row("stereo", "test"),
        corpus.row("toolong", seconds=seconds),
        corpus.good("notext", text=""),
        corpus.good("badlang", "dev", language="xxx"),
        corpus.good("dup"),
        corpus.good("dup2", "dev", id="dup"),
        corpus.row("escape", audio="../x.wav"),
        corpus.row("symlink"),
        corpus.good("leak", "test", seconds=1.5, text=f"  {clean_train_text.upper()} "),
        corpus.good("drift", duration_s=1.5),
        corpus.row("copy"),
        corpus.good("spkleak", "test", speaker="spk1"),
        corpus.good("mumble", text="far too many words for one second of audio " * 5),
        corpus.row("silent"),
        corpus.good("cafe", language="fra", text="café crème brûlée"),  # clean: a train row
        corpus.good(
            "nfdleak", "test", language="fra", text=unicodedata.normalize("NFD", "café crème brûlée")
        ),
        corpus.good("zwsp", "dev", text="\u200b\u200b\u200b"),
        corpus.good("symbols", "dev", text="?! … — ¿¡"),
    ]


def add_invalid_utf8_row(corpus) -> None:
    line = json.dumps(corpus.good("badutf8", "test", text="caf@@ au lait, s'il vous plait"))
    corpus.append_raw("test", line.encode("utf-8").replace(b"@@", b"\xe9\xff"))


@pytest.fixture(scope="module")
def clean_run(new_corpus):
    corpus = new_corpus("clean")
    corpus.write(corpus.clean_rows())
    return corpus.validate(STRICT), corpus


@pytest.fixture(scope="module")
def broken_run(new_corpus):
    corpus = new_corpus("broken")
    corpus.write(corpus.clean_rows() + broken_rows(corpus) + unsound_rows(corpus))
    add_invalid_utf8_row(corpus)
    return corpus.validate(STRICT), corpus


def test_clean_corpus_passes_and_writes_the_report(clean_run) -> None:
    outcome, corpus = clean_run
    out = corpus.out
    assert outcome.success, outcome.format_table()
    assert outcome.failures == []
    assert outcome.rows == 8
    results = json.loads((out / "results.json").read_text())
    assert results["success"] is True
    assert results["rows"] == 8 and results["expectations_failed"] == 0
    assert results["expectations_evaluated"] == outcome.evaluated > 30
    assert results["quarantine"] == {"rows": 0, "share": 0.0, "max_share": 0.05, "within_limit": True}
    assert set(results["unexpected"].values()) <= {0, None}
    assert results["unexpected"]["audio_mono"] == 0
    index = (out / "data_docs" / "index.html").read_text()
    assert "Great Expectations" in index or "great_expectations" in index
    assert list((out / "data_docs" / "validations").rglob("*.html")), "no validation page rendered"
    assert (out / "probe.csv").is_file()
    assert (out / "quarantine.jsonl").read_text() == ""
    assert not list(out.glob(".staging-*")), "staging folder left behind"


def test_two_runs_write_the_same_report_bytes_and_the_data_docs_go_where_asked(corpus) -> None:
    """The stage's DVC output must hash the same run after run; great expectations stamps its pages with
    the time it rendered them, so they go to a folder of their own."""
    corpus.write(corpus.clean_rows())
    docs = corpus.out.parent / "docs"
    first = corpus.validate(STRICT, docs_dir=docs)
    assert first.success and (docs / "index.html").is_file() and not (corpus.out / "data_docs").exists()
    assert str(docs / "index.html") in first.format_table()
    written = {p.name: p.read_bytes() for p in corpus.out.iterdir() if p.is_file()}
    assert set(written) == {"results.json", "probe.csv", "quarantine.jsonl"}
    corpus.validate(STRICT, docs_dir=docs)
    assert {p.name: p.read_bytes() for p in corpus.out.iterdir() if p.is_file()} == written


def test_clean_corpus_is_written_as_the_validated_manifests(clean_run) -> None:
    from components.data.manifest import read_manifest

    _, corpus = clean_run
    validated = {s: [u.id for u in read_manifest(s, corpus.validated)] for s in ("train", "dev", "test")}
    assert validated == {"train": ["ok0", "ok1", "ok2", "ok3"], "dev": ["ok4", "ok5"], "test": ["ok6", "ok7"]}


@pytest.mark.parametrize("bad_id", sorted(BROKEN))
def test_broken_row_is_named_under_its_rule(broken_run, bad_id: str) -> None:
    outcome, _ = broken_run
    rule = BROKEN[bad_id]
    failures = outcome.ids_by_rule()
    assert rule in failures, f"{rule} did not fail:\n{outcome.format_table()}"
    assert bad_id in failures[rule], f"{bad_id} not named under {rule}:\n{outcome.format_table()}"


def test_broken_corpus_fails_naming_every_bad_id_and_no_clean_one(broken_run) -> None:
    outcome, corpus = broken_run
    assert not outcome.success
    assert all(f.error is None for f in outcome.failures), outcome.format_table()
    blamed = {i for f in outcome.failures for i in f.ids}
    assert blamed == set(BROKEN), outcome.format_table()
    results = json.loads((corpus.out / "results.json").read_text())
    assert results["success"] is False
    assert results["expectations_failed"] == len(outcome.failures)
    assert {f["rule"]: f["ids"] for f in results["failures"]} == outcome.ids_by_rule()
    assert results["unexpected"]["audio_in_root"] == 2 and results["unexpected"]["audio_mono"] == 1
    table = outcome.format_table()
    assert "FAILED" in table and "audio_mono" in table and "stereo" in table


def test_a_failed_run_writes_no_validated_manifests(broken_run) -> None:
    _, corpus = broken_run
    assert not corpus.validated.exists()


@pytest.mark.parametrize("bad_id", ["missing", "escape", "symlink", "garbage"])
def test_a_bad_file_fails_only_its_root_cause(broken_run, bad_id: str) -> None:
    """A file outside the root is not also "missing"; a missing file is not also "undecodable"."""
    outcome, _ = broken_run
    blamed = [rule for rule, ids in outcome.ids_by_rule().items() if bad_id in ids]
    assert blamed == [BROKEN[bad_id]]


def test_severities_follow_the_policy(broken_run) -> None:
    """Corpus-wide or dangerous problems are critical; a row that is merely unusable is a warning."""
    outcome, _ = broken_run
    severity = {f.rule: f.severity for f in outcome.failures}
    critical = {"audio_sample_rate", "audio_mono", "audio_too_long", "id_unique", "language_known"}
    critical |= {"audio_in_root", "audio_exists", "transcript_leak", "speaker_leak", "duration_matches"}
    warning = {"audio_decodable", "audio_too_short", "text_length", "text_utf8", "audio_unique"}
    warning |= {"chars_per_second", "audio_silent", "text_not_blank"}
    warning |= {"audio_finite", "audio_magnitude", "audio_clipped", "audio_constant"}
    assert {r for r, s in severity.items() if s == "critical"} == critical
    assert {r for r, s in severity.items() if s == "warning"} == warning


def test_probe_measures_the_files(broken_run) -> None:
    import pandas as pd

    _, corpus = broken_run
    probe = pd.read_csv(corpus.out / "probe.csv").drop_duplicates("id").set_index("id")
    assert probe.loc["rate8k", "audio_sample_rate"] == 8000
    assert probe.loc["stereo", "audio_channels"] == 2
    assert probe.loc["ok1", "audio_duration_s"] == pytest.approx(1.0)
    assert probe.loc["empty", "audio_duration_s"] == 0 and probe.loc["empty", "audio_peak"] == 0
    assert 0 < probe.loc["ok0", "audio_peak"] <= 0.31 and probe.loc["ok0", "audio_rms"] > 0.1
    assert probe.loc["silent", "audio_peak"] == 0
    assert probe.loc["garbage", "audio_decodable"] == False  # noqa: E712 - a read CSV holds numpy bools
    assert "cannot decode" in probe.loc["garbage", "audio_error"]
    assert probe.loc["missing", "audio_exists"] == False  # noqa: E712
    assert pd.isna(probe.loc["missing", "audio_decodable"])
    assert not probe.loc["escape", "audio_in_root"] and not probe.loc["symlink", "audio_in_root"]
    assert probe.loc["copy", "audio_sha256"] == probe.loc["ok1", "audio_sha256"]
    assert len(probe.loc["ok1", "audio_sha256"]) == 64
    assert probe.loc["copy", "audio_duplicate_of"] == "ok1"
    assert probe.loc["ok0", "manifest_row"] == "train.jsonl:1"
    assert probe.loc["onenan", "audio_non_finite"] == 1 and probe.loc["allnan", "audio_non_finite"] == 16000
    assert probe.loc["ok0", "audio_non_finite"] == 0 and probe.loc["onenan", "audio_peak"] == pytest.approx(
        0.3, 1e-3
    )
    assert probe.loc["huge", "audio_peak"] > 1e29
    assert probe.loc["clipped", "audio_clipped_share"] > 0.9 and probe.loc["ok0", "audio_clipped_share"] == 0
    assert probe.loc["dc", "audio_constant"] and not probe.loc["silent", "audio_constant"]


def test_invalid_utf8_is_flagged_on_its_row_not_the_file(broken_run) -> None:
    import pandas as pd

    _, corpus = broken_run
    probe = pd.read_csv(corpus.out / "probe.csv").drop_duplicates("id").set_index("id")
    assert probe.loc["badutf8", "utf8_valid"] == False  # noqa: E712
    assert "\ufffd" in probe.loc["badutf8", "text"]
    assert probe["utf8_valid"].sum() == len(probe) - 1


@pytest.mark.parametrize("path", ["/etc/passwd", "../x.wav", "a/../../x.wav", "..\\x.wav", "", None])
def test_paths_outside_the_root_are_rejected(tmp_path: Path, path: object) -> None:
    from components.validation.probe import resolve_in_root

    assert resolve_in_root(path, tmp_path) is None


def test_an_expectation_that_errors_is_reported_as_an_error(corpus) -> None:
    """A missing column makes rules on it raise inside GX; that must read as an error, not as bad data."""
    rows = corpus.clean_rows()
    for r in rows:
        del r["language"]
    corpus.write(rows)
    outcome = corpus.validate(PARAMS)
    assert not outcome.success
    assert "language_present" in outcome.ids_by_rule()
    errored = [f for f in outcome.failures if f.error]
    assert errored and all(f.column == "language" for f in errored)
    assert "language" in errored[0].error
    assert "error" in outcome.format_table()


def test_missing_manifest_names_the_file(tmp_path: Path) -> None:
    from components.validation.report import run_validation

    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        run_validation([tmp_path / "nope.jsonl"], tmp_path, PARAMS, tmp_path / "out")


def test_only_critical_failures_and_errors_block() -> None:
    from components.validation.suite import Failure

    assert not Failure("expect_x", "text", "warning", ["a"]).blocking
    assert Failure("expect_x", "text", "warning", [], error="boom").blocking
    assert Failure("expect_x", "text", "critical", ["a"]).blocking


def test_leakage_checks_can_be_turned_off(corpus) -> None:
    rows = corpus.clean_rows()
    rows.append(corpus.good("spkleak", "test", speaker="spk1"))
    corpus.write(rows)
    assert "speaker_leak" in corpus.validate(STRICT).ids_by_rule()
    relaxed = STRICT.model_copy(update={"leakage": LeakageChecks(transcript=True, speaker=False)})
    assert corpus.validate(relaxed).success
