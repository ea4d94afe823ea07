"""Device profiling over adb (edge_export.devices.adb, edge_export.runtimes.executorch.adb_collector / adb_tflite,
edge_export.profile.dispatch for adb / adb:SERIAL / adb:all, edge_export.devices.android_app) against the stand-in adb in
tests/fake_adb.

NO REAL PHONE IS EXERCISED HERE. The stand-in speaks adb's real command line over a temp directory; what
its "device binaries" return is made on this host by the real runtimes: executor_runner runs the .pte
through executorch.runtime and writes the real ETDump; benchmark_model runs the .tflite through LiteRT's
profiler (libLiteRt of the ai-edge-litert wheel) and writes the CSV with a port of TensorFlow's formatter
from those real events; the app's benchmark mode is the app's own Java core (BenchmarkSession with its
stand-in engine and clock). The artifacts are swiftformer-test exported once per session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edge_export.errors import EdgeExportError
from edge_export.devices import adb as adbmod
from edge_export.devices.adb import (
    NO_DEVICE_MSG,
    NOT_FOUND_MSG,
    Adb,
    AdbCommandFailed,
    AdbNotFound,
    DeviceDisconnected,
    DeviceUnavailable,
    NoDevice,
    parse_devices,
)
from edge_export.profile.dispatch import profile_artifact, profile_devices
from edge_export.profile.schema import load_profile

HERE = Path(__file__).resolve().parent
FAKE = HERE / "fake_adb"
FAKE_ADB = FAKE / "adb"
ROOT = HERE.parent
TINY_OPTS = {"layer_scale_init_value": 1.0}

PIXEL = {"ro.product.model": "Pixel 8", "ro.product.manufacturer": "Google", "ro.soc.manufacturer": "Google",
         "ro.soc.model": "Tensor G3", "ro.board.platform": "zuma", "ro.build.version.release": "14",
         "ro.build.version.sdk": "34", "ro.product.cpu.abi": "arm64-v8a"}
GALAXY = {"ro.product.model": "SM-S911B", "ro.product.manufacturer": "samsung", "ro.board.platform": "kalama",
          "ro.build.version.release": "13", "ro.build.version.sdk": "33", "ro.product.cpu.abi": "arm64-v8a"}


# ------------------------------------------------------------------------------------------ fixtures


class FakeAdb:
    def __init__(self, root: Path):
        self.root = root

    def devices(self, *devices: dict) -> None:
        (self.root / "devices.json").write_text(json.dumps({"devices": list(devices)}, indent=2))

    def device_path(self, serial: str, device_path: str) -> Path:
        return self.root / serial / device_path.lstrip("/")

    def adb(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(FAKE_ADB), *args], capture_output=True, text=True, timeout=120)


def dev(serial: str, props: dict | None = None, **kw) -> dict:
    return {"serial": serial, "state": "device", "props": dict(props or PIXEL), "attrs": {"usb": "1-1"}, **kw}


@pytest.fixture
def fake(tmp_path, monkeypatch) -> FakeAdb:
    root = tmp_path / "fake-adb"
    root.mkdir()
    monkeypatch.setenv("FAKE_ADB_ROOT", str(root))
    monkeypatch.setenv("FAKE_ADB_PYTHON", sys.executable)
    monkeypatch.setenv("ADB", str(FAKE_ADB))
    monkeypatch.setenv("EDGE_EXPORT_EXECUTOR_RUNNER", str(FAKE / "executor_runner"))
    monkeypatch.setenv("EDGE_EXPORT_BENCHMARK_MODEL", str(FAKE / "benchmark_model"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    f = FakeAdb(root)
    f.devices(dev("FAKE01"))
    return f


def _export(target: str, out: Path) -> Path:
    from edge_export.export import ExportRequest, export

    (path,) = export(ExportRequest("swiftformer-test", [target], out, model_options=dict(TINY_OPTS), calib=8,
                                   validate_images=1))
    return path


@pytest.fixture(scope="session")
def pte_artifact(tmp_path_factory) -> Path:
    return _export("xnnpack-fp32", tmp_path_factory.mktemp("adb-pte"))


@pytest.fixture(scope="session")
def tflite_artifact(tmp_path_factory) -> Path:
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("litert_torch")
    from edge_export.targets import list_targets

    if "tflite-fp32" not in [t.name if hasattr(t, "name") else t for t in list_targets()]:
        pytest.skip("no tflite-fp32 target in edge_export.targets")
    return _export("tflite-fp32", tmp_path_factory.mktemp("adb-tflite"))


@pytest.fixture(scope="session")
def java_classes(tmp_path_factory) -> Path:
    javac = shutil.which("javac")
    if not javac or not shutil.which("java"):
        pytest.skip("javac/java not found: install a JDK (the app's Java core plays the app in the stand-in)")
    out = tmp_path_factory.mktemp("app-core-classes")
    sources = sorted(str(p) for p in (ROOT / "android_app" / "core" / "src" / "main" / "java").rglob("*.java"))
    subprocess.run([javac, "--release", "8", "-encoding", "UTF-8", "-Xlint:-options", "-d", str(out), *sources],
                   check=True, capture_output=True, text=True)
    return out


def fresh(artifact: Path, tmp_path: Path) -> Path:
    """A private copy of a session artifact (profiles are written next to it)."""
    dst = tmp_path / artifact.name
    shutil.copytree(artifact, dst, ignore=shutil.ignore_patterns("profile-*.json"))
    return dst


def profiles_in(d: Path) -> list[str]:
    return sorted(p.name for p in d.glob("profile-*.json"))


# ------------------------------------------------------------------------------------------ adb client


def test_parse_devices_real_formats():
    text = ("* daemon not running; starting now at tcp:5037\n* daemon started successfully\n"
            "List of devices attached\n"
            "R58M123ABC             device usb:1-1 product:beyond1lteeea model:SM_G973F device:beyond1 transport_id:1\n"
            "emulator-5554          offline transport_id:2\n"
            "0123456789ABCDEF       unauthorized usb:1-2 transport_id:3\n"
            "192.168.1.7:5555       device product:shiba model:Pixel_8 device:shiba transport_id:4\n\n")
    ds = parse_devices(text)
    assert [(d.serial, d.state) for d in ds] == [("R58M123ABC", "device"), ("emulator-5554", "offline"),
                                                 ("0123456789ABCDEF", "unauthorized"), ("192.168.1.7:5555", "device")]
    assert ds[0].attrs["model"] == "SM_G973F" and ds[0].ready and not ds[1].ready
    assert parse_devices("List of devices attached\nABC\tdevice\nDEF\tno permissions (user in plugdev)\n\n")[1].state \
        == "no permissions"
    assert parse_devices("List of devices attached\n\n") == []


def test_adb_not_installed(tmp_path, monkeypatch):
    monkeypatch.delenv("ADB", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no adb anywhere
    with pytest.raises(AdbNotFound) as e:
        Adb()
    assert str(e.value) == NOT_FOUND_MSG == "adb not found: install Android platform tools or set ADB"
    monkeypatch.setenv("ADB", str(tmp_path / "no-such-adb"))
    with pytest.raises(AdbNotFound, match="adb not found: .*ADB is .*no-such-adb"):
        Adb()
    with pytest.raises(AdbNotFound, match="--adb is"):
        Adb(adb=str(tmp_path / "missing" / "adb"))
    assert Adb(adb=str(FAKE_ADB)).exe == str(FAKE_ADB.resolve())  # --adb wins over $ADB


def test_profile_without_adb_is_one_clear_line(fake, pte_artifact, tmp_path, monkeypatch):
    monkeypatch.delenv("ADB", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EdgeExportError, match="^adb not found: install Android platform tools or set ADB$"):
        profile_artifact(pte_artifact, "adb", runs=1, warmup=0)


def test_no_device(fake, pte_artifact):
    fake.devices()
    with pytest.raises(NoDevice) as e:
        Adb().resolve("adb")
    assert str(e.value) == NO_DEVICE_MSG == "no device: connect a phone with USB debugging or pass --device host"
    for spec in ("adb", "adb:all", "adb:FAKE01"):
        with pytest.raises(EdgeExportError, match="^no device: connect a phone with USB debugging or pass --device host$"):
            profile_artifact(pte_artifact, spec, runs=1, warmup=0)
    assert profiles_in(pte_artifact) == []


def test_unknown_serial_offline_unauthorized_several(fake):
    fake.devices(dev("FAKE01"), {"serial": "OFF1", "state": "offline"}, {"serial": "UNAUTH1", "state": "unauthorized"})
    a = Adb()
    with pytest.raises(DeviceUnavailable, match=r"device 'NOPE' not found by adb \(connected: FAKE01 \(device\)"):
        a.resolve("adb:NOPE")
    with pytest.raises(DeviceUnavailable, match="device 'OFF1' is offline: reconnect"):
        a.resolve("adb:OFF1")
    with pytest.raises(DeviceUnavailable, match="device 'UNAUTH1' is unauthorized: .*accept the USB debugging prompt"):
        a.resolve("adb:UNAUTH1")
    assert a.resolve("adb") == ["FAKE01"] == a.resolve("adb:all")  # only ready devices count
    fake.devices(dev("FAKE01"), dev("FAKE02"))
    with pytest.raises(adbmod.AdbError, match=r"several devices connected \(FAKE01, FAKE02\): pass --device adb:SERIAL"):
        a.resolve("adb")
    assert a.resolve("adb:all") == ["FAKE01", "FAKE02"] and a.resolve("adb:FAKE02,FAKE01") == ["FAKE02", "FAKE01"]
    with pytest.raises(adbmod.AdbError, match="bad device"):
        a.resolve("usb")
    # the real adb's own messages, which the client maps
    assert fake.adb("-s", "NOPE", "shell", "true").stderr.strip() == "error: device 'NOPE' not found"
    assert "failed to get feature set: device 'NOPE' not found" in fake.adb("-s", "NOPE", "pull", "/x", "y").stderr


def test_shell_status_props_push_pull_logcat(fake, tmp_path):
    fake.devices(dev("FAKE01"), dev("OLD1", GALAXY, legacy_shell=True))
    a = Adb()
    for serial in ("FAKE01", "OLD1"):
        d = a.device(serial)
        r = d.shell("echo out; echo err >&2; false", check=False)
        assert r.status == 1 and "out" in r.output and "err" in r.output
        assert d.shell(["sh", "-c", "exit 7"], check=False).status == 7
        with pytest.raises(AdbCommandFailed, match="exited with status 3"):
            d.shell("exit_3() { return 3; }; exit_3")
    # a pre-Android-7 adb shell exits 0 whatever the command did: the marker still gives the status
    assert fake.adb("-s", "OLD1", "shell", "false").returncode == 0
    info = a.device("FAKE01").info()
    assert info == {"serial": "FAKE01", "model": "Pixel 8", "manufacturer": "Google", "soc": "Google Tensor G3",
                    "android_version": "14", "sdk": "34", "abi": "arm64-v8a"}
    assert a.device("OLD1").info()["soc"] == "kalama"  # ro.board.platform when there is no ro.soc.model
    assert a.device("FAKE01").getprop("ro.product.cpu.abi") == "arm64-v8a"
    d = a.device("FAKE01")
    src = tmp_path / "blob.bin"
    src.write_bytes(os.urandom(3000))
    d.push(src, "/data/local/tmp/x/y/blob.bin")
    assert d.exists("/data/local/tmp/x/y/blob.bin") and not d.exists("/data/local/tmp/nothing")
    assert d.pull("/data/local/tmp/x/y/blob.bin", tmp_path / "back.bin").read_bytes() == src.read_bytes()
    with pytest.raises(AdbCommandFailed, match="failed to stat remote object"):
        d.pull("/data/local/tmp/nothing", tmp_path / "n")
    d.clear_logcat()
    d.shell("log -t EdgeExport -p i hello; log -t Other -p i noise; log -t EdgeExport -p d debug")
    out = d.logcat("-s", "EdgeExport:I")
    assert "hello" in out and "noise" not in out and "debug" not in out
    assert " I EdgeExport: hello" in out  # threadtime format


# ------------------------------------------------------------------------------------------ ExecuTorch


@pytest.fixture(scope="module")
def et_run(pte_artifact, tmp_path_factory):
    """One ExecuTorch profile over the stand-in adb (the remote files are kept to look at the real ETDump)."""
    tmp = tmp_path_factory.mktemp("et-run")
    mp = pytest.MonkeyPatch()
    root = tmp / "fake-adb"
    root.mkdir()
    for k, v in {"FAKE_ADB_ROOT": str(root), "FAKE_ADB_PYTHON": sys.executable, "ADB": str(FAKE_ADB),
                 "EDGE_EXPORT_EXECUTOR_RUNNER": str(FAKE / "executor_runner")}.items():
        mp.setenv(k, v)
    FakeAdb(root).devices(dev("FAKE01"))
    art = fresh(pte_artifact, tmp)
    try:
        profile, path = profile_artifact(art, "adb:FAKE01", runs=4, warmup=2, threads=1,
                                         options={"keep_remote": "true"})
    finally:
        mp.undo()
    return profile, path, art, root


def test_executorch_over_adb(et_run):
    profile, path, art, _ = et_run
    assert path == art / "profile-adb_FAKE01.json" and load_profile(path) == profile
    prov = profile.provenance
    assert prov.where == "adb:FAKE01" and prov.collector == "executor_runner-etdump" and prov.runtime == "executorch"
    assert prov.device["model"] == "Pixel 8" and prov.device["soc"] == "Google Tensor G3"
    assert prov.device["android_version"] == "14" and prov.device["abi"] == "arm64-v8a"
    assert prov.runs == 4 and prov.warmup == 2 and profile.latency.n == 4 and len(profile.latency_ms) == 4
    assert profile.complete and profile.load_ms and profile.first_run_ms
    assert prov.options["input"].startswith("image:")  # the validation image, not the runner's ones
    # rows: XNNPACK operators attributed to modules as on the host (edge_export.runtimes.executorch.host_collector)
    assert len(profile.rows) > 50 and all(r.stats.n == 4 for r in profile.rows)
    assert any(r.name.startswith("Convolution (NHWC, F32)") for r in profile.rows)
    assert profile.attributed_fraction() >= 0.9
    assert {r.module_path for r in profile.rows if r.module_path} >= {"patch_embed.0"}


def test_executorch_etdump_is_real(et_run):
    """The file the stand-in runner wrote is a real ETDump: W + N executions of the delegate."""
    from edge_export.attribution.etdump import read_etdump_profile

    _, _, _, root = et_run
    (etdump,) = (root / "FAKE01" / "data" / "local" / "tmp" / "edge-export").rglob("run.etdump")
    prof = read_etdump_profile(etdump)
    assert len(prof.method_times) == 6  # 2 warm-up + 4 measured
    assert len({r.run_index for r in prof.delegate_runs}) == 6 and len(prof.delegate_runs[0].events) > 50


def test_executorch_runner_errors(fake, pte_artifact, tmp_path, monkeypatch):
    art = fresh(pte_artifact, tmp_path)
    monkeypatch.delenv("EDGE_EXPORT_EXECUTOR_RUNNER")
    with pytest.raises(EdgeExportError, match="no executor_runner given: build ExecuTorch.*EDGE_EXPORT_EXECUTOR_RUNNER"):
        profile_artifact(art, "adb", runs=1, warmup=0)
    monkeypatch.setenv("EDGE_EXPORT_EXECUTOR_RUNNER", str(tmp_path / "nope"))
    with pytest.raises(EdgeExportError, match="executor_runner not found at"):
        profile_artifact(art, "adb", runs=1, warmup=0)
    # a runner built without the event tracer has no --etdump_path (gflags: unknown command line flag)
    plain = tmp_path / "executor_runner_no_etdump"
    plain.write_text((FAKE / "executor_runner").read_text().replace("WITH_ETDUMP = True", "WITH_ETDUMP = False"))
    plain.chmod(0o755)
    with pytest.raises(EdgeExportError, match="built without the event tracer \\(no --etdump_path\\)"):
        profile_artifact(art, "adb", runs=1, warmup=0, options={"executor_runner": str(plain)})
    assert profiles_in(art) == []


def test_executorch_disconnect_during_etdump_pull(fake, pte_artifact, tmp_path):
    fake.devices(dev("FAKE01", disconnect={"match": r"^pull .*run\.etdump"}))
    art = fresh(pte_artifact, tmp_path)
    with pytest.raises(DeviceDisconnected, match="device 'FAKE01' disconnected during pull of .*run.etdump "
                                                 r"\(no longer listed by adb.*partial results were not written"):
        profile_artifact(art, "adb:FAKE01", runs=2, warmup=1)
    assert profiles_in(art) == []
    assert Adb().devices() == []  # gone for good


# ------------------------------------------------------------------------------------------ TFLite


def test_tflite_over_adb_xnnpack(fake, tflite_artifact, tmp_path):
    art = fresh(tflite_artifact, tmp_path)
    profile, path = profile_artifact(art, "adb", runs=5, warmup=1, threads=1)
    assert path == art / "profile-adb_FAKE01.json" and load_profile(path) == profile
    prov = profile.provenance
    assert prov.where == "adb:FAKE01" and prov.collector == "benchmark_model-csv" and prov.runtime == "litert"
    assert prov.options["kernel_mode"] == "delegate" and prov.device["model"] == "Pixel 8"
    assert profile.latency.n == 5 and profile.latency_ms == []  # benchmark_model gives no per-run values
    assert profile.latency.min <= profile.latency.mean <= profile.latency.max and profile.load_ms > 0
    assert any("means only" in n for n in profile.notes)
    assert all(r.delegate == "XNNPACK" for r in profile.rows)
    assert any(r.name == "Convolution (NHWC, F32) IGEMM" for r in profile.rows)
    assert profile.attributed_fraction() >= 0.9
    assert all(r.stats.median == r.stats.mean for r in profile.rows)


def test_tflite_over_adb_builtin(fake, tflite_artifact, tmp_path):
    art = fresh(tflite_artifact, tmp_path)
    profile, _ = profile_artifact(art, "adb:FAKE01", runs=3, warmup=1, options={"kernel_mode": "builtin"})
    assert profile.provenance.options["kernel_mode"] == "builtin"
    assert all(r.delegate is None for r in profile.rows)
    assert {r.name for r in profile.rows} >= {"CONV_2D", "FULLY_CONNECTED"}
    assert sum(r.attribution == "exact" for r in profile.rows) / len(profile.rows) > 0.9


def test_tflite_tool_missing(fake, tflite_artifact, tmp_path, monkeypatch):
    monkeypatch.delenv("EDGE_EXPORT_BENCHMARK_MODEL")
    with pytest.raises(EdgeExportError, match="no benchmark_model given: build TensorFlow Lite's benchmark_model"):
        profile_artifact(fresh(tflite_artifact, tmp_path), "adb", runs=1, warmup=0)


def test_adb_all_two_devices_in_parallel(fake, tflite_artifact, tmp_path):
    fake.devices(dev("FAKE01"), dev("FAKE02", GALAXY), {"serial": "OFF9", "state": "offline"})
    art = fresh(tflite_artifact, tmp_path)
    seen = []
    results = profile_devices(art, "adb:all", runs=3, warmup=1, progress=seen.append)
    assert [r.where for r in results] == ["adb:FAKE01", "adb:FAKE02"] and not any(r.error for r in results)
    assert profiles_in(art) == ["profile-adb_FAKE01.json", "profile-adb_FAKE02.json"]
    p1, p2 = (load_profile(art / f"profile-adb_{s}.json") for s in ("FAKE01", "FAKE02"))
    assert p1.provenance.where == "adb:FAKE01" and p1.provenance.device["model"] == "Pixel 8"
    assert p2.provenance.where == "adb:FAKE02" and p2.provenance.device["model"] == "SM-S911B"
    assert any(m.startswith("[FAKE01]") for m in seen) and any(m.startswith("[FAKE02]") for m in seen)
    # in parallel: the two devices' command sequences (push ... benchmark_model ... cleanup) overlapped in time
    cmds = [json.loads(ln) for ln in (fake.root / ".history.jsonl").read_text().splitlines()]
    (a0, a1), (b0, b1) = ((min(c["start"] for c in cmds if c["serial"] == s), max(c["end"] for c in cmds if c["serial"] == s))
                          for s in ("FAKE01", "FAKE02"))
    assert a0 < b1 and b0 < a1
    # the two devices' files were on their own fake devices
    assert (fake.root / "FAKE01" / "data/local/tmp/edge-export").is_dir()
    assert (fake.root / "FAKE02" / "data/local/tmp/edge-export").is_dir()
    # --out with several devices: one file per device next to it
    out = tmp_path / "o" / "prof.json"
    out.parent.mkdir()
    profile_artifact(art, "adb:FAKE02,FAKE01", runs=1, warmup=0, out=out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["prof-adb_FAKE01.json", "prof-adb_FAKE02.json"]


def test_disconnect_mid_run_one_of_two(fake, tflite_artifact, tmp_path):
    """FAKE02 vanishes while benchmark_model runs: FAKE01's profile is written, FAKE02 gets none."""
    fake.devices(dev("FAKE01"), dev("FAKE02", GALAXY, disconnect={"match": "benchmark_model --graph", "partial_lines": 4}))
    art = fresh(tflite_artifact, tmp_path)
    with pytest.raises(EdgeExportError) as e:
        profile_artifact(art, "adb:all", runs=2, warmup=0)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("profiled 1 of 2 device(s) (wrote ") and "profile-adb_FAKE01.json" in msg
    assert "adb:FAKE02: device 'FAKE02' disconnected during `benchmark_model`" in msg
    assert "partial results were not written as complete" in msg
    assert profiles_in(art) == ["profile-adb_FAKE01.json"]
    assert Adb().resolve("adb:all") == ["FAKE01"]  # FAKE02 is gone from `adb devices`


