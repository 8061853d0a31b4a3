"""One module per DVC stage: each parses its command line, reads params.yaml, calls latentlab
and writes its outputs. Every stage prints its usage with --help and does nothing else then."""

from __future__ import annotations

import argparse
import logging

from latentlab.core import params
from latentlab.core.errors import UserError
from latentlab.core.params import ModelParams, Params


def stage_params(doc: str | None, per_model: bool = False) -> tuple[Params, ModelParams | None]:
    """Parse the command line (only --help, and a model name for a per-model stage), then load
    and validate params.yaml; the model must be one that dvc.yaml declares."""
    summary, _, details = (doc or "").strip().partition("\n\n")  # the first paragraph
    parser = argparse.ArgumentParser(
        description=summary,
        epilog=details.strip() or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if per_model:
        parser.add_argument("model", help="a model that dvc.yaml declares (vars: models)")
    args = parser.parse_args()
    p = params.load()
    if not per_model:
        return p, None
    declared = params.declared_models()
    if args.model not in declared:
        raise UserError(
            f"unknown model {args.model!r}; dvc.yaml declares the models {', '.join(declared)}"
        )
    return p, p.model(args.model)


def log_written(log: logging.Logger, *written: object) -> None:
    """One log line naming what a stage wrote."""
    log.info("wrote %s", ", ".join(str(w) for w in written))
