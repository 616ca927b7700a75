"""Every corpus layout imports into the manifest contract; bad input fails naming where, and leaves nothing.

Each layout is built on the fly by :mod:`tests.data.layouts` (short sine tones written with soundfile, at
other rates and channel counts than the pipeline's), so the tests need no data, network or GPU.
"""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from components.config import CORPUS_KINDS, CorpusParams, ParamsError, load_params, parse_params
from components.data.importers import IMPORTERS, CorpusError, import_corpus, scan_corpus
from components.data.languages import iso639_3
from components.data.manifest import SPLITS, read_manifest
from components.data.rejected import REJECTED_FILE, read_rejected
from tests.data.layouts import (
    BUILDERS,
    RATE,
    contract_records,
    cv_suffix,
    make_commonvoice,
    make_covost2,
    make_fleurs,
    make_jsonl,
    make_librispeech,
)

REPO = Path(__file__).resolve().parents[2]


def check_manifests(data_root: Path, expected: dict, tolerance: float = 0.01) -> dict:
    """The written manifests hold exactly the expected utterances, with true durations and readable audio."""
    import soundfile as sf

    by_id = {u.id: u for split in SPLITS for u in read_manifest(split, data_root / "manifests")}
    assert set(by_id) == set(expected)
    for uid, (split, seconds, language) in expected.items():
        utterance = by_id[uid]
        assert (utterance.split, utterance.language, utterance.sample_rate) == (split, language, RATE)
        assert utterance.duration_s == pytest.approx(seconds, abs=tolerance)
        info = sf.info(str(data_root / utterance.audio))
        assert (info.samplerate, info.channels, info.subtype) == (RATE, 1, "PCM_16")
        assert utterance.duration_s == pytest.approx(info.frames / info.samplerate, abs=1e-4)
        assert utterance.text
    return by_id


def imported(kind: str, source: Path, data: Path, language: str | None = None) -> list:
    """The utterances an import wrote; asserts it rejected no row."""
    rows, rejected = import_corpus(
        CorpusParams(kind=kind, source=str(source), language=language), RATE, data, progress=False
    )
    assert rejected == [], rejected
    return rows


def scanned(kind: str, source: Path, language: str | None = None) -> list:
    """The usable rows of a scan; asserts it rejected no row."""
    scan = scan_corpus(kind, source, language)
    assert scan.rejected == [], scan.rejected
    return scan.rows


def rejected_by_origin(rejected: list) -> dict[str, tuple[str, str | None, str]]:
    """origin → (rule, id, problem) of each rejected row."""
    return {row.origin: (row.rule, row.id, row.problem) for row in rejected}


# ---------------------------------------------------------------- imports


def test_every_corpus_kind_has_an_importer_and_a_test_fixture() -> None:
    assert set(IMPORTERS) == set(CORPUS_KINDS) - {"demo"} == set(BUILDERS)


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_each_layout_imports_into_the_manifest_contract(kind: str, tmp_path: Path) -> None:
    source, expected = BUILDERS[kind](tmp_path / "source")
    rows = imported(kind, source, tmp_path / "data")
    assert len(rows) == len(expected)
    tolerance = 0.06 if kind == "commonvoice" else 0.01  # MP3 frames may pad the end
    by_id = check_manifests(tmp_path / "data", expected, tolerance)
    assert all(u.audio.startswith(f"audio/{kind}/{u.split}/") for u in by_id.values())


def test_contract_files_keep_translation_and_speaker_with_normalised_language_keys(tmp_path: Path) -> None:
    source, _ = make_jsonl(tmp_path / "source")
    rows = {r.id: r for r in scanned("jsonl", source)}
    assert rows["utt-a"].translation == {"fra": "bonjour"} and rows["utt-a"].speaker == "spk1"
    assert rows["utt-b"].translation is None


def test_covost2_fills_the_translation_into_the_target_language(tmp_path: Path) -> None:
    source, expected = make_covost2(tmp_path / "source")
    rows = imported("covost2", source, tmp_path / "data")
    assert {r.id: r.translation for r in rows} == {
        uid: {"eng": f"Hello number {i}"} for i, uid in enumerate(expected)
    }
    assert {r.speaker for r in rows} == {f"client{i}" for i in range(4)}


