"""edge_export.runtimes.litert.capi against the real libLiteRt.so of the installed ai-edge-litert wheel.

The model is built here: a small conv + linear PyTorch module converted with litert_torch
(a few seconds), big enough (112x112 input) that operator time dominates the run.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")
torch = pytest.importorskip("torch")
litert_torch = pytest.importorskip("litert_torch")

from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402

from edge_export.runtimes.litert.capi import (  # noqa: E402
    LiteRtError,
    LiteRtProfile,
    LiteRtProfiledModel,
    OpEvent,
    library_path,
)

INPUT_SHAPE = (1, 3, 112, 112)


class _SmallNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Sequential(
            torch.nn.Conv2d(3, 24, 3, stride=2, padding=1),
            torch.nn.BatchNorm2d(24),
            torch.nn.ReLU(),
        )
        self.dw = torch.nn.Conv2d(24, 24, 3, padding=1, groups=24)
        self.pw = torch.nn.Conv2d(24, 48, 1)
        self.down = torch.nn.Conv2d(48, 96, 3, stride=2, padding=1)
        self.head = torch.nn.Linear(96, 10)

    def forward(self, x):
        x = self.stem(x)
        x = x + torch.nn.functional.gelu(self.dw(x))
        x = torch.relu(self.pw(x))
        x = torch.relu(self.down(x))
        return self.head(x.mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    module = _SmallNet().eval()
    sample = torch.randn(*INPUT_SHAPE)
    path = tmp_path_factory.mktemp("litert_capi") / "small.tflite"
    litert_torch.convert(module, (sample,)).export(str(path))
    return path


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    return np.random.default_rng(0).standard_normal(INPUT_SHAPE).astype(np.float32)


def _interpreter(path: Path, threads: int, *, xnnpack: bool) -> Interpreter:
    kwargs = {} if xnnpack else {
        "experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    }
    interp = Interpreter(model_path=str(path), num_threads=threads, **kwargs)
    interp.allocate_tensors()
    return interp


def _tflite_ops(path: Path) -> list[tuple[int, str]]:
    """(index, op name) of every TFLite op, from the interpreter with no delegate applied."""
    interp = _interpreter(path, 1, xnnpack=False)
    return [(int(op["index"]), op["op_name"]) for op in interp._get_ops_details()]


@pytest.fixture(scope="module")
def delegate_profile(model_path, sample) -> LiteRtProfile:
    with LiteRtProfiledModel(model_path, threads=1, kernel_mode="delegate") as model:
        return model.profile([sample], runs=7, warmup=2, with_summary=True)


@pytest.fixture(scope="module")
def builtin_profile(model_path, sample) -> LiteRtProfile:
    with LiteRtProfiledModel(model_path, threads=1, kernel_mode="builtin") as model:
        return model.profile([sample], runs=5, warmup=1)


# ---- model I/O and outputs ------------------------------------------------------------------


def test_library_is_the_wheels():
    assert library_path().is_file()


def test_inputs_outputs_match_signature(model_path):
    interp = _interpreter(model_path, 1, xnnpack=True)
    runner = interp.get_signature_runner()
    in_details = runner.get_input_details()
    out_details = runner.get_output_details()
    with LiteRtProfiledModel(model_path, threads=1) as model:
        assert model.signature_key == "serving_default"
        assert [i.name for i in model.inputs] == list(in_details)
        assert [o.name for o in model.outputs] == list(out_details)
        for info in model.inputs:
            assert info.shape == tuple(in_details[info.name]["shape"])
            assert info.dtype == np.dtype(in_details[info.name]["dtype"]).name
        for info in model.outputs:
            assert info.shape == tuple(out_details[info.name]["shape"])
            assert info.dtype == np.dtype(out_details[info.name]["dtype"]).name


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kernel_mode", ["delegate", "builtin"])
def test_outputs_equal_interpreter(model_path, sample, kernel_mode, threads):
    interp = _interpreter(model_path, threads, xnnpack=(kernel_mode == "delegate"))
    runner = interp.get_signature_runner()
    expected = runner(**{"args_0": sample})
    with LiteRtProfiledModel(model_path, threads=threads, kernel_mode=kernel_mode) as model:
        got = model.run([sample])
        again = model.run([sample])  # buffers are reused between runs
    assert len(got) == len(model.outputs)
    for info, value, value2 in zip(model.outputs, got, again):
        ref = expected[info.name]
        assert value.shape == ref.shape and value.dtype == ref.dtype
        np.testing.assert_allclose(value, ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(value, value2)


def test_run_returns_copies(model_path, sample):
    with LiteRtProfiledModel(model_path, threads=1) as model:
        first = model.run([sample])[0]
        kept = first.copy()
        model.run([np.zeros_like(sample)])
    np.testing.assert_array_equal(first, kept)


# ---- delegate (XNNPACK) profile -------------------------------------------------------------


def test_delegate_profile_structure(delegate_profile):
    prof = delegate_profile
    assert prof.runs == 7 and prof.warmup == 2
    assert prof.threads == 1 and prof.kernel_mode == "delegate"
    assert all(ms > 0 for ms in prof.whole_run_ms)
    assert prof.events and all(isinstance(e, OpEvent) for e in prof.events)
    assert {e.run for e in prof.events} == set(range(prof.runs))

    per_run = [prof.op_events(r) for r in range(prof.runs)]
    counts = [len(ev) for ev in per_run]
    assert counts[0] > 0 and len(set(counts)) == 1, counts
    for events in per_run:
        assert all(e.kind == "delegate_op" for e in events)
        assert all(e.event_type == "DELEGATE_PROFILED_OPERATOR_INVOKE_EVENT" for e in events)
        # XNNPACK node indices 0..n-1, each once per run, in execution order.
        assert [e.op_index for e in events] == list(range(len(events)))
        assert all(e.elapsed_ms >= 0 for e in events)
        assert sum(e.elapsed_ms for e in events) > 0
        assert all(e.name and not e.name.startswith("Delegate/") for e in events)
        assert all(e.label == f"Delegate/{e.name}:{e.op_index}" for e in events)
    # The same XNNPACK graph every run.
    names = [[e.name for e in ev] for ev in per_run]
    assert all(n == names[0] for n in names)
    assert any("Convolution" in n for n in names[0])


def test_events_grouped_per_run(delegate_profile):
    prof = delegate_profile
    for r in range(prof.runs):
        events = prof.run_events(r)
        assert [e.seq for e in events] == list(range(len(events)))
        runtime = Counter(e.name for e in events if e.kind == "runtime")
        assert runtime["Invoke"] == 1, runtime
        assert runtime["LiteRT::Run[buffer registration]"] == 1
        # Warm-up runs were not profiled, so no run carries the first-run allocation.
        assert "AllocateTensors" not in runtime
    # Events appear run by run, never interleaved.
    assert [e.run for e in prof.events] == sorted(e.run for e in prof.events)
    # Telemetry "Invoke" carries a status code in its elapsed field, never a time.
    for e in prof.events:
        if e.kind == "telemetry":
            assert e.elapsed_ms == 0.0


def test_delegate_event_sum_vs_whole_run(delegate_profile):
    prof = delegate_profile
    op_sum = prof.op_sum_ms()
    invoke = prof.invoke_ms()
    n_ops = len(prof.op_events(0))
    for r in range(prof.runs):
        # Per-op events nest inside the interpreter's Invoke (microsecond truncation aside).
        assert invoke[r] is not None
        assert op_sum[r] <= invoke[r] + 0.001 * n_ops + 1e-9
        assert invoke[r] <= prof.whole_run_ms[r] + 0.001
    # (How much of the wall time the ops cover is a timing question, measured in the XS collector run,
    # not asserted here: a loaded machine preempts inside any op.)


def test_summary_text(delegate_profile):
    text = delegate_profile.summary
    assert text and "Run Order" in text and "Delegate/" in text


# ---- builtin profile -----------------------------------------------------------------------


def test_builtin_profile_one_event_per_tflite_op(model_path, builtin_profile):
    ops = _tflite_ops(model_path)
    assert ops and "DELEGATE" not in {name for _, name in ops}
    prof = builtin_profile
    for r in range(prof.runs):
        events = prof.op_events(r)
        assert all(e.kind == "op" and e.event_type == "OPERATOR_INVOKE_EVENT" for e in events)
        assert [(e.op_index, e.name) for e in events] == ops
        assert all(e.metadata2 == 0 for e in events)  # subgraph index
        assert all(e.start_us is not None for e in events)
    assert not [e for e in prof.events if e.kind == "delegate_op"]


def test_profile_twice_starts_fresh(model_path, sample):
    with LiteRtProfiledModel(model_path, threads=1) as model:
        first = model.profile([sample], runs=2, warmup=1)
        second = model.profile([sample], runs=3, warmup=0)
    assert {e.run for e in second.events} == {0, 1, 2}
    assert len(second.op_events(0)) == len(first.op_events(0))
    assert len(second.run_events(2)) == len(first.run_events(1))


# ---- argument checks ------------------------------------------------------------------------


@pytest.mark.parametrize("threads", [0, -1, None, 1.5, True])
def test_threads_must_be_explicit_positive_int(model_path, threads):
    with pytest.raises(ValueError, match="threads"):
        LiteRtProfiledModel(model_path, threads=threads)


def test_threads_is_keyword_only(model_path):
    with pytest.raises(TypeError):
        LiteRtProfiledModel(model_path, 1)  # type: ignore[misc]
    with pytest.raises(TypeError):
        LiteRtProfiledModel(model_path)  # type: ignore[call-arg]


def test_bad_kernel_mode(model_path):
    with pytest.raises(ValueError, match="kernel_mode"):
        LiteRtProfiledModel(model_path, threads=1, kernel_mode="gpu")


def test_bad_inputs(model_path, sample):
    with LiteRtProfiledModel(model_path, threads=1) as model:
        with pytest.raises(ValueError, match="dtype"):
            model.run([sample.astype(np.float64)])
        with pytest.raises(ValueError, match="shape"):
            model.run([sample[:, :, :56]])
        with pytest.raises(ValueError, match="inputs"):
            model.run([])
        with pytest.raises(ValueError, match="runs"):
            model.profile([sample], runs=0, warmup=0)
    with pytest.raises(LiteRtError, match="closed"):
        model.run([sample])


# ---- unloadable files -----------------------------------------------------------------------


def _assert_load_error(path: Path) -> LiteRtError:
    with pytest.raises(LiteRtError) as info:
        LiteRtProfiledModel(path, threads=1)
    message = str(info.value)
    assert "\n" not in message and "kLiteRtStatus" in message, message
    assert isinstance(info.value, ValueError)
    return info.value


def test_missing_file(tmp_path):
    err = _assert_load_error(tmp_path / "nope.tflite")
    assert err.status_name == "kLiteRtStatusErrorFileIO"


def test_empty_and_garbage_files(tmp_path):
    rng = np.random.default_rng(1)
    cases = {
        "empty.tflite": b"",
        "short.tflite": b"\x1c\x00\x00\x00TFL",
        "garbage.tflite": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "text.tflite": b"this is not a model\n" * 50,
        # Right identifier, random body: must be caught by the flatbuffer verifier.
        "fake_magic.tflite": b"\x1c\x00\x00\x00TFL3"
        + rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        err = _assert_load_error(path)
        assert err.status_name == "kLiteRtStatusErrorInvalidFlatbuffer", (name, str(err))


def test_truncated_model(model_path, tmp_path):
    data = model_path.read_bytes()
    for length in (16, 100, len(data) // 10, len(data) // 2, len(data) - 100, len(data) - 1):
        path = tmp_path / f"trunc_{length}.tflite"
        path.write_bytes(data[:length])
        err = _assert_load_error(path)
        assert err.status_name == "kLiteRtStatusErrorInvalidFlatbuffer", (length, str(err))


@pytest.mark.parametrize("layer", ["python_precheck", "litert_verifier"])
def test_each_check_layer_alone_rejects_truncation(model_path, tmp_path, monkeypatch, layer):
    """The Python pre-check and LiteRT's own flatbuffer verifier each catch truncation."""
    import edge_export.runtimes.litert.capi as capi

    if layer == "litert_verifier":
        monkeypatch.setattr(capi, "check_external_buffers", lambda buf, path: None)
    data = model_path.read_bytes()
    for length in (64, len(data) // 3, len(data) - 8):
        path = tmp_path / f"trunc_{layer}_{length}.tflite"
        path.write_bytes(data[:length])
        if layer == "python_precheck":
            with pytest.raises(LiteRtError, match="kLiteRtStatusErrorInvalidFlatbuffer"):
                capi.check_external_buffers(capi.read_model_bytes(path), path)
        else:
            err = _assert_load_error(path)
            assert err.status == 501 and "loading" in str(err), str(err)


def test_directory_is_not_a_model(tmp_path):
    _assert_load_error(tmp_path)
