"""Stage `report`: reports/report.md, its figures, the headline metrics, the verdicts and the
summary table, from the tracked artifacts of the models `report.models` lists (no model is
loaded)."""

if not __package__:  # `python stages/report.py`: the imports below need `python -m`
    raise SystemExit("error: run it from the repository root as `python -m stages.report`")

import logging

from latentlab.core import paths
from latentlab.core.artifacts import write_bytes, write_json
from latentlab.report import drawing, factorial, instruments, results, text
from latentlab.report.answer import CLAIM_MEASURES
from latentlab.report.comparison import claim_results_by_vae, verdict_record
from stages import log_written, stage_entry, stage_params

log = logging.getLogger("report")


@stage_entry
def main() -> None:
    """Gather every compared run's metrics, test the claims, draw the figures, write the report."""
    p, _ = stage_params(__doc__)
    # Every result is read and every verdict reached before the first figure is replaced, so
    # that a missing or stale file is refused with the report as it was.
    table = results.gather(p)
    summary = results.summarise(table)
    items = results.gather_items(p)
    calibration = results.gather_calibration(p)
    accuracy = results.Numbers(summary).mean("judge", "test_accuracy")
    weak = instruments.too_weak(calibration, accuracy, list(CLAIM_MEASURES))
    verdicts = claim_results_by_vae(p, table, items, weak)
    cells = factorial.design_cells(p)
    fact = factorial.factorial(cells, table, items, weak) if cells else None
    log.info("drawing the figures of %s", ", ".join(p.report.models))
    drawn = drawing.draw(p, cells)
    write_bytes(
        paths.REPORTS / "report.md",
        text.report(p, summary, table, verdicts, fact, calibration, drawn).encode(),
    )
    write_json(paths.HEADLINE, results.headline(summary, p))
    write_json(
        paths.VERDICTS, verdict_record(verdicts, factorial.mechanism_record(fact) if fact else None)
    )
    write_bytes(paths.SUMMARY, summary.to_csv(index=False, float_format="%.6g").encode())
    log_written(
        log,
        paths.REPORTS / "report.md",
        paths.HEADLINE,
        paths.VERDICTS,
        paths.SUMMARY,
        f"{len(drawn)} figures in {paths.FIGURES}",
    )


if __name__ == "__main__":
    main()
