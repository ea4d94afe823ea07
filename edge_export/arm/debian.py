"""Debian packages for the Arm runtime, fetched with apt-get from a private apt state (no root, no change to the
machine: no `dpkg --add-architecture`, no system `apt-get update`).

apt-get keeps its package lists, cache and (empty) dpkg status in a folder we own. Two such states:
- the machine's own sources (Debian bookworm) with arm64 added to the architectures: the guest's sysroot;
- one Debian suite alone (QEMU_SUITE, trixie) from a private sources file, host architecture only: the emulator
  (trixie's qemu-user, whose /usr/bin/qemu-aarch64 is a static-pie binary that runs on bookworm). Its sources
  never mix with bookworm's, so the sysroot's closure cannot pick a trixie library.
`apt-get download` + `dpkg-deb -x` then unpack packages into a folder without installing them.
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
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")  # debian-archive-keyring: bookworm's has trixie's key
DEFAULT_MIRROR = "http://deb.debian.org/debian/"


class Apt:
    """apt-get/apt-cache on a private state folder `state`: the machine's sources with arm64 (and the host's
    architecture) enabled, or, with `sources` (lines of a sources.list), only those and the host's architecture."""

    def __init__(self, state: Path, sources: list[str] | None = None):
        for tool in ("apt-get", "apt-cache", "dpkg-deb", "dpkg"):
            if shutil.which(tool) is None:
                raise EdgeExportError(f"`{tool}` not found: the Arm runtime is built from Debian packages, "
                                      f"run `edge-export arm setup` on a Debian (bookworm) machine")
        self.state = state
        for d in ("lists/partial", "cache/archives/partial"):
            (state / d).mkdir(parents=True, exist_ok=True)
        (state / "status").touch()
        self.host = _out(["dpkg", "--print-architecture"]).strip()
        self.arches = [self.host] if sources is not None else [self.host, GUEST_ARCH]
        self.opts = [
            "-o", f"Dir::State::Lists={state / 'lists'}", "-o", f"Dir::State::status={state / 'status'}",
            "-o", f"Dir::Cache={state / 'cache'}", "-o", f"APT::Architecture={self.host}",
            *[a for arch in self.arches for a in ("-o", f"APT::Architectures::={arch}")],
            "-o", "Acquire::Languages=none",  # no Translation files: descriptions are not read
            "-o", "Debug::NoLocking=1",  # our own state folder: the system's apt lock is not ours to take
            "-o", "APT::Sandbox::User=root" if _is_root() else "APT::Sandbox::User=",  # no _apt user in our dirs
            "-q",
        ]
        self.sources = sources
        if sources is not None:  # only these sources: a private sources.list and an empty sources.list.d
            (state / "sources.list.d").mkdir(exist_ok=True)
            (state / "sources.list").write_text("".join(f"{line}\n" for line in sources))
            self.opts[:0] = ["-o", f"Dir::Etc::SourceList={state / 'sources.list'}",
                             "-o", f"Dir::Etc::SourceParts={state / 'sources.list.d'}"]

    def update(self) -> None:
        proc = self._run(["apt-get", *self.opts, "update"])
        arch = self.arches[-1]
        if proc.returncode != 0 or not any((self.state / "lists").glob(f"*binary-{arch}_Packages*")):
            what = f"{' '.join(self.sources)}" if self.sources is not None else f"this machine's sources, +{arch}"
            hint = (f"the archive key is missing: install Debian's debian-archive-keyring (2023.3 or newer)"
                    if "NO_PUBKEY" in proc.stdout or "not signed" in proc.stdout else "check access to the Debian archive")
            raise EdgeExportError(f"apt-get update (private state: {what}) failed: {_last(proc)}: {hint}")

    def debian_mirror(self) -> str:
        """The URI this machine fetches Debian's main suite from (after update), e.g. http://deb.debian.org/debian/:
        another suite is fetched from the same mirror (and proxy settings)."""
        out = _out(["apt-get", *self.opts, "indextargets", "--format", "$(REPO_URI) $(RELEASE) $(COMPONENT)"])
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[2] == "main" and "-" not in parts[1] and "security" not in parts[0]:
                return parts[0]
        return DEFAULT_MIRROR

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


def suite_sources(mirror: str, suite: str) -> list[str]:
    """One sources.list line for `suite`'s main component, signed by Debian's archive keyring when it is there
    (otherwise apt's trusted.gpg.d, which Debian's keyring package also fills)."""
    signed = f"[signed-by={KEYRING}] " if KEYRING.is_file() else ""
    return [f"deb {signed}{mirror} {suite} main"]


def extract(deb: Path, into: Path, members: tuple[str, ...] = ()) -> None:
    """Unpack a .deb's files into `into` (only `members`, e.g. './usr/bin/qemu-aarch64', when given)."""
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
