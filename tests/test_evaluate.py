"""Your own data: calibration from a folder, and `evaluate` on the digits model trained in the test set-up."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edge_export.artifacts import read_manifest


@pytest.fixture(scope="module")
def digits_artifacts(trained, tmp_path_factory):
    """The trained model exported to xnnpack-fp32 and xnnpack-int8, int8 calibrated on 24 of the held-out
    images (the folder is searched recursively: the ImageFolder root works as a calibration folder)."""
    from conftest import run_cli

    out = tmp_path_factory.mktemp("digits-eval")
    code, _, err = run_cli(
        "export", "swiftformer-test", "--checkpoint", str(trained.checkpoint), "--opt", "image_size=32",
        "-t", "xnnpack-fp32", "-t", "xnnpack-int8", "--calib-dir", str(trained.folder), "--calib", "24",
        "--target-opt", "observer=minmax", "--images", "0", "--out", str(out),
    )
    assert code == 0, err
    return {t: out / f"swiftformer-test-{t}" for t in ("xnnpack-fp32", "xnnpack-int8")}


@pytest.fixture(scope="module")
def evaluated(trained, digits_artifacts):
    """Both digits artifacts evaluated on the whole held-out split: (exit code, stdout, stderr)."""
    from conftest import run_cli

    return run_cli("evaluate", *(str(d) for d in digits_artifacts.values()), "--data", str(trained.folder))


def test_calibration_source_is_recorded(trained, digits_artifacts):
    from edge_export.data import FileSet

    cal = read_manifest(digits_artifacts["xnnpack-int8"]).target_options["calibration"]
    expected = FileSet.choose(trained.folder, 24, 0)
    assert cal["source"] == str(trained.folder.resolve())
    assert cal["images"] == 24 and cal["found"] == len(trained.test_labels)
    assert cal["files_sha256"] == expected.digest() and cal["unreadable"] == []
    assert len({p.parent.name for p in expected.files}) > 3  # a seeded choice across classes, not the first folder


def test_calibration_folder_changes_the_quantized_program(trained, tmp_path):
    """Calibrating on the digits instead of the sample photographs gives other activation ranges."""
    from edge_export.export import export_model

    kw = dict(checkpoint=trained.checkpoint, model_options={"image_size": 32}, calib=8, validate_images=0,
              target_options={"observer": "minmax"})
    (own,) = export_model("swiftformer-test", ["xnnpack-int8"], out_dir=tmp_path / "own", calib_dir=trained.folder, **kw)
    (photos,) = export_model("swiftformer-test", ["xnnpack-int8"], out_dir=tmp_path / "photos", **kw)
    assert read_manifest(own).file_sha256 != read_manifest(photos).file_sha256
    assert "scikit-image" in read_manifest(photos).target_options["calibration"]["source"]


def _direct_accuracy(trained, artifact=None) -> float:
    """Top-1 on the held-out split computed here, without edge-export's evaluate."""
    import torch

    from edge_export.images import preprocess
    from edge_export.runtimes import open_runner

    x = torch.cat([preprocess(im, trained.loaded.preprocessing) for im in trained.test_images])
    if artifact is None:
        with torch.no_grad():
            preds = trained.loaded.logits(x).numpy().argmax(1)
    else:
        with open_runner(artifact, threads=1) as r:
            preds = np.array([int(np.argmax(r.logits(x[i : i + 1].numpy()))) for i in range(len(x))])
    return float((preds == trained.test_labels).mean())


