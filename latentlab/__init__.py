"""Library code for the Lab 8 latent-space pipeline, in layers that import only downward.

- core/      params, paths, errors, artifacts, the data as read, a stage run by DVC (no torch)
- nn/        the AE, VAE and WAE, their losses, seeds stacked into one model, checkpoints, the
             torch runtime (device, precision, Adam)
- judge/     the CNN that classifies and embeds decoded images, and its training
- analysis/  measures of codes, tiles and paths, the latent grid, the table of metrics (numpy)
- report/    the claims and their verdicts, the figures, the report's text (the report stage)
- sweep/     grids of experiments in scratch clones, on this machine or SLURM, and their report
- download.py, training.py, evaluation.py, rendering.py, interpolation.py, calibration.py: one
  stage each

Who may import whom (tests/test_layers.py checks it): nn imports core; judge imports core and
nn; analysis imports nothing of latentlab, so its measures need neither params nor torch; report
imports core and analysis, never torch; sweep (tooling no stage runs) imports core, analysis
and report, never torch; the one-stage modules import any of core, nn, judge and analysis;
nothing in latentlab imports a one-stage module or sweep, and only sweep imports report.
"""
