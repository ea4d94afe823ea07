"""Runs INSIDE the aarch64 guest Python (Debian's python3.11 under QEMU): only the standard library, numpy and
ai_edge_litert from the runtime's site folder (and, in profile mode, the few edge_export modules the host's LiteRT
profiler child needs, which import nothing else).

    python3.11 -I guest.py SITE JOB_DIR

JOB_DIR/job.json says what to do; the answer is JOB_DIR/result.json (+ out{s}_{i}.npy). Modes:
  probe: versions and the hwcaps QEMU's CPU model exposes (getauxval), no model.
  hwcaps: only the hwcaps (nothing imported: fast).
  smopa: one SME SMOPA per za.s tile on job["a"], job["b"] (int8) with job["code"] (machine code, sme.py), the
         tiles as written: the host compares them with the exact product (nothing imported but ctypes).
  run:   one .tflite through LiteRT's Interpreter, loaded once; input set s is in{s}_{i}.npy (input_details
         order), its outputs out{s}_{i}.npy: all validation images in one guest start (a start costs ~1 s).
  profile: the host profiler's child (edge_export.runtimes.litert.profile_child.measure, LiteRT's C API with its
         profiler on) on job["request"]; job["source"] is a folder holding only a link to the edge_export package.
"""

import json
import os
import sys
import time


def _hwcaps():
    import ctypes

    libc = ctypes.CDLL(None)
    libc.getauxval.restype = ctypes.c_ulong
    libc.getauxval.argtypes = [ctypes.c_ulong]
    return libc.getauxval(16), libc.getauxval(26)  # AT_HWCAP, AT_HWCAP2


def _smopa(job):
    import ctypes
    import mmap

    code = bytes.fromhex(job["code"])
    buf = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    buf.write(code)
    fn = ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long)(
        ctypes.addressof(ctypes.c_char.from_buffer(buf)))
    n = len(job["a"])  # the maximum SVL in bytes: the ZA array is at most n x n bytes
    a, b = (ctypes.c_int8 * n)(*job["a"]), (ctypes.c_int8 * n)(*job["b"])
    tiles, svl = [], 0
    for tile in range(4):
        za = (ctypes.c_int32 * (n * n // 4))()
        svl = fn(ctypes.addressof(za), ctypes.addressof(a), ctypes.addressof(b), tile)
        rows = svl // 4  # za<tile>.s is rows x rows int32; its horizontal slice i is ZA vector 4 * i + tile
        tiles.append([[za[(4 * i + tile) * rows + j] for j in range(rows)] for i in range(rows)])
    return {"svl_bytes": svl, "tiles": tiles}


def _probe(job):
    import platform

    import numpy

    from ai_edge_litert import interpreter  # noqa: F401  the import pulls in the runtime's .so files

    try:
        from importlib.metadata import version

        litert = version("ai-edge-litert")
    except Exception:  # noqa: BLE001  dist-info missing: report it, the host decides
        litert = "unknown"
    hwcap, hwcap2 = _hwcaps()
    return {"python": platform.python_version(), "machine": platform.machine(), "numpy": numpy.__version__,
            "ai-edge-litert": litert, "hwcap": hwcap, "hwcap2": hwcap2}


def _run(job, job_dir):
    import numpy as np

    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # AUTO = the builtin kernels with LiteRT's default delegate (XNNPACK) applied; BUILTIN = no default delegate.
    resolver = {"xnnpack": OpResolverType.AUTO, "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    t = time.perf_counter()
    it = Interpreter(model_path=job["model"], num_threads=job["threads"],
                     experimental_op_resolver_type=resolver[job["kernels"]])
    it.allocate_tensors()
    load_s = time.perf_counter() - t
    ops = it._get_ops_details()  # after delegation the delegate's partitions are appended as DELEGATE nodes
    delegate_nodes = sum(1 for o in ops if o["op_name"] == "DELEGATE")
    ins, outs = it.get_input_details(), it.get_output_details()
    invoke_s = []
    for s in range(job["sets"]):
        for i, d in enumerate(ins):
            it.set_tensor(d["index"], np.load(os.path.join(job_dir, f"in{s}_{i}.npy")))
        for _ in range(job["repeats"]):
            t = time.perf_counter()
            it.invoke()
            invoke_s.append(time.perf_counter() - t)
        for i, d in enumerate(outs):
            np.save(os.path.join(job_dir, f"out{s}_{i}.npy"), it.get_tensor(d["index"]))
    hwcap, hwcap2 = _hwcaps()
    return {"n_outputs": len(outs), "load_s": load_s, "invoke_s": invoke_s, "delegate_nodes": delegate_nodes,
            "nodes": len(ops) - delegate_nodes, "hwcap": hwcap, "hwcap2": hwcap2}


def _profile(job):
    # after the site folder: numpy and ai_edge_litert are the aarch64 ones whatever the source folder holds
    sys.path.append(job["source"])
    sys.dont_write_bytecode = True  # no guest-written __pycache__ in the host's source tree
    from edge_export.runtimes.litert.profile_child import measure

    result = measure(job["request"])
    result["hwcap"], result["hwcap2"] = _hwcaps()
    return result


def main():
    site, job_dir = sys.argv[1], sys.argv[2]
    sys.path.insert(0, site)
    with open(os.path.join(job_dir, "job.json")) as f:
        job = json.load(f)
    if job["mode"] == "hwcaps":
        hwcap, hwcap2 = _hwcaps()
        result = {"hwcap": hwcap, "hwcap2": hwcap2}
    elif job["mode"] == "smopa":
        result = _smopa(job)
    else:
        result = {"probe": _probe, "run": lambda j: _run(j, job_dir), "profile": _profile}[job["mode"]](job)
    with open(os.path.join(job_dir, "result.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
