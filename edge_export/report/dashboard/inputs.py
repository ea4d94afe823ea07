"""What the dashboard reads: artifact directories (manifest.json and the profiles beside it), loose
profile JSON files and benchmark-suite results, numbered P1.. and A1.. so every number can cite its source."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from edge_export.artifacts import MANIFEST_NAME, Manifest, read_manifest
from edge_export.errors import EdgeExportError
from edge_export.evaluate.results import Evaluation, read_evaluation
from edge_export.profile.schema import Profile, ProfileError, load_profile
from edge_export.report.dashboard.bench import BENCH_NAME, BENCH_SCHEMA
from edge_export.report.dashboard.coverage import COVERAGE_NAME, COVERAGE_SCHEMA

EAGER_RUNTIMES = ("pytorch-eager",)


@dataclass
class ArtifactEntry:
    dir: Path
    manifest: Manifest
    aid: str = ""
    evaluation: Evaluation | None = None  # eval.json beside the manifest (`edge-export evaluate`)


@dataclass
class ProfileEntry:
    path: Path
    profile: Profile
    artifact: ArtifactEntry | None = None
    pid: str = ""
    label: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def prov(self):
        return self.profile.provenance

    @property
    def simulated(self) -> bool:
        return bool(self.profile.provenance.simulator)

    @property
    def is_eager(self) -> bool:
        p = self.profile.provenance
        return p.runtime in EAGER_RUNTIMES or p.target == "eager"


def _one_line(msg: str) -> str:
    return " ".join(str(msg).split())


def _load(path: Path) -> Profile:
    try:
        return load_profile(path)
    except ProfileError as e:
        raise EdgeExportError(_one_line(f"{e} (re-collect it with this edge-export's `profile`)")) from None


def _json_object(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _looks_like_profile(path: Path) -> bool:
    data = _json_object(path)
    return data is not None and ("provenance" in data or "latency_ms" in data)


def run_summary(path: Path) -> dict | None:
    """The content of a run summary (bench.json from `make bench`, coverage.json from `coverage`), read once;
    None when the file is not one."""
    data = _json_object(path)
    return data if data is not None and data.get("schema") in (BENCH_SCHEMA, COVERAGE_SCHEMA) else None


def _run_summaries_in(d: Path) -> list[tuple[Path, dict]]:
    """Run summaries where the suites write them in folder d: d/bench/bench.json, d/coverage/coverage.json,
    or directly in d."""
    out = []
    for sub, name in (("bench", BENCH_NAME), ("coverage", COVERAGE_NAME)):
        for p in (d / sub / name, d / name):
            data = run_summary(p) if p.is_file() else None
            if data is not None:
                out.append((p, data))
    return out


class _Collector:
    def __init__(self) -> None:
        self.artifacts: dict[Path, ArtifactEntry] = {}
        self.profiles: dict[Path, ProfileEntry] = {}
        self.benches: dict[Path, dict] = {}  # run summaries: bench.json (make bench), coverage.json

    def add_bench(self, path: Path, content: dict) -> None:
        self.benches.setdefault(path.resolve(), (path, content))

    def add_profile(self, path: Path, artifact: ArtifactEntry | None) -> ProfileEntry:
        key = path.resolve()
        if key in self.profiles:
            e = self.profiles[key]
            if e.artifact is None:
                e.artifact = artifact
            return e
        e = self.profiles[key] = ProfileEntry(path=path, profile=_load(path), artifact=artifact)
        return e

    def add_artifact(self, d: Path) -> ArtifactEntry:
        key = d.resolve()
        if key not in self.artifacts:
            self.artifacts[key] = ArtifactEntry(dir=d, manifest=read_manifest(d), evaluation=read_evaluation(d))
        art = self.artifacts[key]
        for p in _profile_files(d):
            self.add_profile(p, art)
        return art

    def add_input(self, path: Path) -> None:
        path = Path(path)
        if not path.exists():
            raise EdgeExportError(f"{path} does not exist: give profile JSON files or artifact directories")
        if path.is_file():
            summary = None if path.name == MANIFEST_NAME else run_summary(path)
            if path.name == MANIFEST_NAME:
                self.add_artifact(path.parent)
            elif summary is not None:
                self.add_bench(path, summary)
            else:
                self.add_profile(path, None)
            return
        if (path / MANIFEST_NAME).is_file():
            self.add_artifact(path)
            return
        # a directory of artifact directories (and/or loose profiles, benchmark results)
        for p, summary in _run_summaries_in(path):
            self.add_bench(p, summary)
        for sub in sorted(path.iterdir()):
            if sub.name.startswith("."):
                continue
            if sub.is_dir() and (sub / MANIFEST_NAME).is_file():
                self.add_artifact(sub)
        for p in _profile_files(path):
            self.add_profile(p, None)


def _profile_files(d: Path) -> list[Path]:
    out = []
    for folder in (d, d / "profiles"):
        if folder.is_dir():
            for p in sorted(folder.glob("*.json")):
                if p.name != MANIFEST_NAME and not p.name.startswith(".") and _looks_like_profile(p):
                    out.append(p)
    return out


def collect(inputs: Sequence[Path], eager_profile: Path | Profile | None = None):
    """(artifacts, profiles, eager, benches) from the inputs; raises EdgeExportError on unusable input.
    benches: [(path, content)] of run summaries found among the inputs (bench.json, coverage.json)."""
    if not inputs:
        raise EdgeExportError("no inputs: give profile JSON files and/or artifact directories")
    c = _Collector()
    for p in inputs:
        c.add_input(Path(p))
    eager: ProfileEntry | None = None
    if eager_profile is not None:
        if isinstance(eager_profile, Profile):
            eager = ProfileEntry(path=Path("<eager>"), profile=eager_profile)
            c.profiles[Path(f"<eager-{id(eager_profile)}>")] = eager
        else:
            eager = c.add_profile(Path(eager_profile), None)
    artifacts = list(c.artifacts.values())
    profiles = list(c.profiles.values())
    benches = list(c.benches.values())
    if not artifacts and not profiles and not benches:
        names = ", ".join(str(p) for p in inputs)
        raise EdgeExportError(
            f"no profiles or artifact manifests found in {names}: give profile JSON files or directories written by `edge-export export`"
        )
    # associate loose profiles with an artifact by program hash; flag stale ones
    by_sha = {a.manifest.file_sha256: a for a in artifacts}
    for e in profiles:
        if e.is_eager:
            e.artifact = None  # an eager run measures the PyTorch model, not the program beside it
        elif e.artifact is None:
            e.artifact = by_sha.get(e.prov.artifact_sha256)
        if e.artifact is not None and e.prov.artifact_sha256 != e.artifact.manifest.file_sha256:
            e.warnings.append(
                f"profiled program sha256 {e.prov.artifact_sha256[:12]}… is not this artifact's "
                f"{e.artifact.manifest.file_sha256[:12]}…: the profile is stale (re-profile the artifact)"
            )
        if not e.profile.complete:
            e.warnings.append("collection stopped early (complete=false): fewer runs than asked")
    # order: by model, eager first, then artifacts in input order
    art_order = {id(a): i for i, a in enumerate(artifacts)}
    profiles.sort(key=lambda e: (e.prov.model_id, not e.is_eager, art_order.get(id(e.artifact), len(artifacts))))
    for i, a in enumerate(artifacts, 1):
        a.aid = f"A{i}"
    for i, e in enumerate(profiles, 1):
        e.pid = f"P{i}"
    _label(profiles)
    return artifacts, profiles, eager, benches


def _where_short(prov) -> str:
    d = prov.device
    if prov.where == "host":
        return "host"
    name = d.get("model") or d.get("soc") or prov.where
    return name


def _label(profiles: list[ProfileEntry]) -> None:
    models = {e.prov.model_id for e in profiles}
    base = {}
    for e in profiles:
        b = f"{e.prov.target} @ {_where_short(e.prov)}"
        if len(models) > 1:
            b = f"{e.prov.model_id}: {b}"
        base[e.pid] = b
    counts: dict[str, int] = {}
    for b in base.values():
        counts[b] = counts.get(b, 0) + 1
    for e in profiles:
        b = base[e.pid]
        if counts[b] > 1:
            b += f" ×{e.prov.threads}t"
        e.label = f"{b} [{e.pid}]" + (" ⚠SIM" if e.simulated else "")


def eager_baseline(e: ProfileEntry, profiles: list[ProfileEntry], explicit: ProfileEntry | None):
    """(baseline entry or None, reason when None). Ratios only compare runs at the same place."""
    if e.is_eager:
        return None, "is the eager baseline"
    if e.simulated:
        return None, "simulator time: no ratio"
    cands = [explicit] if explicit is not None else [p for p in profiles if p.is_eager and p.prov.model_id == e.prov.model_id]
    if not cands:
        return None, "no eager profile given"
    same_place = [p for p in cands if p.prov.where == e.prov.where]
    if not same_place:
        return None, f"eager ran on {cands[0].prov.where}, this on {e.prov.where}"
    same_threads = [p for p in same_place if p.prov.threads == e.prov.threads]
    return (same_threads or same_place)[0], ""
