"""TFLite on Arm kernels (`profile --device qemu-arm64[:CPU]`): the host profiler's measurement run in LiteRT's
aarch64 build under QEMU (edge_export/arm) -> Profile.

The guest runs the same child as the host (profile_child.measure: libLiteRt.so's C API with its profiler on, the
aarch64 wheel's library) and its events become rows through the host collector's own code (plan_profile,
profile_from_events): same program input, same op order and counts, same module attribution, so a host profile
and an Arm one of the same file compare op by op.

The times are QEMU's: how ops compare with each other on the emulated CPU, never device latency. The profile says
so where every view looks: provenance.simulator (the views' "simulator: not device latency" mark),
device.timing / device.model ("emulated: relative cost only") and its first note. peak_rss_mb is left out: the
guest's RSS is QEMU's, translation caches included.
"""

from __future__ import annotations

from edge_export.profile.schema import Profile
from edge_export.runtimes.litert.host_collector import plan_profile, profile_from_events

COLLECTOR = "litert-capi-qemu-arm64"
_TIMEOUT_S = 3600


def collect(req) -> Profile:
    from edge_export.arm import EMULATED, get_cpu, load_env
    from edge_export.arm.cpus import DEFAULT_CPU, QEMU_DEVICE, decode_hwcaps
    from edge_export.arm.run import emulator, profile_in_guest
    from edge_export.profile.host_info import cpu_model

    cpu_name = (req.options or {}).get("cpu") or DEFAULT_CPU
    get_cpu(cpu_name)  # an unknown name fails before the environment is looked at
    env = load_env()
    cpu = get_cpu(cpu_name, env)  # SME's reliability is the provisioned QEMU's verdict
    plan = plan_profile(req)
    req.progress(f"profiling {plan.model.name} with LiteRT's aarch64 build on QEMU -cpu {cpu.qemu_cpu} "
                 f"({plan.kernel_mode}, {req.threads} threads, {req.runs} runs; {EMULATED})")
    request = {"model": str(plan.model), "kernel_mode": plan.kernel_mode, "threads": req.threads,
               "runs": req.runs, "warmup": req.warmup, "cross_check_runs": plan.cross_check_runs}
    res = profile_in_guest(env, request, plan.x, cpu.name, _TIMEOUT_S)
    features = decode_hwcaps(res["hwcap"], res["hwcap2"])
    host = cpu_model()
    device = {
        "model": f"{cpu.name} under QEMU ({EMULATED})", "arch": "arm64", "cpu": cpu.name, "qemu_cpu": cpu.qemu_cpu,
        "feature_level": cpu.level, "reliable": str(cpu.reliable).lower(), "hwcaps": " ".join(features),
        "timing": EMULATED, "emulator": emulator(env, cpu), "host_cpu": host,
    }
    notes = [f"{EMULATED}: LiteRT's aarch64 build on {emulator(env, cpu)} ({cpu.level}) on this x86 host ({host}); "
             "op order and counts are the Arm build's own, times only say how ops compare with each other on "
             "this emulated CPU, never device latency"]
    if not cpu.reliable:
        notes.append(f"{cpu.level} is an unreliable level: {cpu.note}")
    return profile_from_events(
        req, plan, res, collector=COLLECTOR, runtime_version=env.versions.get("ai-edge-litert"),
        where=f"{QEMU_DEVICE}:{cpu.name}", device=device, simulator=True, notes_first=notes,
        options={"cpu": cpu.name, "qemu_cpu": cpu.qemu_cpu, "feature_level": cpu.level, "timing": EMULATED},
    )
