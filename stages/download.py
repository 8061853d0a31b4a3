"""Stage `download`: the four Fashion-MNIST files, verified, where torchvision would keep them."""

if not __package__:  # `python stages/download.py`: the imports below need `python -m`
    raise SystemExit("error: run it from the repository root as `python -m stages.download`")

import logging

from latentlab import download
from latentlab.core.fashion_mnist import raw_dir
from latentlab.core.paths import DATA_ROOT
from stages import log_written, stage_entry, stage_params

log = logging.getLogger("download")


@stage_entry
def main() -> None:
    """Fetch from the first of data.sources that gives four files with the published checksums."""
    p, _ = stage_params(__doc__)
    source = download.fetch(p.sources, DATA_ROOT)
    log.info("Fashion-MNIST from %s", source)
    log_written(log, raw_dir(DATA_ROOT))


if __name__ == "__main__":
    main()
