"""The report page in a real browser: headless Chromium renders it, and every figure loads.

The screenshot is kept under the test's tmp dir and copied to ``results/test-artefacts/`` for a human
to look at. Skipped, with the reason, where Chromium is not installed.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from visuomotor.report import write_report

ROOT = Path(__file__).resolve().parents[3]
ARTEFACTS = ROOT / "results" / "test-artefacts"
CHROMIUM = Path("/usr/bin/chromium")
WINDOW = (1280, 2000)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(),
    reason=f"{CHROMIUM} not found: headless Chromium is needed (apt-get install chromium)",
)

# Written into a copy of the page: after every image has loaded (or failed), record what each one got.
_PROBE = """<script>
window.addEventListener("load", () => {
  document.body.dataset.images = JSON.stringify(
    Array.from(document.images, (img) => [img.getAttribute("src"), img.naturalWidth, img.naturalHeight]));
});
</script>"""


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG's IHDR chunk."""
    header = path.read_bytes()[:24]
    assert header.startswith(b"\x89PNG\r\n\x1a\n"), path
    return struct.unpack(">II", header[16:24])


def test_chromium_renders_the_report_with_every_figure(
    tmp_path: Path, write_synthetic_run: Callable[..., Path]
) -> None:
    files = write_report(write_synthetic_run(tmp_path / "run"), tmp_path / "report")
    assert len(files.plots) == 5

    shot = tmp_path / "report_screenshot.png"
    _chromium(
        tmp_path / "profile-shot",
        f"--screenshot={shot}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        files.index_html.resolve().as_uri(),
    )
    assert shot.is_file()
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, ARTEFACTS / "report_screenshot.png")
    assert shot.stat().st_size > 20_000
    image = cv2.imread(str(shot), cv2.IMREAD_GRAYSCALE)
    assert image is not None and image.shape == (WINDOW[1], WINDOW[0])
    # Not blank: text, table borders and a figure put real contrast on a white page.
    assert float(image.std()) > 20.0
    assert float(np.mean(image < 200)) > 0.02

    # The figures are loaded from their relative paths: each <img> has the PNG's natural size.
    probe = files.directory / "index_probe.html"
    probe.write_text(files.index_html.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"))
    dom = _chromium(tmp_path / "profile-dom", "--dump-dom", probe.resolve().as_uri()).stdout
    found = re.search(r'data-images="([^"]*)"', dom)
    assert found, "the probe did not run: no data-images attribute in the dumped DOM"
    images = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert sorted(src for src, _, _ in images) == sorted(files.plots)
    for src, width, height in images:
        assert (width, height) == _png_size(files.directory / src), src
