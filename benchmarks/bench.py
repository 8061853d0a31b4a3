"""How fast the pipeline trains and reruns: against a floor, the lab's loop and a past revision.

    python -m benchmarks.bench                     # everything; writes benchmarks/RESULTS.md
    python -m benchmarks.bench --baseline 4febb0e  # ... and that revision's full pipeline
    python -m benchmarks.bench --quick             # the in-process epochs only; prints them
    python -m benchmarks.bench --smoke             # everything on a tiny configuration, a test

In one process (benchmarks/epochs.py): the matmul floor of a VAE epoch, our VAE and AE epochs and
the lab notebook's loop, interleaved and repeated. As whole processes, in throwaway copies of the
repository (benchmarks/pipeline.py): the full `dvc repro` from nothing with each stage's time,
lifetime and peak memory, a no-op repro, a latent_map change, `make quick`, each stage's import
time and, with --baseline, the full repro of another revision. benchmarks/results.py writes the
tables and the targets; RESULTS.md's History section is kept as it is.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from pathlib import Path

from benchmarks import results
from benchmarks.epochs import measure_epochs, torch_info
from benchmarks.pipeline import REPO, measure_pipeline, resolve_revision
from benchmarks.procwatch import load_average, machine
from latentlab.core import params
from latentlab.download import fetch

RESULTS = REPO / "benchmarks" / "RESULTS.md"
SMOKE_OUTPUT = Path(tempfile.gettempdir()) / "latentlab-bench-smoke.md"
SMOKE_IMAGES = 2000  # the epochs of --smoke train on this many images


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; --smoke settles what it implies (1 repeat, no waiting, a scratch file)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="in-process epochs only; print them")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"everything on a tiny configuration, written to {SMOKE_OUTPUT}",
    )
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats of the epochs")
    parser.add_argument(
        "--max-wait",
        type=float,
        default=20.0,
        help="seconds to wait for a quiet machine before each measure",
    )
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also run the full pipeline of git revision REV and compare",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help=f"where to write the results (default {RESULTS}; none with --quick)",
    )
    args = parser.parse_args(argv)
    args.limit = 0
    if args.smoke:
        args.repeats, args.max_wait, args.limit = 1, 0.0, SMOKE_IMAGES
        args.output = args.output or SMOKE_OUTPUT
        if args.output.resolve() == RESULTS.resolve():
            parser.error(f"--smoke never writes {RESULTS}")
    elif not args.quick:
        args.output = args.output or RESULTS
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.baseline:
        try:
            args.baseline = resolve_revision(args.baseline)
        except ValueError as err:
            parser.error(str(err))
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, print the tables and PASS/FAIL per target, write the results."""
    args = parse_args(argv)
    # A SIGTERM then unwinds like Ctrl-C: DVC is stopped and the temporary copies are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.chdir(REPO)  # params.yaml is read from here
    info = {**machine(), **torch_info()}
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)

    print(f"epochs ({args.repeats} interleaved repeats; load {load_average()}):", flush=True)
    with tempfile.TemporaryDirectory(prefix="latentlab-bench-data-") as tmp:
        fetch(params.load().sources, Path(tmp))
        epochs = measure_epochs(Path(tmp), args.repeats, args.max_wait, args.limit)
    pipeline = None
    if not args.quick:
        print("whole processes:", flush=True)
        pipeline = measure_pipeline(
            args.max_wait, args.baseline, smoke=args.smoke, import_calls=1 if args.smoke else 3
        )
    body = results.report(info, epochs, args.repeats, pipeline)
    print("\n" + body)
    if args.output:
        # The History comes from RESULTS.md itself, so that a scratch file looks like the real one.
        results.write(args.output, body, history_from=RESULTS)
        print(f"written to {args.output}")


if __name__ == "__main__":
    main()
