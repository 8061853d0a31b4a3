"""The page `dvc plots show/diff` write (.dvc/plots/offline.html, scripts/plots_template.py): the
scripts DVC's own page loads from a CDN, inlined; tests/test_pipeline.py reads DVC's real output."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import plots_template
from scripts.plots_template import Package

REPO = Path(__file__).resolve().parents[1]
PAGE = (REPO / plots_template.PAGE).read_text()


def test_the_page_inlines_the_versions_dvc_loads():
    inlined = re.findall(r"<!-- inlined: ([a-z-]+)@([0-9.]+) -->", PAGE)
    wanted = plots_template.cdn_packages()
    assert [name for name, _ in wanted] == ["vega", "vega-lite", "vega-embed"]
    assert inlined == wanted, "dvc-render loads other versions now: run `make plots-template`"
    # Each build names its own version inside, so the marker says what the script is.
    for name, version in wanted:
        script = PAGE.split(f"inlined: {name}@{version}", 1)[1].split("</script>", 1)[0]
        assert f'"{version}"' in script, name


def test_the_page_loads_no_script_from_anywhere():
    tags = re.findall(r"<script\b[^>]*>", PAGE)
    assert tags == ["<script>"] * 3
    assert "{scripts}" not in PAGE  # where DVC would put its CDN tags
    assert PAGE.count("{plot_divs}") == PAGE.count("{refresh_tag}") == 1
    assert "sourceMappingURL" not in PAGE


def test_dvc_is_told_to_use_the_page():
    configured = subprocess.run(
        [sys.executable, "-m", "dvc", "config", "plots.html_template"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert REPO / ".dvc" / configured == REPO / plots_template.PAGE  # relative to .dvc/


@pytest.mark.parametrize("text", ["a</script>b", "x = '{plot_divs}'", "<!-- y"])
def test_a_script_that_would_break_the_page_is_refused(text):
    with pytest.raises(ValueError, match="cannot be inlined"):
        plots_template.page([Package("vega", "1.0.0", text, "licence")])


def test_the_page_keeps_each_licence_in_a_comment():
    page = plots_template.page([Package("vega", "1.0.0", "var v='1.0.0';", "A -- B licence")])
    assert "<!-- vega 1.0.0, licence:\nA - - B licence\n    -->" in page
    assert "<script>\nvar v='1.0.0';\n    </script>" in page
