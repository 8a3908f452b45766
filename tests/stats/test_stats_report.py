"""The analysis report on a small real results tree (tiny torch runs), and the page in a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from layerpower.stats import StatsWarning, build_report, read_results
from layerpower.stats.report import FOLD_ROWS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def results_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six real torch runs (mlp simple, 2 epochs, 200 samples): fp32 and bf16 at batch 32, fp32 at batch 64,
    two seeds each, written by the experiment runner's own per-run code; plus one failed run."""
    run_one = pytest.importorskip("layerpower.experiments.run_one")
    from layerpower.experiments.config import RunConfig
    from layerpower.experiments.rundir import write_failure

    root = tmp_path_factory.mktemp("results")
    for seed in (1, 2):
        for precision, batch_size in (("fp32", 32), ("bf16", 32), ("fp32", 64)):
            config = RunConfig(
                backend="torch",
                model="mlp",
                complexity="simple",
                precision=precision,
                seed=seed,
                epochs=2,
                batch_size=batch_size,
                limit=200,
                sample_interval_s=0.05,
                power_source="estimate",
            )
            run_dir = config.run_dir(root)
            while run_dir.exists():  # two runs of one config within the same second
                run_dir = config.run_dir(root, pd.Timestamp.now().to_pydatetime() + pd.Timedelta(seconds=1))
            assert run_one.run(config, run_dir), (run_dir / "error.txt").read_text()
    failed = RunConfig(backend="torch", model="lstm", complexity="simple", precision="fp16", seed=1)
    write_failure(
        failed.run_dir(root), failed.to_dict(), "Traceback ...\nRuntimeError: fp16 LSTM unsupported\n"
    )
    return root


@pytest.fixture(scope="module")
def report(results_root: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("report")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatsWarning)
        return build_report(results_root, out, max_timelines=2, names=NAMES, reps=500)


#: display names given to the report fixture
NAMES = {"test_accuracy": "Test accuracy", "batch_size": "Batch size", "precision": "Number format"}


def test_results_of_real_runs(results_root: Path) -> None:
    results = read_results(results_root)
    assert len(results.runs) == 6 and len(results.failed) == 1 and results.skipped.empty
    assert results.failed.iloc[0]["reason"] == "RuntimeError: fp16 LSTM unsupported"
    runs = results.runs
    assert set(runs["precision"]) == {"fp32", "bf16"}
    assert (runs["energy_source"] == "estimate").all() and runs["energy_is_estimate"].all()
    assert (runs["training_energy_j"] > 0).all() and runs["test_accuracy"].between(0, 1).all()
    assert set(results.samples["phase"]) == {"train", "test"}


def test_report_tables(report) -> None:
    tables = report.out_dir / "tables"
    for name in (
        "summary.csv",
        "summary.md",
        "summary.tex",
        "seed_variability.csv",
        "seed_variability.md",
        "consistency.csv",
        "pareto.csv",
        "failed_runs.csv",
        "correlations.csv",
    ):
        assert (tables / name).is_file(), name
    summary = pd.read_csv(tables / "summary.csv")
    assert len(summary) == 3  # fp32/32, bf16/32, fp32/64
    assert set(summary["energy_source"]) == {"estimate"}
    assert (summary["training_energy_j_n"] == 2).all()
    assert summary["ci_method"].iloc[0] == "Student's t (n-1 df) × SEM"
    assert (summary["training_energy_j_ci95_low"] <= summary["training_energy_j_mean"]).all()
    markdown = (tables / "summary.md").read_text()
    assert "training energy [J] (estimate)" in markdown and " ± " in markdown
    assert "Student's t" in markdown
    latex = (tables / "summary.tex").read_text()
    assert "\\toprule" in latex and "$\\pm$" in latex and "(estimate)" in latex
    assert "batch\\_size" in latex
    consistency = pd.read_csv(tables / "consistency.csv")
    assert {"all", "precision", "batch_size", "metric"} <= set(consistency["grouped_by"])
    variability = pd.read_csv(tables / "seed_variability.csv")
    assert (variability["n_seeds"] == 2).all()
    assert "RuntimeError" in pd.read_csv(tables / "failed_runs.csv")["reason"].iloc[0]