def test_commonvoice_reads_unquoted_transcripts_and_client_ids(tmp_path: Path) -> None:
    source, _ = make_commonvoice(tmp_path / "en")
    rows = scanned("commonvoice", source)
    assert rows[0].text == 'He said "hi" in train clip 0' and rows[0].speaker == "client-train-0"


def test_librispeech_subset_folder_alone_gives_its_split_and_speakers(tmp_path: Path) -> None:
    make_librispeech(tmp_path / "LibriSpeech")
    rows = scanned("librispeech", tmp_path / "LibriSpeech" / "dev-clean")
    assert {r.split for r in rows} == {"dev"} and {r.speaker for r in rows} == {"84", "91"}


def test_language_option_keeps_one_language_and_labels_rows_without_one(tmp_path: Path) -> None:
    source, _ = make_fleurs(tmp_path / "fleurs")
    assert {r.language for r in scanned("fleurs", source, language="fr")} == {"fra"}
    with pytest.raises(CorpusError, match="no utterances in language spa"):
        scan_corpus("fleurs", source, language="es")
    libri, _ = make_librispeech(tmp_path / "LibriSpeech")
    assert {r.language for r in scanned("librispeech", libri)} == {"eng"}


# ---------------------------------------------------------------- errors


def test_unknown_language_code_names_file_line_and_code(tmp_path: Path) -> None:
    source, _ = make_commonvoice(tmp_path / "en")
    table = source / "train.tsv"
    lines = table.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].rsplit("\t", 1)[0] + "\txx"  # line 3: the second data row
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    scan = scan_corpus("commonvoice", source)
    [(rule, uid, problem)] = rejected_by_origin(scan.rejected).values()
    assert rejected_by_origin(scan.rejected).keys() == {f"{table}:3"} and rule == "language_known"
    assert "'xx'" in problem and uid == "common_voice_en_train1" and uid not in {r.id for r in scan.rows}


def test_missing_audio_file_is_named(tmp_path: Path) -> None:
    source, _ = make_jsonl(tmp_path / "source")
    (source.parent / "clips" / "utt-b.wav").unlink()
    scan = scan_corpus("jsonl", source)
    [rejected] = scan.rejected
    assert (rejected.origin, rejected.rule, rejected.id) == (f"{source}:2", "audio_exists", "utt-b")
    assert str(source.parent / "clips" / "utt-b.wav") in rejected.problem
    assert rejected.audio == str(source.parent / "clips" / "utt-b.wav")  # the snapshot watches for it


@pytest.mark.parametrize(
    ("kind", "table", "column"), [("commonvoice", "dev.tsv", "sentence"), ("csv", "corpus.csv", "split")]
)
def test_missing_required_column_names_file_and_column(
    kind: str, table: str, column: str, tmp_path: Path
) -> None:
    source, _ = BUILDERS[kind](tmp_path / "source")
    path = tmp_path / "source" / table
    dialect = (
        {"delimiter": "\t", "quoting": csv.QUOTE_NONE, "escapechar": "\\"} if kind == "commonvoice" else {}
    )
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, **dialect))
    with path.open("w", encoding="utf-8", newline="") as handle:
        fields = [f for f in rows[0] if f != column]
        writer = csv.DictWriter(handle, fields, extrasaction="ignore", lineterminator="\n", **dialect)
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(CorpusError) as info:
        scan_corpus(kind, source)
    assert str(path) in str(info.value) and f"missing column(s) {column}" in str(info.value)


def test_unknown_manifest_field_and_bad_split_are_named(tmp_path: Path) -> None:
    import json

    source, _ = make_jsonl(tmp_path / "source")
    records = contract_records()
    records[1]["transcript"] = records[1].pop("text")
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    [rejected] = scan_corpus("jsonl", source).rejected
    assert (rejected.origin, rejected.rule) == (f"{source}:2", "row_readable")
    assert rejected.problem.startswith("unknown field(s) transcript")
    records = contract_records()
    records[3]["split"] = "holdout"
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    [rejected] = scan_corpus("jsonl", source).rejected
    assert (rejected.origin, rejected.rule) == (f"{source}:4", "split_known")
    assert "unknown split 'holdout'" in rejected.problem


