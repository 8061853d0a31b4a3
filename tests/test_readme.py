"""The README is a front page: short, its links and docs/'s lead somewhere, its maps are the
models', and the names it uses are current. (Its pipeline graph: tests/test_dvc_yaml.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from latentlab.core import params
from scripts import readme_graph

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
# The front page's budget, 1,200 words as `wc -w README.md` counts them, less the 125 words of
# the pipeline graph of the five models: the graph is generated and grows with each model added,
# the rest is what a person writes.
MAX_PROSE_WORDS = 1200 - 125
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
# Written by a run (the report stage, `make sweep-report`), not by hand: absent until one has run.
GENERATED = ("reports/",)


def test_the_readme_is_a_front_page() -> None:
    readme = README.read_text()
    before, rest = readme.split(readme_graph.BEGIN)
    _, after = rest.split(readme_graph.END)
    words = len(before.split()) + len(after.split())
    assert words <= MAX_PROSE_WORDS, (
        f"README.md has {words} words besides its pipeline graph, above {MAX_PROSE_WORDS}; "
        f"move the detail into docs/"
    )


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_leads_to_a_file(page: Path) -> None:
    missing = []
    for target in LINK.findall(page.read_text()):
        if "://" in target:
            continue
        path = (page.parent / target).resolve()
        rel = path.relative_to(REPO).as_posix()
        if not rel.startswith(GENERATED) and not path.exists():
            missing.append(target)
    assert not missing, f"{page.name} links to files that do not exist: {missing}"


def test_the_readme_links_every_page_of_docs() -> None:
    readme = README.read_text()
    unlinked = [p.name for p in DOCS if f"(docs/{p.name})" not in readme]
    assert not unlinked, f"README.md links no docs/ page {unlinked}"


def test_the_maps_shown_are_declared_models() -> None:
    shown = re.findall(r"reports/figures/map_(\w+)\.png", README.read_text())
    declared = params.declared_models(REPO / "dvc.yaml")
    assert shown, "README.md shows no latent map"
    assert set(shown) <= set(declared), f"README.md shows maps of {shown}; dvc.yaml: {declared}"


def test_the_add_a_model_steps_name_each_edit() -> None:
    """tests/test_add_a_model.py makes these edits; the README must name the same ones."""
    readme = README.read_text()
    section = readme[readme.index("## Add a model") :].split("\n## ")[0]
    for edit in ("vars: models", "artifacts:", "report.models", "QUICK", "make readme-graph"):
        assert edit in section, f"README.md's 'Add a model' does not name {edit!r}"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_stage_is_named_by_its_old_name(page: Path) -> None:
    assert "paths@" not in page.read_text(), f"{page.name}: the paths stage is now interpolate@"
