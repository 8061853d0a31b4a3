"""Developer scripts run with `python -m scripts.<name>` (a package, so that no installed
module named `scripts` can shadow them)."""
