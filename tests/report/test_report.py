"""The report: cohorts kept apart, numbers from the run folders, one offline file, and a real
browser that loads it without errors, draws the plots and sorts the tables."""

from __future__ import annotations

import re
import shutil
import urllib.parse
from pathlib import Path

import pytest

from bench.synthetic_results import write_runs
from rexmle import report, store
from rexmle.errors import NotFoundError

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report-runs")
    # headline: real data in containers; aside: the same agents on synthetic data and on the
    # local runtime, with numbers that would change the headline if they leaked in
    write_runs(root / "real", ["dummy", "baseline", "aide"], seeds=3, invalid_every=7)
    write_runs(root / "syn", ["dummy", "baseline"], seeds=2, synthetic=True)
    write_runs(root / "local", ["aide"], seeds=2, runtime="local")
    return root


def test_cohorts_are_kept_apart_and_counted(folders: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    info = report.build([folders / "real", folders / "syn", folders / "local"], out)
    assert info.n_runs == 9 + 4 + 2
    frame = report.add_scores(store.index([folders / "real", folders / "syn", folders / "local"]))
    assert frame.groupby("cohort").size().to_dict() == {"headline": 9, "synthetic": 4, "non-isolated": 2}
    headline = report.leaderboard(frame[frame["cohort"] == "headline"])
    assert [r["runs"] for r in headline] == [3, 3, 3]
    assert {r["entrant"] for r in headline} == {"dummy", "baseline", "aide"}
    # the dummy line is the mean of the dummy's own valid runs, so their mean normalized score is
    # 0 exactly (each metric's deviations from its mean sum to zero), up to float rounding
    dummy = next(r for r in headline if r["entrant"] == "dummy")
    assert dummy["normalized"] == pytest.approx(0.0, abs=1e-9)
    page = out.read_text()
    assert (
        'id="cohort-headline"' in page
        and 'id="cohort-synthetic"' in page
        and 'id="cohort-non-isolated"' in page
    )


def test_report_is_self_contained(folders: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    report.build([folders / "real"], out)
    page = out.read_text()
    # no external script, stylesheet, image or font: everything is inline
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?(https?:)?//""", page)
    assert "@import" not in page and "url(http" not in page
    assert page.count("<script") >= 2  # plotly.js inlined + the sorting script


def test_missing_folder_and_empty_folder_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such folder"):
        report.build([tmp_path / "nope"], tmp_path / "r.html")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFoundError, match="no finished runs"):
        report.build([tmp_path / "empty"], tmp_path / "r.html")


def test_index_is_rebuilt_from_run_folders(folders: Path, tmp_path: Path) -> None:
    copy = tmp_path / "real"
    shutil.copytree(folders / "real", copy)
    frame = store.index([copy])
    assert len(frame) == 9 and frame["run_id"].is_unique
    assert "metric.dice" in frame.columns
    victim = Path(frame["path"].iloc[0])
    shutil.rmtree(victim)  # a deleted run is gone from the next index: nothing cached to disagree
    assert len(store.index([copy])) == 8
    (Path(frame["path"].iloc[1]) / "result.json").unlink()  # an unfinished run is not a result
    assert len(store.index([copy])) == 7
    assert len(store.index([copy, copy / "runs"])) == 7  # the same folder twice is counted once


def test_report_in_chromium(folders: Path, tmp_path: Path, browser_page) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "report.html"
    report.build([folders / "real", folders / "syn", folders / "local"], out)
    page = browser_page
    page.goto(out.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#cohort-headline .heatmap .main-svg")
    # every plot was drawn by plotly.js: one SVG root per plot div
    n_plots = page.locator(".plot > div > div.plotly-graph-div").count()
    assert n_plots == page.locator(".plot .js-plotly-plot").count() >= 5
    heat = page.locator("#cohort-headline .heatmap").first
    assert heat.locator("text", has_text="isles22").count() >= 1
    # tables are there, one leaderboard row per agent
    rows = page.locator("#cohort-headline table.leaderboard tbody tr")
    assert rows.count() == 3
    assert page.locator("table.runs tbody tr").count() == 15

    # sorting: click "agent" -> ascending names; again -> descending
    header = page.locator("#cohort-headline table.leaderboard th", has_text="agent").first
    header.click()
    names = rows.locator("td:first-child").all_inner_texts()
    assert names == sorted(names)
    header.click()
    assert rows.locator("td:first-child").all_inner_texts() == sorted(names, reverse=True)
    pct = page.locator("#cohort-headline table.leaderboard th", has_text="mean percentile")
    pct.click()
    values = [float(v.split()[0]) for v in rows.locator("td:nth-child(5)").all_inner_texts()]
    assert values == sorted(values)

    # a heat map cell shows its mean (plotly's heat map ignores %{customdata}: it once drew "-")
    cell_labels = heat.evaluate("h => [...h.querySelectorAll('text')].map(t => t.textContent)")
    assert any(re.fullmatch(r"\d\.\d\d\*?", t) for t in cell_labels), cell_labels
    assert "-" not in cell_labels

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=False)
    bad = [e for e in page.events if e[0] in ("error", "pageerror", "request")]
    assert bad == [], bad


def test_the_page_labels_scripted_failed_and_synthetic_runs(tmp_path: Path, browser_page) -> None:  # type: ignore[no-untyped-def]
    """What a reader must not mistake: a scripted LLM for a model, a failed cell for a score of 0,
    synthetic data for a result; and an agent keeps its colour from chart to chart."""
    root = tmp_path / "runs"
    write_runs(root / "real", ["dummy", "baseline"], seeds=2)
    write_runs(root / "failing", ["broken"], seeds=2, invalid_every=1)  # every run invalid
    write_runs(root / "scripted", ["aide"], seeds=2, llm="scripted", model="openai/gpt-4o-mini")
    write_runs(root / "syn", ["dummy"], seeds=1, synthetic=True)
    out = tmp_path / "report.html"
    report.build([root / "real", root / "failing", root / "scripted", root / "syn"], out)
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(out.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#cohort-headline .heatmap .main-svg")
    scripted = page.locator("#cohort-scripted")
    assert "Scripted LLM" in scripted.inner_text() and "aide · scripted LLM" in scripted.inner_text()
    assert "aide" not in page.locator("#cohort-headline table.leaderboard").inner_text()  # kept apart
    headline_heat = page.locator("#cohort-headline .heatmap").first
    assert headline_heat.locator("text", has_text="failed").count() >= 1  # the broken agent's cell
    assert "Synthetic data" in page.locator("#cohort-synthetic").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-labels.png"), full_page=True)
    bad = [e for e in page.events if e[0] in ("error", "pageerror", "request")]
    assert bad == [], bad


def test_an_agent_keeps_its_colour_and_the_normalized_scale_diverges(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    write_runs(root / "real", ["dummy", "baseline", "aide"], seeds=2, challenge_ids=("isles22", "ravir"))
    frame = report.add_scores(store.index([root / "real"]))
    colours = report.entrant_colours(frame["entrant"].astype(str).tolist())
    assert len(set(colours.values())) == 3
    sections = [report.challenge_section(c, g, "headline", colours) for c, g in frame.groupby("challenge")]
    for entrant, colour in colours.items():  # the same colour in each challenge's figure
        for section in sections:
            assert re.search(rf'"color":"{colour}".{{0,400}}"name":"{re.escape(entrant)}"', section["figure"])
    heat = report.figures.heatmap(report.cells(frame, "norm"), "norm", "n", None, None, diverging=True)
    assert '"colorscale":[[0.0,"rgb(5,10,172)"]' in heat or '"zmid":0.0' in heat


def test_key_columns_fit_1400_px_and_every_run_links_to_its_files(tmp_path: Path, browser_page) -> None:  # type: ignore[no-untyped-def]
    """At 1400 px nothing of the leaderboard or the run table hides behind a horizontal scroll
    (cost, tokens and wall time once did, even at 2200 px), with the longest challenge ids; each
    run links to its trajectory page, its folder, result.json and agent.log, and the links lead
    to real files."""
    root = tmp_path / "runs"
    write_runs(
        root / "real",
        ["dummy", "baseline", "aide"],
        seeds=2,
        challenge_ids=["puma-track1-task1", "topcow-track2-task3"],
    )
    out = tmp_path / "pages" / "report.html"
    report.build([root / "real"], out)
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(out.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    for table in ("#cohort-headline table.leaderboard", "table.runs"):
        width = page.evaluate(
            "s => { const t = document.querySelector(s); return [t.scrollWidth, t.clientWidth,"
            " Math.max(...[...t.querySelectorAll('th')].map(h => h.getBoundingClientRect().right))] }",
            table,
        )
        assert width[0] <= width[1] and width[2] <= 1400, (table, width)
    rows = page.locator("table.runs tbody tr")
    assert rows.count() == 12
    for i in range(rows.count()):
        links = rows.nth(i).locator("td.links a")
        assert links.all_inner_texts() == ["view", "folder"]
        for a in links.element_handles():
            target = (out.parent / urllib.parse.unquote(a.get_attribute("href") or "")).resolve()
            assert target.exists(), target
    details = page.locator("details.run").first.locator("p.links a")
    assert details.all_text_contents() == ["trajectory (view.html)", "run folder", "result.json", "agent.log"]
    for a in details.element_handles():
        assert (out.parent / urllib.parse.unquote(a.get_attribute("href") or "")).resolve().exists()
    # the view page the report links to opens: the run's own page
    page.goto(
        (out.parent / urllib.parse.unquote(details.first.get_attribute("href") or "")).resolve().as_uri()
    )
    assert "puma-track1-task1" in page.content()
    bad = [e for e in page.events if e[0] in ("error", "pageerror", "request")]
    assert bad == [], bad
