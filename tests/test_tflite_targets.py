"""TFLite targets: litert-torch fp32/int8/dynamic-int8 (NHWC and NCHW), the TF-native route, and bad input.

Every artifact is exported once per session on the tiny config (64 px, layer_scale 1.0 so outputs are
non-trivial) and validated in LiteRT on 8 photographs by export() itself. XS end to end is marked slow.
"""

from __future__ import annotations

import json

import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edge_export.artifacts import Preprocessing, SourceSpec, read_manifest, sha256_file, write_manifest
from edge_export.errors import EdgeExportError, ExportFailed
from edge_export.export import ExportRequest, export
from edge_export.models import LoadedModel

TINY = "swiftformer-test"
TINY_OPTS = {"layer_scale_init_value": 1.0}
LITERT = ["tflite-fp32", "tflite-int8", "tflite-dynamic-int8"]


def _export(out, model=TINY, targets=LITERT, **kw):
    kw.setdefault("model_options", dict(TINY_OPTS))
    return export(ExportRequest(model=model, targets=list(targets), out_dir=out, **kw))


@pytest.fixture(scope="session")
def tflite_nchw(tmp_path_factory):
    (path,) = _export(tmp_path_factory.mktemp("tflite-nchw"), targets=["tflite-fp32"], target_options={"layout": "nchw"})
    return path


# ------------------------------------------------------------------------------------------------ fp32


def test_fp32_nhwc_is_the_default_and_matches_pytorch(tflite):
    from edge_export.runtimes.litert.inspect import inspect_tflite

    m = read_manifest(tflite["tflite-fp32"])
    assert m.runtime == "litert" and m.program_file == "model.tflite"
    assert m.inputs[0].shape == [1, 64, 64, 3] and m.inputs[0].layout == "NHWC" and m.inputs[0].dtype == "float32"
    assert m.outputs[0].shape == [1, 10] and m.outputs[0].quantization is None
    assert m.target_options["layout"] == "NHWC"
    assert m.parity.passed and m.parity.cosine_threshold == 0.99999 and m.parity.cosine_min >= 0.99999
    assert m.parity.top1_agree == 1.0
    info = inspect_tflite(tflite["tflite-fp32"] / m.program_file)
    assert info.ops[0].op != "TRANSPOSE"  # to_channel_last_io: the input feeds the first conv directly
    assert m.delegation.subgraphs == 1 and m.delegation.fallback_nodes == 0  # every op in one XNNPACK partition
    assert m.delegation == info.delegation()
    assert m.rewrites  # the same export form as the ExecuTorch targets


def test_nchw_layout_keeps_the_pytorch_input(tflite_nchw):
    from edge_export.runtimes.litert.inspect import inspect_tflite
    from edge_export.runtimes import open_runner

    m = read_manifest(tflite_nchw)
    assert m.inputs[0].shape == [1, 3, 64, 64] and m.inputs[0].layout == "NCHW"
    assert m.target_options["layout"] == "NCHW"
    assert m.parity.cosine_min >= 0.99999
    assert inspect_tflite(tflite_nchw / m.program_file).ops[0].op == "TRANSPOSE"
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    with open_runner(tflite_nchw, threads=2) as runner:
        assert runner.prepare_input(x).shape == (1, 3, 64, 64)
        assert runner.logits(x).shape == (1, 10)


# ------------------------------------------------------------------------------------------------ int8


def test_int8_takes_int8_input_and_keeps_its_float_ops_on_record(tflite):
    from edge_export.runtimes import open_runner

    fp32, int8 = read_manifest(tflite["tflite-fp32"]), read_manifest(tflite["tflite-int8"])
    spec = int8.inputs[0]
    assert spec.dtype == "int8" and spec.layout == "NHWC" and spec.quantization.scale > 0
    assert -128 <= spec.quantization.zero_point <= 127
    assert int8.outputs[0].dtype == "float32"  # logits kept float (int8 logits clip; module docstring)
    opts = int8.target_options
    assert opts["float_ops"] == ["DIV", "GELU", "AVERAGE_POOL_2D"]
    assert opts["float_module_types"] == ["ExportAdditiveAttention"]
    assert opts["calibration_images"] == 32 and opts["smoke_runs"] == 64
    assert "RSQRT" in opts["float_compute_ops"] and "CONV_2D" not in opts["float_compute_ops"]
    assert int8.parity.passed and int8.parity.cosine_threshold == 0.98
    assert int8.file_bytes < 0.7 * fp32.file_bytes
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    with open_runner(tflite["tflite-int8"]) as runner:
        q = runner.prepare_input(x)
        assert q.dtype == np.int8 and q.shape == (1, 64, 64, 3)
        np.testing.assert_array_equal(q, np.clip(np.round(x.transpose(0, 2, 3, 1) / spec.quantization.scale)
                                                 + spec.quantization.zero_point, -128, 127).astype(np.int8))


