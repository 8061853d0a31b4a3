"""One module per DVC stage: each parses its command line, reads params.yaml, calls latentlab
and writes its outputs. Every stage prints its usage with --help and does nothing else then."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from typing import NoReturn

# Run as a program (`python -m stages.<name>`: sys.argv[0] is "-m" while Python locates it), a
# stage first imports torch and the rest: hundreds of thousands of objects that live as long as
# the process. Python's cyclic garbage collector would traverse all of them at every full
# collection and again at exit, a large share of a torch stage's start-up and shutdown
# (benchmarks/RESULTS.md). So it is off while they are imported, and stage_params freezes what
# they made (gc.freeze: never traversed again) before any work, with the collector back on.
_IMPORTING = sys.argv[0] == "-m"
if _IMPORTING:
    gc.disable()

from latentlab.core import params  # noqa: E402
from latentlab.core.params import ModelParams, Params  # noqa: E402


def _imports_done() -> None:
    global _IMPORTING
    if _IMPORTING:
        gc.freeze()
        gc.enable()
        _IMPORTING = False


def stage_params(doc: str | None, per_model: bool = False) -> tuple[Params, ModelParams | None]:
    """Parse the command line (only --help, and a model name for a per-model stage), then load
    and validate params.yaml; the model must be one that dvc.yaml declares."""
    _imports_done()
    summary, _, details = (doc or "").strip().partition("\n\n")  # the first paragraph
    main = sys.modules["__main__"].__spec__  # None when not run with python -m
    parser = _Parser(
        prog=f"python -m {main.name}" if main and main.name.startswith("stages.") else None,
        description=summary,
        epilog=details.strip() or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if per_model:
        parser.add_argument("model", help="a model that dvc.yaml declares (vars: models)")
    args = parser.parse_args()
    p = params.load()
    return p, p.model(args.model) if per_model else None  # p.models: what dvc.yaml declares


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake said in one line (argparse prints the usage first)."""

    def error(self, message: str) -> NoReturn:
        """Exit with status 2 after one line naming the mistake."""
        self.exit(2, f"error: {self.prog}: {message}; --help shows the usage\n")


def log_written(log: logging.Logger, *written: object) -> None:
    """One log line naming what a stage wrote."""
    log.info("wrote %s", ", ".join(str(w) for w in written))
