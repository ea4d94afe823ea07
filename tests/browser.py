"""Headless Debian Chromium driven over the Chrome DevTools Protocol, standard library only.

    with Chromium.launch(tmp_path) as browser:          # None-safe: `find_chromium()` first
        page = browser.open("file:///.../report.html")  # console errors, exceptions, requests recorded
        page.evaluate("document.title")
        page.click_at("#some-button")                   # a real mouse click (Input.dispatchMouseEvent)
        page.screenshot(tmp_path / "page.png")

The browser is started with a fresh --user-data-dir and the flags that keep it from reaching the
network by itself; the page's own network requests are recorded (`page.requests`) so a test can
assert a report fetches nothing. Chromium is started in its own process group and that group (and
only it) is ended on exit.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    return None


class CDPError(RuntimeError):
    pass


class _WebSocket:
    """A minimal RFC 6455 client: text frames out (masked), text/continuation frames in."""

    def __init__(self, host: str, port: int, path: str, timeout: float = 30.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise CDPError("websocket handshake: connection closed")
            head += chunk
        status, _, rest = head.partition(b"\r\n\r\n")
        if b" 101 " not in status.split(b"\r\n")[0]:
            raise CDPError(f"websocket handshake refused: {status.decode(errors='replace')[:200]}")
        self.buf = bytearray(rest)

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise CDPError("websocket closed by the browser")
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def send(self, text: str) -> None:
        payload = text.encode()
        n = len(payload)
        header = bytes([0x81])
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def recv(self) -> str:
        parts: list[bytes] = []
        while True:
            b0, b1 = self._read(2)
            op, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack(">H", self._read(2))
            elif n == 127:
                (n,) = struct.unpack(">Q", self._read(8))
            mask = self._read(4) if b1 & 0x80 else None
            data = self._read(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if op == 0x8:
                raise CDPError("websocket closed by the browser")
            if op == 0x9:  # ping -> pong
                self.sock.sendall(bytes([0x8A, 0x80 | len(data)]) + b"\0\0\0\0" + data)
                continue
            if op in (0x1, 0x2, 0x0):
                parts.append(data)
                if b0 & 0x80:
                    return b"".join(parts).decode()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Page:
    """One tab: send commands, and record console errors, exceptions and network requests."""

    def __init__(self, ws: _WebSocket):
        self.ws = ws
        self._id = 0
        self.events: list[dict] = []
        self.console_errors: list[str] = []
        self.exceptions: list[str] = []
        self.requests: list[str] = []

    def _note(self, ev: dict) -> None:
        self.events.append(ev)
        m, p = ev.get("method"), ev.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.console_errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.exceptions.append(d.get("exception", {}).get("description") or d.get("text", "exception"))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            self.console_errors.append(f"{e.get('source')}: {e.get('text')} {e.get('url', '')}".strip())
        elif m == "Network.requestWillBeSent":
            self.requests.append(p.get("request", {}).get("url", ""))

    def send(self, method: str, params: dict | None = None, timeout: float = 30.0) -> dict:
        self._id += 1
        mid = self._id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise CDPError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self._note(msg)
        raise CDPError(f"{method}: no answer in {timeout} s")

    def wait_event(self, method: str, timeout: float = 30.0) -> dict:
        for ev in self.events:
            if ev.get("method") == method:
                return ev
        deadline = time.monotonic() + timeout
        self.ws.sock.settimeout(timeout)
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if "method" in msg:
                self._note(msg)
                if msg["method"] == method:
                    return msg
        raise CDPError(f"no {method} event in {timeout} s")

    def evaluate(self, expr: str):
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise CDPError(f"evaluate {expr[:80]!r}: {r['exceptionDetails'].get('text')}")
        return r.get("result", {}).get("value")

    def wait_for(self, expr: str, timeout: float = 20.0, interval: float = 0.1):
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.evaluate(expr)
            if value:
                return value
            time.sleep(interval)
        raise CDPError(f"timed out after {timeout} s waiting for {expr!r} (last value {value!r})")

    def click(self, x: float, y: float) -> None:
        """A real left click at viewport point (x, y), as a user's mouse makes it (Input domain: the pointer
        moves there, presses, releases), so the page's own handlers decide what it hit."""
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def click_at(self, expr: str) -> tuple[float, float]:
        """Click where `expr` points: a parenthesised JS expression giving [x, y] in the viewport, or else a
        CSS selector (that element is scrolled to the middle of the viewport and clicked at its centre).
        Returns the point clicked."""
        if not expr.lstrip().startswith("("):
            expr = (
                f"(() => {{ const e = document.querySelector({json.dumps(expr)}); e.scrollIntoView({{block: 'center'}});"
                " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
            )
        x, y = self.evaluate(expr)
        self.click(x, y)
        return x, y

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        params: dict = {"format": "png"}
        if full_page:
            m = self.send("Page.getLayoutMetrics")
            size = m.get("cssContentSize") or m["contentSize"]
            params.update(
                captureBeyondViewport=True,
                clip={"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 16000), "scale": 1},
            )
        data = self.send("Page.captureScreenshot", params, timeout=60)["data"]
        path = Path(path)
        path.write_bytes(base64.b64decode(data))
        return path


class Chromium:
    def __init__(self, proc: subprocess.Popen, port: int, profile_dir: Path):
        self.proc = proc
        self.port = port
        self.profile_dir = profile_dir
        self.pages: list[Page] = []

    @classmethod
    def launch(cls, tmp_dir: Path, exe: str | None = None, width: int = 1400, height: int = 1000, timeout: float = 30.0):
        exe = exe or find_chromium()
        if not exe:
            raise CDPError("chromium is not installed (apt-get install -y chromium)")
        profile_dir = Path(tmp_dir) / "chromium-profile"
        profile_dir.mkdir(parents=True, exist_ok=True)
        port_file = profile_dir / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)  # a reused profile dir: the last browser's port is not this one's
        log = open(Path(tmp_dir) / "chromium.log", "wb")
        proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={profile_dir}", f"--window-size={width},{height}", "about:blank"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_file.is_file():
                lines = port_file.read_text().split()
                if lines and lines[0].isdigit():
                    return cls(proc, int(lines[0]), profile_dir)
            if proc.poll() is not None:
                tail = (Path(tmp_dir) / "chromium.log").read_text(errors="replace")[-2000:]
                raise CDPError(f"chromium exited with {proc.returncode}: {tail}")
            time.sleep(0.05)
        cls(proc, 0, profile_dir).close()
        raise CDPError(f"chromium wrote no DevToolsActivePort in {timeout} s")

    def _http(self, path: str, method: str = "GET"):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path)
            return json.loads(conn.getresponse().read() or b"null")
        finally:
            conn.close()

    def open(self, url: str, timeout: float = 30.0) -> Page:
        """A fresh tab with Runtime/Log/Network/Page enabled, navigated to `url` (waits for load)."""
        target = self._http("/json/new?about:blank", method="PUT")
        ws_url = target["webSocketDebuggerUrl"]
        path = ws_url.split(f":{self.port}", 1)[1]
        page = Page(_WebSocket("127.0.0.1", self.port, path, timeout=timeout))
        self.pages.append(page)
        for domain in ("Runtime", "Log", "Network", "Page"):
            page.send(f"{domain}.enable")
        page.send("Page.navigate", {"url": url})
        page.wait_event("Page.loadEventFired", timeout=timeout)
        return page

    def close(self) -> None:
        for p in self.pages:
            p.ws.close()
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # the group chromium leads (start_new_session)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
