"""The contract every target, runtime and model family keeps, parametrised over the registries.

For every registered target this machine can run: a tiny model exported (session fixtures reuse the
artifacts other tests make), validated in its runtime, profiled on the host, and shown in the dashboard.
A new target, runtime or model family gets these tests for free; the last tests prove it with throwaway
ones added as files and folders the way the README's recipes say (no registry edits elsewhere).
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

import edge_export.models
import edge_export.runtimes
import edge_export.targets
from edge_export.artifacts import read_manifest
from edge_export.discovery import import_submodules
from edge_export.errors import EdgeExportError
from edge_export.export import ExportRequest, export
from edge_export.models.family import family_names
from edge_export.profile.dispatch import profile_artifact
from edge_export.profile.schema import load_profile
from edge_export.runtimes import get_runtime, runtime_names
from edge_export.targets import get_target, list_targets
from edge_export.validate import validate_artifact

TINY = "swiftformer-test"
TINY_OPTS = {"layer_scale_init_value": 1.0}
TARGETS = [t.name for t in list_targets()]


def _fresh(target: str, out: Path, model: str = f"{TINY}-softmax", **request) -> Path:
    """A target without a shared fixture artifact: the softmax form, which every route converts."""
    (path,) = export(ExportRequest(model, [target], out, model_options=dict(TINY_OPTS), calib=8, validate_images=2,
                                   **request))
    return path


@pytest.fixture(scope="session")
def contract_artifacts(request, tmp_path_factory) -> dict[str, Path]:
    """target -> a tiny artifact, from the session fixtures when one has it, else exported here."""
    shared: dict[str, Path] = {}
    shared.update(request.getfixturevalue("tiny_artifacts"))
    shared.update(request.getfixturevalue("tflite"))
    shared["tf-tflite-fp32"] = request.getfixturevalue("tf_route")
    return shared


def _artifact_for(target: str, contract_artifacts, request, tmp_path_factory) -> Path:
    t = get_target(target)
    if t.runtime == "executorch-qnn":
        qnn = request.getfixturevalue("qnn_tiny")  # skips where the QNN host SDK cannot be provisioned
        return qnn[f"{target}-SM8650"]
    if target not in contract_artifacts:
        contract_artifacts[target] = _fresh(target, tmp_path_factory.mktemp(f"contract-{target}"))
    return contract_artifacts[target]


def _keeps_the_contract(art: Path, target: str, tmp_path: Path) -> None:
    m = read_manifest(art)
    t = get_target(target)
    assert m.target == target and m.runtime == t.runtime and m.runtime in runtime_names()
    assert (art / m.program_file).is_file() and m.delegation is not None and m.delegation.subgraphs >= 1
    parity = validate_artifact(art, images=2, write=False)
    assert parity.passed and parity.cosine_min >= t.cosine_threshold and parity.images == 2
    profile, path = profile_artifact(art, runs=2, warmup=1, out=tmp_path / "profile-host.json")
    assert path.is_file() and load_profile(path) == profile
    p = profile.provenance
    assert (p.runtime, p.target, p.model_id, p.artifact_sha256) == (m.runtime, target, m.model_id, m.file_sha256)
    assert len(profile.latency_ms) == 2 and profile.rows and profile.op_total_ms() > 0
    assert any(r.module_path for r in profile.rows), "no op attributed to a module"
    from edge_export.report.dashboard import build_dashboard

    page = tmp_path / "copy"
    shutil.copytree(art, page / art.name)
    shutil.copy(path, page / art.name / "profile-host.json")
    html = build_dashboard([page], tmp_path / "report.html").read_text()
    assert target in html and m.model_id in html


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_exports_validates_profiles_and_reports(target, contract_artifacts, request, tmp_path_factory,
                                                             tmp_path):
    _keeps_the_contract(_artifact_for(target, contract_artifacts, request, tmp_path_factory), target, tmp_path)


def test_registries_are_found_by_discovery():
    assert {"xnnpack-fp32", "xnnpack-int8", "tflite-fp32", "tflite-int8", "tflite-dynamic-int8", "tf-tflite-fp32",
            "qnn-fp16", "qnn-int8"} <= set(TARGETS)
    assert {"executorch", "litert", "executorch-qnn"} <= set(runtime_names())
    assert {"generic", "swiftformer-original", "swiftformer-hf"} <= set(family_names())
    for t in list_targets():  # every target names a runtime that is registered
        assert get_runtime(t.runtime).name == t.runtime


def test_a_manifest_naming_an_unknown_runtime_is_one_line(tiny_artifacts, tmp_path):
    art = shutil.copytree(tiny_artifacts["xnnpack-fp32"], tmp_path / "art")
    data = json.loads((art / "manifest.json").read_text())
    data["runtime"] = "no-such-runtime"
    (art / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(EdgeExportError, match="runtime 'no-such-runtime' is not one this edge-export runs"):
        read_manifest(art)


# ------------------------------------------------------------------- the README's recipes, proved

_TARGET_FILE = '''
from edge_export.targets.registry import register_target
from edge_export.targets.xnnpack import XnnpackFp32


@register_target
class ThrowawayFp32(XnnpackFp32):
    name = "throwaway-fp32"
    runtime = "{runtime}"
    description = "a target added as one file (tests/test_contract.py)"
'''

_RUNTIME_FOLDER = '''
from edge_export.runtimes.executorch import ExecuTorchRuntime
from edge_export.runtimes.registry import register_runtime


@register_runtime
class ThrowawayRuntime(ExecuTorchRuntime):
    """ExecuTorch under another name: a runtime added as one folder."""

    name = "throwaway-runtime"
'''

_FAMILY_FOLDER = '''
import torch
import torch.nn.functional as F
from torch import nn

from edge_export.artifacts import Preprocessing
from edge_export.models.family import ModelFamily, register_family
from edge_export.models.loaded import LoadedModel
from edge_export.models.registry import register_model, source_spec


class ToyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU())
        self.block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Conv2d(8, 16, 1), nn.GELU())
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        return self.head(self.block(self.stem(x)).mean((2, 3)))


class ExportToyNet(nn.Module):
    """The same function with the mean as avg_pool2d (what every backend delegates); names kept."""

    def __init__(self, src):
        super().__init__()
        self.stem, self.block, self.head = src.stem, src.block, src.head

    def forward(self, x):
        y = self.block(self.stem(x))
        return self.head(F.avg_pool2d(y, kernel_size=(int(y.shape[-2]), int(y.shape[-1]))).flatten(1))


@register_family
class ToyFamily(ModelFamily):
    name = "toynet"

    def rewrite(self, module, loaded):
        return ExportToyNet(module), ["toynet head pool as avg_pool2d"]


@register_model("toynet-test", description="a model family added as one folder (tests/test_contract.py)")
def load_toynet(request):
    torch.manual_seed(request.seed)
    pre = Preprocessing(image_size=32)
    return LoadedModel(ToyNet().eval(), "toynet", source_spec(request, "module"), pre, 5)
'''


@pytest.fixture
def throwaway(tmp_path, monkeypatch):
    """Adds files and folders to the target, runtime and model packages' search paths, the way a developer
    adds them to edge_export/targets/, runtimes/ and models/; everything they registered is removed after."""
    from edge_export.models import registry as model_registry
    from edge_export.models import family as family_registry
    from edge_export.runtimes import registry as runtime_registry
    from edge_export.targets import registry as target_registry

    before = (dict(target_registry._TARGETS), dict(runtime_registry._RUNTIMES), dict(model_registry._ENTRIES),
              dict(family_registry._FAMILIES))

    def add(package, name: str, text: str, folder: bool) -> None:
        where = tmp_path / package.__name__.replace(".", "_")
        where.mkdir(exist_ok=True)
        if where.as_posix() not in package.__path__:
            monkeypatch.setattr(package, "__path__", [*package.__path__, where.as_posix()])
        path = where / name / "__init__.py" if folder else where / f"{name}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(textwrap.dedent(text))
        import_submodules(package)

    yield add
    import sys

    for table, saved in zip((target_registry._TARGETS, runtime_registry._RUNTIMES, model_registry._ENTRIES,
                             family_registry._FAMILIES), before):
        table.clear()
        table.update(saved)
    for name in [n for n in sys.modules if n.split(".")[-1].startswith(("throwaway", "toynet"))]:
        del sys.modules[name]


def test_a_target_is_one_file(throwaway, tmp_path):
    throwaway(edge_export.targets, "throwaway_target", _TARGET_FILE.format(runtime="executorch"), folder=False)
    art = _fresh("throwaway-fp32", tmp_path / "out", model=TINY)
    _keeps_the_contract(art, "throwaway-fp32", tmp_path)


def test_a_runtime_is_one_folder(throwaway, tmp_path):
    throwaway(edge_export.runtimes, "throwaway_runtime", _RUNTIME_FOLDER, folder=True)
    throwaway(edge_export.targets, "throwaway_target", _TARGET_FILE.format(runtime="throwaway-runtime"), folder=False)
    assert "throwaway-runtime" in runtime_names()
    art = _fresh("throwaway-fp32", tmp_path / "out", model=TINY)
    assert read_manifest(art).runtime == "throwaway-runtime"
    _keeps_the_contract(art, "throwaway-fp32", tmp_path)


def test_a_model_family_is_one_folder(throwaway, tmp_path):
    throwaway(edge_export.models, "toynet", _FAMILY_FOLDER, folder=True)
    assert "toynet" in family_names()
    art = _fresh("xnnpack-fp32", tmp_path / "out", model="toynet-test")
    m = read_manifest(art)
    assert m.rewrites == ["toynet head pool as avg_pool2d"] and m.delegation.fallback_nodes == 0
    _keeps_the_contract(art, "xnnpack-fp32", tmp_path)
