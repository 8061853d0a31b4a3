"""Speed benchmarks of the pipeline; `python -m benchmarks.bench` (or `make bench`) runs them."""
