"""The page `dvc plots show` and `dvc plots diff` write, with Vega inlined: `make plots-template`.

DVC's own page loads Vega, Vega-Lite and Vega-Embed from a CDN, so that without a network its
curves are blank. This one carries the same versions (the ones dvc-render names, read from it)
inside the page, and `plots.html_template` in .dvc/config points DVC at it. It leaves out
DVC's `{scripts}` placeholder, where DVC would put its CDN tags. It also scales a figure wider
than the screen down to fit beside the other revisions' copies (DVC shows each at its own size).

    python -m scripts.plots_template   # npm pack of each package, then writes the page

The page is committed; this is run only when dvc-render moves to other versions (a test says so).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dvc_render.vega import VegaRenderer

REPO = Path(__file__).resolve().parents[1]
PAGE = Path(".dvc/plots/offline.html")  # .dvc/config: html_template = plots/offline.html
MARKER = "<!-- inlined: {name}@{version} -->"
SOURCE_MAP = re.compile(r"\n?//# sourceMappingURL=\S+\s*$")
# What would end an inline script early, or what DVC fills in when it writes the page.
FORBIDDEN = ("</script", "<!--", "{scripts}", "{plot_divs}", "{refresh_tag}")

STYLE = """
    <style>
        table {
            border-spacing: 15px;
        }
        /* An image plot holds its name, then one copy of the image per revision. Each copy is
           at most its share of the window wide (counted by the copies beside it), so that the
           copies sit side by side, scaled down when the image is wider than that share. */
        div:has(> img) {
            max-width: 96vw;
            vertical-align: top;
        }
        div:has(> img):first-of-type:nth-last-of-type(2),
        div:has(> img):first-of-type:nth-last-of-type(2) ~ div {
            max-width: 47vw;
        }
        div:has(> img):first-of-type:nth-last-of-type(3),
        div:has(> img):first-of-type:nth-last-of-type(3) ~ div {
            max-width: 31vw;
        }
        div:has(> img):first-of-type:nth-last-of-type(n+4),
        div:has(> img):first-of-type:nth-last-of-type(n+4) ~ div {
            max-width: 23vw;
        }
        img {
            max-width: 100%;
            height: auto;
        }
    </style>"""


@dataclass(frozen=True)
class Package:
    """One npm package's browser build and its licence."""

    name: str
    version: str
    script: str
    licence: str


def cdn_packages() -> list[tuple[str, str]]:
    """(name, version) of each script DVC's own page loads from its CDN, in its order."""
    return re.findall(r"/npm/([a-z-]+)@([0-9.]+)", VegaRenderer.SCRIPTS)


def page(packages: list[Package]) -> str:
    """The page: DVC's placeholders for the refresh tag and the plots, the packages inlined."""
    parts = [
        "<!DOCTYPE html>",
        "<html>",
        "<head>",
        "    {refresh_tag}",
        '    <meta charset="utf-8">',
        "    <title>DVC Plot</title>",
        "    <!-- Written by scripts/plots_template.py: the scripts that DVC's own page loads from",
        "         a CDN, inlined so that the page works offline. Their licences follow them. -->",
    ]
    for package in packages:
        bad = [text for text in FORBIDDEN if text in package.script]
        if bad:
            raise ValueError(f"{package.name}'s script holds {bad[0]!r}, so it cannot be inlined")
        licence = package.licence.replace("--", "- -").strip()
        parts += [
            "    " + MARKER.format(name=package.name, version=package.version),
            f"    <!-- {package.name} {package.version}, licence:\n{licence}\n    -->",
            f"    <script>\n{package.script}\n    </script>",
        ]
    parts += [STYLE, "</head>", "<body>", "    {plot_divs}", "</body>", "</html>", ""]
    return "\n".join(parts)


def packed(name: str, version: str, folder: Path) -> Package:
    """`npm pack name@version` into `folder`, and the file its package.json serves to browsers."""
    done = subprocess.run(
        ["npm", "pack", "--silent", f"{name}@{version}", "--pack-destination", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no output"]
        raise SystemExit(f"error: npm pack {name}@{version} failed: {lines[-1]}")
    with tarfile.open(folder / done.stdout.strip().splitlines()[-1]) as tar:

        def read(member: str) -> str:
            """A file of the package, as text."""
            return tar.extractfile(f"package/{member}").read().decode()  # type: ignore[union-attr]

        manifest = json.loads(read("package.json"))
        script = SOURCE_MAP.sub("", read(manifest["jsdelivr"])).strip()
        return Package(name, version, script, read("LICENSE"))


def main() -> None:
    """Pack each package DVC loads and write the page."""
    with tempfile.TemporaryDirectory() as folder:
        packages = [packed(n, v, Path(folder)) for n, v in cdn_packages()]
    (REPO / PAGE).write_text(page(packages))
    print(f"wrote {PAGE}: {', '.join(f'{p.name}@{p.version}' for p in packages)}", file=sys.stderr)


if __name__ == "__main__":
    main()
