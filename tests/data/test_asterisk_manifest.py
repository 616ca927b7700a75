"""The Asterisk prompts become a manifest in the contract: splits by prompt key, translations from parallel
keys, stage directions dropped; fetching fails in one line naming the package.

Everything runs offline on a tiny fake of the unpacked packages (transcripts gzipped as Debian ships them,
8 kHz tones written with soundfile); apt is replaced by small scripts on ``PATH``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from components.config import CorpusParams
from components.data.fetch.asterisk import (
    VERSION,
    build_asterisk_manifest,
    fetch_asterisk,
    is_stage_direction,
    key_splits,
    parse_core_sounds,
)
from components.data.fetch.debian import NO_LISTS, download_debian_packages, extract_deb
from components.data.fetch.errors import FetchError
from components.data.importers import import_corpus, probe_durations, scan_corpus
from components.data.manifest import read_rows

BOM = "\ufeff"
VOICES = {"en": "en_US_f_Allison", "es": "es_MX_f_Allison", "fr": "fr_CA_f_June"}
TRANSCRIPTS = {
    "en": [
        "; Core Asterisk Sounds in English",
        "",
        "digits/5: five",
        "hello: Hello.",
        "beep: [this is a simple beep tone]",
        "silence/1: (1 second of silence)",
        "followme/status: not at their desk; I will try to locate them",
        "letters/at: at [@]",
        "only-en: Only in English.",
        "no-audio: There is no recording of this.",
        "tone: Tone.",
        "spoken-en: Recorded in English.",
    ],
    "es": [  # written with a BOM before its first key
        "digits/5: cinco",
        "; Core Asterisk Sounds in Spanish",
        "hello: Hola.",
        "beep: [tono simple]",
        "letters/o: o",
        "no-audio: No hay grabación.",
        "spoken-en: Grabado en inglés.",  # no Spanish recording: still English's translation
    ],
    "fr": [
        "digits/5: cinq",
        "hello: Bonjour.",
        "beep: (beep)",
        "letters/O: o",  # the recording is letters/o.wav, as the Italian package has it
        "tone: (bip)",
    ],
}
RECORDED = {
    "en": [
        "digits/5",
        "hello",
        "beep",
        "silence/1",
        "followme/status",
        "letters/at",
        "only-en",
        "tone",
        "spoken-en",
    ],
    "es": ["digits/5", "hello", "beep", "letters/o", "unlisted"],
    "fr": ["digits/5", "hello", "beep", "letters/o", "tone"],
}
SAFE_ID = re.compile(r"[A-Za-z0-9._-]+")


def write_tone(path: Path, seconds: float = 0.3) -> None:
    """An 8 kHz 16-bit mono WAV, as the -wav packages hold."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(8000 * seconds)) / 8000
    sf.write(path, (0.3 * np.sin(2 * np.pi * (200 + len(path.name) * 10) * t)).astype("float32"), 8000)


def fake_packages(root: Path, code: str, lines: list[str], recorded: list[str], bom: bool = False) -> Path:
    """``root/CODE``: the unpacked transcript package and WAV package of one language, one tree each."""
    language = root / code
    doc = language / f"asterisk-core-sounds-{code}/usr/share/doc/asterisk-core-sounds-{code}"
    doc.mkdir(parents=True)
    text = (BOM if bom else "") + "\n".join(lines) + "\n"
    (doc / f"core-sounds-{code}.txt.gz").write_bytes(gzip.compress(text.encode("utf-8")))
    voice = language / f"asterisk-core-sounds-{code}-wav/usr/share/asterisk/sounds/{VOICES[code]}"
    for key in recorded:
        write_tone(voice / f"{key}.wav")
    return language


def fake_corpus(root: Path, codes: tuple[str, ...] = ("en", "es", "fr")) -> dict[str, Path]:
    return {
        code: fake_packages(root, code, TRANSCRIPTS[code], RECORDED[code], bom=code == "es") for code in codes
    }