def test_evaluate_matches_a_direct_computation(trained, digits_artifacts, evaluated):
    arts = [digits_artifacts["xnnpack-fp32"], digits_artifacts["xnnpack-int8"]]
    code, out, err = evaluated
    assert code == 0, err
    reference = _direct_accuracy(trained)
    assert reference > 0.8
    for art in arts:
        r = json.loads((art / "eval.json").read_text())
        assert r["schema"] == "edge-export-eval/1" and r["data"]["images"] == len(trained.test_labels)
        assert r["data"]["label_match"] == "indices" and r["data"]["unreadable"] == []
        assert r["reference"]["top1"] == pytest.approx(reference, abs=1e-9)
        assert r["artifact"]["top1"] == pytest.approx(_direct_accuracy(trained, art), abs=1e-9)
        assert r["artifact"]["top5"] >= r["artifact"]["top1"]
        assert r["top1_drop"] == pytest.approx(r["reference"]["top1"] - r["artifact"]["top1"])
        per_class = r["artifact"]["per_class"]
        assert sorted(per_class) == [str(d) for d in range(10)]
        n = sum(v["images"] for v in per_class.values())
        assert n == len(trained.test_labels)
        assert sum(v["top1"] * v["images"] for v in per_class.values()) / n == pytest.approx(r["artifact"]["top1"])
        wrong = int(round((1 - r["artifact"]["top1"]) * n))
        assert sum(c["count"] for c in r["artifact"]["confused"]) <= wrong
        assert "top-1" in out
    fp32 = json.loads((arts[0] / "eval.json").read_text())
    assert fp32["agreement"]["cosine_min"] > 0.9999  # fp32 artifact computes what PyTorch computes
    int8 = json.loads((arts[1] / "eval.json").read_text())
    assert int8["agreement"]["top1_agree"] >= 0.9


@pytest.mark.timeout(300)
def test_accuracy_beside_latency_in_compare_and_dashboard(digits_artifacts, evaluated, tmp_path, cli):
    """compare and the dashboard read each artifact's eval.json: accuracy rows, the accuracy-vs-latency
    scatter (one point per profiled artifact at its profile median), the drop per artifact; rendered in a
    real browser."""
    from test_dashboard import figures

    from edge_export.profile.schema import load_profile
    from edge_export.report.dashboard import build_dashboard

    assert evaluated[0] == 0, evaluated[2]
    arts = list(digits_artifacts.values())
    for art in arts:
        code, _, err = cli("profile", str(art), "--runs", "3", "--warmup", "1")
        assert code == 0, err
    ev = {a: json.loads((a / "eval.json").read_text()) for a in arts}
    median = {a: load_profile(a / "profile-host.json").latency.median for a in arts}

    code, out, err = cli("compare", *map(str, arts), "--depth", "stage")
    assert code == 0, err
    top1_row = next(l for l in out.splitlines() if "top-1 on your images" in l)
    drop_row = next(l for l in out.splitlines() if "top-1 drop vs PyTorch" in l)
    for a in arts:
        assert f"{100 * ev[a]['artifact']['top1']:.2f}%" in top1_row
        assert f"{100 * ev[a]['top1_drop']:+.2f} pt" in drop_row

    doc = build_dashboard(arts, tmp_path / "report.html").read_text()
    figs = figures(doc)
    (scatter,), _ = figs["fig-accuracy"]
    points = {t.split(" [")[0]: (x, y) for t, x, y in zip(scatter["text"], scatter["x"], scatter["y"])}
    assert set(points) == {"xnnpack-fp32", "xnnpack-int8"}
    for a in arts:
        target = read_manifest(a).target
        assert points[target] == pytest.approx((median[a], 100 * ev[a]["artifact"]["top1"]))
    (bars,), _ = figs["fig-accuracy-drop"]
    assert sorted(bars["x"]) == pytest.approx(sorted(100 * e["top1_drop"] for e in ev.values()))
    table = doc[doc.index("id='accuracy-table'"):]
    table = table[:table.index("</table>")]
    for a in arts:
        assert f"{100 * ev[a]['reference']['top1']:.2f}%" in table and f"{100 * ev[a]['artifact']['top1']:.2f}%" in table
    overview = doc[doc.index('id="overview"'):]
    assert overview[:overview.index("</table>")].count("top-1 <b>") == 2

    import browser

    if browser.find_chromium() is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium): browser check not run")
    with browser.Chromium.launch(tmp_path / "chromium", width=1400, height=1000) as b:
        page = b.open((tmp_path / "report.html").resolve().as_uri())
        marks = page.wait_for(
            "(() => { const n = id => document.querySelectorAll('#' + id + ' .trace .point path, #' + id +"
            " ' .trace path.point').length; const s = n('fig-accuracy'), d = n('fig-accuracy-drop');"
            " return s && d ? [s, d] : 0; })()", timeout=20)
        assert marks == [2, 2]
        assert page.exceptions == [] and page.console_errors == [], (page.exceptions, page.console_errors)
        remote = [u for u in page.requests if not u.startswith(("file:", "data:", "blob:", "about:"))]
        assert remote == [], f"the report fetched {remote}"


