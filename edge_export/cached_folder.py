"""Cached folders built beside their final place and renamed in (the QNN host SDK, the aarch64 runtime): a killed
build never leaves a folder that looks complete, and concurrent builds of one folder take turns."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path


def swap_into_place(tmp: Path, dest: Path) -> None:
    """Rename the finished `tmp` to `dest`, replacing what was there."""
    old = None
    if dest.exists() or dest.is_symlink():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        dest.rename(old)
    tmp.chmod(0o755)  # mkdtemp makes it 0700
    tmp.rename(dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


class locked:
    """An exclusive flock on `path` held for the with-block (serialises concurrent builds, e.g. two test workers)."""

    def __init__(self, path: Path):
        self.path = path
        self.fh = None

    def __enter__(self):
        self.fh = open(self.path, "a+")
        fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
        self.fh.close()
