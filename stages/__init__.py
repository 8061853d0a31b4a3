"""One module per DVC stage: each parses its command line, reads params.yaml, calls latentlab
and writes its outputs. Every stage prints its usage with --help and does nothing else then."""

from __future__ import annotations

import argparse
import errno
import functools
import gc
import logging
import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

# Run as a program (`python -m stages.<name>`: sys.argv[0] is "-m" while Python locates it), a
# stage first imports torch and the rest: hundreds of thousands of objects that live as long as
# the process. Python's cyclic garbage collector would traverse all of them at every full
# collection and again at exit, a large share of a torch stage's start-up and shutdown
# (benchmarks/RESULTS.md). So it is off while they are imported, and stage_params freezes what
# they made (gc.freeze: never traversed again) before any work, with the collector back on.
_IMPORTING = sys.argv[0] == "-m"
if _IMPORTING:
    gc.disable()

from latentlab.core import dvc_run, params
from latentlab.core.errors import UserError
from latentlab.core.params import ModelParams, Params

T = TypeVar("T")
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
INTERRUPTED = 130  # what a shell reports for a command ended by Ctrl-C (128 + SIGINT)


def _imports_done() -> None:
    global _IMPORTING
    if _IMPORTING:
        gc.freeze()
        gc.enable()
        _IMPORTING = False


def stage_entry(main: Callable[[], T]) -> Callable[[], T]:
    """Wrap a stage's main: log to stderr, and end each failure a user can cause (a UserError,
    a full disk, Ctrl-C) in one `error:` line and a non-zero exit status.

    Run by DVC (DVC_STAGE set), the stage also fails when the params dvc.yaml lists for it
    changed while it ran, and a failed stage puts back the outputs DVC removed before running it
    (latentlab/core/dvc_run.py): dvc.lock records nothing, and the workspace is as it records.
    """

    @functools.wraps(main)
    def wrapper() -> T:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
        stage = dvc_run.current_stage()
        try:
            started = dvc_run.snapshot(stage) if stage else None  # before main reads params
            result = main()
            changed = dvc_run.changed_params(started) if started else []
            if changed:
                raise UserError(
                    f"params.yaml changed while {stage} ran ({', '.join(changed)}), and DVC "
                    f"would record the new values for outputs made with the old ones, so this "
                    f"run is not kept; rerun it"
                )
            return result
        except UserError as err:
            _fail(str(err), 2, stage)
        except KeyboardInterrupt:
            _fail("interrupted by Ctrl-C; rerun the stage to finish it", INTERRUPTED, stage)
        except OSError as err:
            if err.errno not in NO_SPACE:
                _restore_then_raise(err, stage)
            where = f" to write {err.filename}" if err.filename else ""
            _fail(f"no space left on the device{where}; free some and rerun the stage", 2, stage)
        except Exception as err:  # a bug: its traceback, with the outputs back in place
            _restore_then_raise(err, stage)

    return wrapper


def _fail(message: str, status: int, stage: str | None) -> NoReturn:
    """Put back what DVC removed (when DVC runs the stage), then exit after one line."""
    lost = dvc_run.restore_outputs(stage) if stage else None
    print(f"error: {message}{f'; {lost}' if lost else ''}", file=sys.stderr)
    raise SystemExit(status)


def _restore_then_raise(err: Exception, stage: str | None) -> NoReturn:
    lost = dvc_run.restore_outputs(stage) if stage else None
    if lost:
        err.add_note(lost)
    raise err


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
