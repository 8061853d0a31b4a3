"""Rewrite the README's pipeline graph from `dvc dag --mermaid`: `make readme-graph`.

The graph sits between two marker comments in README.md; everything else is left as it is.
tests/test_dvc_yaml.py fails while the graph differs from what DVC draws for dvc.yaml, and
names this command as the fix.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = Path("README.md")
BEGIN = "<!-- pipeline graph: `make readme-graph` writes it from `dvc dag --mermaid` -->"
END = "<!-- end of the pipeline graph -->"


def dag(repo: Path = REPO) -> str:
    """What `dvc dag --mermaid` prints for the repository's dvc.yaml, without the last newline."""
    drawn = subprocess.run(
        [sys.executable, "-m", "dvc", "dag", "--mermaid"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    if drawn.returncode != 0:
        lines = (drawn.stderr or drawn.stdout).strip().splitlines() or ["no output"]
        raise SystemExit(f"error: `dvc dag --mermaid` failed: {lines[-1]}")
    return drawn.stdout.strip()


def with_graph(readme: str, graph: str) -> str:
    """The README's text with the block between the markers replaced by `graph`."""
    if (
        readme.count(BEGIN) != 1
        or readme.count(END) != 1
        or readme.index(BEGIN) > readme.index(END)
    ):
        raise ValueError(f"{README} needs the markers {BEGIN} and {END}, once each, in that order")
    before, rest = readme.split(BEGIN)
    _, after = rest.split(END)
    return f"{before}{BEGIN}\n```mermaid\n{graph}\n```\n{END}{after}"


def main() -> None:
    """Rewrite README.md's graph, saying whether it changed."""
    path = REPO / README
    readme = path.read_text()
    try:
        updated = with_graph(readme, dag())
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    if updated == readme:
        print(f"{README}: the pipeline graph is current", file=sys.stderr)
        return
    path.write_text(updated)
    print(f"{README}: rewrote the pipeline graph from `dvc dag --mermaid`", file=sys.stderr)


if __name__ == "__main__":
    main()
