"""Arm kernels before a phone: .tflite artifacts on LiteRT's aarch64 build under QEMU user-mode, per CPU level.

    from edge_export.arm import setup, load_env, run_tflite
    env = setup()                       # provision once (cached; a no-op afterwards)
    env.sme_check["passed"]             # setup's SMOPA check under env's QEMU (the `max` level's reliability)
    run = run_tflite(env, "model.tflite", [x], cpu="cortex-a76")
    outputs, timings = run              # timings are emulation times: relative cost only

provision.py builds the cached runtime (Debian trixie's QEMU 10.0, bookworm's arm64 python3.11, PyPI's aarch64
wheels), cpus.py holds the --cpu choices and their feature levels, sme.py the SMOPA check that decides whether the
SME level is reliable under a QEMU (with_qemu(env, BIN) swaps in another QEMU and re-checks), run.py launches the guest (guest.py runs inside it), validate.py is
`validate --arch arm64` (the manifest's arm_parity). `profile --device qemu-arm64[:CPU]` is LiteRT's profiler run
in the guest: edge_export/runtimes/litert/qemu_collector.py.
"""

from edge_export.arm.cpus import CPUS, DEFAULT_CPU, CpuModel, get_cpu
from edge_export.arm.provision import ArmEnv, default_home, load_env, setup, with_qemu
from edge_export.arm.run import EMULATED, ArmRun, run_tflite, run_tflite_sets
from edge_export.arm.sme import smopa_check

__all__ = ["CPUS", "DEFAULT_CPU", "EMULATED", "ArmEnv", "ArmRun", "CpuModel", "default_home", "get_cpu", "load_env",
           "run_tflite", "run_tflite_sets", "setup", "smopa_check", "with_qemu"]
