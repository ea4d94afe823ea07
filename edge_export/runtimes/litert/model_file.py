"""Reading a .tflite file safely before LiteRT sees it: LiteRtCreateModelFromFile does not verify the
flatbuffer (a truncated file crashes the process), so the file is read into an aligned buffer and
its identifier and external buffer ranges are checked first."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_export.runtimes.litert.clib import HOST_MEMORY_ALIGNMENT, TFLITE_FILE_IDENTIFIER, LiteRtError


def aligned_empty(nbytes: int) -> np.ndarray:
    """A uint8 array of ``nbytes`` (at least 1) whose data is HOST_MEMORY_ALIGNMENT-aligned."""
    n = max(int(nbytes), 1)
    raw = np.empty(n + HOST_MEMORY_ALIGNMENT, dtype=np.uint8)
    offset = (-raw.ctypes.data) % HOST_MEMORY_ALIGNMENT
    view = raw[offset : offset + n]
    assert view.ctypes.data % HOST_MEMORY_ALIGNMENT == 0
    return view


def read_model_bytes(path: Path) -> np.ndarray:
    """Read and pre-check a .tflite file; raise LiteRtError for anything that is not one."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise LiteRtError(
            f"cannot load {path}: kLiteRtStatusErrorFileIO (no such file)", 500
        ) from None
    except OSError as exc:
        raise LiteRtError(
            f"cannot load {path}: kLiteRtStatusErrorFileIO ({exc.strerror})", 500
        ) from None
    if not path.is_file():
        raise LiteRtError(f"cannot load {path}: kLiteRtStatusErrorFileIO (not a regular file)", 500)
    if size < 8:
        raise LiteRtError(
            f"cannot load {path}: kLiteRtStatusErrorInvalidFlatbuffer ({size} bytes is too short "
            "for a TFLite flatbuffer)",
            501,
        )
    buf = aligned_empty(size)
    try:
        with open(path, "rb") as fh:
            got = fh.readinto(memoryview(buf))
    except OSError as exc:
        raise LiteRtError(
            f"cannot load {path}: kLiteRtStatusErrorFileIO ({exc.strerror})", 500
        ) from None
    if got != size:
        raise LiteRtError(f"cannot load {path}: kLiteRtStatusErrorFileIO (short read)", 500)
    ident = bytes(buf[4:8])
    if ident != TFLITE_FILE_IDENTIFIER:
        raise LiteRtError(
            f"cannot load {path}: kLiteRtStatusErrorInvalidFlatbuffer (file identifier "
            f"{ident!r} at offset 4, expected {TFLITE_FILE_IDENTIFIER!r}: not a .tflite model)",
            501,
        )
    return buf


def check_external_buffers(buf: np.ndarray, path: Path) -> None:
    """Buffers stored after the flatbuffer (``offset``/``size`` fields) must lie inside the file.

    LiteRT's flatbuffer verifier (run by LiteRtCreateModelFromBuffer) checks the flatbuffer
    tables, not these file ranges. This walks only ``Model.buffers`` with the pure-Python
    flatbuffers reader, which cannot crash the process; any exception on a garbled file is an
    invalid flatbuffer.
    """
    from ai_edge_litert import schema_py_generated as schema

    size = buf.nbytes
    bad = None
    try:
        model = schema.Model.GetRootAs(memoryview(buf), 0)
        count = int(model.BuffersLength())
        if count < 0 or count * 4 > size:
            bad = f"{count} buffers in a {size}-byte file"
        else:
            for i in range(count):
                entry = model.Buffers(i)
                if entry is None:
                    continue
                offset, length = int(entry.Offset()), int(entry.Size())
                if offset > 1 and offset + length > size:
                    bad = (
                        f"buffer {i} spans bytes {offset}..{offset + length} of a {size}-byte "
                        "file: truncated"
                    )
                    break
    except Exception as exc:  # garbled tables: struct.error, IndexError, ...
        bad = f"model tables unreadable: {exc}"
    if bad is not None:
        raise LiteRtError(f"cannot load {path}: kLiteRtStatusErrorInvalidFlatbuffer ({bad})", 501)