def test_disconnect_mid_run_single(fake, tflite_artifact, tmp_path):
    fake.devices(dev("FAKE01", disconnect={"match": "benchmark_model --graph"}))
    art = fresh(tflite_artifact, tmp_path)
    with pytest.raises(DeviceDisconnected, match="^device 'FAKE01' disconnected during `benchmark_model`"):
        profile_artifact(art, "adb:FAKE01", runs=2, warmup=0)
    assert profiles_in(art) == []


# ------------------------------------------------------------------------------------------ CSV format


def test_stand_in_csv_parses_and_matches_its_log(fake, tflite_artifact, tmp_path):
    """Run the stand-in benchmark_model as the collector would; parse what it wrote and printed."""
    from edge_export.runtimes.litert.adb_collector import parse_benchmark_log, parse_op_profile_csv

    model = tflite_artifact / "model.tflite"
    csv = tmp_path / "op.csv"
    proc = subprocess.run([sys.executable, str(FAKE / "benchmark_model"), f"--graph={model}", "--num_threads=1",
                           "--num_runs=4", "--warmup_runs=1", "--min_secs=0", "--warmup_min_secs=0",
                           "--enable_op_profiling=true", "--op_profiling_output_mode=csv",
                           f"--op_profiling_output_file={csv}"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    t = parse_benchmark_log(proc.stderr)
    assert t.count == 4 and t.min_us <= t.avg_us <= t.max_us and t.init_us > 0 and t.first_us > 0
    text = csv.read_text()
    assert text.splitlines()[2] == "node type, first, avg_ms, %, cdf%, mem KB, times called, name"
    op = parse_op_profile_csv(text)
    assert op.run_count == 4 and all(r.delegated for r in op.rows)
    assert [r.node_index for r in op.rows] == list(range(len(op.rows)))  # run order = XNNPACK node order
    assert op.rows[0].name == "Delegate/Convolution (NHWC, F32) IGEMM:0"  # commas come back from the tabs
    assert op.rows[0].node_type == "Convolution (NHWC, F32) IGEMM"
    # the per-run op times add up to the summarizer's own run total (both from the same LiteRT events)
    assert sum(r.per_run_ms for r in op.rows) * 1e3 == pytest.approx(op.op_total_avg_us, rel=0.02, abs=2)
    assert op.rows[-1].cdf_percent == pytest.approx(100.0, abs=0.01)


def test_csv_parser_formats_and_corruption():
    from edge_export.runtimes.litert.adb_collector import OpProfileError, parse_benchmark_log, parse_op_profile_csv

    new = ("Operator-wise Profiling Info for Regular Benchmark Runs:\n"
           "============================== Run Order ==============================\n"
           "node type, first, avg_ms, %, cdf%, mem KB, times called, name\n"
           "QUANTIZE, 0.199, 0.203, 1.328%, 1.328%, 0, 1, [tfl.quantize]:0\n"
           "Convolution (NHWC, QC8) DWConv, 0.428, 0.051, 4.317%, 5.645%, 0, 13, Delegate/Convolution (NHWC\t QC8) DWConv:1\n"
           "\n============================== Top by Computation Time ==============================\n"
           "node type, first, avg_ms, %, cdf%, mem KB, times called, name\n"
           "QUANTIZE, 0.199, 0.203, 1.328%, 1.328%, 0, 1, [tfl.quantize]:0\n\n"
           "Timings (microseconds): count=50 first=16067 curr=15102 min=14661 max=17579 avg=15517.6 std=551\n"
           "Memory (bytes): count=0\n2 nodes observed\n\n")
    op = parse_op_profile_csv(new)
    assert [(r.node_type, r.times_called, r.node_index, r.delegated) for r in op.rows] == [
        ("QUANTIZE", 1, 0, False), ("Convolution (NHWC, QC8) DWConv", 13, 1, True)]
    assert op.rows[1].per_run_ms == pytest.approx(0.051 * 13) and op.run_count == 50
    assert op.rows[1].name == "Delegate/Convolution (NHWC, QC8) DWConv:1"
    old = ("Operator-wise Profiling Info for Regular Benchmark Runs:\n"
           "============================== Run Order ==============================\n"
           "node type, start, first, avg_ms, %, cdf%, mem KB, times called, name\n"
           "CONV_2D, 0.066, 87.754, 60.957, 2.066%, 2.066%, 0, 1, [MobilenetV1/Conv2d_0/Relu6, x]:0\n\n")
    (r,) = parse_op_profile_csv(old).rows
    assert (r.node_type, r.first_ms, r.avg_ms, r.name) == ("CONV_2D", 87.754, 60.957, "[MobilenetV1/Conv2d_0/Relu6, x]:0")
    with pytest.raises(OpProfileError, match="no 'Operator-wise Profiling Info"):
        parse_op_profile_csv("INFO: STARTING!\n")
    with pytest.raises(OpProfileError, match="not a CSV op row: corrupted"):
        parse_op_profile_csv(new.replace("0.428, 0.051", "0.428;;0.051"))
    with pytest.raises(OpProfileError, match="unexpected Run Order header"):
        parse_op_profile_csv(new.replace("node type, first, avg_ms", "[node type]\t[first]", 1))
    with pytest.raises(OpProfileError, match="no Run Order table"):
        parse_op_profile_csv(new.split("====")[0])
    log = ("INFO: Running benchmark for at least 1 iterations and at least 0 seconds but terminate if exceeding 150 seconds.\n"
           "INFO: count=1 curr=19105\n\n"
           "INFO: Running benchmark for at least 3 iterations and at least 0 seconds but terminate if exceeding 150 seconds.\n"
           "INFO: count=3 curr=14000(all same)\n\n"
           "INFO: Inference timings in us: Init: 52687, First inference: 19105, Warmup (avg): 19105, Inference (avg): 14000\n")
    t = parse_benchmark_log(log)
    assert (t.count, t.min_us, t.max_us, t.avg_us, t.init_us, t.first_us) == (3, 14000, 14000, 14000, 52687, 19105)
    with pytest.raises(OpProfileError, match="did not finish"):
        parse_benchmark_log(log.rsplit("INFO: Inference", 1)[0])


# ------------------------------------------------------------------------------------------ Android app


def test_android_deploy_collect(fake, pte_artifact, java_classes, tmp_path, monkeypatch):
    from edge_export.devices import android_app as android_device

    monkeypatch.setenv("FAKE_ADB_APP_CLASSES", str(java_classes))
    fake.devices(dev("FAKE01", packages=["com.edgeexport.bench"]))
    art = fresh(pte_artifact, tmp_path)
    d = android_device.deploy(art, "FAKE01", runs=7, threads=2, warmup=2)
    name = art.name
    pushed = fake.device_path("FAKE01", f"/sdcard/Android/data/com.edgeexport.bench/files/models/{name}")
    assert sorted(p.name for p in pushed.iterdir()) == ["manifest.json", "model.pte"]  # not the ETRecord
    assert "cmp=com.edgeexport.bench/.BenchmarkActivity" in d.am_output
    profile, path = android_device.collect("FAKE01", poll=0.2, timeout=120)
    assert path == art / "profile-adb_FAKE01.json" and load_profile(path) == profile
    prov = profile.provenance
    assert prov.where == "adb:FAKE01" and prov.collector == "android-app"
    assert prov.runs == 7 and prov.warmup == 2 and prov.threads == 2 and profile.latency.n == 7
    assert prov.artifact_sha256 == json.loads((art / "manifest.json").read_text())["file_sha256"]
    assert prov.device["model"] == "Pixel 8"  # the app's DeviceInfo, from the fake device's properties
    assert not android_device._state_path("FAKE01").exists()


def test_android_app_errors(fake, pte_artifact, java_classes, tmp_path, monkeypatch):
    from edge_export.devices import android_app as android_device

    monkeypatch.setenv("FAKE_ADB_APP_CLASSES", str(java_classes))
    art = fresh(pte_artifact, tmp_path)
    with pytest.raises(EdgeExportError, match="the app com.edgeexport.bench is not installed on FAKE01"):
        android_device.deploy(art, "FAKE01")
    bad = tmp_path / "not-an-apk.apk"
    bad.write_text("text")
    with pytest.raises(AdbCommandFailed, match="INSTALL_PARSE_FAILED_NOT_APK"):
        android_device.deploy(art, "FAKE01", apk=bad)
    apk = tmp_path / "app-debug.apk"
    with zipfile.ZipFile(apk, "w") as z:
        z.writestr("AndroidManifest.xml", b"\x03\x00")
    d = android_device.deploy(art, None, runs=2, warmup=0, apk=apk)  # installs, then starts
    android_device.collect(None, tmp_path / "p.json", poll=0.2, timeout=120)
    # the app reports a failure: the result line's stage and message become the error
    dv = Adb().device("FAKE01")
    dv.shell(["am", "start", "-n", "com.edgeexport.bench/.BenchmarkActivity", "--es", "model", "missing-model",
              "--es", "run_id", "r-bad"])
    with pytest.raises(EdgeExportError, match="FAKE01: the app's benchmark failed at stage 'manifest'"):
        android_device.collect("FAKE01", tmp_path / "bad.json", run_id="r-bad", poll=0.2, timeout=120)
    assert not (tmp_path / "bad.json").exists()
    with pytest.raises(EdgeExportError, match="no result from the app on FAKE01 after 1 s"):
        android_device.collect("FAKE01", tmp_path / "none.json", run_id="never-started", poll=0.2, timeout=1)
    assert d.run_id


def test_android_collect_disconnect(fake, pte_artifact, java_classes, tmp_path, monkeypatch):
    from edge_export.devices import android_app as android_device

    monkeypatch.setenv("FAKE_ADB_APP_CLASSES", str(java_classes))
    fake.devices(dev("FAKE01", packages=["com.edgeexport.bench"], disconnect={"match": r"^pull .*results\.json"}))
    art = fresh(pte_artifact, tmp_path)
    android_device.deploy(art, "FAKE01", runs=2, warmup=0)
    with pytest.raises(DeviceDisconnected, match="device 'FAKE01' disconnected during pull of .*results.json"):
        android_device.collect("FAKE01", poll=0.2, timeout=120)
    assert profiles_in(art) == []


# ------------------------------------------------------------------------------------------ CLI


def test_cli_profile_adb_all_and_android_round_trip(fake, pte_artifact, java_classes, tmp_path, monkeypatch, cli):
    """The console script over the stand-in adb: two devices in parallel, then the app's deploy/collect."""
    monkeypatch.setenv("FAKE_ADB_APP_CLASSES", str(java_classes))
    fake.devices(dev("FAKE01", packages=["com.edgeexport.bench"]), dev("FAKE02", GALAXY))
    art = fresh(pte_artifact, tmp_path)
    code, out, err = cli("profile", str(art), "--device", "adb:all", "--runs", "3", "--warmup", "1")
    assert code == 0, err
    assert profiles_in(art) == ["profile-adb_FAKE01.json", "profile-adb_FAKE02.json"]
    assert "adb:FAKE02" in out
    code, out, err = cli("android", "deploy", str(art), "--serial", "FAKE01", "--runs", "4", "--warmup", "1")
    assert code == 0, err
    run_id = out.split("--run-id ")[1].split()[0]
    code, out, err = cli("android", "collect", "--serial", "FAKE01", "--artifact", str(art), "--run-id", run_id,
                         "--out", str(tmp_path / "app.json"))
    assert code == 0, err
    assert load_profile(tmp_path / "app.json").provenance.collector == "android-app"
    fake.devices()
    code, _, err = cli("profile", str(art), "--device", "adb")
    assert code == 2 and "no device" in err