def test_duplicate_ids_name_both_rows(tmp_path: Path) -> None:
    source, _ = make_covost2(tmp_path / "source")
    lines = source.read_text(encoding="utf-8").splitlines()
    source.write_text("\n".join([*lines, lines[1]]) + "\n", encoding="utf-8")
    scan = scan_corpus("covost2", source)
    [rejected] = scan.rejected
    assert (rejected.rule, rejected.id, rejected.origin) == (
        "id_unique",
        "common_voice_fr_0",
        f"{source}:{len(lines) + 1}",
    )
    assert re.search(r"duplicate id 'common_voice_fr_0' \(first at .*:2\)", rejected.problem)
    assert [r.id for r in scan.rows].count("common_voice_fr_0") == 1


def test_hf_dataset_without_splits_is_rejected_with_the_columns_it_has(tmp_path: Path) -> None:
    from datasets import Dataset

    Dataset.from_dict({"audio": ["a.wav"], "text": ["x"]}).save_to_disk(str(tmp_path / "flat"))
    with pytest.raises(CorpusError, match="missing column.*split.*found: audio, text"):
        scan_corpus("hf", tmp_path / "flat", language="en")


def test_undecodable_audio_names_the_row_and_the_formats_soundfile_reads(tmp_path: Path) -> None:
    source, _ = make_jsonl(tmp_path / "source")
    (source.parent / "clips" / "utt-d.wav").write_bytes(b"not audio at all" * 64)
    rows, rejected = import_corpus(
        CorpusParams(kind="jsonl", source=str(source)), RATE, tmp_path / "data", progress=False
    )
    [bad] = rejected
    assert bad.describe().startswith(f"{source}:4 (id utt-d): ") and bad.rule == "audio_decodable"
    assert "utt-d.wav" in bad.problem and "FLAC" in bad.problem
    assert "utt-d" not in {u.id for u in rows} and len(rows) == len(contract_records()) - 1
    written = read_rejected(tmp_path / "data" / "manifests" / REJECTED_FILE)
    assert written == [bad]  # beside the manifests, for validate to report


def test_an_interrupted_import_leaves_the_previous_corpus_untouched_and_no_partial_output(
    tmp_path: Path, monkeypatch
) -> None:
    import components.data.importers.convert as convert_module

    data = tmp_path / "data"
    good, _ = make_librispeech(tmp_path / "LibriSpeech")
    imported("librispeech", good, data)
    before = {p.relative_to(data): p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()}

    bad, _ = make_jsonl(tmp_path / "bad")
    real_convert = convert_module.convert

    def interrupted(row, *args):  # the last row is interrupted, after others converted
        if row.id == "utt-d":
            raise KeyboardInterrupt
        return real_convert(row, *args)

    monkeypatch.setattr(convert_module, "convert", interrupted)
    with pytest.raises(KeyboardInterrupt):
        import_corpus(CorpusParams(kind="jsonl", source=str(bad)), RATE, data, progress=False)
    after = {p.relative_to(data): p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()}
    assert after == before
    assert sorted(p.name for p in data.iterdir()) == ["audio", "manifests"]  # no temporary folders left

    fresh = tmp_path / "fresh"
    with pytest.raises(KeyboardInterrupt):
        import_corpus(CorpusParams(kind="jsonl", source=str(bad)), RATE, fresh, progress=False)
    assert not fresh.exists() or not any(fresh.iterdir())


