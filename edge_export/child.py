"""Child processes: the one way edge-export runs work in a fresh interpreter.

Work goes to a child when it must not share this process: a native library that can abort or crash
(a bad .tflite, QNN), one that reads LD_LIBRARY_PATH only at start (QNN), two that cannot share a
process (TensorFlow and ai_edge_litert: duplicate protobufs), or a measurement that must not see this
process's memory or threads (LiteRT's profiler, benchmark contestants).

Three shapes, one module:

* `run_process(argv, ...)`: any command; a crash, a non-zero exit or a timeout becomes one `ChildFailed`
  line naming the signal or exit code and the log's most telling line.
* `call(entry, request, ...)`: `entry(request) -> dict` ("package.module:function", or "path/file.py:function")
  in `python -m edge_export.child`; the request and the result travel as JSON files, so nothing a native
  library prints can corrupt them. An exception in the child is raised in the parent as one line.
* `Session(entry, init, ...)`: `entry(init)` returns a handler that the child keeps and calls once per
  request, JSON lines over stdin and a private copy of the child's stdout (its fd 1 goes to the log).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from edge_export.errors import ExportFailed

PACKAGE_PARENT = str(Path(__file__).resolve().parents[1])


class ChildFailed(ExportFailed):
    """A child process crashed, exited non-zero, timed out, or its function raised."""

    def __init__(self, message: str, *, returncode: int | None = None, log: str = ""):
        super().__init__(" ".join(str(message).split()))
        self.returncode = returncode
        self.log = log


def child_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this environment) with this package importable, also from an uninstalled checkout."""
    env = dict(os.environ if base is None else base)
    py_path = env.get("PYTHONPATH", "")
    if PACKAGE_PARENT not in py_path.split(os.pathsep):
        env["PYTHONPATH"] = os.pathsep.join([PACKAGE_PARENT] + ([py_path] if py_path else []))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def exit_reason(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name} (a crash inside a native library?)"
    if code == 134:
        return "aborted (exit 134, a C++ assertion)"
    return f"failed (exit {code})"


def signal_name(code: int | None) -> str | None:
    if code is None or code >= 0:
        return None
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


_ERROR_LINE_RE = re.compile(r"(Error|ERROR|Exception|error:|\<E\>|Traceback)")


def telling_line(log: str, ignore: Sequence[str] = ()) -> str:
    """The most telling line of a child's log, trimmed: a Python exception's last line, else the last
    error line of a native library (lines containing any of `ignore` are noise), else the last line."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Failed)\b.*:", ln) or ln.startswith("edge_export."):
            return ln[:400]
    for ln in reversed(lines):
        if _ERROR_LINE_RE.search(ln) and not any(i in ln for i in ignore):
            return ln[:400]
    return lines[-1][:400] if lines else ""


def _run(argv: Sequence[str], what: str, cwd, env, timeout, failed) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(list(argv), cwd=None if cwd is None else str(cwd), env=child_env(env),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or ""
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
        raise failed(f"{what} timed out after {timeout:.0f} s", log=out) from None


def _died(proc, what: str, failed, detail: str, ignore: Sequence[str] = ()) -> ChildFailed:
    last = telling_line(proc.stdout, ignore)
    return failed(f"{what} {exit_reason(proc.returncode)}{detail}" + (f": {last}" if last else ""),
                  returncode=proc.returncode, log=proc.stdout)


def run_process(
    argv: Sequence[str],
    *,
    what: str,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    failed: type[ChildFailed] = ChildFailed,
    detail: str = "",
    ignore: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run `argv` (stdout and stderr merged into .stdout); `failed` with one line unless it exits 0.
    `detail` follows the exit reason in the message; log lines containing any of `ignore` are noise."""
    proc = _run(argv, what, cwd, env, timeout, failed)
    if proc.returncode != 0:
        raise _died(proc, what, failed, detail, ignore)
    return proc


def child_argv(entry: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "edge_export.child", entry, *args]


def call(
    entry: str,
    request: dict[str, Any],
    *,
    what: str,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    failed: type[ChildFailed] = ChildFailed,
    detail: str = "",
) -> dict[str, Any]:
    """`entry(request)` in a child process, and its result. `failed` (one line, with the child's log) when the
    function raised ("{what} failed{detail}: {error}") or the child died (signal or exit code, telling line)."""
    with tempfile.TemporaryDirectory(prefix="edge-export-child-") as tmp:
        req, res = Path(tmp) / "request.json", Path(tmp) / "result.json"
        req.write_text(json.dumps(request))
        proc = _run(child_argv(entry, str(req), str(res)), what, cwd, env, timeout, failed)
        result = json.loads(res.read_text()) if res.is_file() else None
    if result is not None and proc.returncode == 1 and "__error__" in result:
        raise failed(f"{what} failed{detail}: {result['__error__']}", returncode=1, log=proc.stdout)
    if result is None or proc.returncode != 0:
        raise _died(proc, what, failed, detail)
    return result


