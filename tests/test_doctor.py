"""`edge-export doctor`: the real console script, its facts checked against sources the test reads itself
(/proc/cpuinfo, importlib.metadata, the Makefile, the target registry, PATH)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
EXE = Path(sys.executable).parent / "edge-export"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The doctor runs, started together (each spends a second or two importing the runtimes): JSON, table, and
    JSON with QNN_SDK_ROOT at an empty folder, for every default target and for one CPU target, and a misspelt
    target."""
    empty = tmp_path_factory.mktemp("empty-qnn-sdk")
    base = {**os.environ, "COLUMNS": "200"}
    specs = {
        "json": (["doctor", "--json"], base),
        "table": (["doctor"], base),
        "no_qnn": (["doctor", "--json"], {**base, "QNN_SDK_ROOT": str(empty)}),
        "cpu_only": (["doctor", "--json", "-t", "xnnpack-fp32"], {**base, "QNN_SDK_ROOT": str(empty)}),
        "misspelt": (["doctor", "-t", "xnnpack-fp33"], base),
    }
    procs = {k: subprocess.Popen([str(EXE), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for k, (args, env) in specs.items()}
    out = {}
    for k, p in procs.items():
        stdout, stderr = p.communicate(timeout=120)
        out[k] = (p.returncode, stdout, stderr)
    out["empty"] = empty
    return out


def _facts(run) -> dict:
    code, stdout, stderr = run
    return json.loads(stdout)


def _cpuinfo() -> tuple[str, set[str], int]:
    text = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.*)$", text, re.M).group(1).strip()
    flags = set(re.search(r"^flags\s*:\s*(.*)$", text, re.M).group(1).split())
    return model, flags, len(re.findall(r"^processor\s*:", text, re.M))


def _make_run_targets() -> set[str]:
    """What `make run` exports: TARGETS ?= ..., and every literal `--target NAME` in its recipes."""
    makefile = (ROOT / "Makefile").read_text()
    listed = re.search(r"^TARGETS \?= (.*)$", makefile, re.M).group(1).split()
    return set(listed) | set(re.findall(r"--target ([a-z][\w-]+)", makefile))


def test_ready_here_and_every_target_listed(runs):
    from edge_export.targets import list_targets

    code, stdout, stderr = runs["json"]
    assert code == 0, stderr
    facts = json.loads(stdout)
    assert facts["ok"] is True and facts["missing"] == []
    by_name = {t["name"]: t for t in facts["targets"]}
    assert set(by_name) == {t.name for t in list_targets()}
    for t in by_name.values():
        for what in ("export", "run"):
            assert isinstance(t[f"can_{what}"], bool)
            reason = t[f"{what}_reason"]
            assert (reason is None) if t[f"can_{what}"] else (isinstance(reason, str) and reason), t
    assert {n for n, t in by_name.items() if t["required"]} == _make_run_targets() == set(facts["required"])
    for name in facts["required"]:
        assert by_name[name]["can_export"] and by_name[name]["can_run"], by_name[name]


def test_cpu_agrees_with_proc_cpuinfo(runs):
    cpu = _facts(runs["json"])["cpu"]
    model, flags, processors = _cpuinfo()
    assert cpu["model"] == model
    assert cpu["logical_cpus"] == processors
    assert cpu["usable_cpus"] == len(os.sched_getaffinity(0))
    isa = {f["flag"]: f for f in cpu["isa"]}
    assert {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile"} <= set(isa)
    for flag, entry in isa.items():
        assert entry["present"] == (flag in flags), flag
        assert entry["why"]


def test_versions_are_importlib_metadatas(runs):
    versions = _facts(runs["json"])["versions"]
    assert {"torch", "executorch", "torchao", "litert-torch", "ai-edge-litert", "ai-edge-quantizer", "transformers",
            "tensorflow"} <= set(versions)
    for dist, version in versions.items():
        try:
            expected = metadata.version(dist)
        except metadata.PackageNotFoundError:
            expected = None
        assert version == expected, dist


def test_tools_found_as_the_test_suite_finds_them(runs):
    sys.path.insert(0, str(Path(__file__).parent))
    from browser import find_chromium

    tools = {t["name"]: t for t in _facts(runs["json"])["tools"]}
    assert tools["chromium"]["ok"] == (find_chromium() is not None)
    assert tools["chromium"]["path"] == find_chromium()
    assert tools["jdk"]["ok"] == (shutil.which("javac") is not None and shutil.which("java") is not None)
    junit = Path(os.environ.get("JUNIT_CONSOLE") or "/usr/share/java/junit-platform-console-standalone.jar")
    assert tools["junit5"]["ok"] == junit.is_file()
    for t in tools.values():
        assert t["ok"] or t["reason"], t


def test_table_names_every_target(runs):
    code, stdout, stderr = runs["table"]
    assert code == 0, stderr
    facts = _facts(runs["json"])
    for t in facts["targets"]:
        assert t["name"] in stdout
    assert facts["cpu"]["model"] in stdout
    assert "AVX-512 VNNI" in stdout and "ready:" in stdout


def test_empty_qnn_sdk_root_is_reported_with_the_fix(runs):
    code, stdout, stderr = runs["no_qnn"]
    assert code == 1, stderr
    facts = json.loads(stdout)
    empty = str(runs["empty"])
    by_name = {t["name"]: t for t in facts["targets"]}
    for name in ("qnn-fp16", "qnn-int8"):
        t = by_name[name]
        assert t["can_export"] is False and t["can_run"] is False
        for reason in (t["export_reason"], t["run_reason"]):
            assert "QNN_SDK_ROOT" in reason and empty in reason and "qnn-sdk setup" in reason
    assert facts["missing"] == [f"qnn-fp16 cannot export: {by_name['qnn-fp16']['export_reason']}"]
    assert "not ready" in stderr and "qnn-fp16" in stderr
    assert all(t["can_export"] and t["can_run"] for n, t in by_name.items() if not n.startswith("qnn-"))


def test_only_the_asked_targets_decide_the_exit_code(runs):
    code, stdout, stderr = runs["cpu_only"]
    facts = json.loads(stdout)
    assert code == 0 and facts["ok"] and facts["required"] == ["xnnpack-fp32"], stderr
    assert [t["name"] for t in facts["targets"] if t["required"]] == ["xnnpack-fp32"]
    assert not any(t["can_export"] for t in facts["targets"] if t["name"].startswith("qnn-"))  # still reported

    code, stdout, stderr = runs["misspelt"]
    assert code == 2 and "unknown target 'xnnpack-fp33'" in stderr and stdout == ""