def test_report_figures(report) -> None:
    names = {p.name for p in report.figures}
    assert {"numeric_batch_size.png", "category_precision.png", "category_batch_size.png"} - names == {
        "category_batch_size.png"
    }
    assert {
        "bars_training_energy_j.png",
        "bars_training_time.png",
        "pareto_training_energy_j_test_accuracy.png",
    } <= names
    assert len([n for n in names if n.startswith("timeline_")]) == 2
    assert {"aggregate_test_accuracy.png", "curves_mlp_simple.png"} <= names
    for path in report.figures:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 300 and image.height > 200
            assert round(image.info["dpi"][0]) == 140
    index = report.index.read_text()
    for path in report.figures:
        assert f"src='figures/{path.name}'" in index
    assert "(estimate)" in index and "failed runs" in index
    assert any("telemetry plotted for the first 2 of 6 runs" in n for n in report.notes)


def test_report_opens_with_the_headline(report) -> None:
    index = report.index.read_text()
    headline = index.index("<h2>Headline</h2>")
    assert headline < index.index("<details") and headline < index.index("Summary per configuration")
    # the key plots sit in the headline, each image once on the page
    top = index[headline : index.index("</section>", headline)]
    for name in ("aggregate_test_accuracy.png", "curves_mlp_simple.png", "bars_training_energy_j.png"):
        assert f"figures/{name}" in top and index.count(f"src='figures/{name}'") == 1
    assert "pareto_training_energy_j_test_accuracy.png" in top
    # names remap the headline, table headers and the aggregate panel
    assert "Test accuracy" in top and "<th>Batch size</th>" in index and "<th>Number format</th>" in index
    assert "batch_size" not in top
    headline_csv = pd.read_csv(report.tables["headline"])
    assert {"training_time", "training_energy_j", "test_accuracy"} <= set(headline_csv["metric"])
    energy = headline_csv.set_index("metric").loc["training_energy_j"]
    assert energy["direction"] == "min" and energy["best_low"] <= energy["best_mean"] <= energy["best_high"]
    assert (
        0 <= energy["p_improvement"] <= 1 and energy["p_low"] <= energy["p_improvement"] <= energy["p_high"]
    )
    panel = pd.read_csv(report.tables["aggregate"])
    assert set(panel["aggregate"]) == {"median", "IQM", "mean", "optimality gap"}
    assert set(panel["precision"]) == {"fp32", "bf16"} and (panel["low"] <= panel["high"]).all()


def test_direction_flips_the_headline(results_root: Path, tmp_path: Path) -> None:
    results = read_results(results_root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatsWarning)
        lowest = build_report(results, tmp_path / "a", figures=False, reps=200)
        highest = build_report(
            results, tmp_path / "b", figures=False, reps=200, directions={"training_energy_j": "max"}
        )
    best = {
        name: pd.read_csv(r.tables["headline"]).set_index("metric").loc["training_energy_j"]
        for name, r in (("min", lowest), ("max", highest))
    }
    assert best["min"]["direction"] == "min" and best["max"]["direction"] == "max"
    assert best["max"]["best_mean"] > best["min"]["best_mean"]
    assert best["max"]["best"] != best["min"]["best"]


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_in_a_real_browser(report, tmp_path: Path) -> None:
    """Every image loads (naturalWidth > 0), every table renders once its <details> is opened, the headline
    comes before the first long table and every long table is folded, in headless chromium."""

    def check(page: Path) -> dict:
        html = report.index.read_text()
        probe = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var bad = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                .map(function (i) { return i.getAttribute('src'); });
  var tables = Array.prototype.slice.call(document.querySelectorAll('table'));
  var long = tables.filter(function (t) { return t.rows.length - 1 > __FOLD__; });
  var unfolded = long.filter(function (t) { return !t.closest('details'); }).length;
  var headline = document.querySelector('section.headline');
  var firstLong = long.length ? long[0] : null;
  var before = !!headline && (!firstLong ||
    !!(headline.compareDocumentPosition(firstLong) & Node.DOCUMENT_POSITION_FOLLOWING));
  var headlineTop = !!headline && headline.getBoundingClientRect().top < 400;
  var folded = long.every(function (t) { return !t.checkVisibility(); });
  document.querySelectorAll('details').forEach(function (d) { d.open = true; });
  var empty = tables.filter(function (t) {
    return t.rows.length < 2 || t.getBoundingClientRect().height <= 0; }).length;
  var out = document.createElement('pre'); out.id = 'lp-check';
  out.textContent = JSON.stringify({images: imgs.length, bad: bad, tables: tables.length, empty: empty,
    long: long.length, unfolded: unfolded, before: before, top: headlineTop, folded: folded,
    details: document.querySelectorAll('details').length});
  document.body.appendChild(out);
});
</script>""".replace("__FOLD__", str(FOLD_ROWS))
        page.write_text(html.replace("</body>", probe + "</body>"))
        done = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--virtual-time-budget=10000",
                "--dump-dom",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        match = re.search(r'<pre id="lp-check">(.*?)</pre>', done.stdout)
        assert match, f"no check result in the page (chromium said: {done.stderr[-2000:]})"
        return json.loads(match.group(1).replace("&quot;", '"'))

    result = check(report.out_dir / "check.html")
    assert result["images"] == len(report.figures) and result["bad"] == []
    assert result["tables"] >= 6 and result["empty"] == 0
    assert result["long"] >= 1 and result["unfolded"] == 0 and result["folded"]
    assert result["before"] and result["top"] and result["details"] >= result["long"]

    # the probe does notice a missing image
    broken = report.out_dir / "figures" / report.figures[0].name
    moved = broken.with_suffix(".bak")
    broken.rename(moved)
    try:
        assert check(report.out_dir / "check.html")["bad"] == [f"figures/{broken.name}"]
    finally:
        moved.rename(broken)
        (report.out_dir / "check.html").unlink()


def _one_seed_with_a_nan(results_root: Path, tmp_path: Path) -> Path:
    """A copy of seed 1 only (one seed per configuration), one run's test accuracy blanked out."""
    one_seed = tmp_path / "results"
    shutil.copytree(results_root / "1", one_seed / "1")
    run = next(p for p in sorted((one_seed / "1").iterdir()) if (p / "test.csv").is_file())
    (run / "test.csv").write_text("loss,accuracy\n1.0,\n")
    return one_seed