def test_one_scan_rejects_every_bad_row_not_only_the_first(tmp_path: Path) -> None:
    import json

    source, _ = make_jsonl(tmp_path / "source", size=8)
    records = contract_records(8)
    records[0]["audio"] = "clips/gone.wav"  # line 1: missing file
    records[2]["language"] = "xx"  # line 3: unknown language
    records[4]["transcript"] = records[4].pop("text")  # line 5: misspelt field
    records[5]["id"] = records[1]["id"]  # line 6: duplicate of line 2
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    scan = scan_corpus("jsonl", source)
    found = rejected_by_origin(scan.rejected)
    assert {origin: rule for origin, (rule, _, _) in found.items()} == {
        f"{source}:1": "audio_exists",
        f"{source}:3": "language_known",
        f"{source}:5": "row_readable",
        f"{source}:6": "id_unique",
    }
    assert "gone.wav" in found[f"{source}:1"][2] and "'xx'" in found[f"{source}:3"][2]
    assert "transcript" in found[f"{source}:5"][2]
    assert re.search(rf"duplicate id '{records[1]['id']}' \(first at .*:2\)", found[f"{source}:6"][2])
    assert len(scan.rows) == 4  # the other rows are kept


def test_every_undecodable_file_is_rejected_by_one_import(tmp_path: Path) -> None:
    source, _ = make_jsonl(tmp_path / "source")
    for name in ("utt-b", "utt-d"):
        (source.parent / "clips" / f"{name}.wav").write_bytes(b"not audio at all" * 64)
    rows, rejected = import_corpus(
        CorpusParams(kind="jsonl", source=str(source)), RATE, tmp_path / "data", progress=False
    )
    assert [(r.origin, r.id, r.rule) for r in rejected] == [
        (f"{source}:2", "utt-b", "audio_decodable"),
        (f"{source}:4", "utt-d", "audio_decodable"),
    ]
    assert {u.id for u in rows} == {"utt-a", "utt-c"}


@pytest.mark.parametrize("kind", ["jsonl", "csv", "commonvoice", "librispeech"])
def test_invalid_utf8_in_a_source_rejects_only_its_row(kind: str, tmp_path: Path) -> None:
    source, _ = BUILDERS[kind](tmp_path / "source")
    if kind == "commonvoice":
        table = source / "train.tsv"
    elif kind == "librispeech":
        table = max(sorted(source.rglob("*.trans.txt")), key=lambda t: len(t.read_text().splitlines()))
    elif kind == "csv":
        table = source / "corpus.csv"
    else:
        table = source
    lines = table.read_bytes().split(b"\n")
    assert len(lines) > 2
    lines[1] = lines[1][:5] + b"\xff" + lines[1][6:]  # line 2 no longer decodes
    table.write_bytes(b"\n".join(lines))
    scan = scan_corpus(kind, source)
    [rejected] = scan.rejected
    assert (rejected.origin, rejected.rule) == (f"{table}:2", "text_utf8")
    assert rejected.problem.startswith("not valid UTF-8")
    assert scan.rows and all(row.origin != rejected.origin for row in scan.rows)


def test_utf8_errors_name_the_id_they_follow_and_count_lines_after_a_bom_and_json_errors_too(
    tmp_path: Path,
) -> None:
    import codecs
    import json

    source, _ = make_jsonl(tmp_path / "source")
    lines = [json.dumps(r).encode() for r in contract_records()]
    record = json.loads(lines[1])
    record["text"] = "caf@@ au lait"
    broken = json.dumps(record).encode().replace(b"@@", b"\xe9\xff")  # the id comes before the bad bytes
    source.write_bytes(codecs.BOM_UTF8 + b"\n".join([lines[0], broken, *lines[2:]]))
    [rejected] = scan_corpus("jsonl", source).rejected
    assert (rejected.origin, rejected.rule, rejected.id) == (f"{source}:2", "text_utf8", record["id"])
    assert rejected.problem == "not valid UTF-8 in text"

    records = contract_records()
    records[3]["language"] = "xx"
    text = [json.dumps(r) for r in records]
    text[1] = text[1][:-1]  # line 2: not valid JSON
    source.write_bytes(codecs.BOM_UTF8 + "\n".join(text).encode())  # the BOM is not part of line 1
    found = rejected_by_origin(scan_corpus("jsonl", source).rejected)
    assert found.keys() == {f"{source}:2", f"{source}:4"}
    assert found[f"{source}:2"][::2] == ("row_readable", "not valid JSON (Expecting ',' delimiter)")
    assert found[f"{source}:4"][0] == "language_known"


