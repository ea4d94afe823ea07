"""The artifact directory: a program file plus `manifest.json`.

The manifest is the only contract between export and everything after it (validate, profile,
dashboard, the Android app). Artifact directories are written to a temporary sibling and renamed
into place, so an interrupted export never leaves a directory that looks finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edge_export.errors import EdgeExportError
from edge_export.interrupt import removed_if_stopped

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuantParams(_Strict):
    scale: float
    zero_point: int


class TensorSpec(_Strict):
    name: str
    shape: list[int]
    dtype: str
    layout: Literal["NCHW", "NHWC", "NC"] | None = None
    quantization: QuantParams | None = None


class Preprocessing(_Strict):
    """How to turn an RGB image into the model's input (applied before any layout change)."""

    image_size: int
    crop_pct: float = 0.9
    interpolation: Literal["bicubic", "bilinear", "nearest"] = "bicubic"
    mean: list[float] = Field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = Field(default_factory=lambda: [0.229, 0.224, 0.225])

    @property
    def resize_size(self) -> int:
        return int(round(self.image_size / self.crop_pct))


class SourceSpec(_Strict):
    """Enough to rebuild the PyTorch reference: validate compares against this exact model."""

    kind: Literal["config", "hf-folder", "original-pth", "timm-checkpoint", "module", "timm"]
    model_id: str
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    seed: int | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    attention_form: Literal["normalize", "softmax"] | None = None


class Delegation(_Strict):
    backend: str
    subgraphs: int
    delegated_nodes: int
    fallback_nodes: int
    fallback_ops: dict[str, int] = Field(default_factory=dict)
    delegated_ops: dict[str, int] = Field(default_factory=dict)


class Parity(_Strict):
    images: int
    image_source: str
    threads: int
    max_abs: float
    rel_l2: float
    cosine_min: float
    cosine_mean: float
    top1_agree: float
    top5_overlap: float
    reference: str
    cosine_threshold: float | None
    passed: bool
    measured_at: str


class ArmParity(Parity):
    """Parity measured on Arm kernels: LiteRT's aarch64 build under QEMU user-mode (edge_export/arm), same images,
    preprocessing and bar as `parity`. `passed` compares with the bar; an unreliable level (reliable False: the
    emulation of that level is in doubt, see `note`) is recorded but does not fail validation."""

    arch: Literal["arm64"] = "arm64"
    cpu: str  # the --cpu name (edge_export.arm.cpus)
    qemu_cpu: str  # QEMU's -cpu argument
    feature_level: str  # e.g. "armv8.2-dotprod-fp16"
    reliable: bool
    note: str = ""
    features: list[str]  # the hwcaps the guest saw (what XNNPACK dispatched on)
    kernels: str  # "xnnpack" (the default delegate took partitions) or "builtin"
    delegate_partitions: int
    versions: dict[str, str]  # qemu, python, ai-edge-litert, numpy of the guest
    # median invoke time per image under QEMU: emulated, relative cost only, never device latency
    emulated_invoke_ms: float
    # the same file on this host's x86 kernels vs the Arm run (validate.compare_logits(host, arm)): whether the Arm
    # kernels compute what the host's compute, apart from how both compare with PyTorch
    vs_host: dict[str, float] | None = None


class Manifest(_Strict):
    schema_version: int = SCHEMA_VERSION
    model_id: str
    source: SourceSpec
    target: str
    runtime: str  # a registered runtime (edge_export.runtimes); checked on read
    program_file: str
    file_sha256: str
    file_bytes: int
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    preprocessing: Preprocessing
    labels: list[str] | None = None
    num_classes: int
    params: int
    flops: int | None = None
    rewrites: list[str] = Field(default_factory=list)
    package_versions: dict[str, str]
    export_seconds: float
    created_at: str
    delegation: Delegation | None = None
    parity: Parity | None = None
    arm_parity: dict[str, ArmParity] = Field(default_factory=dict)  # by --cpu: `validate --arch arm64 --cpu CPU`
    etrecord_file: str | None = None
    target_options: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    # The model family (edge_export.models.family) and the naming scheme its profiles give modules in: the family's
    # canonical_module_path maps the export form's paths to it when rows are attributed (e.g. family "swiftformer-hf",
    # module_names "swiftformer-original": transformers' names mapped to the original's). None: an older export,
    # whose profiles keep the export form's own names.
    family: str | None = None
    module_names: str | None = None

    @field_validator("runtime")
    @classmethod
    def _known_runtime(cls, value: str) -> str:
        from edge_export.runtimes.registry import runtime_names

        known = runtime_names()
        if value not in known:
            raise ValueError(f"runtime {value!r} is not one this edge-export runs ({', '.join(known)})")
        return value


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(artifact_dir: Path) -> Manifest:
    artifact_dir = Path(artifact_dir)
    path = artifact_dir / MANIFEST_NAME
    if not artifact_dir.is_dir():
        raise EdgeExportError(f"artifact dir not found: {artifact_dir} (give a directory written by `edge-export export`)")
    if not path.is_file():
        raise EdgeExportError(f"no {MANIFEST_NAME} in {artifact_dir}: not an edge-export artifact (re-export it)")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EdgeExportError(f"{path} is not valid JSON ({e.msg if hasattr(e, 'msg') else e}): re-export the artifact") from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != SCHEMA_VERSION:
        raise EdgeExportError(
            f"{path} has schema_version {version!r}, this edge-export reads {SCHEMA_VERSION}: re-export with this version"
        )
    try:
        return Manifest.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise EdgeExportError(f"{path}: field {loc!r}: {first['msg']} (re-export the artifact)") from None