class Session:
    """A child that keeps `entry(init)`'s handler and answers requests, one JSON line each way."""

    def __init__(self, entry: str, init: dict[str, Any], *, what: str, cwd: str | Path | None = None,
                 env: Mapping[str, str] | None = None, log_path: str | Path | None = None,
                 timeout: float | None = None, failed: type[ChildFailed] = ChildFailed, wait_ready: bool = True):
        self.what, self.timeout, self.failed = what, timeout, failed
        self._tmp = None
        if log_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="edge-export-session-")
            log_path = Path(self._tmp.name) / "child.log"
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "ab")
        self._buf = b""
        self.proc = subprocess.Popen(child_argv("--serve", entry), cwd=None if cwd is None else str(cwd),
                                     env=child_env(env), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log)
        self.ready: dict[str, Any] | None = None
        self._write(init)
        if wait_ready:
            self.wait_ready()

    @property
    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self) -> dict[str, Any]:
        if self.ready is None:
            try:
                self.ready = self.recv(f"starting {self.what}")
            except BaseException:
                self.close()
                raise
        return self.ready

    def _write(self, obj: dict[str, Any]) -> None:
        try:
            self.proc.stdin.write((json.dumps(obj) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass  # the child is gone: recv() says why

    def send(self, obj: dict[str, Any]) -> None:
        self.wait_ready()
        if self.proc is None:
            raise self.failed(f"{self.what} is closed", log=self.log)
        self._write(obj)

    def recv(self, doing: str = "answering") -> dict[str, Any]:
        """The next reply; `failed` when the child exits or the timeout passes. A reply with "ok": false is
        returned as it is (the handler raised; the session goes on)."""
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                self.proc.kill()
                self.proc.wait()
                raise self.failed(f"{self.what} timed out after {self.timeout:.0f} s {doing}", log=self.log)
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                code = self.proc.wait()
                log = self.log
                last = telling_line(log)
                raise self.failed(f"{self.what} {exit_reason(code)} while {doing}" + (f": {last}" if last else ""),
                                  returncode=code, log=log)
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, obj: dict[str, Any], doing: str = "answering") -> dict[str, Any]:
        self.send(obj)
        return self.recv(doing)

    def close(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                self._write({"cmd": "quit"})
                proc.stdin.close()
                proc.wait(timeout=30)
            except Exception:
                pass
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if not self._log.closed:
            self._log.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):  # a forgotten session must not leave a child behind
        with contextlib.suppress(Exception):
            self.close()


# ------------------------------------------------------------------------------------ the child's side


def _resolve(entry: str) -> Callable[..., Any]:
    target, _, name = entry.rpartition(":")
    if target.endswith(".py"):
        spec = importlib.util.spec_from_file_location(Path(target).stem, target)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    return getattr(module, name)


def error_reply(exc: BaseException) -> dict[str, Any]:
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return {"ok": False, "error": f"{type(exc).__name__}: {first}" if first else type(exc).__name__}


def _call_main(entry: str, request_path: str, result_path: str) -> int:
    os.dup2(2, 1)  # anything printed goes to the log; the result goes to its file
    request = json.loads(Path(request_path).read_text())
    try:
        result = _resolve(entry)(request)
        code = 0
    except Exception as exc:  # reported to the parent, which raises it as one line
        import traceback

        traceback.print_exc()
        result, code = {"__error__": error_reply(exc)["error"]}, 1
    tmp = result_path + ".tmp"
    Path(tmp).write_text(json.dumps(result))
    os.replace(tmp, result_path)
    return code


def _serve_main(entry: str) -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # native logging and print() go to the log, not the protocol channel
    sys.stdout = sys.stderr

    def reply(obj: dict[str, Any]) -> None:
        proto.write(json.dumps(obj) + "\n")
        proto.flush()

    init = json.loads(sys.stdin.readline() or "{}")
    try:
        handler = _resolve(entry)(init)
        reply({"ok": True, **(getattr(handler, "ready", None) or {})})
    except Exception as exc:  # reported to the parent; the child ends
        import traceback

        traceback.print_exc()
        reply(error_reply(exc))
        return 1
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        if req.get("cmd") == "quit":
            reply({"ok": True})
            break
        try:
            reply({"ok": True, **handler(req)})
        except Exception as exc:  # reported to the parent; the session goes on
            import traceback

            traceback.print_exc()
            reply(error_reply(exc))
    close = getattr(handler, "close", None)
    if close is not None:
        close()
    return 0


def main(argv: Sequence[str]) -> int:
    if len(argv) == 2 and argv[0] == "--serve":
        return _serve_main(argv[1])
    if len(argv) == 3:
        return _call_main(*argv)
    print("usage: python -m edge_export.child ENTRY REQUEST.json RESULT.json | --serve ENTRY", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
