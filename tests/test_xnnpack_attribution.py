"""Attributing per-operator XNNPACK time inside ONE delegate to PyTorch modules.

Tiny models are exported in-test (torch.export -> to_edge_transform_and_lower with the XNNPACK
partitioner and an ETRecord -> to_executorch), run with ETDump through the ExecuTorch pybindings,
and the delegate's runtime operator events are mapped back to module paths via the XNodes in the
.pte and the ETRecord's debug handles.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("executorch.devtools")

from torch import nn  # noqa: E402

from edge_export.attribution.etrecord import debug_handle_module_map  # noqa: E402
from edge_export.attribution.xnnpack import (  # noqa: E402
    Attribution,
    attribute_delegate_events,
    attributed_fraction,
    time_by_module,
)
from edge_export.attribution.xnnpack_costs import compatible  # noqa: E402
from edge_export.attribution.xnnpack_ops import operator_family  # noqa: E402
from edge_export.attribution.xnnpack_program import attribute_program  # noqa: E402
from edge_export.attribution.xnnpack_blob import (  # noqa: E402
    XNode,
    decode_with_flatc,
    read_xnnpack_delegates,
)

# ------------------------------------------------------------------------------------------
# Models
# ------------------------------------------------------------------------------------------


class _Block(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 3, padding=1, groups=c)
        self.bn = nn.BatchNorm2d(c)
        self.act = nn.GELU()
        self.pw = nn.Conv2d(c, c, 1)

    def forward(self, x):
        return x + self.pw(self.act(self.bn(self.dw(x))))


class TinyConvNet(nn.Module):
    """conv 3x3 (+BN+ReLU), depthwise 3x3 + BN + GELU, 1x1 conv, residual add, mean pool, linear."""

    def __init__(self, c: int = 8, classes: int = 5):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, stride=2, padding=1)
        self.stem_bn = nn.BatchNorm2d(c)
        self.relu = nn.ReLU()
        self.block = _Block(c)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        x = self.relu(self.stem_bn(self.stem(x)))
        x = self.block(x)
        return self.fc(x.mean(dim=(2, 3), keepdim=True).flatten(1))


class _AdditiveAttention(nn.Module):
    """SwiftFormer's efficient additive attention in its export-friendly form:
    normalize as v * rsqrt(clamp(sum(v*v))) with the sum as a matmul with ones, the weighted
    token sum as a bmm, broadcasting instead of repeat."""

    def __init__(self, dim: int):
        super().__init__()
        self.to_query = nn.Linear(dim, dim)
        self.to_key = nn.Linear(dim, dim)
        self.w_g = nn.Parameter(torch.randn(dim, 1))
        self.scale = dim**-0.5
        self.proj = nn.Linear(dim, dim)
        self.final = nn.Linear(dim, dim)
        self.register_buffer("ones", torch.ones(dim, 1))

    def _normalize(self, v):
        return v * torch.rsqrt(torch.clamp((v * v) @ self.ones, min=1e-24))

    def forward(self, x):  # (B, N, C)
        q = self._normalize(self.to_query(x))
        k = self._normalize(self.to_key(x))
        qw = (q @ self.w_g) * self.scale
        g = torch.bmm(qw.transpose(1, 2), q)
        return self.final(self.proj(g * k) + q)


class _SwiftBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 3, padding=1, groups=c)
        self.bn = nn.BatchNorm2d(c)
        self.pw = nn.Conv2d(c, c, 1)
        self.act = nn.GELU()
        self.attn = _AdditiveAttention(c)
        self.norm = nn.BatchNorm2d(c)  # after an add: cannot be folded into a conv
        self.fc1 = nn.Conv2d(c, 2 * c, 1)
        self.fc2 = nn.Conv2d(2 * c, c, 1)
        self.gamma = nn.Parameter(torch.full((c, 1, 1), 0.5))

    def forward(self, x):
        x = x + self.pw(self.act(self.bn(self.dw(x))))
        b, c, h, w = x.shape
        t = self.attn(x.permute(0, 2, 3, 1).reshape(b, h * w, c))
        x = x + t.reshape(b, h, w, c).permute(0, 3, 1, 2)
        return x + self.gamma * self.fc2(self.act(self.fc1(self.norm(x))))


class TinySwiftNet(nn.Module):
    def __init__(self, c: int = 16, depth: int = 1):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, 2, 1), nn.BatchNorm2d(c), nn.ReLU())
        self.blocks = nn.Sequential(*[_SwiftBlock(c) for _ in range(depth)])
        self.head = nn.Linear(c, 10)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.head(x.mean(dim=(2, 3), keepdim=True).flatten(1))


# ------------------------------------------------------------------------------------------
# Export + run helpers
# ------------------------------------------------------------------------------------------


def _export(model: nn.Module, x, out_dir: Path, per_op: bool = False) -> tuple[Path, Path]:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    ep = torch.export.export(model, (x,))
    edge = to_edge_transform_and_lower(
        ep, partitioner=[XnnpackPartitioner(per_op_mode=per_op)], generate_etrecord=True
    )
    et = edge.to_executorch()
    pte = out_dir / "model.pte"
    pte.write_bytes(et.buffer)
    etrecord = out_dir / "model.etrecord"
    et.get_etrecord().save(str(etrecord))
    return pte, etrecord


def _run_with_etdump(pte: Path, x, runs: int = 3) -> Path:
    from executorch.runtime import Runtime

    program = Runtime.get().load_program(str(pte), enable_etdump=True, debug_buffer_size=0)
    method = program.load_method("forward")
    for _ in range(runs):
        method.execute([x])
    etdump = pte.with_suffix(".etdump")
    program.write_etdump_result_to_file(str(etdump), str(pte.with_suffix(".debug.bin")))
    return etdump


class _Artifacts:
    def __init__(self, model, x, pte, etrecord, etdump):
        self.model, self.x, self.pte, self.etrecord, self.etdump = model, x, pte, etrecord, etdump


def _build(tmp_path_factory, name: str, model: nn.Module, shape, per_op: bool = False) -> _Artifacts:
    torch.manual_seed(0)
    model = model.eval()
    x = torch.randn(*shape)
    d = tmp_path_factory.mktemp(name)
    pte, etrecord = _export(model, x, d, per_op=per_op)
    etdump = _run_with_etdump(pte, x)
    return _Artifacts(model, x, pte, etrecord, etdump)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> _Artifacts:
    torch.manual_seed(0)
    return _build(tmp_path_factory, "tiny", TinyConvNet(), (1, 3, 32, 32))


@pytest.fixture(scope="module")
def swift(tmp_path_factory) -> _Artifacts:
    torch.manual_seed(0)
    return _build(tmp_path_factory, "swift", TinySwiftNet(16, 1), (1, 3, 32, 32))


def _module_names(model: nn.Module) -> set[str]:
    return {name for name, _ in model.named_modules()}


# ------------------------------------------------------------------------------------------
# The delegate blob
# ------------------------------------------------------------------------------------------

TINY_KINDS = [
    "XNNStaticTranspose",  # NCHW -> NHWC at the delegate input (no FX node)
    "XNNConv2d",  # stem (BN folded, ReLU as output clamp)
    "XNNDepthwiseConv2d",  # block.dw (+ block.bn folded)
    "XNNGelu",
    "XNNConv2d",  # block.pw, 1x1
    "XNNAdd",  # residual
    "XNNGlobalAvgPooling2d",  # mean(dim=(2, 3), keepdim=True)
    "XNNStaticTranspose",  # NHWC -> NCHW before flatten (no FX node)
    "XNNStaticReshape",  # flatten
    "XNNFullyConnected",  # fc
]


def test_blob_lists_the_xnodes_in_creation_order(tiny):
    graphs = read_xnnpack_delegates(tiny.pte)
    assert len(graphs) == 1
    g = graphs[0]
    assert g.plan_name == "forward" and g.delegate_index == 0 and g.instruction_ids == [(0, 0)]
    assert [x.kind for x in g.xnodes] == TINY_KINDS
    assert [x.index for x in g.xnodes] == list(range(len(TINY_KINDS)))

    stem, dw, pw = g.xnodes[1], g.xnodes[2], g.xnodes[4]
    assert (stem.params["kernel_height"], stem.params["subsampling_height"]) == (3, 2)
    assert stem.output_min_max == (0.0, float("inf"))  # the ReLU, fused by ExecuTorch
    assert dw.params["groups"] == 8
    assert (pw.params["kernel_height"], pw.params["kernel_width"]) == (1, 1)
    # Layout transposes have no FX node; every other XNode carries a debug handle.
    assert [x.debug_handle is None for x in g.xnodes] == [k == "XNNStaticTranspose" for k in TINY_KINDS]
    # Values: the delegate input is NCHW (1,3,32,32); the stem writes NHWC (1,16,16,8).
    assert g.value_dims(g.input_ids[0]) == (1, 3, 32, 32)
    assert g.value_dims(stem.outputs[0]) == (1, 16, 16, 8)
    assert g.value_dims(g.output_ids[0]) == (1, 5)
    assert g.values[stem.inputs[1]].constant  # filter


def test_blob_decoder_agrees_with_flatc(tiny):
    from executorch.exir._serialize._program import deserialize_pte_binary

    program = deserialize_pte_binary(tiny.pte.read_bytes()).program
    payload = program.backend_delegate_data[program.execution_plan[0].delegates[0].processed.index].data
    try:
        ref = decode_with_flatc(bytes(payload))
    except (FileNotFoundError, OSError) as e:  # pragma: no cover - flatc ships in the wheel
        pytest.skip(f"flatc unavailable: {e}")
    ours = read_xnnpack_delegates(tiny.pte)[0]
    assert [n["xnode_union_type"] for n in ref["xnodes"]] == [x.kind for x in ours.xnodes]
    assert [n.get("debug_handle", 0) for n in ref["xnodes"]] == [x.raw_debug_handle for x in ours.xnodes]
    assert len(ref["xvalues"]) == len(ours.values)


# ------------------------------------------------------------------------------------------
# Attribution on real runs
# ------------------------------------------------------------------------------------------


def _check_all_attributed(art: _Artifacts) -> list[Attribution]:
    pa = attribute_program(art.pte, art.etdump, art.etrecord)
    assert not pa.warnings
    assert len(pa.delegates) == 1
    attrs = pa.delegates[0].attributions
    assert attrs, "ETDump recorded no XNNPACK operator events"
    names = _module_names(art.model)
    for a in attrs:
        assert a.attributed or a.reason, a
        if a.attributed:
            assert a.module_path in names, f"{a.module_path!r} is not a submodule of the model"
            assert a.debug_handles
    return attrs


def test_tiny_every_operator_is_attributed(tiny):
    attrs = _check_all_attributed(tiny)
    g = read_xnnpack_delegates(tiny.pte)[0]
    # No runtime fusion for this graph: one operator per XNode, in order.
    assert len(attrs) == len(g.xnodes)
    assert [a.xnode_indices for a in attrs] == [(i,) for i in range(len(g.xnodes))]
    assert all(a.attributed for a in attrs)
    assert attributed_fraction(attrs) == 1.0

    by_name = {a.name: a for a in attrs}
    assert by_name["Convolution (NHWC, F32) IGEMM #1"].module_path == "stem"
    assert by_name["Convolution (NHWC, F32) DWConv #1"].module_path == "block.dw"
    assert by_name["GELU (NC) #1"].module_path == "block.act"
    # The 1x1 convolution runs as a fully-connected GEMM.
    assert by_name["Fully Connected (NC, F32) GEMM #1"].module_path == "block.pw"
    assert by_name["Add (ND) #1"].module_path == "block"
    assert by_name["Fully Connected (NC, F32) GEMM #2"].module_path == "fc"
    assert attrs[0].how == "layout-from-consumer" and attrs[0].module_path == "stem"

    # The folded batch norms and the ReLU are reported with the convolutions that absorbed them.
    dh = debug_handle_module_map(tiny.etrecord)
    stem_fused = {dh[h] for h in by_name["Convolution (NHWC, F32) IGEMM #1"].fused_debug_handles}
    assert stem_fused == {"stem_bn", "relu"}
    dw_fused = {dh[h] for h in by_name["Convolution (NHWC, F32) DWConv #1"].fused_debug_handles}
    assert dw_fused == {"block.bn"}


def test_debug_handle_module_map_paths_are_real_modules(tiny):
    dh = debug_handle_module_map(tiny.etrecord)
    assert dh, "no debug handles in the ETRecord's edge program"
    assert set(dh.values()) <= _module_names(tiny.model)
    assert {"stem", "block.dw", "block.pw", "fc"} <= set(dh.values())


def test_swiftformer_like_attention_is_attributed(swift):
    attrs = _check_all_attributed(swift)
    assert attributed_fraction(attrs) == 1.0
    g = read_xnnpack_delegates(swift.pte)[0]
    kinds = g.kind_counts()
    # 4 attention linears, 2 "sum as matmul with ones", q @ w_g, the head
    assert kinds["XNNFullyConnected"] == 8
    assert kinds["XNNConv2d"] == 4  # stem, pw, fc1, fc2 (1x1 convs stay convolutions here)
    assert kinds["XNNBatchMatrixMultiply"] == 1
    assert kinds["XNNReciprocalSquareRoot"] == 2 and kinds["XNNClamp"] == 2

    mods = {a.module_path for a in attrs}
    for m in ("blocks.0.attn.to_query", "blocks.0.attn.to_key", "blocks.0.attn.proj",
              "blocks.0.attn.final", "blocks.0.attn", "blocks.0.fc1", "blocks.0.fc2", "head"):
        assert m in mods, m
    # XNNPACK rewrites mul(v, v) into a Square operator: still the attention's XNNMultiply.
    squares = [a for a in attrs if operator_family(a.name) == "square"]
    assert len(squares) == 2
    assert all(a.xnode_kind == "XNNMultiply" and a.module_path == "blocks.0.attn" for a in squares)
    # The batch norm after the residual add cannot be folded; XNNPACK's delegate decomposes it
    # into a 1x1 depthwise convolution written without a debug handle: recovered from the graph.
    norm = [a for a in attrs if a.how == "inferred-handle"]
    assert [a.module_path for a in norm] == ["blocks.0.norm"]
    assert norm[0].xnode_kind == "XNNDepthwiseConv2d"


# ------------------------------------------------------------------------------------------
# The alignment rules, on synthetic graphs (no export needed)
# ------------------------------------------------------------------------------------------


def _xn(i, kind, dh, ins, outs, **params) -> XNode:
    return XNode(index=i, kind=kind, debug_handle=dh, inputs=tuple(ins), outputs=tuple(outs), params=params)


def test_family_rules():
    assert operator_family("Convolution (NHWC, F32) IGEMM #12") == "convolution"
    assert compatible("Fully Connected (NC, F32) GEMM #1", "XNNConv2d")  # 1x1 conv
    assert compatible("Mean (ND) Reduce2 #1", "XNNGlobalAvgPooling2d")
    assert compatible("Reciprocal Square Root (NC) #1", "XNNReciprocalSquareRoot")  # fallback rule
    assert not compatible("GELU (NC) #1", "XNNConv2d")
    sq = _xn(0, "XNNMultiply", 1, [5, 5], [6])
    notsq = _xn(0, "XNNMultiply", 1, [5, 7], [6])
    assert compatible("Square (NC) #1", sq) and not compatible("Square (NC) #1", notsq)


def test_fused_and_elided_nodes_and_unknown_operators():
    xn = [
        _xn(0, "XNNStaticReshape", 1, [0], [1]),
        _xn(1, "XNNStaticConstantPad", 2, [1], [2]),
        _xn(2, "XNNConv2d", 3, [2, 100, 101], [3]),
        _xn(3, "XNNConcatenate2", 5, [3, 3], [5]),
        _xn(4, "XNNFullyConnected", 6, [5, 102], [6]),
        _xn(5, "XNNClamp", 7, [6], [7]),
    ]
    dh = {1: "flat", 2: "pad", 3: "conv", 5: "cat", 6: "fc", 7: "act"}
    events = [
        ("Convolution (NHWC, F32) IGEMM #1", 10.0),  # reshape elided, pad fused in
        ("Copy (NC, X32) #1", 1.0),  # concatenation as one copy per input
        ("Copy (NC, X32) #2", 1.0),
        ("Frobnicate (NC) #1", 2.0),  # an operator with no XNode of its kind
        ("Fully Connected (NC, F32) GEMM #1", 5.0),  # the clamp merged into its activation
    ]
    rep: list = []
    attrs = attribute_delegate_events(events, xn, dh, report=rep)
    assert [a.module_path for a in attrs] == ["conv", "cat", "cat", None, "fc"]
    assert [a.how for a in attrs] == ["matched", "matched", "expansion", "unattributed", "matched"]
    assert set(rep[0].skipped) == {0, 1, 5}
    assert attrs[0].fused_xnodes == (0, 1) and attrs[0].debug_handles == (3, 1, 2)
    assert attrs[4].fused_xnodes == (5,) and attrs[4].debug_handles == (6, 7)
    assert "Frobnicate" in attrs[3].reason
    assert attributed_fraction(attrs) == pytest.approx(17.0 / 19.0)
    assert time_by_module(attrs)["<unattributed>"] == 2.0


def test_handle_less_nodes_and_input_preparation():
    xn = [
        _xn(0, "XNNStaticTranspose", None, [0], [1]),
        _xn(1, "XNNFullyConnected", 7, [1, 50], [2]),
        _xn(2, "XNNStaticTranspose", None, [2], [3]),
    ]
    events = [
        ("Transpose (ND, X32) #1", 1.0),
        ("Pack LH (NC) #1", 1.0),
        ("Fully Connected (NC, F32) GEMM #1", 4.0),
        ("Transpose (ND, X32) #2", 1.0),
    ]
    attrs = attribute_delegate_events(events, xn, {7: "lin"})
    assert [a.module_path for a in attrs] == ["lin"] * 4
    assert [a.how for a in attrs] == ["layout-from-consumer", "prep-for-next", "matched", "layout-from-producer"]
    # Without a module for handle 7 nothing can be attributed, and each event says why.
    attrs = attribute_delegate_events(events, xn, {})
    assert all(not a.attributed and a.reason for a in attrs)


def _graph(nodes, quantized: set[int], inputs=(), outputs=()):
    """An XnnGraphInfo of `nodes` whose values in `quantized` are int8 (the others float)."""
    from edge_export.attribution.xnnpack_blob import XnnGraphInfo, XValue

    ids = {v for x in nodes for v in (*x.inputs, *x.outputs)}
    values = {v: XValue(v, "xnn_datatype_qint8" if v in quantized else "xnn_datatype_fp32", (1, 4), False, None, 0,
                        quantized=v in quantized) for v in ids}
    return XnnGraphInfo("forward", 0, [(0, 0)], "schema.fbs", None, list(nodes), values, list(inputs), list(outputs),
                        len(inputs) + len(outputs), 0, None)


def test_int8_converts_and_unnamed_unary_operators():
    """An int8 program: the model input's quantize (+ the layout transpose charged to it) is "(input)", the
    output's dequantize "(output)"; converts whose FX nodes sit in no module go to the module whose input they
    quantize (consumer) or whose output they dequantize (producer); dequantize -> GELU -> quantize runs as ONE
    operator XNNPACK names "Invalid Unary Op", which is the GELU's."""
    from edge_export.profile.schema import MODEL_INPUT, MODEL_OUTPUT

    xn = [
        _xn(0, "XNNConvert", 1, [0], [1]),  # quantize the model input
        _xn(1, "XNNStaticTranspose", None, [1], [2]),  # NCHW -> NHWC, inserted by the delegate
        _xn(2, "XNNConv2d", 2, [2, 90, 91], [3]),
        _xn(3, "XNNConvert", 3, [3], [4]),  # dequantize: fused into the unary operator
        _xn(4, "XNNGelu", 4, [4], [5]),
        _xn(5, "XNNConvert", 5, [5], [6]),  # quantize: fused too
        _xn(6, "XNNFullyConnected", 6, [6, 92], [7]),
        _xn(7, "XNNConvert", 7, [7], [8]),  # dequantize for the float attention; its FX nodes in the root
        _xn(8, "XNNMultiply", 8, [8, 8], [9]),
        _xn(9, "XNNConvert", 9, [9], [10]),  # quantize the int8 projection's input; its FX nodes in the root
        _xn(10, "XNNFullyConnected", 10, [10, 93], [11]),
        _xn(11, "XNNConvert", 11, [11], [12]),  # dequantize the model output
    ]
    dh = {1: "", 2: "stem", 3: "", 4: "mlp.act", 5: "", 6: "mlp.fc", 7: "", 8: "attn.scale", 9: "", 10: "attn.proj",
          11: ""}
    graph = _graph(xn, quantized={1, 2, 3, 6, 7, 10, 11, 90, 92, 93}, inputs=[0], outputs=[12])
    events = [("Convert (NC) #1", 2.0), ("Transpose (ND, X8) #1", 2.0), ("Convolution (NHWC, QC8) IGEMM #1", 10.0),
              ("Invalid Unary Op #1", 3.0), ("Fully Connected (NC, QS8, QC8W) GEMM #1", 5.0), ("Convert (NC) #2", 1.0),
              ("Square (NC) #1", 1.0), ("Convert (NC) #3", 1.0), ("Fully Connected (NC, QS8, QC8W) GEMM #2", 5.0),
              ("Convert (NC) #4", 1.0)]
    attrs = attribute_delegate_events(events, graph, dh, model_io={1: MODEL_INPUT, 11: MODEL_OUTPUT})
    assert [a.module_path for a in attrs] == [MODEL_INPUT, MODEL_INPUT, "stem", "mlp.act", "mlp.fc", "mlp.fc",
                                              "attn.scale", "attn.proj", "attn.proj", MODEL_OUTPUT]
    assert [a.how for a in attrs] == ["model-input", "layout-from-producer", "matched", "matched", "matched",
                                      "dequantize-of-producer", "matched", "quantize-for-consumer", "matched",
                                      "model-output"]
    assert attrs[3].xnode_kind == "XNNGelu" and "Invalid Unary Op" in attrs[3].reason
    assert attributed_fraction(attrs) == 1.0
    # a plain XNode list (no values: int8 cannot be told from float) leaves the root's converts in the root
    plain = attribute_delegate_events(events, xn, dh)
    assert plain[5].module_path == plain[7].module_path == "" and plain[3].module_path == "mlp.act"


