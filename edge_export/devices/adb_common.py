"""What both adb collectors share: which device, which runner binary, where things go on the device.

Request options read here (``ProfileRequest.options``; edge_export.profile.dispatch fills them):
``device`` (``adb`` or ``adb:SERIAL``; resolved to one serial), ``serial`` (already resolved),
``adb`` (path of the adb executable, else $ADB, else PATH), ``keep_remote`` (leave the pushed files on
the device). Tested with the stand-in adb of tests/fake_adb only: no real phone was exercised.
"""

from __future__ import annotations

import os
import shlex
import threading
from pathlib import Path

from edge_export.errors import EdgeExportError
from edge_export.devices.adb import DEVICE_TMP, Adb, AdbDevice, DeviceDisconnected


# Attribution imports torch/executorch and rebuilds models: one device at a time does it (adb:all runs the
# device side of several devices in parallel threads).
ATTRIBUTION_LOCK = threading.Lock()


def device_for(req) -> AdbDevice:
    """The one ready device this request runs on (raises AdbError subclasses with one-line messages)."""
    opts = dict(req.options or {})
    adb = Adb(opts.get("adb"))
    serial = opts.get("serial")
    if not serial:
        spec = str(opts.get("device") or "adb")
        serials = adb.resolve(spec)
        if len(serials) != 1:
            raise EdgeExportError(f"{spec} names {len(serials)} devices: profile them through edge_export.profile.dispatch "
                                  "(one profile per device)")
        serial = serials[0]
    dev = adb.device(serial)
    dev.check_ready()
    return dev


def tool_path(opts: dict, key: str, env: str, what: str, how: str) -> Path:
    """A host-side device binary given by option ``key`` or environment variable ``env``."""
    value = opts.get(key) or os.environ.get(env)
    if not value:
        raise EdgeExportError(f"no {what} given: {how}, then pass its path with --{key.replace('_', '-')} or set {env}")
    p = Path(value).expanduser()
    if not p.is_file():
        raise EdgeExportError(f"{what} not found at {p} (from --{key.replace('_', '-')} / {env}): give the path "
                              "of the binary built for the phone")
    return p


def remote_dir(manifest, tag: str) -> str:
    """Per-artifact directory on the device (the program's sha256 keeps artifacts apart)."""
    return f"{DEVICE_TMP}/{tag}-{manifest.file_sha256[:16]}"


def run_on_device(dev: AdbDevice, cmd: list[str], cwd: str, timeout: float, what: str):
    """Run a binary on the device: ShellResult (status + merged output); DeviceDisconnected propagates."""
    text = f"cd {shlex.quote(cwd)} && " + " ".join(shlex.quote(c) for c in cmd)
    return dev.shell(text, check=False, timeout=timeout, what=what)


def cleanup(dev: AdbDevice, path: str, keep: bool) -> None:
    if keep:
        return
    try:
        dev.remove(path)
    except DeviceDisconnected:
        pass


def tail(text: str, n: int = 6) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])


def flag(value, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off", "")
    return bool(value)