def test_empty_audio_at_another_rate_imports_as_an_empty_file_for_validation_to_judge(tmp_path: Path) -> None:
    import soundfile as sf

    source, _ = make_jsonl(tmp_path / "source")
    sf.write(source.parent / "clips" / "utt-c.wav", [], 22050)  # zero samples, not the pipeline's rate
    rows = imported("jsonl", source, tmp_path / "data")
    empty = next(u for u in rows if u.id == "utt-c")
    assert empty.duration_s == 0 and sf.info(str(tmp_path / "data" / empty.audio)).frames == 0


# ---------------------------------------------------------------- languages and params


@pytest.mark.parametrize(
    ("code", "iso"),
    [
        ("en", "eng"),
        ("en-US", "eng"),
        ("en_us", "eng"),
        ("EN", "eng"),
        ("eng", "eng"),
        ("fre", "fra"),
        ("fr_FR", "fra"),
        ("ger", "deu"),
        ("de", "deu"),
        ("sv-SE", "swe"),
        ("zh-CN", "zho"),
        ("cmn_hans_cn", "cmn"),
    ],
)
def test_language_codes_normalise_to_iso639_3(code: str, iso: str) -> None:
    assert iso639_3(code) == iso


@pytest.mark.parametrize("code", ["xx", "zzz", "Klingonish", "", "und", "x-private"])
def test_unknown_language_codes_are_rejected_by_name(code: str) -> None:
    with pytest.raises(ValueError, match=f"unknown language code {code!r}"):
        iso639_3(code)


def test_corpus_params_default_to_demo_and_name_what_is_wrong() -> None:
    assert parse_params({}).prepare.corpus == CorpusParams(kind="demo")
    assert (
        parse_params(
            {"prepare": {"corpus": {"kind": "csv", "source": "c", "language": "en-GB"}}}
        ).prepare.corpus.language
        == "eng"
    )
    for raw, words in [
        ({"kind": "jsonl"}, "prepare.corpus: Value error, kind jsonl imports a corpus: set source"),
        ({"kind": "demo", "source": "x"}, "prepare.corpus: Value error, kind demo synthesises"),
        ({"kind": "mp3s", "source": "x"}, "prepare.corpus.kind"),
        ({"kind": "csv", "source": "x", "language": "xx"}, "prepare.corpus.language"),
    ]:
        with pytest.raises(ParamsError, match=words):
            parse_params({"prepare": {"corpus": raw}})


def test_prepare_imports_the_configured_corpus_instead_of_the_demo(tmp_path: Path, monkeypatch) -> None:
    import components.stages.prepare as prepare

    source, expected = make_jsonl(tmp_path / "source")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(prepare, "build_demo_corpus", lambda *a, **k: pytest.fail("built the demo corpus"))
    monkeypatch.setattr(prepare, "prepare_base_models", lambda *a, **k: None)
    params = parse_params({"prepare": {"corpus": {"kind": "jsonl", "source": str(source)}}})
    prepare.main(params)
    check_manifests(tmp_path / "data", expected)


# ---------------------------------------------------------------- the CLI


def workspace_with_params(tmp_path: Path) -> Path:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    shutil.copy(REPO / "params.yaml", workspace / "params.yaml")
    return workspace


def invoke(*args: str):
    from flows.cli import app

    return CliRunner().invoke(app, ["data", "import", *args])


def test_cli_import_names_the_corpus_in_params_and_keeps_the_rest_of_the_file(
    tmp_path: Path, monkeypatch
) -> None:
    workspace = workspace_with_params(tmp_path)
    before = (workspace / "params.yaml").read_text(encoding="utf-8").splitlines()
    source, expected = make_jsonl(workspace / "corpora" / "mine")
    result = invoke("jsonl", str(source), "--workspace", str(workspace), "--language", "en-US")
    assert result.exit_code == 0, result.output
    assert "2 utterances" in result.output and "train 2" in result.output
    assert "no dev/test utterances" in result.output  # only English rows are kept: a warning, not an error

    after = (workspace / "params.yaml").read_text(encoding="utf-8").splitlines()
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    snapshot = load_params(workspace / "params.yaml").prepare.corpus.snapshot
    assert snapshot and len(snapshot) == 16
    assert [new.split("#")[0].strip() for _, new in changed] == [
        "kind: jsonl",
        "source: corpora/mine/corpus.jsonl",  # inside the workspace: relative, so the workspace can move
        "language: eng",
        f"snapshot: {snapshot}",
    ]
    assert all("#" in new for _, new in changed)  # the comments survive
    corpus = load_params(workspace / "params.yaml").prepare.corpus
    monkeypatch.chdir(workspace)  # where prepare runs
    assert import_corpus(corpus, RATE, progress=False)[1] == []
    check_manifests(workspace / "data", {k: v for k, v in expected.items() if v[2] == "eng"})


