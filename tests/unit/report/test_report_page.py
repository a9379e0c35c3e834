"""index.html shows exactly report.json's numbers; compare mode; partial data; a self-contained page."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from visuomotor.report import ReportError, ReportFiles, format_value, lookup, write_report

MakeRun = Callable[..., Path]


class _Page(HTMLParser):
    """Collects the text of every element with a data-key, and every src/href."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.links: list[str] = []
        self.images: list[str] = []
        self.text: list[str] = []
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.links += [v for k, v in attrs if k in ("src", "href") and v]
        if tag == "img":
            self.images.append(a["src"] or "")
            return
        self._open.append((tag, a.get("data-key")))
        if a.get("data-key") is not None:
            assert a["data-key"] not in self.values, f"data-key {a['data-key']} appears twice"
            self.values[a["data-key"]] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag != "img":
            self._open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        keys = [k for _, k in self._open if k is not None]
        if keys:
            self.values[keys[-1]] += data


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def _numeric_leaves(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Dotted paths of every number (not bool) and every None, skipping ``schema``/``plots``/``source``."""
    if isinstance(data, dict):
        for k, v in data.items():
            if k not in ("schema", "plots", "source"):
                yield from _numeric_leaves(v, f"{prefix}{k}.")
    elif data is None or (isinstance(data, int | float) and not isinstance(data, bool)):
        yield prefix[:-1], data


def _check_page_matches_report(out: Path) -> tuple[dict[str, Any], _Page]:
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    page = _parse(out / "index.html")
    assert page.values, "no data-key elements on the page"
    for key, text in page.values.items():
        value = lookup(report, key)
        assert text == format_value(value), key
        if isinstance(value, int | float) and not isinstance(value, bool):
            assert float(text) == value, key
    leaves = dict(_numeric_leaves(report))
    missing = sorted(set(leaves) - set(page.values))
    assert not missing, f"numbers of report.json not on the page: {missing}"
    return report, page


@pytest.fixture(scope="module")
def full_report(
    tmp_path_factory: pytest.TempPathFactory, write_synthetic_run: Callable[..., Path]
) -> ReportFiles:
    tmp = tmp_path_factory.mktemp("full")
    return write_report(write_synthetic_run(tmp / "run"), tmp / "out")


@pytest.fixture(scope="module")
def compare_report(
    tmp_path_factory: pytest.TempPathFactory, write_synthetic_run: Callable[..., Path]
) -> ReportFiles:
    tmp = tmp_path_factory.mktemp("compare")
    main = write_synthetic_run(tmp / "fast")
    other = write_synthetic_run(tmp / "slow", bag="slow_bag", slow=1.5, id_switch=False, box_shift_px=5.0)
    return write_report(main, tmp / "out", compare_dir=other)


def test_every_number_on_the_page_is_the_report_json_value(full_report: ReportFiles) -> None:
    files = full_report
    report, page = _check_page_matches_report(files.directory)
    assert page.values["latency.offline.end_to_end.p50_ms"] == "18.3"
    assert page.values["detection.map50"] == "1.0"
    assert page.values["tracking.idf1"] == "0.75"
    assert page.values["localisation.median_mm"] == "2.0"
    assert page.values["policy.success"] == "yes"
    assert page.values["detection.per_class.blue_cube.ap50"] == "n/a"
    assert page.values["run.skipped.depth < 0.1 m"] == "1"
    assert report["plots"] == files.plots and len(files.plots) == 5


def test_page_is_self_contained_and_its_figures_exist(full_report: ReportFiles) -> None:
    files = full_report
    page = _parse(files.index_html)
    assert sorted(page.images) == sorted(files.plots)
    for link in page.links:
        assert "://" not in link and not link.startswith("/"), link  # relative only: the page works offline
        assert (files.directory / link).is_file(), link
    for name in files.plots:
        data = (files.directory / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000


def test_compare_mode_puts_two_runs_side_by_side(compare_report: ReportFiles) -> None:
    files = compare_report
    report, page = _check_page_matches_report(files.directory)
    assert report["compare"]["run"]["bag"] == "slow_bag"
    assert page.values["latency.offline.stages.detect.p50_ms"] == "14.5"
    assert page.values["compare.latency.offline.stages.detect.p50_ms"] == "21.75"  # 1.5 × 14.5
    assert page.values["compare.detection.map50_95"] == "0.7"
    assert page.values["compare.tracking.idf1"] == "1.0" and page.values["tracking.idf1"] == "0.75"
    assert "synthetic vs slow_bag" in "".join(page.text)
    assert len(files.plots) == 5


def test_compare_with_an_earlier_report_json(
    make_run: MakeRun, compare_report: ReportFiles, tmp_path: Path
) -> None:
    # Only report.json of the earlier comparison is kept: its main run becomes the compared one.
    (tmp_path / "report_only").mkdir()
    (tmp_path / "report_only" / "report.json").write_text(compare_report.report_json.read_text())
    files = write_report(
        make_run("after", bag="after"), tmp_path / "out", compare_dir=tmp_path / "report_only"
    )
    report, page = _check_page_matches_report(files.directory)
    assert "compare" not in report["compare"]
    assert report["compare"]["run"]["bag"] == "synthetic"
    assert page.values["compare.latency.offline.stages.detect.p50_ms"] == "14.5"
    assert "after vs synthetic" in "".join(page.text)
    # The earlier run has no samples left: its numbers are compared, the figures show this run only.
    assert "latency_histogram.png" in files.plots


def test_compare_with_a_directory_without_results_names_the_fix(make_run: MakeRun, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match=r"empty has no result\.json"):
        write_report(make_run(), tmp_path / "out", compare_dir=tmp_path / "empty")


def test_partial_data_renders_not_available_sections(make_run: MakeRun, tmp_path: Path) -> None:
    files = write_report(make_run(ground_truth=False, policy=False, live=False), tmp_path / "out")
    report, page = _check_page_matches_report(files.directory)
    text = "".join(page.text)
    for section in ("detection", "localisation", "tracking", "policy"):
        assert report[section]["available"] is False
        assert page.values[f"{section}.reason"] == report[section]["reason"]
    assert text.count("not available") >= 5  # four sections + live latency
    assert set(files.plots) == {"latency_histogram.png", "latency_timeline.png"}
    assert not (files.directory / "ap_per_class.png").exists()


def test_a_second_report_into_the_same_directory_removes_stale_figures(
    make_run: MakeRun, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    write_report(make_run("full", live=False), out)
    assert (out / "ap_per_class.png").is_file() and (out / "latency_histogram.png").is_file()
    files = write_report(make_run("bare", ground_truth=False, live=False, timing=False), out)
    assert files.plots == {}
    assert not list(out.glob("*.png"))
