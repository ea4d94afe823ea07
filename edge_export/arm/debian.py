"""Debian packages for the Arm runtime, fetched with apt-get from a private apt state (no root, no change to the
machine: no `dpkg --add-architecture`, no system `apt-get update`).

apt-get reads this machine's sources but keeps its package lists, cache and (empty) dpkg status in a folder we
own, with arm64 added to the architectures it fetches. `apt-get download` + `dpkg-deb -x` then unpack packages into
a folder without installing them: the arm64 ones form the guest's sysroot, the amd64 qemu-user-static gives the
emulator binary.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from edge_export.errors import EdgeExportError

# The guest needs Debian's python3.11 (and what it links) plus libstdc++6: ai-edge-litert's C++ extensions link
# libstdc++.so.6; everything else the wheels NEED (libc, libm, libgcc_s, libz) comes with python3.11's closure.
SYSROOT_ROOTS = ("python3.11", "libstdc++6")
GUEST_ARCH = "arm64"


class Apt:
    """apt-get/apt-cache on a private state folder `state` with arm64 (and the host's architecture) enabled."""

    def __init__(self, state: Path):
        for tool in ("apt-get", "apt-cache", "dpkg-deb", "dpkg"):
            if shutil.which(tool) is None:
                raise EdgeExportError(f"`{tool}` not found: the Arm runtime is built from Debian packages, "
                                      f"run `edge-export arm setup` on a Debian (bookworm) machine")
        self.state = state
        for d in ("lists/partial", "cache/archives/partial"):
            (state / d).mkdir(parents=True, exist_ok=True)
        (state / "status").touch()
        host = _out(["dpkg", "--print-architecture"]).strip()
        self.opts = [
            "-o", f"Dir::State::Lists={state / 'lists'}", "-o", f"Dir::State::status={state / 'status'}",
            "-o", f"Dir::Cache={state / 'cache'}", "-o", f"APT::Architecture={host}",
            "-o", f"APT::Architectures::={host}", "-o", f"APT::Architectures::={GUEST_ARCH}",
            "-o", "Debug::NoLocking=1",  # our own state folder: the system's apt lock is not ours to take
            "-o", "APT::Sandbox::User=root" if _is_root() else "APT::Sandbox::User=",  # no _apt user in our dirs
            "-q",
        ]

    def update(self) -> None:
        proc = self._run(["apt-get", *self.opts, "update"])
        if proc.returncode != 0 or not any((self.state / "lists").glob(f"*binary-{GUEST_ARCH}_Packages*")):
            raise EdgeExportError(f"apt-get update (private state, +{GUEST_ARCH}) failed: {_last(proc)}: "
                                  f"check access to the Debian archive")

    def show(self, names: list[str]) -> dict[str, dict[str, str]]:
        """Candidate stanzas of 'pkg[:arch]' names, keyed by 'pkg:arch' as apt reports it. apt-cache skips names it
        does not know (and 'pkg:arm64' of an Architecture: all package) without failing."""
        if not names:
            return {}
        proc = self._run(["apt-cache", *self.opts, "show", "--no-all-versions", *names])
        found = {}
        for block in proc.stdout.split("\n\n"):
            st = _stanza(block)
            if "Package" in st:
                found[f"{st['Package']}:{st.get('Architecture', '')}"] = st
        return found

    def closure(self, roots: tuple[str, ...], arch: str = GUEST_ARCH) -> dict[str, str]:
        """{package: version} of `roots` and what they Depend/Pre-Depend on, for `arch` (breadth first, one
        apt-cache call per level).

        Architecture: all and Multi-Arch: foreign packages are not followed: they are data files and tools
        (media-types, readline-common, dpkg, tar, perl-base) that the host's copies satisfy on a real system;
        none of them is a library the arm64 binaries load.
        """
        chosen: dict[str, str] = {}  # package -> version ('' = satisfied without unpacking)
        level = [[r] for r in roots]  # each entry: the alternatives of one dependency clause
        while level:
            names = sorted({alt for clause in level for alt in clause} - set(chosen))
            known = self.show([f"{n}:{arch}" for n in names])
            known.update({f"{n}:{arch}": st for n, st in self._arch_all(names, known, arch).items()})
            nxt: list[list[str]] = []
            for clause in level:
                if any(alt in chosen for alt in clause):
                    continue
                hit = next((alt for alt in clause if f"{alt}:{arch}" in known), None)
                if hit is None:
                    raise EdgeExportError(f"Debian package {clause[0]}:{arch} not found in this machine's apt sources: "
                                          f"the Arm runtime needs Debian bookworm's {arch} packages")
                st = known[f"{hit}:{arch}"]
                if st.get("Architecture") == "all" or st.get("Multi-Arch") == "foreign":
                    chosen[hit] = ""
                    continue
                chosen[hit] = st["Version"]
                for field in ("Pre-Depends", "Depends"):
                    nxt.extend(_clauses(st.get(field, "")))
            level = nxt
        return {p: v for p, v in sorted(chosen.items()) if v}

    def _arch_all(self, names: list[str], known: dict, arch: str) -> dict[str, dict[str, str]]:
        """Stanzas of the `names` apt knows only as Architecture: all (not found as 'name:arch')."""
        missing = [n for n in names if f"{n}:{arch}" not in known]
        return {k.split(":")[0]: st for k, st in self.show(missing).items() if st.get("Architecture") == "all"}

    def version(self, name: str) -> str:
        st = next(iter(self.show([name]).values()), None)
        if st is None:
            raise EdgeExportError(f"Debian package {name} not found in this machine's apt sources: check them")
        return st["Version"]

    def download(self, specs: list[str], into: Path) -> list[Path]:
        """`apt-get download` of 'pkg:arch=version' specs into `into`; returns the .deb files."""
        into.mkdir(parents=True, exist_ok=True)
        proc = self._run(["apt-get", *self.opts, "download", *specs], cwd=into)
        debs = sorted(into.glob("*.deb"))
        if proc.returncode != 0 or len(debs) < len(specs):
            raise EdgeExportError(f"apt-get download failed: {_last(proc)}: check access to the Debian archive")
        return debs

    def _run(self, cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace")


def extract(deb: Path, into: Path, members: tuple[str, ...] = ()) -> None:
    """Unpack a .deb's files into `into` (only `members`, e.g. './usr/bin/qemu-aarch64-static', when given)."""
    into.mkdir(parents=True, exist_ok=True)
    if not members:
        proc = subprocess.run(["dpkg-deb", "-x", str(deb), str(into)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace")
    else:  # dpkg-deb has no member filter: pipe its tar stream through tar
        cmd = f"dpkg-deb --fsys-tarfile \"$0\" | tar -x -C \"$1\" {' '.join(repr(m) for m in members)}"
        proc = subprocess.run(["sh", "-c", cmd, str(deb), str(into)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace")
    if proc.returncode != 0:
        raise EdgeExportError(f"unpacking {deb.name} failed: {_last(proc)}: delete it and run `edge-export arm setup`")


def _stanza(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.split("\n\n")[0].splitlines():
        m = re.match(r"^([A-Za-z-]+):\s?(.*)$", line)
        if m:
            out[m[1]] = m[2]
    return out


def _clauses(field: str) -> list[list[str]]:
    """'a (>= 1) | b, c:any' -> [['a', 'b'], ['c']]"""
    return [[re.split(r"[\s:(\[]", alt.strip(), maxsplit=1)[0] for alt in clause.split("|")]
            for clause in field.split(",") if clause.strip()]


def _out(cmd: list[str]) -> str:
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout


def _last(proc: subprocess.CompletedProcess) -> str:
    lines = [ln.strip() for ln in (proc.stdout or "").splitlines() if ln.strip()]
    errs = [ln for ln in lines if ln.startswith(("E:", "error"))]
    return ((errs or lines or ["no output"])[-1])[:200]


def _is_root() -> bool:
    import os

    return os.geteuid() == 0