def build(tmp_path: Path, extracted: dict[str, Path], seed: int = 0, name: str = "manifest.jsonl"):
    out = tmp_path / "corpora" / name
    summary = build_asterisk_manifest(extracted, out, dev_share=0.25, test_share=0.25, seed=seed)
    return summary, read_rows(out)


def test_transcript_lines_are_keys_and_texts_without_comments_or_bom() -> None:
    text = BOM + "; a comment\n\ndigits/5: five\nvm-helpexit: for help, press star; to exit, pound\n"
    text += "  spaced :  padded text  \ndigits/0: cero\ndigits/0: diez\n"
    assert parse_core_sounds(text) == {
        "digits/5": "five",
        "vm-helpexit": "for help, press star; to exit, pound",  # `;` is a comment only at a line's start
        "spaced": "padded text",
        "digits/0": "cero",  # a repeated key keeps its first text
    }


def test_a_transcript_line_without_a_key_is_named_with_its_file_and_line() -> None:
    with pytest.raises(
        ValueError, match=r"^core-sounds-xx.txt:3: expected 'key: text', got 'no colon here'$"
    ):
        parse_core_sounds("; c\na: b\nno colon here\n", "core-sounds-xx.txt")


@pytest.mark.parametrize(
    ("text", "direction"),
    [
        ("[ascending tones]", True),
        ("[ tono de error ]", True),
        ("(10 seconds of silence)", True),
        ("<beep ascending>", True),
        ("(beep) [tone]", True),
        ("at [@]", False),
        ("Please leave your message. (simple tone sound plays)", False),
        ("five", False),
        ("", False),  # no text at all is counted apart, as an empty text
    ],
)
def test_stage_directions_are_texts_with_nothing_outside_brackets(text: str, direction: bool) -> None:
    assert is_stage_direction(text) is direction


def test_rows_have_safe_unique_ids_relative_audio_speaker_and_iso_language(tmp_path: Path) -> None:
    summary, rows = build(tmp_path, fake_corpus(tmp_path / "src"))
    by_id = {row["id"]: row for row in rows}
    assert len(by_id) == len(rows) and all(SAFE_ID.fullmatch(uid) for uid in by_id)
    five = by_id["eng_digits-5"]
    assert (five["text"], five["language"], five["speaker"]) == ("five", "eng", "en_US_f_Allison")
    assert (summary.manifest.parent / five["audio"]).resolve() == (
        tmp_path / "src/en/asterisk-core-sounds-en-wav/usr/share/asterisk/sounds/en_US_f_Allison/digits/5.wav"
    )
    assert not Path(five["audio"]).is_absolute()
    assert by_id["eng_followme-status"]["text"] == "not at their desk; I will try to locate them"
    assert by_id["eng_letters-at"]["text"] == "at"  # the note "[@]" is not a spoken word
    assert {row["language"] for row in rows} == {"eng", "spa", "fra"}
    assert sorted(uid for uid in by_id if uid.startswith("eng_")) == [
        "eng_digits-5",
        "eng_followme-status",
        "eng_hello",
        "eng_letters-at",
        "eng_only-en",
        "eng_spoken-en",
        "eng_tone",
    ]


def test_stage_directions_and_keys_without_audio_are_dropped_and_counted(tmp_path: Path) -> None:
    summary, rows = build(tmp_path, fake_corpus(tmp_path / "src"))
    texts = {row["text"] for row in rows}
    assert not any(is_stage_direction(text) for text in texts)
    assert {"eng_beep", "eng_silence-1", "spa_beep", "fra_beep", "eng_no-audio", "spa_no-audio"}.isdisjoint(
        row["id"] for row in rows
    )
    assert summary.stage_directions == {"eng": 2, "fra": 2, "spa": 1}
    assert summary.without_audio == {"eng": 1, "fra": 0, "spa": 2}
    assert summary.audio_without_text == {"eng": 0, "fra": 0, "spa": 1}  # es/unlisted.wav
    assert {language: sum(splits.values()) for language, splits in summary.rows.items()} == {
        "eng": 7,
        "fra": 3,
        "spa": 3,
    }
    assert summary.parallel_keys == 2  # digits/5 and hello; letters/o is not in English


