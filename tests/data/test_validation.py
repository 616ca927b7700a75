"""The validation suite passes a clean corpus and names every bad row of a broken one under its rule.

The corpora are built on the fly (sine/noise wavs with soundfile), so the tests need no data, network or GPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.config import ValidateParams
from components.data.manifest import SPLITS, manifest_path, write_rows

RATE = 16000
LANGS = ("eng", "fra", "deu", "spa")
PARAMS = ValidateParams(languages=list(LANGS))


def write_wav(
    path: Path, seconds: float = 1.0, rate: int = RATE, channels: int = 1, noise: bool = False
) -> Path:
    """A short sine (or noise) wav; the content only needs to decode."""
    import numpy as np
    import soundfile as sf

    n = int(round(seconds * rate))
    if noise:
        wave = np.random.default_rng(0).uniform(-0.3, 0.3, n)
    else:
        wave = 0.3 * np.sin(2 * np.pi * 220 * np.arange(n) / rate)
    data = np.repeat(wave[:, None], channels, axis=1) if channels > 1 else wave
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data.astype("float32"), rate, subtype="PCM_16")
    return path


def row(uid: str, split: str = "train", seconds: float = 1.0, **overrides: object) -> dict:
    base = {
        "id": uid,
        "audio": f"audio/{uid}.wav",
        "language": LANGS[sum(map(ord, uid)) % len(LANGS)],
        "text": f"utterance {uid}",
        "duration_s": seconds,
        "sample_rate": RATE,
        "split": split,
    }
    return {**base, **overrides}


def clean_rows(root: Path) -> list[dict]:
    """Eight good utterances over all splits, 0.5-2 s, sine and noise, one with optional fields."""
    rows = []
    for i, (split, seconds) in enumerate(
        [
            ("train", 0.5),
            ("train", 1.0),
            ("train", 1.5),
            ("train", 2.0),
            ("dev", 0.8),
            ("dev", 1.2),
            ("test", 0.6),
            ("test", 1.7),
        ]
    ):
        r = row(f"ok{i}", split, seconds)
        write_wav(root / r["audio"], seconds, noise=i % 2 == 1)
        rows.append(r)
    rows[0].update(translation={"fra": "énoncé"}, speaker="spk1")
    return rows


def write_corpus(root: Path, rows: list[dict], manifests: Path) -> list[Path]:
    for split in SPLITS:
        write_rows(manifest_path(split, manifests), [r for r in rows if r["split"] == split])
    return [manifest_path(split, manifests) for split in SPLITS]


# bad id -> (expectation type, column) that must name it
BROKEN = {
    "missing": ("expect_column_values_to_be_in_set", "audio_exists"),
    "garbage": ("expect_column_values_to_be_in_set", "audio_decodable"),
    "rate8k": ("expect_column_values_to_be_in_set", "audio_sample_rate"),
    "stereo": ("expect_column_values_to_be_in_set", "audio_channels"),
    "toolong": ("expect_column_values_to_be_between", "audio_duration_s"),
    "notext": ("expect_column_value_lengths_to_be_between", "text"),
    "badlang": ("expect_column_values_to_be_in_set", "language"),
    "dup": ("expect_column_values_to_be_unique", "id"),
    "escape": ("expect_column_values_to_be_in_set", "audio_in_root"),
    "symlink": ("expect_column_values_to_be_in_set", "audio_in_root"),
    "drift": ("expect_column_values_to_be_between", "duration_error_s"),
}


def broken_rows(root: Path) -> list[dict]:
    """One row per defect in :data:`BROKEN`, plus an outside file that the escaping paths point at."""
    outside = write_wav(root.parent / "x.wav", 1.0)
    write_wav(root / "audio/rate8k.wav", 1.0, rate=8000)
    write_wav(root / "audio/stereo.wav", 1.0, channels=2)
    write_wav(root / "audio/toolong.wav", PARAMS.max_duration_s + 1)
    for uid in ("notext", "badlang", "dup", "drift"):
        write_wav(root / f"audio/{uid}.wav", 1.0)
    (root / "audio/garbage.wav").write_bytes(b"RIFF not really a wave file" * 10)
    (root / "audio/symlink.wav").symlink_to(outside)
    return [
        row("missing"),
        row("garbage", "dev"),
        row("rate8k", sample_rate=8000),
        row("stereo", "test"),
        row("toolong", seconds=PARAMS.max_duration_s + 1),
        row("notext", text=""),
        row("badlang", "dev", language="xxx"),
        row("dup"),
        row("dup", "test"),
        row("escape", audio="../x.wav"),
        row("symlink"),
        row("drift", duration_s=1.5),
    ]


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory):
    from components.validation.report import run_validation

    base = tmp_path_factory.mktemp("clean")
    root = base / "data"
    paths = write_corpus(root, clean_rows(root), root / "manifests")
    out = base / "reports"
    return run_validation(paths, root, PARAMS, out), out


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory: pytest.TempPathFactory):
    from components.validation.report import run_validation

    base = tmp_path_factory.mktemp("broken")
    root = base / "data"
    rows = clean_rows(root) + broken_rows(root)
    paths = write_corpus(root, rows, root / "manifests")
    out = base / "reports"
    return run_validation(paths, root, PARAMS, out), out


def by_rule(outcome) -> dict[tuple[str, str | None], list[str]]:
    return {(f.expectation, f.column): f.ids for f in outcome.failures}


def test_clean_corpus_passes_and_writes_the_report(clean_run) -> None:
    outcome, out = clean_run
    assert outcome.success, outcome.format_table()
    assert outcome.failures == []
    assert outcome.rows == 8
    results = json.loads((out / "results.json").read_text())
    assert results["success"] is True
    assert results["rows"] == 8 and results["expectations_failed"] == 0
    assert results["expectations_evaluated"] == outcome.evaluated > 20
    index = (out / "data_docs" / "index.html").read_text()
    assert "Great Expectations" in index or "great_expectations" in index
    assert list((out / "data_docs" / "validations").rglob("*.html")), "no validation page rendered"
    assert (out / "probe.csv").is_file()
    assert not list(out.glob(".staging-*")), "staging folder left behind"


@pytest.mark.parametrize("bad_id", sorted(BROKEN))
def test_broken_row_is_named_under_its_rule(broken_run, bad_id: str) -> None:
    outcome, _ = broken_run
    rule = BROKEN[bad_id]
    failures = by_rule(outcome)
    assert rule in failures, f"{rule} did not fail:\n{outcome.format_table()}"
    assert bad_id in failures[rule], f"{bad_id} not named under {rule}:\n{outcome.format_table()}"


@pytest.mark.parametrize("bad_id", ["missing", "escape", "symlink"])
def test_a_bad_path_fails_only_its_root_cause(broken_run, bad_id: str) -> None:
    """A file outside the root is not also "missing"; a missing file is not also "undecodable"."""
    outcome, _ = broken_run
    audio_rules = [
        c for _, c in by_rule(outcome) if c in ("audio_exists", "audio_decodable", "audio_in_root")
    ]
    blamed = [c for c in audio_rules if bad_id in by_rule(outcome)[("expect_column_values_to_be_in_set", c)]]
    assert blamed == [BROKEN[bad_id][1]]


def test_broken_corpus_fails_without_blaming_clean_rows(broken_run) -> None:
    outcome, out = broken_run
    assert not outcome.success
    assert all(f.severity == "critical" and f.error is None for f in outcome.failures)
    blamed = {i for f in outcome.failures for i in f.ids}
    assert not {i for i in blamed if i.startswith("ok")}, outcome.format_table()
    results = json.loads((out / "results.json").read_text())
    assert results["success"] is False
    assert results["expectations_failed"] == len(outcome.failures)
    from_json = {(f["expectation"], f["column"]): f["ids"] for f in results["failures"]}
    assert from_json == by_rule(outcome)
    table = outcome.format_table()
    assert "FAILED" in table and "audio_channels" in table and "stereo" in table


def test_probe_measures_the_files(broken_run) -> None:
    import pandas as pd

    _, out = broken_run
    probe = pd.read_csv(out / "probe.csv").drop_duplicates("id").set_index("id")
    assert probe.loc["rate8k", "audio_sample_rate"] == 8000
    assert probe.loc["stereo", "audio_channels"] == 2
    assert probe.loc["ok1", "audio_duration_s"] == pytest.approx(1.0)
    assert 0 < probe.loc["ok0", "audio_peak"] <= 0.31 and probe.loc["ok0", "audio_rms"] > 0.1
    assert probe.loc["garbage", "audio_decodable"] == False  # noqa: E712 - a read CSV holds numpy bools
    assert "cannot decode" in probe.loc["garbage", "audio_error"]
    assert probe.loc["missing", "audio_exists"] == False  # noqa: E712
    assert pd.isna(probe.loc["missing", "audio_decodable"])
    assert not probe.loc["escape", "audio_in_root"] and not probe.loc["symlink", "audio_in_root"]
    assert probe.loc["ok0", "manifest_row"] == "train.jsonl:1"


@pytest.mark.parametrize("path", ["/etc/passwd", "../x.wav", "a/../../x.wav", "..\\x.wav", "", None])
def test_paths_outside_the_root_are_rejected(tmp_path: Path, path: object) -> None:
    from components.validation.probe import resolve_in_root

    assert resolve_in_root(path, tmp_path) is None


def test_an_expectation_that_errors_is_reported_as_an_error(tmp_path: Path) -> None:
    """A missing column makes rules on it raise inside GX; that must read as an error, not as bad data."""
    from components.validation.report import run_validation

    root = tmp_path / "data"
    rows = clean_rows(root)
    for r in rows:
        del r["language"]
    paths = write_corpus(root, rows, root / "manifests")
    outcome = run_validation(paths, root, PARAMS, tmp_path / "out")
    assert not outcome.success
    rules = by_rule(outcome)
    assert ("expect_column_to_exist", "language") in rules
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