# ------------------------------------------------------------------------------------------
# Cross-check against per-op delegates (Inspector attributes those directly)
# ------------------------------------------------------------------------------------------


def _run_interleaved_with_etdump(ptes: list[Path], x, runs: int) -> list[Path]:
    """Run several programs alternately so machine load hits them alike; one ETDump each."""
    from executorch.runtime import Runtime

    rt = Runtime.get()
    programs = [rt.load_program(str(p), enable_etdump=True, debug_buffer_size=0) for p in ptes]
    methods = [pr.load_method("forward") for pr in programs]
    for _ in range(runs):
        for m in methods:
            m.execute([x])
    out = []
    for p, pr in zip(ptes, programs):
        etdump = p.with_suffix(".etdump")
        pr.write_etdump_result_to_file(str(etdump), str(p.with_suffix(".debug.bin")))
        out.append(etdump)
    return out


@pytest.fixture
def one_xnnpack_thread():
    """One XNNPACK worker: per-op timings then do not depend on how busy the other core is."""
    from executorch.extension.pybindings import portable_lib

    before = portable_lib._threadpool_get_thread_count()
    portable_lib._unsafe_reset_threadpool(1)
    yield
    portable_lib._unsafe_reset_threadpool(before)


@pytest.mark.slow
def test_single_delegate_agrees_with_per_op_mode(tmp_path_factory, one_xnnpack_thread):
    """Per-op lowering puts each op in its own delegate, which Inspector maps to modules by
    itself; the single-delegate attribution must give the same modules similar time shares."""
    from xnnpack_crosscheck import compare_module_times, fold_map, per_op_module_times

    torch.manual_seed(0)
    model = TinySwiftNet(64, 2).eval()
    x = torch.randn(1, 3, 112, 112)
    pte_s, rec_s = _export(model, x, tmp_path_factory.mktemp("xcheck_single"))
    pte_p, rec_p = _export(model, x, tmp_path_factory.mktemp("xcheck_perop"), per_op=True)
    etd_s, etd_p = _run_interleaved_with_etdump([pte_s, pte_p], x, runs=15)
    single = attribute_program(pte_s, etd_s, rec_s, skip_runs=2)
    per_op = per_op_module_times(pte_p, etd_p, rec_p, skip_runs=2)
    assert single.attributed_fraction() == 1.0
    # Batch norms folded into convolutions in the single delegate are separate ops per-op.
    fold = fold_map(single.attributions, debug_handle_module_map(rec_s))
    assert fold["stem.1"] == "stem.0" and fold["blocks.0.bn"] == "blocks.0.dw"
    leaf = compare_module_times(single.time_by_module(), per_op, fold=fold)
    assert leaf.missing_in_single == set() and leaf.missing_in_per_op == set(), leaf.format()
    assert leaf.rank_correlation > 0.5, leaf.format()
    blocks = compare_module_times(single.time_by_module(), per_op, fold=fold, depth=2)
    assert blocks.max_share_diff < 0.08, blocks.format()