def test_analyze_command(results_root: Path, tmp_path: Path) -> None:
    from layerpower.cli import main

    out = tmp_path / "report"
    result = CliRunner().invoke(
        main,
        [
            "analyze",
            str(_one_seed_with_a_nan(results_root, tmp_path)),
            "--out",
            str(out),
            "--no-figures",
            "--quiet",
            "--name",
            'training_time="Wall time [s]"',
            "--direction",
            "training_time=max",
            "--aggregate-metric",
            "training_energy_j",
            "--bootstrap-reps",
            "200",
        ],
    )
    assert result.exit_code == 0, result.output
    index = (out / "index.html").read_text()
    assert "Wall time [s]" in index and "aggregates of training energy" in index
    headline = pd.read_csv(out / "tables" / "headline.csv").set_index("metric")
    assert headline.loc["training_time", "direction"] == "max"
    bad = CliRunner().invoke(main, ["analyze", str(out), "--direction", "training_time=up"])
    assert bad.exit_code == 2 and "min or METRIC=max" in bad.output
    assert "3 run(s) read, 1 failed, 0 skipped" in result.output
    assert (out / "index.html").is_file() and "index.html" in result.output
    # the caveats are listed once, not as a spew of warnings
    assert result.output.count("fewer than 2 values") == 1
    assert "warning:" not in result.output


def test_empty_results_are_a_clear_error(tmp_path: Path) -> None:
    from layerpower.cli import main

    empty = tmp_path / "results"
    (empty / "42").mkdir(parents=True)
    result = CliRunner().invoke(main, ["analyze", str(empty), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "no successful runs" in result.output and "Traceback" not in result.output
    missing = CliRunner().invoke(main, ["analyze", str(tmp_path / "nope"), "--out", str(tmp_path / "r")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_single_seed_gives_one_warning(results_root: Path, tmp_path: Path) -> None:
    results = read_results(_one_seed_with_a_nan(results_root, tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        built = build_report(results, tmp_path / "report", figures=False)
    messages = [str(w.message) for w in caught if issubclass(w.category, StatsWarning)]
    assert len(messages) == 1, messages
    assert "fewer than 2 values" in messages[0]
    assert any("dropped 1 NaN" in n for n in built.notes)
    assert built.figures == []
    summary = pd.read_csv(built.tables["summary"])
    assert summary["training_energy_j_std"].isna().all()