def test_a_corpus_changed_in_place_gets_a_new_snapshot_before_retrain_so_prepare_re_imports(
    tmp_path: Path,
) -> None:
    import os

    from components.data.importers.snapshot import corpus_snapshot, refresh_snapshot

    workspace = workspace_with_params(tmp_path)
    assert refresh_snapshot(workspace) is None  # the demo corpus has none
    source, _ = make_jsonl(tmp_path / "outside")  # the audio lies beside the manifest, not under it
    roundabout = (
        tmp_path / "outside" / ".." / "outside" / source.name
    )  # named another way than params keep it
    assert invoke("jsonl", str(roundabout), "--workspace", str(workspace)).exit_code == 0
    recorded = load_params(workspace / "params.yaml").prepare.corpus.snapshot
    assert refresh_snapshot(workspace) is None  # unchanged: params.yaml is left alone
    assert corpus_snapshot(source, scan_corpus("jsonl", source)) == recorded

    clip = source.parent / "clips" / "utt-b.wav"
    stat = clip.stat()
    os.utime(clip, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # re-recorded in place
    message = refresh_snapshot(workspace)
    assert message and recorded in message and str(source) in message
    refreshed = load_params(workspace / "params.yaml").prepare.corpus.snapshot
    assert refreshed not in (None, recorded)
    assert refresh_snapshot(workspace) is None

    clip.unlink()  # a clip gone is a change (validate will name its row), and so is its return
    gone = refresh_snapshot(workspace)
    assert gone and refreshed in gone
    clip.write_bytes(b"RIFF")
    assert refresh_snapshot(workspace)
    (source.parent / "clips").rename(tmp_path / "elsewhere")  # no row imports: still a corpus-wide fault
    source.write_text("", encoding="utf-8")
    with pytest.raises(CorpusError, match="no utterances found"):
        refresh_snapshot(workspace)


def test_cli_import_of_an_outside_source_records_its_absolute_path_and_warns_about_languages(
    tmp_path: Path,
) -> None:
    workspace = workspace_with_params(tmp_path)
    source, _ = make_fleurs(tmp_path / "fleurs")
    result = invoke("fleurs", str(source), "--workspace", str(workspace))
    assert result.exit_code == 0, result.output
    corpus = load_params(workspace / "params.yaml").prepare.corpus
    assert (corpus.kind, corpus.source, corpus.language) == ("fleurs", source.resolve().as_posix(), None)
    assert "cmn" in result.output and "are not in validate.languages" in result.output


def test_cli_import_failures_are_one_line_and_leave_params_unchanged(tmp_path: Path) -> None:
    workspace = workspace_with_params(tmp_path)
    before = (workspace / "params.yaml").read_text(encoding="utf-8")
    result = invoke("mp3folder", str(tmp_path), "--workspace", str(workspace))
    assert result.exit_code == 1 and "unknown corpus kind 'mp3folder'" in result.output

    source, _ = make_commonvoice(tmp_path / "en")
    for clip in (source / "clips").iterdir():
        clip.unlink()
    result = invoke("commonvoice", str(source), "--workspace", str(workspace))
    assert result.exit_code == 1
    assert "no row can be imported" in result.output
    assert (
        f"[audio_exists] {source / 'dev.tsv'}:2 (id common_voice_en_dev0): audio file not found"
        in result.output
    )
    assert "Traceback" not in result.output
    assert (workspace / "params.yaml").read_text(encoding="utf-8") == before


def test_cli_import_lists_the_rows_it_will_leave_out_and_records_the_corpus(tmp_path: Path) -> None:
    workspace = workspace_with_params(tmp_path)
    source, _ = make_commonvoice(tmp_path / "en")
    (source / "clips" / f"common_voice_en_dev0{cv_suffix()}").unlink()
    (source / "clips" / f"common_voice_en_train1{cv_suffix()}").write_bytes(b"not audio" * 50)
    result = invoke("commonvoice", str(source), "--workspace", str(workspace))
    assert result.exit_code == 0, result.output
    assert "2 row(s) will not be imported" in result.output
    assert f"[audio_exists] {source / 'dev.tsv'}:2 (id common_voice_en_dev0)" in result.output
    assert "[audio_decodable]" in result.output and "common_voice_en_train1" in result.output
    assert load_params(workspace / "params.yaml").prepare.corpus.kind == "commonvoice"


def test_transcripts_are_canonicalised_on_import(tmp_path: Path) -> None:
    import json
    import unicodedata

    from components.data.text import canonical_text, is_blank

    source, _ = make_jsonl(tmp_path / "source")
    records = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()]
    records[0]["text"] = unicodedata.normalize("NFD", "  Café\u200b  crème\u00ad\tbrûlée\u2060 ")
    records[0]["translation"] = {"fr": "le\u200b  café"}
    records[1]["text"] = "می\u200cخواهم"  # Persian: the zero-width non-joiner is spelling, kept
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    rows = {r.id: r for r in scanned("jsonl", source)}
    first, second = rows[records[0]["id"]], rows[records[1]["id"]]
    assert first.text == "Café crème brûlée" == unicodedata.normalize("NFC", first.text)
    assert first.translation == {"fra": "le café"} and first.canonicalised
    assert second.text == "می\u200cخواهم" and not second.canonicalised
    assert sum(r.canonicalised for r in rows.values()) == 1

    result = invoke("jsonl", str(source), "--workspace", str(workspace_with_params(tmp_path)))
    assert result.exit_code == 0 and "1 transcripts canonicalised" in result.output, result.output

    assert canonical_text("a\u200bb\x07c") == "ab c"  # a control character is a space, not glued
    for blank in ("", "   ", "\u200b\u200b", "?!… — ¿¡", "***"):
        assert is_blank(blank), blank
    assert not is_blank("¿Qué?") and not is_blank("42") and not is_blank("猫")