def test_a_key_spelt_in_another_case_than_its_recording_takes_the_recordings_spelling(tmp_path: Path) -> None:
    summary, rows = build(tmp_path, fake_corpus(tmp_path / "src"))
    by_id = {row["id"]: row for row in rows}
    assert by_id["fra_letters-o"]["translation"] == {"spa": "o"}  # parallel with Spanish letters/o
    assert summary.without_audio["fra"] == 0


def test_translations_come_only_from_keys_the_other_languages_have_as_speech(tmp_path: Path) -> None:
    _, rows = build(tmp_path, fake_corpus(tmp_path / "src"))
    by_id = {row["id"]: row for row in rows}
    assert by_id["eng_digits-5"]["translation"] == {"spa": "cinco", "fra": "cinq"}
    assert by_id["spa_hello"]["translation"] == {"eng": "Hello.", "fra": "Bonjour."}
    assert "translation" not in by_id["eng_only-en"]
    assert "translation" not in by_id["eng_letters-at"]
    assert "translation" not in by_id["eng_tone"]  # French "tone" is a stage direction, not a translation
    assert by_id["eng_spoken-en"]["translation"] == {"spa": "Grabado en inglés."}  # text, though no recording


def test_splits_are_drawn_per_prompt_key_the_same_in_every_language_and_every_call(tmp_path: Path) -> None:
    keys = [f"prompt-{i}" for i in range(40)]
    extracted = {
        code: fake_packages(tmp_path / "src", code, [f"{key}: {code} text {key}" for key in keys], keys)
        for code in ("en", "es")
    }

    def splits(seed: int, name: str) -> dict[str, set[str]]:
        _, rows = build(tmp_path, extracted, seed=seed, name=name)
        by_key: dict[str, set[str]] = {}
        for row in rows:
            by_key.setdefault(row["id"].split("_", 1)[1], set()).add(row["split"])
        return by_key

    first, again, other = splits(0, "a.jsonl"), splits(0, "b.jsonl"), splits(1, "c.jsonl")
    assert all(len(found) == 1 for found in first.values())  # a key's rows share one split: no leak
    assert first == again
    assert first != other
    assert set.union(*first.values()) == {"train", "dev", "test"}


def test_a_manifest_whose_rows_are_unchanged_is_not_rewritten(tmp_path: Path) -> None:
    extracted = fake_corpus(tmp_path / "src")
    summary, rows = build(tmp_path, extracted)
    os.utime(summary.manifest, ns=(10**18, 10**18))  # the import's snapshot keys on size and mtime
    build(tmp_path, extracted)
    assert summary.manifest.stat().st_mtime_ns == 10**18
    _, reseeded = build(tmp_path, extracted, seed=3)
    assert reseeded != rows and summary.manifest.stat().st_mtime_ns != 10**18


def test_the_manifest_imports_through_the_jsonl_importer(tmp_path: Path) -> None:
    summary, rows = build(tmp_path, fake_corpus(tmp_path / "src"))
    scanned = scan_corpus("jsonl", summary.manifest)  # what `speechalign data import jsonl` checks
    seconds, undecodable = probe_durations(scanned, progress=False)
    assert len(seconds) == len(rows) and undecodable == [] and scanned.rejected == []
    imported, rejected = import_corpus(
        CorpusParams(kind="jsonl", source=str(summary.manifest)), 16000, tmp_path / "data", progress=False
    )
    assert rejected == []
    by_id = {utt.id: utt for utt in imported}
    assert by_id.keys() == {row["id"] for row in rows}
    assert {utt.sample_rate for utt in imported} == {16000}  # resampled from the packages' 8 kHz
    assert by_id["spa_digits-5"].translation == {"eng": "five", "fra": "cinq"}
    assert by_id["spa_digits-5"].speaker == "es_MX_f_Allison"


