#!/usr/bin/env bash
# Sets up everything the README's two commands need, and does nothing already done:
#   - Debian's dataset-fashion-mnist (the original idx files, for training offline), where apt exists;
#   - with --tests, Debian's slurm-wlm and munge too (tests/test_slurm.py runs a real SLURM);
#   - a virtual environment in .venv with requirements.txt and this package (editable).
set -euo pipefail
cd "$(dirname "$0")"

case "${1:-}" in
  '') tests=no ;;
  --tests) tests=yes ;;
  *) echo "setup.sh: unknown argument $1; usage: ./setup.sh [--tests]" >&2; exit 2 ;;
esac

# apt-get install PACKAGE… as root or through sudo; false (with a line saying why) without either.
apt_install() {
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "setup.sh: cannot apt-get install $* without root." >&2
    return 1
  fi
}

if command -v apt-get >/dev/null 2>&1; then
  if [ ! -d /usr/share/datasets/fashion-mnist ]; then
    apt_install dataset-fashion-mnist ||
      echo "setup.sh: TensorFlow Datasets will download Fashion-MNIST instead." >&2
  fi
  if [ "$tests" = yes ] && ! { [ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/munged ]; }; then
    apt_install slurm-wlm munge ||
      echo "setup.sh: the SLURM tests will be skipped (CI=true: they fail)." >&2
  fi
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup.sh: $python is $("$python" --version 2>&1); Python 3.11 or newer is needed (set PYTHON=...)." >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv

# Reinstall only when requirements.txt or pyproject.toml changed since the last setup.
stamp=.venv/.installed-requirements
wanted=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt -e .
  echo "$wanted" > "$stamp"
fi