def program_path(artifact_dir: Path, manifest: Manifest) -> Path:
    return Path(artifact_dir) / manifest.program_file


def check_program_file(artifact_dir: Path, manifest: Manifest) -> Path:
    """The program file exists and is the one the manifest describes (size, sha256)."""
    path = program_path(artifact_dir, manifest)
    if not path.is_file():
        raise EdgeExportError(f"{path} is missing: the artifact is incomplete (re-export it)")
    size = path.stat().st_size
    if size != manifest.file_bytes or sha256_file(path) != manifest.file_sha256:
        raise EdgeExportError(
            f"{path} does not match its manifest (size {size} vs {manifest.file_bytes} bytes or sha256 differs): "
            "the file was truncated or replaced; re-export it"
        )
    return path


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once, at import (single-threaded): os.umask can only be read by setting it, which would race with
# threads creating files (profiles of several devices are written in parallel).
_UMASK = _read_umask()


def write_text_atomic(path: Path, text: str) -> None:
    """`text` to `path` through a temporary sibling renamed into place: a reader never sees half a file.
    The file gets the usual mode (0666 less the umask), not mkstemp's private 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        with removed_if_stopped(lambda: tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"),
                                lambda made: made[1]) as (fd, tmp):
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(tmp, 0o666 & ~_UMASK)
            os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise


def write_manifest(artifact_dir: Path, manifest: Manifest) -> None:
    write_text_atomic(Path(artifact_dir) / MANIFEST_NAME, manifest.model_dump_json(indent=2) + "\n")


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(Path(path), json.dumps(data, indent=2) + "\n")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_partials(parent: Path, name: str) -> list[Path]:
    """Remove staging dirs of artifact `name` left by a killed export (SIGKILL, power loss): their owner
    pid, in the dir name, no longer runs. A live export's staging dir is left alone."""
    own = re.compile(rf"^\.{re.escape(name)}\.pid(\d+)\.[^.]+\.partial$")
    legacy = re.compile(rf"^\.{re.escape(name)}\.[^.]+\.partial$")  # before the owner pid was in the name
    removed = []
    for d in Path(parent).glob(f".{name}.*.partial"):
        m = own.match(d.name)
        if (m and not _pid_alive(int(m.group(1)))) or (not m and legacy.match(d.name)):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def make_readable(tree: Path) -> None:
    """Directories 0777 and files 0666 less the umask (0755/0644 by default): staging dirs are made private
    (mkdtemp's 0700) and the mode would survive the rename."""
    for root, dirs, files in os.walk(tree):
        os.chmod(root, 0o777 & ~_UMASK)
        for f in files:
            p = os.path.join(root, f)
            executable = os.stat(p).st_mode & 0o111
            os.chmod(p, (0o777 if executable else 0o666) & ~_UMASK)


@contextlib.contextmanager
def staging_dir(final_dir: Path) -> Iterator[Path]:
    """Yield a temporary sibling of `final_dir`; on success it replaces `final_dir` atomically, readable by
    others as the umask allows.

    On any error the temporary directory is removed and an existing `final_dir` is left untouched. Staging
    dirs that killed exports of the same artifact left behind are removed first.
    """
    final_dir = Path(final_dir)
    parent = final_dir.parent
    with contextlib.ExitStack() as stack:
        try:
            parent.mkdir(parents=True, exist_ok=True)
            remove_stale_partials(parent, final_dir.name)
            tmp = stack.enter_context(removed_if_stopped(
                lambda: Path(tempfile.mkdtemp(dir=parent, prefix=f".{final_dir.name}.pid{os.getpid()}.", suffix=".partial"))))
        except OSError as e:
            raise EdgeExportError(f"cannot write to output dir {parent}: {e.strerror} (choose another --out)") from None
        try:
            yield tmp
            make_readable(tmp)
            if final_dir.exists():
                old = Path(tempfile.mkdtemp(dir=parent, prefix=f".{final_dir.name}.", suffix=".old"))
                os.replace(final_dir, old / "x")
                os.replace(tmp, final_dir)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, final_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