def test_dynamic_int8_is_float_io_with_int8_weights(tflite):
    fp32, dyn = read_manifest(tflite["tflite-fp32"]), read_manifest(tflite["tflite-dynamic-int8"])
    assert dyn.inputs[0].dtype == "float32" and dyn.inputs[0].quantization is None and dyn.inputs[0].layout == "NHWC"
    assert dyn.parity.passed and dyn.parity.cosine_min >= 0.99
    assert dyn.file_bytes < 0.7 * fp32.file_bytes
    assert "dynamic_wi8_afp32" in dyn.target_options["recipe"]


class _NormNet(nn.Module):
    """conv (zero-sum kernels, no bias) -> F.normalize over channels: flat image areas give a zero norm,
    so the int8 divisor hits its zero point - the stock SwiftFormer normalize's failure, in miniature."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        with torch.no_grad():
            self.conv.weight -= self.conv.weight.mean(dim=(1, 2, 3), keepdim=True)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        return self.head(F.normalize(self.conv(x), dim=1).mean(dim=(2, 3)))


def _normnet() -> LoadedModel:
    return LoadedModel(_NormNet().eval(), "generic", SourceSpec(kind="module", model_id="tests:normnet"),
                       Preprocessing(image_size=32), num_classes=4)


def test_int8_model_that_fails_at_run_time_fails_the_export_naming_the_op(tmp_path):
    with pytest.raises(ExportFailed, match=r"fails at run time .* op #\d+ DIV .*zero_point") as e:
        export(ExportRequest(model=_normnet(), targets=["tflite-int8"], out_dir=tmp_path, target_options={"float_ops": "none"}))
    assert "\n" not in str(e.value)
    assert not any(tmp_path.iterdir())  # nothing shipped, no staging left behind
    # The default recipe keeps DIV float: the same model then runs on every calibration image. (Its fidelity is
    # not the point: this net's quantized norm chain is poor, cosine 0.96, which validation would report.)
    (path,) = export(ExportRequest(model=_normnet(), targets=["tflite-int8"], out_dir=tmp_path, validate_images=0))
    m = read_manifest(path)
    assert "DIV" in m.target_options["float_ops"] and m.target_options["float_compute_ops"].get("DIV") == 1
    assert m.target_options["smoke_runs"] == 64


def test_unknown_float_op_is_refused(tmp_path):
    with pytest.raises(EdgeExportError, match="float_ops: FOO"):
        _export(tmp_path, targets=["tflite-int8"], target_options={"float_ops": "DIV,foo"})


# ------------------------------------------------------------------------------------------------ TF route


def test_tf_route_matches_pytorch(tf_route):
    from edge_export.runtimes.litert.inspect import inspect_tflite

    m = read_manifest(tf_route)
    assert m.source.attention_form == "softmax" and m.runtime == "litert"
    assert m.inputs[0].shape == [1, 3, 64, 64] and m.inputs[0].layout == "NCHW"
    assert m.parity.passed and m.parity.cosine_min >= 0.99999
    ops = {row[0] for row in inspect_tflite(tf_route / m.program_file).op_counts()}
    assert "L2_NORMALIZATION" in ops  # TF's own lowering: a route independent of litert-torch
    assert m.target_options["tensorflow"] and any("rewrites listed" in n for n in m.notes)


def test_tf_route_refuses_the_normalize_form(tmp_path):
    with pytest.raises(EdgeExportError, match=r"cannot reproduce swiftformer-test-normalize.*softmax") as e:
        _export(tmp_path, model=f"{TINY}-normalize", targets=["tf-tflite-fp32"])
    assert "use swiftformer-test-softmax" in str(e.value) and not any(tmp_path.iterdir())


def test_tf_route_refuses_a_model_without_a_tf_twin(tmp_path):
    with pytest.raises(EdgeExportError, match="has no TensorFlow twin"):
        export(ExportRequest(model=_normnet(), targets=["tf-tflite-fp32"], out_dir=tmp_path))


# ------------------------------------------------------------------------------------------------ options


def test_layout_on_a_target_without_layout_is_refused(tmp_path):
    with pytest.raises(EdgeExportError, match=r"option layout does not apply to tf-tflite-fp32: accepted: none"):
        _export(tmp_path, model=f"{TINY}-softmax", targets=["tf-tflite-fp32"], target_options={"layout": "nhwc"})


def test_unknown_layout_value_is_refused(tmp_path):
    with pytest.raises(EdgeExportError, match="'nhcw' is not a layout: choose nhwc"):
        _export(tmp_path, targets=["tflite-fp32"], target_options={"layout": "nhcw"})


# ------------------------------------------------------------------------------------------------ runner / inspect


def _with_program(src, dst, data: bytes):
    shutil.copytree(src, dst)
    m = read_manifest(dst)
    (dst / m.program_file).write_bytes(data)
    write_manifest(dst, m.model_copy(update={"file_sha256": sha256_file(dst / m.program_file), "file_bytes": len(data)}))
    return dst


def test_garbage_and_truncated_tflite_are_one_line_errors(tflite, tmp_path):
    from edge_export.runtimes.litert.inspect import inspect_tflite
    from edge_export.runtimes import open_runner

    src = tflite["tflite-fp32"]
    real = (src / "model.tflite").read_bytes()
    cases = {
        "garbage": (b"\x00garbage" * 1000, "not a TFLite model"),
        "empty": (b"", "not a TFLite model"),
        "truncated": (real[: len(real) // 2], "not a valid .tflite"),  # keeps the TFL3 identifier
        "tail-cut": (real[:-64], "not a valid .tflite"),
    }
    for name, (data, message) in cases.items():
        art = _with_program(src, tmp_path / name, data)
        with pytest.raises(EdgeExportError, match=message) as e:
            open_runner(art)
        assert "\n" not in str(e.value), name
        with pytest.raises(EdgeExportError, match=message):
            inspect_tflite(art / "model.tflite")


def test_cli_validate_reports_a_garbage_tflite_without_traceback(tflite, tmp_path, cli):
    art = _with_program(tflite["tflite-fp32"], tmp_path / "a", b"\x00garbage" * 1000)
    code, out, err = cli("validate", str(art))
    assert code == 2 and "not a TFLite model" in err and "Traceback" not in err


def test_threads_are_explicit(tflite):
    from edge_export.runtimes import open_runner

    with pytest.raises(EdgeExportError, match="threads must be a positive integer"):
        open_runner(tflite["tflite-fp32"], threads=0)
    with open_runner(tflite["tflite-fp32"], threads=2) as runner:
        assert runner.interpreter is not None and runner.threads == 2


def test_inspect_op_table(tflite, cli):
    from edge_export.runtimes.litert.inspect import inspect_tflite

    path = tflite["tflite-int8"] / "model.tflite"
    info = inspect_tflite(path)
    counts = {op: (n, x) for op, n, x in info.op_counts()}
    assert counts["CONV_2D"][0] == counts["CONV_2D"][1] > 0  # int8 convs all go to XNNPACK
    assert sum(n for n, _ in counts.values()) == len(info.ops)
    assert info.inputs[0]["dtype"] == "int8" and info.inputs[0]["quantization"][0] > 0
    code, out, _ = cli("inspect", str(path))
    assert code == 0
    assert "XNNPACK partition" in out and "CONV_2D" in out
    code, out, _ = cli("inspect", str(path), "--json")
    assert code == 0 and json.loads(out)["partitions"] == info.partitions


# ------------------------------------------------------------------------------------------------ XS (slow)


@pytest.mark.slow
def test_xs_litert_targets_end_to_end(tmp_path):
    paths = _export(tmp_path, model="swiftformer-xs")
    ms = {p.name.removeprefix("swiftformer-xs-"): read_manifest(p) for p in paths}
    for name, m in ms.items():
        print(name, m.file_bytes, m.target_options.get("convert_seconds"), m.export_seconds, m.parity.cosine_min,
              m.parity.top1_agree, m.delegation.subgraphs, m.delegation.fallback_ops)
        assert m.parity.passed, name
    assert ms["tflite-fp32"].parity.cosine_min >= 0.99999
    assert ms["tflite-fp32"].delegation.subgraphs == 1 and ms["tflite-fp32"].delegation.fallback_nodes == 0
    assert ms["tflite-int8"].file_bytes < 0.5 * ms["tflite-fp32"].file_bytes


@pytest.mark.slow
def test_xs_tf_route_end_to_end(tmp_path):
    (path,) = _export(tmp_path, model="swiftformer-xs-softmax", targets=["tf-tflite-fp32"])
    m = read_manifest(path)
    print(m.file_bytes, m.target_options, m.export_seconds, m.parity.cosine_min)
    assert m.parity.cosine_min >= 0.99999


def test_int8_is_one_xnnpack_partition_with_int8_weights_in_the_float_attention(tflite, tmp_path):
    """The default recipe leaves nothing to LiteRT's builtin kernels: GELU and AVERAGE_POOL_2D float (XNNPACK
    has them in float only) and ADDs outside XNNPACK's int8 scale-ratio range float. The attention kept float
    stores its fully-connected weights int8 by default (weight-only); the session fixture keeps them float
    (conftest.tflite), so this exports the default once more."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    m = read_manifest(tflite["tflite-int8"])
    assert m.delegation.subgraphs == 1 and m.delegation.fallback_nodes == 0, m.delegation
    assert m.target_options["kept_float_weights"] == "float"
    (path,) = _export(tmp_path, targets=["tflite-int8"], validate_images=0)  # below the bar on random weights
    m = read_manifest(path)
    assert m.delegation.subgraphs == 1 and m.delegation.fallback_nodes == 0, m.delegation
    assert m.target_options["kept_float_weights"] == "int8"
    it = Interpreter(model_path=str(path / m.program_file),
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    tensor = lambda i: it._get_tensor_details(int(i), 0)  # noqa: E731
    attention_fcs = [op for op in it._get_ops_details() if op["op_name"] == "FULLY_CONNECTED"
                     and "ExportAdditiveAttention" in tensor(op["outputs"][0])["name"]]
    assert attention_fcs, "no fully-connected op of the attention found"
    producer = {int(t): op for op in it._get_ops_details() for t in op["outputs"]}
    for op in attention_fcs:
        assert tensor(op["outputs"][0])["dtype"] == np.float32  # float compute ...
        weights = int(op["inputs"][1])  # ... over int8 weights, dequantized once (a DEQUANTIZE of a constant)
        assert producer[weights]["op_name"] == "DEQUANTIZE", producer.get(weights)
        assert tensor(producer[weights]["inputs"][0])["dtype"] == np.int8


class _SmallResidual(nn.Module):
    """x + 1e-6 * conv(x): the branch's int8 scale is ~1e-6 of the sum's, outside the input/output scale ratio
    LiteRT's XNNPACK delegate takes for an int8 ADD."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.branch = nn.Conv2d(8, 8, 1)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        x = self.stem(x)
        return self.head((x + 1e-6 * self.branch(x)).mean(dim=(2, 3)))


def test_int8_adds_xnnpack_refuses_are_kept_float(tmp_path):
    from edge_export.targets.litert import adds_xnnpack_refuses

    model = LoadedModel(_SmallResidual().eval(), "generic", SourceSpec(kind="module", model_id="tests:small_residual"),
                        Preprocessing(image_size=32), num_classes=4)
    (path,) = export(ExportRequest(model=model, targets=["tflite-int8"], out_dir=tmp_path, validate_images=2))
    m = read_manifest(path)
    assert m.target_options["float_adds"] == 1 and m.target_options["float_compute_ops"].get("ADD") == 1
    assert m.delegation.subgraphs == 1 and m.delegation.fallback_nodes == 0, m.delegation
    assert adds_xnnpack_refuses((path / m.program_file).read_bytes()) == []  # the float ADD is not int8 any more


def test_int8_plan_reuses_the_refused_adds_on_later_quantizations(tmp_path):
    # int8-sensitivity quantizes one plan once per candidate: the refused ADDs follow from the shared calibration,
    # so later calls keep them float without quantizing twice, and give the same model as the first call.
    from edge_export.models.export_form import export_form
    from edge_export.targets.base import ExportContext
    from edge_export.targets.litert import LiteRtInt8Options, adds_xnnpack_refuses, plan_tflite_int8

    loaded = LoadedModel(_SmallResidual().eval(), "generic", SourceSpec(kind="module", model_id="tests:small_residual"),
                         Preprocessing(image_size=32), num_classes=4)
    module, _ = export_form(loaded)
    messages = []
    ctx = ExportContext(workdir=tmp_path, calib=8, options=LiteRtInt8Options(), progress=messages.append)
    plan = plan_tflite_int8(module, loaded, torch.zeros(loaded.input_shape()), ctx)
    first, _ = plan.quantize([], ctx)
    assert len(plan.float_adds) == 1 and adds_xnnpack_refuses(first) == []
    again, _ = plan.quantize([], ctx)
    assert again == first
    assert sum("keeping 1 ADD(s) float" in m for m in messages) == 1
    with_float_branch, ops = plan.quantize(["branch"], ctx)
    assert ops >= 1 and adds_xnnpack_refuses(with_float_branch) == [] and with_float_branch != first
