#!/bin/sh
# Install OpenSSH's server for the SSH remote test when asked (INSTALL_SSHD=1) and apt can be used:
# tests/test_remote_ssh.py starts a throwaway sshd on localhost. Never fatal: without sshd that
# test is skipped, and this says why.
sshd=/usr/sbin/sshd
[ -x "$sshd" ] && exit 0
# A system package with a service: installed only when asked (CI asks, .ci/run).
if [ "${INSTALL_SSHD:-0}" != 1 ]; then
  echo "$sshd is missing: the SSH remote test (tests/test_remote_ssh.py) will be skipped; run 'make test INSTALL_SSHD=1' to install openssh-server for it." >&2
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  # sudo -n: fail rather than wait for a password nobody will type.
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo="none"; fi
  if [ "$sudo" != none ]; then
    echo "Installing the Debian package openssh-server (for the SSH remote test)"
    $sudo apt-get update -qq &&
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null &&
      [ -x "$sshd" ] && exit 0
    echo "$sshd is missing and 'apt-get install openssh-server' failed: the SSH remote test (tests/test_remote_ssh.py) will be skipped." >&2
    exit 0
  fi
  echo "$sshd is missing and apt needs root or passwordless sudo: the SSH remote test (tests/test_remote_ssh.py) will be skipped; install openssh-server to run it." >&2
  exit 0
fi
echo "$sshd is missing and there is no apt-get: the SSH remote test (tests/test_remote_ssh.py) will be skipped; install OpenSSH's server to run it." >&2
exit 0
