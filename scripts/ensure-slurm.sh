#!/bin/sh
# Install SLURM and munge for the SLURM sweep test when asked (INSTALL_SLURM=1) and apt can be
# used: tests/test_sweeps.py starts a throwaway single-node cluster on localhost. Never
# fatal: without them that test is skipped, and this says why.
packages="slurmctld slurmd slurm-client munge"
have() { for b in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch /usr/sbin/munged; do [ -x "$b" ] || return 1; done; }
have && exit 0
skip="the SLURM sweep test (tests/test_sweeps.py) will be skipped"
# System packages with services: installed only when asked (CI asks, .ci/run).
if [ "${INSTALL_SLURM:-0}" != 1 ]; then
  echo "SLURM is not installed: $skip; run 'make test INSTALL_SLURM=1' to install $packages for it." >&2
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  # sudo -n: fail rather than wait for a password nobody will type.
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo="none"; fi
  if [ "$sudo" != none ]; then
    echo "Installing the Debian packages $packages (for the SLURM sweep test)"
    # The packages' services are not started: the test runs its own daemons as root.
    $sudo apt-get update -qq &&
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null &&
      have && exit 0
    echo "'apt-get install $packages' failed: $skip." >&2
    exit 0
  fi
  echo "SLURM is not installed and apt needs root or passwordless sudo: $skip; install $packages to run it." >&2
  exit 0
fi
echo "SLURM is not installed and there is no apt-get: $skip; install SLURM and munge to run it." >&2
exit 0