# --- fetching: apt replaced by scripts on PATH ----------------------------------------------------------


def script(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def fake_apt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, debs: dict[str, Path], show: str | None = None
) -> Path:
    """apt-cache that describes ``debs`` (package → file), or prints ``show``, and apt-get download that
    copies them, first on PATH; each apt-get call is logged to ``apt-get.log``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if show is None:
        show = "".join(
            f"Package: {name}\nVersion: {VERSION}\nArchitecture: all\n"
            f"SHA256: {hashlib.sha256(deb.read_bytes()).hexdigest()}\n\n"
            for name, deb in debs.items()
        )
    (tmp_path / "show.txt").write_text(show, encoding="utf-8")
    script(bin_dir, "apt-cache", f"cat {tmp_path / 'show.txt'}\n")
    copies = "".join(f"cp {deb} .\n" for deb in debs.values())
    script(bin_dir, "apt-get", f'echo "$@" >> {tmp_path / "apt-get.log"}\n{copies}')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return bin_dir


def test_fetch_error_names_the_package_and_says_to_update_when_apt_knows_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_apt(tmp_path, monkeypatch, {}, show="")
    with pytest.raises(FetchError) as info:
        download_debian_packages([f"asterisk-core-sounds-en={VERSION}"], tmp_path / "debs")
    message = str(info.value)
    assert "\n" not in message and message.startswith("asterisk-core-sounds-en: apt knows no such package")
    assert "`apt-get update`" in message and "unreachable" in message


def test_fetch_error_names_the_tool_when_apt_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing there
    with pytest.raises(
        FetchError, match=r"^asterisk-core-sounds-en: apt-cache not found; fetching Debian packages needs apt"
    ):
        download_debian_packages([f"asterisk-core-sounds-en={VERSION}"], tmp_path / "debs")


def test_fetch_error_when_apt_get_download_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deb = tmp_path / "x_1.6.1-1_all.deb"
    deb.write_bytes(b"not fetched")
    bin_dir = fake_apt(tmp_path, monkeypatch, {"x": deb})
    script(
        bin_dir,
        "apt-get",
        "echo 'E: Failed to fetch http://deb.debian.org/x  Could not resolve host' >&2\nexit 100\n",
    )
    with pytest.raises(FetchError) as info:
        download_debian_packages(["x"], tmp_path / "debs")
    assert str(info.value) == (
        "x=1.6.1-1: apt-get download failed (Failed to fetch http://deb.debian.org/x  Could not resolve"
        f" host); {NO_LISTS}"
    )
    assert "`apt-get update`" in NO_LISTS and "unreachable" in NO_LISTS
    assert not list((tmp_path / "debs").iterdir())  # no temporary folder left behind


def test_a_download_is_checked_against_apts_sha256_and_a_good_cached_file_is_not_fetched_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deb = tmp_path / "x_1.6.1-1_all.deb"
    deb.write_bytes(b"the package")
    fake_apt(tmp_path, monkeypatch, {"x": deb}, show=f"Package: x\nVersion: {VERSION}\nSHA256: {'0' * 64}\n")
    with pytest.raises(FetchError, match=r"^x 1.6.1-1: downloaded file has sha256 [0-9a-f]{64}, apt's lists"):
        download_debian_packages(["x"], tmp_path / "debs")
    assert not (tmp_path / "debs" / deb.name).exists()

    (tmp_path / "show.txt").write_text(
        f"Package: x\nVersion: 0.9\nSHA256: {'1' * 64}\n\n"
        f"Package: x\nVersion: {VERSION}\nSHA256: {hashlib.sha256(b'the package').hexdigest()}\n",
        encoding="utf-8",
    )
    assert download_debian_packages([f"x={VERSION}"], tmp_path / "debs") == [tmp_path / "debs" / deb.name]
    assert download_debian_packages([f"x={VERSION}"], tmp_path / "debs") == [tmp_path / "debs" / deb.name]
    assert (tmp_path / "apt-get.log").read_text().splitlines() == [f"download x={VERSION}"] * 2
    with pytest.raises(FetchError, match=r"^x: apt has version\(s\) 0.9, 1.6.1-1, not the pinned 2.0; "):
        download_debian_packages(["x=2.0"], tmp_path / "debs")


dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")


def make_deb(tree: Path, name: str, out: Path) -> Path:
    """A real .deb of the files under ``tree`` (dpkg-deb -b)."""
    control = tree / "DEBIAN" / "control"
    control.parent.mkdir(parents=True)
    control.write_text(
        f"Package: {name}\nVersion: {VERSION}\nArchitecture: all\nMaintainer: t <t@example.org>\n"
        "Description: test\n",
        encoding="utf-8",
    )
    deb = out / f"{name}_{VERSION}_all.deb"
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-b", str(tree), str(deb)], check=True, capture_output=True
    )
    shutil.rmtree(control.parent)
    return deb


@dpkg
def test_extract_deb_replaces_the_folder_whole_or_leaves_it(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "usr/share").mkdir(parents=True)
    (tree / "usr/share/a.txt").write_text("a", encoding="utf-8")
    deb = make_deb(tree, "x", tmp_path / "debs")
    dest = tmp_path / "unpacked" / "x"
    extract_deb(deb, dest)
    assert (dest / "usr/share/a.txt").read_text() == "a"
    broken = tmp_path / "broken.deb"
    broken.write_bytes(b"!<arch>\nnot a deb")
    with pytest.raises(FetchError, match=r"broken.deb: dpkg-deb -x failed \("):
        extract_deb(broken, dest)
    assert (dest / "usr/share/a.txt").read_text() == "a"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["x"]


@dpkg
def test_fetch_asterisk_downloads_unpacks_once_and_builds_the_manifest_in_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = fake_corpus(tmp_path / "src", ("en", "es"))
    debs = {
        name: make_deb(src[code] / name, name, tmp_path / "repo")
        for code in src
        for name in (f"asterisk-core-sounds-{code}", f"asterisk-core-sounds-{code}-wav")
    }
    fake_apt(tmp_path, monkeypatch, debs)
    cache = tmp_path / "cache"
    manifest = fetch_asterisk(["eng", "es"], cache).manifest
    assert manifest == cache / "corpora/asterisk/eng-spa/manifest.jsonl"
    rows = read_rows(manifest)
    assert {row["id"] for row in rows} >= {"eng_digits-5", "spa_digits-5"}
    assert all((manifest.parent / row["audio"]).is_file() for row in rows)
    assert all((cache / "debian" / deb.name).is_file() for deb in debs.values())
    assert fetch_asterisk(["en", "spa"], cache).manifest == manifest  # cached: apt-get is not called again
    assert len((tmp_path / "apt-get.log").read_text().splitlines()) == 1
    with pytest.raises(ValueError, match=r"no Asterisk core sounds in language 'de'"):
        fetch_asterisk(["de"], cache)


def test_keys_that_say_the_same_text_in_any_language_share_one_split_for_every_seed() -> None:
    speech = {
        "eng": {"pbx-invalid": "That is not valid.", "invalid": "that is  NOT valid.", "hello": "Hello."},
        "spa": {"invalid": "No es valido.", "other-invalid": "No es valido.", "hello": "Hola."},
    }
    for seed in range(40):
        splits = key_splits(speech, seed, dev_share=0.3, test_share=0.3)
        assert set(splits) == {"pbx-invalid", "invalid", "other-invalid", "hello"}
        # joined through English (case and spacing aside) and then Spanish
        assert splits["pbx-invalid"] == splits["invalid"] == splits["other-invalid"]
    assert len({key_splits(speech, seed, 0.3, 0.3)["hello"] for seed in range(40)}) == 3  # still drawn
