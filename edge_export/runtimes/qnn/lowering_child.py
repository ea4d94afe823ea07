"""Child side of QNN lowering and running (edge_export.runtimes.qnn.lowering drives it through edge_export.child).

It runs in a process started with the QNN libraries on LD_LIBRARY_PATH and in a private working
directory: ExecuTorch finds libQnnHtp.so only through the loader's start-up path, a broken SDK aborts the
process, and lowering drops files into the current directory.

    lower(request)      quantize (int8) and lower each job, write .pte / ETRecord / report files
    run(request)        execute a .pte once per input batch
    serve(init)         a .pte loaded once, executed on request (QnnPteSession)
    selftest(request)   ctypes only: load an HTP library and create a device with the old SoC config layout
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any


def _op_name(target: Any) -> str:
    name = getattr(target, "__name__", None) or str(target)
    return name


def _delegation_stats(edge_program) -> tuple[int, dict[str, int], dict[str, int]]:
    from executorch.exir.lowered_backend_module import get_lowered_submodules

    gm = edge_program.graph_module
    lowered = get_lowered_submodules(gm)
    delegated: Counter[str] = Counter()
    for _, lm, _ in lowered:
        for node in lm.original_module.graph.nodes:
            if node.op == "call_function" and "getitem" not in _op_name(node.target):
                delegated[_op_name(node.target)] += 1
    fallback: Counter[str] = Counter()
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        name = _op_name(node.target)
        if "executorch_call_delegate" in name or "getitem" in name:
            continue
        fallback[name] += 1
    return len(lowered), dict(delegated), dict(fallback)


def _act_observer(name: str | None):
    if name is None:
        return None  # QnnQuantizer's default for the dtype
    from torchao.quantization.pt2e import observer as obs

    return {"minmax": obs.MinMaxObserver, "moving_average": obs.MovingAverageMinMaxObserver,
            "histogram": obs.HistogramObserver}[name]


def lower(req: dict) -> dict:
    import torch
    from executorch.backends.qualcomm.serialization.qc_schema import QcomChipset, _soc_info_table
    from executorch.backends.qualcomm.utils.utils import (
        generate_htp_compiler_spec,
        generate_qnn_executorch_compiler_spec,
        to_edge_transform_and_lower_to_qnn,
    )

    program = torch.export.load(req["program"])
    example = tuple(torch.load(req["example_inputs"]))
    for job in req["jobs"]:
        print(f"edge-export qnn worker: lowering {job['chipset']} {job['precision']}", flush=True)
        chip = QcomChipset[job["chipset"]]
        module = program.module()  # a fresh GraphModule per job (prepare_pt2e changes its input)
        report: dict[str, Any] = {"htp_arch": f"v{int(_soc_info_table[chip].htp_info.htp_arch)}"}

        if job["precision"] == "int8":
            from executorch.backends.qualcomm.quantizer.quantizer import QnnQuantizer, QuantDtype
            from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

            t = time.perf_counter()
            quantizer = QnnQuantizer(soc_model=chip)
            quantizer.set_default_quant_config(
                QuantDtype[req["quant_dtype"]],
                is_conv_per_channel=req["per_channel_conv"],
                is_linear_per_channel=req["per_channel_linear"],
                act_observer=_act_observer(req.get("act_observer")),
            )
            prepared = prepare_pt2e(module, quantizer)
            with torch.no_grad():
                for batch in torch.load(req["calibration"]):
                    prepared(*batch)
            module = convert_pt2e(prepared)
            if req.get("reference_inputs"):
                with torch.no_grad():
                    fq = []
                    for batch in torch.load(req["reference_inputs"]):
                        out = module(*batch)
                        fq.append([o.detach() for o in (out if isinstance(out, (tuple, list)) else (out,))])
                torch.save(fq, job["fake_quant_outputs"])
            report["seconds_quantize"] = time.perf_counter() - t

        t = time.perf_counter()
        backend = generate_htp_compiler_spec(use_fp16=job["precision"] == "fp16")
        specs = generate_qnn_executorch_compiler_spec(chip, backend, profile_level=req["profile_level"])
        edge = to_edge_transform_and_lower_to_qnn(module, example, specs, generate_etrecord=bool(job["etrecord"]))
        subgraphs, delegated, fallback = _delegation_stats(edge.exported_program())
        et = edge.to_executorch()
        Path(job["out"]).write_bytes(et.buffer)
        report["seconds_lower"] = time.perf_counter() - t
        if job["etrecord"]:
            etrecord = et.get_etrecord() if hasattr(et, "get_etrecord") else None
            if etrecord is not None:
                etrecord.save(job["etrecord"])
        report.update(subgraphs=subgraphs, delegated_ops=delegated, fallback_ops=fallback)
        if req.get("verify_inputs"):
            report["run"] = _execute_pte(job["out"], req["verify_inputs"], job["verify_outputs"])
        Path(job["report"]).write_text(json.dumps(report, indent=1))
    return {}


def _execute_pte(pte: str, inputs_path: str, outputs_path: str, etdump: str | None = None,
                 debug_buffer_size: int = 0) -> dict[str, Any]:
    import torch
    from executorch.runtime import Runtime

    t = time.perf_counter()
    runtime = Runtime.get()
    if etdump:
        program = runtime.load_program(pte, enable_etdump=True, debug_buffer_size=debug_buffer_size)
    else:
        program = runtime.load_program(pte)
    method = program.load_method("forward")
    load_seconds = time.perf_counter() - t
    outputs, seconds = [], []
    for batch in torch.load(inputs_path):
        t = time.perf_counter()
        out = method.execute(list(batch))
        seconds.append(time.perf_counter() - t)
        outputs.append([o.clone() for o in out])
    torch.save(outputs, outputs_path)
    if etdump:
        program.write_etdump_result_to_file(etdump, etdump + ".debug")
    return {"seconds": seconds, "load_seconds": load_seconds}


def run(req: dict) -> dict:
    return _execute_pte(req["pte"], req["inputs"], req["outputs"], req.get("etdump"), req.get("debug_buffer_size", 0))


class _PteServer:
    """A .pte loaded once; `run` executes it per input list, `etdump` writes what was recorded (see QnnPteSession)."""

    def __init__(self, pte: str, enable_etdump: bool, debug_buffer_size: int):
        from executorch.runtime import Runtime

        t = time.perf_counter()
        if enable_etdump:
            self.program = Runtime.get().load_program(pte, enable_etdump=True, debug_buffer_size=debug_buffer_size)
        else:
            self.program = Runtime.get().load_program(pte)
        self.method = self.program.load_method("forward")
        if self.method is None:
            raise RuntimeError(f"{pte} has no 'forward' method")
        self.enable_etdump = enable_etdump
        self.ready = {"load_seconds": time.perf_counter() - t}

    def __call__(self, req: dict) -> dict:
        import numpy as np
        import torch

        if req["cmd"] == "run":
            outputs, seconds = [], []
            for i, paths in enumerate(req["items"]):
                inputs = [torch.from_numpy(np.load(p)) for p in paths]
                t = time.perf_counter()
                outs = self.method.execute(inputs)
                seconds.append(time.perf_counter() - t)
                names = []
                for j, o in enumerate(outs):
                    name = f"{req['prefix']}_{i}_{j}.npy"
                    np.save(name, o.detach().numpy() if isinstance(o, torch.Tensor) else np.asarray(o))
                    names.append(str(Path(name).resolve()))
                outputs.append(names)
            return {"outputs": outputs, "seconds": seconds}
        if req["cmd"] == "etdump":
            if not self.enable_etdump:
                raise RuntimeError("the session was started without ETDump")
            self.program.write_etdump_result_to_file(req["path"], req["debug_path"])
            return {}
        raise ValueError(f"unknown command {req['cmd']!r}")


def serve(init: dict) -> _PteServer:
    return _PteServer(init["pte"], bool(init.get("etdump")), int(init.get("debug_buffer_size", 0)))


def selftest(req: dict) -> dict:
    """ctypes-only: no torch, no ExecuTorch."""
    import ctypes

    lib, soc_model = req["lib"], req["soc_model"]

    class Iface(ctypes.Structure):  # QnnInterface_t prefix; see htp_compat_shim.c
        _fields_ = [
            ("backendId", ctypes.c_uint32),
            ("providerName", ctypes.c_char_p),
            ("versions", ctypes.c_uint32 * 6),
            ("table", ctypes.c_void_p * 44),
        ]

    class OldSocConfig(ctypes.Structure):  # QNN 2.37 QnnHtpDevice_CustomConfig_t, option SOC
        _fields_ = [("option", ctypes.c_uint32), ("socModel", ctypes.c_uint32), ("pad", ctypes.c_uint32)]

    class DeviceConfig(ctypes.Structure):  # QnnDevice_Config_t
        _fields_ = [("option", ctypes.c_uint32), ("customConfig", ctypes.c_void_p)]

    handle = ctypes.CDLL(lib, mode=ctypes.RTLD_LOCAL)
    providers = ctypes.POINTER(ctypes.POINTER(Iface))()
    count = ctypes.c_uint32()
    rc = handle.QnnInterface_getProviders(ctypes.byref(providers), ctypes.byref(count))
    result: dict[str, Any] = {"get_providers_rc": int(rc) & 0xFFFF, "providers": int(count.value)}
    if rc == 0 and count.value:
        p = providers[0].contents
        v = list(p.versions)
        result["core_api"] = f"{v[0]}.{v[1]}.{v[2]}"
        result["backend_api"] = f"{v[3]}.{v[4]}.{v[5]}"
        build_id = ctypes.c_char_p()
        ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.POINTER(ctypes.c_char_p))(p.table[4])(ctypes.byref(build_id))
        result["build_id"] = (build_id.value or b"").decode(errors="replace")
        create = ctypes.CFUNCTYPE(
            ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)
        )(p.table[40])
        soc = OldSocConfig(0, int(soc_model), 0)
        cfg = DeviceConfig(0, ctypes.cast(ctypes.pointer(soc), ctypes.c_void_p))
        cfgs = (ctypes.c_void_p * 2)(ctypes.cast(ctypes.pointer(cfg), ctypes.c_void_p), None)
        device = ctypes.c_void_p()
        rc = create(None, cfgs, ctypes.byref(device))
        result["device_create_rc"] = int(rc) & 0xFFFF
        if rc == 0 and device.value and p.table[43]:
            ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p)(p.table[43])(device)
    return result