def test_evaluate_limit_and_corrupt_files(trained, digits_artifacts, tmp_path, cli):
    data = tmp_path / "data"
    shutil.copytree(trained.folder, data)
    (data / "3" / "broken.png").write_bytes(b"not a png")
    art = digits_artifacts["xnnpack-fp32"]
    copy = tmp_path / "art"
    shutil.copytree(art, copy, ignore=shutil.ignore_patterns("eval.json"))
    code, out, err = cli("evaluate", str(copy), "--data", str(data), "--limit", "60")
    assert code == 0, err
    r = json.loads((copy / "eval.json").read_text())
    assert r["data"]["limit"] == 60
    # the broken file is skipped and counted when it was chosen; never an image
    assert r["data"]["images"] + len(r["data"]["unreadable"]) == 60
    assert set(r["data"]["unreadable"]) <= {"3/broken.png"}
    code, out, err = cli("evaluate", str(copy), "--data", str(data))
    assert code == 0, err
    r = json.loads((copy / "eval.json").read_text())
    assert r["data"]["unreadable"] == ["3/broken.png"] and "skipped 1 unreadable" in out


@pytest.mark.parametrize("case", ["empty", "unknown-class", "no-reference", "missing-labels-file", "limit-zero"])
def test_evaluate_bad_input(case, trained, digits_artifacts, tmp_path, cli):
    art = tmp_path / "art"
    shutil.copytree(digits_artifacts["xnnpack-fp32"], art, ignore=shutil.ignore_patterns("eval.json"))
    data = tmp_path / "data"
    args = []
    if case == "empty":
        data.mkdir()
        expect = "no class subfolders with images"
    elif case == "unknown-class":
        shutil.copytree(trained.folder / "1", data / "1")
        shutil.copytree(trained.folder / "2", data / "cat")
        (tmp_path / "labels.txt").write_text("\n".join(str(d) for d in range(10)))
        args = ["--labels", str(tmp_path / "labels.txt")]
        expect = "match no label of the model: cat"
    elif case == "no-reference":
        shutil.copytree(trained.folder, data)
        m = json.loads((art / "manifest.json").read_text())
        m["source"]["checkpoint"] = str(tmp_path / "gone.pth")
        (art / "manifest.json").write_text(json.dumps(m))
        expect = "cannot be rebuilt from its source"
    elif case == "missing-labels-file":
        shutil.copytree(trained.folder, data)
        args = ["--labels", str(tmp_path / "labels.txt")]
        expect = "--labels"
    else:
        shutil.copytree(trained.folder, data)
        args = ["--limit", "0"]
        expect = "--limit must be at least 1"
    code, out, err = cli("evaluate", str(art), "--data", str(data), *args)
    assert code == 2, (out, err)
    errors = [l for l in err.splitlines() if "error:" in l]  # library import noise may precede it (issue 15)
    assert len(errors) == 1, err
    assert expect in errors[0], errors[0]
    assert not (art / "eval.json").exists()


def test_evaluate_labels_file_names_the_outputs(trained, digits_artifacts, tmp_path, cli):
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    (tmp_path / "labels.txt").write_text("\n".join(names) + "\n")
    data = tmp_path / "data"
    for d in (4, 7):
        shutil.copytree(trained.folder / str(d), data / names[d].upper())  # matched ignoring case
    art = tmp_path / "art"
    shutil.copytree(digits_artifacts["xnnpack-fp32"], art, ignore=shutil.ignore_patterns("eval.json"))
    code, out, err = cli("evaluate", str(art), "--data", str(data), "--labels", str(tmp_path / "labels.txt"))
    assert code == 0, err
    r = json.loads((art / "eval.json").read_text())
    assert r["data"]["label_match"] == "normalised names" and sorted(r["artifact"]["per_class"]) == ["FOUR", "SEVEN"]
    want = float(np.mean([p == t for p, t in zip(*_preds(trained, (4, 7)))]))
    assert r["reference"]["top1"] == pytest.approx(want)


def _preds(trained, digits):
    import torch

    from edge_export.images import preprocess

    keep = np.isin(trained.test_labels, digits)
    x = torch.cat([preprocess(im, trained.loaded.preprocessing) for im in trained.test_images[keep]])
    with torch.no_grad():
        return trained.loaded.logits(x).numpy().argmax(1), trained.test_labels[keep]