def test_import_refuses_audio_whose_samples_are_not_finite(tmp_path: Path) -> None:
    import json

    import numpy as np
    import soundfile as sf

    source, _ = make_jsonl(tmp_path / "source")
    records = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()]
    audio = source.parent / records[0]["audio"]
    wave = np.full((22050, 2), 0.1, dtype=np.float32)
    wave[100, 0] = np.nan  # one NaN: resampling would smear it, PCM would write it as full scale
    sf.write(audio, wave, 22050, subtype="FLOAT")
    data = tmp_path / "data"
    rows, [rejected] = import_corpus(
        CorpusParams(kind="jsonl", source=str(source)), 16000, data, progress=False
    )
    assert (rejected.id, rejected.rule) == (records[0]["id"], "audio_finite")
    assert "1 of 44100 samples are not finite" in rejected.problem
    assert records[0]["id"] not in {u.id for u in rows}
    assert not (data / "audio" / "jsonl" / "train" / f"{records[0]['id']}.wav").exists()  # nothing invented


def test_languages_as_corpora_label_them_keep_their_locale(tmp_path: Path) -> None:
    import json

    source, _ = make_jsonl(tmp_path / "source")
    records = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()]
    labels = ["English", "en-US", "tok", "zh-HK"][: len(records)]
    for record, label in zip(records, labels, strict=False):
        record["language"] = label
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    data = tmp_path / "data"
    imported("jsonl", source, data)
    rows = {u.id: u for split in SPLITS for u in read_manifest(split, data / "manifests")}
    found = [(rows[r["id"]].language, rows[r["id"]].locale) for r in records[: len(labels)]]
    expected = [("eng", "English"), ("eng", "en-US"), ("tok", None), ("yue", "zh-HK")]
    assert found == expected[: len(records)] and len(found) >= 3


# ---------------------------------------------------------------- Hugging Face datasets as people save them


