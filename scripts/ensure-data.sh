#!/bin/sh
# Install Debian's Fashion-MNIST when it is missing and apt can be used; otherwise say what to do.
# Not fatal: the download stage also tries the other sources in params.yaml (data.sources).
dir=/usr/share/datasets/fashion-mnist
[ -f "$dir/train-images-idx3-ubyte.gz" ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  # sudo -n: fail rather than wait for a password nobody will type.
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo="none"; fi
  if [ "$sudo" != none ]; then
    echo "Installing the Debian package dataset-fashion-mnist into $dir"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq dataset-fashion-mnist && exit 0
  fi
fi
echo "Fashion-MNIST is not in $dir and could not be installed with apt." >&2
echo "Install it with 'apt-get install dataset-fashion-mnist', or put the four files in a folder" >&2
echo "and list it first under data.sources in params.yaml; the pipeline will otherwise try to" >&2
echo "download them with torchvision, which needs a network." >&2
