"""Stage `validate`: refuse bad params before any other stage runs or DVC removes its outputs.

Every other stage depends on the file it writes, whose content never changes: after a params
edit DVC runs this stage first, and a bad value stops `dvc repro` or `dvc exp run` here, in one
sentence, with every output in place. (A stage run on its own with `dvc repro -s` checks the
params itself when it starts, and puts back what DVC removed before running it.) It also refuses
data.sources that could not give the data, before DVC removes the data for the download.
"""

if not __package__:  # `python stages/validate.py`: the imports below need `python -m`
    raise SystemExit("error: run it from the repository root as `python -m stages.validate`")

import logging

from latentlab import download
from latentlab.core import memory
from latentlab.core.artifacts import write_bytes
from latentlab.core.errors import UserError
from latentlab.core.params import NO_CUDA
from latentlab.core.paths import VALIDATED
from stages import log_written, stage_entry, stage_params

log = logging.getLogger("validate")


@stage_entry
def main() -> None:
    """Validate params.yaml against the models dvc.yaml declares."""
    p, _ = stage_params(__doc__)
    download.check_sources(p.sources)
    if p.device == "cuda":
        import torch  # slow to import, so only when a GPU is asked for

        if not torch.cuda.is_available():
            raise UserError(NO_CUDA)
    log.info("params.yaml is valid: models %s, seeds %s", ", ".join(p.models), p.seeds)
    largest = max(memory.peaks(p), key=lambda peak: peak.bytes)
    log.info(
        "the largest estimated peak is %s's, %.1f GiB of memory_gib %g",
        largest.stage,
        largest.bytes / memory.GIB,
        p.memory_gib,
    )
    write_bytes(VALIDATED, b"params.yaml passed validation; every stage depends on this file\n")
    log_written(log, VALIDATED)


if __name__ == "__main__":
    main()