def fleurs_style_dataset(root: Path, decoded: bool) -> Path:
    """A FLEURS-like DatasetDict: ``id`` numbers sentences (two readers each), English language names, a
    raw and a normalised transcript, and audio either as encoded files or already decoded arrays."""
    import numpy as np
    from datasets import Audio, Dataset, DatasetDict

    splits = {}
    for split, offset in (("train", 0), ("validation", 10), ("test", 20)):
        rows: dict[str, list] = {
            "id": [],
            "path": [],
            "raw_transcription": [],
            "transcription": [],
            "language": [],
            "audio": [],
        }
        for sentence in range(2):
            for reader in range(2):
                seconds = 1.0 + 0.1 * reader
                hz = 200 + 7 * (offset + 2 * sentence + reader)
                wave = (0.3 * np.sin(2 * np.pi * hz * np.arange(int(seconds * RATE)) / RATE)).astype(
                    "float32"
                )
                name = f"{offset + sentence}_{reader}.wav"
                rows["id"].append(offset + sentence)
                rows["path"].append(name)
                rows["raw_transcription"].append(f"Sentence number {offset + sentence}, read aloud.")
                rows["transcription"].append(f"sentence number {offset + sentence} read aloud")
                rows["language"].append("English")
                if decoded:
                    rows["audio"].append({"array": wave, "sampling_rate": RATE})
                else:
                    import io

                    import soundfile as sf

                    buffer = io.BytesIO()
                    sf.write(buffer, wave, RATE, format="WAV")
                    rows["audio"].append({"bytes": buffer.getvalue(), "path": name})
        dataset = Dataset.from_dict(rows)
        splits[split] = dataset if decoded else dataset.cast_column("audio", Audio(decode=False))
    DatasetDict(splits).save_to_disk(str(root))
    return root


@pytest.mark.parametrize("decoded", [True, False])
def test_fleurs_style_hf_dataset_imports_every_recording_with_the_raw_transcript(
    decoded: bool, tmp_path: Path
) -> None:
    source = fleurs_style_dataset(tmp_path / "fleurs-hf", decoded)
    rows = imported("hf", source, tmp_path / "data")
    assert len(rows) == 12 and len({u.id for u in rows}) == 12  # a sentence id repeats: ids are derived
    by_id = {u.id: u for u in rows}
    first = by_id["0-0_0"]
    assert (first.sentence_id, first.language, first.locale) == ("0", "eng", "English")
    assert first.text == "Sentence number 0, read aloud."  # the raw transcript, as the fleurs importer reads
    assert first.duration_s == pytest.approx(1.0, abs=1e-3) and by_id["0-0_1"].duration_s == pytest.approx(
        1.1, abs=1e-3
    )
    assert {u.split for u in rows} == {"train", "dev", "test"}

    chosen = scan_corpus("hf", source, text_column="transcription").rows
    assert chosen[0].text == "sentence number 0 read aloud"


def test_fleurs_importer_takes_the_same_text_choice(tmp_path: Path) -> None:
    source, _ = make_fleurs(tmp_path / "fleurs")
    raw = scanned("fleurs", source)
    normalised = scan_corpus("fleurs", source, text_column="transcription").rows
    assert [r.text for r in raw] != [r.text for r in normalised]
    with pytest.raises(CorpusError, match="text_column: 'sentence' is not a FLEURS column"):
        scan_corpus("fleurs", source, text_column="sentence")
    with pytest.raises(CorpusError, match="layout librispeech has one transcript"):
        scan_corpus("librispeech", source, text_column="text")


def test_language_option_labels_rows_whose_own_label_cannot_be_read(tmp_path: Path) -> None:
    import json

    source, _ = make_jsonl(tmp_path / "source")
    records = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()]
    for record in records:
        record["language"] = "Earth Standard"
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    scan = scan_corpus("jsonl", source)
    assert scan.rows == [] and {r.rule for r in scan.rejected} == {"language_known"}
    assert "pass --language" in scan.rejected[0].problem
    rows = scanned("jsonl", source, language="en")
    assert len(rows) == len(records) and {(r.language, r.locale) for r in rows} == {("eng", "Earth Standard")}
