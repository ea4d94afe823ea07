"""A small client over the real ``adb`` command line (Android platform tools).

Found, in this order, at the path given by ``--adb`` (the ``adb=`` argument), the ``ADB`` environment
variable, or ``adb`` on ``PATH``. Every call is one ``adb [-s SERIAL] ...`` subprocess with a timeout;
nothing here talks to the adb server's socket directly.

What it relies on from adb (checked against adb 1.0.41, Debian's ``adb`` 29.0.6, with and without a
device): ``adb devices -l`` lists ``SERIAL<spaces>STATE[ key:value ...]`` under the header
``List of devices attached``; errors are one line on stderr (``error: device 'X' not found``,
``error: no devices/emulators found``, ``error: device offline``, ``error: device unauthorized.``,
``adb: error: failed to get feature set: device 'X' not found`` for push/pull) with exit status 1;
``adb logcat`` and ``adb wait-for-device`` BLOCK when the device is missing, so the device's state is
always checked first and every call has a timeout. Old devices' ``adb shell`` (no shell protocol)
always exits 0, so :meth:`AdbDevice.shell` appends ``; echo <marker>$?`` and reads the command's exit
status from the output; a missing marker means the connection dropped.

Every failure a user can act on is an :class:`AdbError` (an ``EdgeExportError``: one line, exit code 2
in the CLI); a device that vanishes during a run raises :class:`DeviceDisconnected`, and the callers
then write nothing as a complete profile.

Tested against a stand-in ``adb`` (tests/fake_adb/adb) that implements this command line over a temp
directory; no real phone was exercised.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from edge_export.errors import EdgeExportError

ADB_ENV = "ADB"
DEFAULT_TIMEOUT_S = 120.0
# Where binaries and models go on the device: world-writable and executable for the shell user.
DEVICE_TMP = "/data/local/tmp/edge-export"

NOT_FOUND_MSG = "adb not found: install Android platform tools or set ADB"
NO_DEVICE_MSG = "no device: connect a phone with USB debugging or pass --device host"

PROP_MODEL = "ro.product.model"
PROP_MANUFACTURER = "ro.product.manufacturer"
PROP_SOC = ("ro.soc.model", "ro.board.platform", "ro.hardware")
PROP_SOC_MANUFACTURER = "ro.soc.manufacturer"
PROP_ANDROID = "ro.build.version.release"
PROP_SDK = "ro.build.version.sdk"
PROP_ABI = "ro.product.cpu.abi"


class AdbError(EdgeExportError):
    """adb is missing, the device is not usable, or an adb command failed."""


class AdbNotFound(AdbError):
    pass


class NoDevice(AdbError):
    pass


class DeviceUnavailable(AdbError):
    """Unknown serial, or a device listed as offline / unauthorized / in recovery..."""


class DeviceDisconnected(AdbError):
    """The device went away while a command was running: whatever was collected is partial."""


class AdbCommandFailed(AdbError):
    """A command on the device ran and failed (non-zero exit status), or a push/pull failed."""


def find_adb(adb: str | os.PathLike | None = None) -> str:
    """The adb executable: ``adb`` argument, else ``$ADB``, else ``adb`` on PATH."""
    for candidate in (adb, os.environ.get(ADB_ENV)):
        if candidate is None or str(candidate).strip() == "":
            continue
        c = str(candidate)
        if os.sep in c or c.startswith("."):
            if Path(c).is_file() and os.access(c, os.X_OK):
                return str(Path(c).resolve())
            where = "--adb" if candidate is adb else f"${ADB_ENV}"
            raise AdbNotFound(f"{NOT_FOUND_MSG} ({where} is {c!r}: not an executable file)")
        found = shutil.which(c)
        if found:
            return found
        where = "--adb" if candidate is adb else f"${ADB_ENV}"
        raise AdbNotFound(f"{NOT_FOUND_MSG} ({where} is {c!r}: not on PATH)")
    found = shutil.which("adb")
    if not found:
        raise AdbNotFound(NOT_FOUND_MSG)
    return found


@dataclass(frozen=True)
class Device:
    """One line of ``adb devices -l``."""

    serial: str
    state: str  # device | offline | unauthorized | recovery | sideload | bootloader | no permissions ...
    attrs: dict[str, str] = field(default_factory=dict)  # usb, product, model, device, transport_id

    @property
    def ready(self) -> bool:
        return self.state == "device"


_DEVICES_HEADER = "List of devices attached"
_STATES = ("device", "offline", "unauthorized", "recovery", "rescue", "sideload", "bootloader", "host",
           "connecting", "authorizing", "no permissions", "unknown")


def parse_devices(text: str) -> list[Device]:
    """Parse ``adb devices [-l]`` output (lines after the header; daemon start-up lines are ignored)."""
    out: list[Device] = []
    seen_header = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("*"):
            continue
        if line.startswith(_DEVICES_HEADER):
            seen_header = True
            continue
        if not seen_header:
            continue
        serial, _, rest = line.partition(" ") if "\t" not in line else line.partition("\t")
        rest = rest.strip()
        state = next((s for s in _STATES if rest == s or rest.startswith(s + " ")),
                     rest.split(" ")[0] if rest else "unknown")
        attrs = {}
        for tok in rest[len(state):].split():
            if ":" in tok:
                k, v = tok.split(":", 1)
                attrs[k] = v
            else:
                attrs.setdefault("extra", tok)
        out.append(Device(serial, state, attrs))
    return out


@dataclass
class ShellResult:
    status: int
    output: str  # stdout and stderr of the command, interleaved as the device shell produced them

    @property
    def ok(self) -> bool:
        return self.status == 0


def _one_line(text: str, limit: int = 300) -> str:
    s = " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return s if len(s) <= limit else s[: limit - 3] + "..."


class Adb:
    """The adb executable plus device discovery. ``Adb(adb=None)`` raises AdbNotFound if there is none."""

    def __init__(self, adb: str | os.PathLike | None = None, timeout: float = DEFAULT_TIMEOUT_S):
        self.exe = find_adb(adb)
        self.timeout = timeout

    def run(self, args: Sequence[str], serial: str | None = None, timeout: float | None = None,
            what: str | None = None) -> subprocess.CompletedProcess:
        """``adb [-s serial] args...``: the completed process (never raises on a non-zero exit)."""
        cmd = [self.exe] + (["-s", serial] if serial else []) + [str(a) for a in args]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                                  timeout=timeout or self.timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            dev = f" on {serial}" if serial else ""
            raise AdbError(f"adb {what or ' '.join(map(str, args[:2]))}{dev} timed out after "
                           f"{timeout or self.timeout:.0f} s: check the device and the USB connection") from None
        except OSError as e:
            raise AdbNotFound(f"{NOT_FOUND_MSG} ({self.exe}: {e.strerror})") from None

    def devices(self) -> list[Device]:
        p = self.run(["devices", "-l"], what="devices")
        if p.returncode != 0 or _DEVICES_HEADER not in p.stdout:
            raise AdbError(f"`adb devices -l` failed (exit {p.returncode}): {_one_line(p.stderr or p.stdout)}")
        return parse_devices(p.stdout)

    def _unavailable(self, d: Device) -> DeviceUnavailable:
        if d.state == "offline":
            return DeviceUnavailable(f"device '{d.serial}' is offline: reconnect the USB cable or run `adb reconnect`")
        if d.state == "unauthorized":
            return DeviceUnavailable(
                f"device '{d.serial}' is unauthorized: unlock the phone and accept the USB debugging prompt")
        if d.state.startswith("no permissions"):
            return DeviceUnavailable(
                f"device '{d.serial}': no permissions for the USB device (udev rules / plugdev group)")
        return DeviceUnavailable(f"device '{d.serial}' is in state {d.state!r}, not 'device': boot it to Android")

    def resolve(self, spec: str) -> list[str]:
        """Serials of ready devices for ``adb``, ``adb:SERIAL``, ``adb:S1,S2`` or ``adb:all``."""
        if spec != "adb" and not spec.startswith("adb:"):
            raise AdbError(f"bad device {spec!r}: use host, adb, adb:SERIAL, adb:S1,S2 or adb:all")
        devices = self.devices()
        ready = [d for d in devices if d.ready]
        if spec in ("adb", "adb:all"):
            if not devices:
                raise NoDevice(NO_DEVICE_MSG)
            if not ready:
                raise self._unavailable(devices[0])
            if spec == "adb" and len(ready) > 1:
                raise AdbError(f"several devices connected ({', '.join(d.serial for d in ready)}): "
                               "pass --device adb:SERIAL or --device adb:all")
            return [d.serial for d in ready]
        wanted = [s.strip() for s in spec[4:].split(",") if s.strip()]
        if not wanted:
            raise AdbError(f"bad device {spec!r}: no serial after 'adb:'")
        if not devices:
            raise NoDevice(NO_DEVICE_MSG)
        by_serial = {d.serial: d for d in devices}
        for s in wanted:
            d = by_serial.get(s)
            if d is None:
                listed = ", ".join(f"{x.serial} ({x.state})" for x in devices)
                raise DeviceUnavailable(f"device '{s}' not found by adb (connected: {listed}): check the serial "
                                        "in `adb devices -l`")
            if not d.ready:
                raise self._unavailable(d)
        return list(dict.fromkeys(wanted))

    def device(self, serial: str) -> "AdbDevice":
        return AdbDevice(self, serial)


class AdbDevice:
    """Commands on one device (``adb -s SERIAL ...``)."""

    def __init__(self, adb: Adb, serial: str):
        self.adb = adb
        self.serial = serial
        self._props: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"AdbDevice({self.serial!r})"

    # ---- errors ------------------------------------------------------------------------------

    def _failure(self, p: subprocess.CompletedProcess, what: str, detail: str | None = None) -> AdbError:
        """A failed adb command: DeviceDisconnected if the device is no longer there, else AdbCommandFailed."""
        detail = _one_line(p.stderr or p.stdout) if detail is None else detail
        state = self._state_or_none()
        if state != "device":
            return self._gone(what, detail, state)
        return AdbCommandFailed(f"adb {what} on {self.serial} failed (exit {p.returncode}): {detail or 'no output'}")

    def _state_or_none(self) -> str | None:
        try:
            return self.state()
        except AdbError:
            return None

    def _gone(self, what: str, detail: str = "", state: str | None = "?") -> DeviceDisconnected:
        if state == "?":
            state = self._state_or_none()
        now = f"now {state}" if state else "no longer listed by adb"
        return DeviceDisconnected(
            f"device '{self.serial}' disconnected during {what} ({now}"
            + (f"; adb said: {detail}" if detail else "") + "): partial results were not written as complete")

    # ---- state and properties ------------------------------------------------------------------

    def state(self) -> str | None:
        """The device's state from ``adb devices -l`` (``device``, ``offline``, ...) or None if not listed.

        (``adb get-state`` would do, but it is not used to decide: its "not found" message and a
        dropped connection look alike.)"""
        for d in self.adb.devices():
            if d.serial == self.serial:
                return d.state
        return None

    def check_ready(self) -> None:
        for d in self.adb.devices():
            if d.serial == self.serial:
                if not d.ready:
                    raise self.adb._unavailable(d)
                return
        raise DeviceUnavailable(f"device '{self.serial}' not found by adb: check the serial in `adb devices -l`")

    def get_state(self) -> str:
        """``adb get-state``: the state string, or AdbError."""
        p = self.adb.run(["get-state"], self.serial, what="get-state")
        if p.returncode != 0:
            raise self._failure(p, "get-state")
        return p.stdout.strip()

    def getprop(self, name: str | None = None) -> str | dict[str, str]:
        """``getprop NAME`` (str, "" if unset) or all properties (dict) from ``getprop``."""
        if name is not None:
            return self.shell(["getprop", name], what=f"getprop {name}").output.strip()
        out = self.shell(["getprop"], what="getprop").output
        props = {}
        for m in re.finditer(r"^\[([^\]]+)\]: \[(.*)\]\s*$", out, re.M):
            props[m.group(1)] = m.group(2)
        return props

    def props(self) -> dict[str, str]:
        if self._props is None:
            self._props = self.getprop()  # type: ignore[assignment]
        return self._props  # type: ignore[return-value]

    def info(self) -> dict[str, str]:
        """Provenance.device for a profile: model, soc, android_version, abi (+ what else is known)."""
        p = self.props()
        soc = next((p[k] for k in PROP_SOC if p.get(k)), "")
        out = {
            "serial": self.serial,
            "model": p.get(PROP_MODEL, ""),
            "manufacturer": p.get(PROP_MANUFACTURER, ""),
            "soc": (f"{p[PROP_SOC_MANUFACTURER]} {soc}" if p.get(PROP_SOC_MANUFACTURER) and soc else soc),
            "android_version": p.get(PROP_ANDROID, ""),
            "sdk": p.get(PROP_SDK, ""),
            "abi": p.get(PROP_ABI, ""),
        }
        return {k: v for k, v in out.items() if v}

    # ---- commands ------------------------------------------------------------------------------

    def shell(self, cmd: str | Sequence[str], *, check: bool = True, timeout: float | None = None,
              what: str | None = None) -> ShellResult:
        """Run ``cmd`` in the device shell (a string is passed as is; a list is quoted for ``sh``).

        The exit status comes from an ``echo`` marker, so it is right on devices whose adb shell does
        not report it. stderr is merged into the output. ``check``: raise AdbCommandFailed on a
        non-zero status. A missing marker raises DeviceDisconnected."""
        text = cmd if isinstance(cmd, str) else " ".join(shlex.quote(str(c)) for c in cmd)
        what = what or (text if len(text) < 60 else text[:57] + "...")
        marker = f"__EDGE_EXPORT_RC_{uuid.uuid4().hex[:12]}__"
        p = self.adb.run(["shell", f"{{ {text} ; }} 2>&1; echo {marker}$?"], self.serial, timeout, what=f"shell {what}")
        out = (p.stdout or "").replace("\r\n", "\n")  # old devices' adb shell runs under a pty
        m = re.search(re.escape(marker) + r"(\d+)\s*$", out)
        if m is None:  # the command did not finish: adb failed, or the connection dropped under it
            last = [ln for ln in out.splitlines() if ln.strip()][-2:]
            detail = _one_line(p.stderr or "") or ("last output: " + " | ".join(last) if last else "")
            raise self._failure(p, f"`{what}`", detail)
        result = ShellResult(int(m.group(1)), out[: m.start()].rstrip("\n"))
        if check and not result.ok:
            raise AdbCommandFailed(f"`{what}` on {self.serial} exited with status {result.status}: "
                                   f"{_one_line(result.output[-2000:]) or 'no output'}")
        return result

    def push(self, src: str | os.PathLike, dst: str, timeout: float | None = None) -> None:
        src = Path(src)
        if not src.exists():
            raise AdbError(f"cannot push {src}: no such file")
        p = self.adb.run(["push", str(src), dst], self.serial, timeout, what=f"push {src.name}")
        if p.returncode != 0:
            raise self._failure(p, f"push of {src.name} to {dst}")

    def pull(self, src: str, dst: str | os.PathLike, timeout: float | None = None) -> Path:
        dst = Path(dst)
        p = self.adb.run(["pull", src, str(dst)], self.serial, timeout, what=f"pull {src}")
        if p.returncode != 0:
            raise self._failure(p, f"pull of {src}")
        return dst

    def install(self, apk: str | os.PathLike, replace: bool = True, timeout: float | None = None) -> None:
        apk = Path(apk)
        if not apk.is_file():
            raise AdbError(f"cannot install {apk}: no such file")
        p = self.adb.run(["install"] + (["-r"] if replace else []) + [str(apk)], self.serial, timeout,
                         what=f"install {apk.name}")
        if p.returncode != 0 or "Success" not in p.stdout:
            raise self._failure(p, f"install of {apk.name}")

    def logcat(self, *args: str, timeout: float | None = None) -> str:
        """``adb logcat -d ARGS``: dump and exit (never the blocking follow mode)."""
        self.check_ready()  # `adb logcat` waits forever for a missing device
        p = self.adb.run(["logcat", "-d", *args], self.serial, timeout, what="logcat")
        if p.returncode != 0:
            raise self._failure(p, "logcat")
        return p.stdout

    def clear_logcat(self) -> None:
        self.check_ready()
        p = self.adb.run(["logcat", "-c"], self.serial, what="logcat -c")
        if p.returncode != 0:
            raise self._failure(p, "logcat -c")

    def exists(self, path: str) -> bool:
        return self.shell(f"test -e {shlex.quote(path)}", check=False, what=f"test -e {path}").status == 0

    def mkdir(self, path: str) -> None:
        self.shell(["mkdir", "-p", path], what=f"mkdir -p {path}")

    def remove(self, *paths: str) -> None:
        if paths:
            self.shell(["rm", "-rf", *paths], check=False, what="rm -rf")

    def push_executable(self, src: str | os.PathLike, dst: str) -> None:
        self.push(src, dst)
        self.shell(["chmod", "755", dst], what=f"chmod 755 {dst}")


def quote_args(args: Iterable[str]) -> str:
    return " ".join(shlex.quote(str(a)) for a in args)
