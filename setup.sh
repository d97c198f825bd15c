#!/usr/bin/env bash
# Sets up everything the README's two commands need, and does nothing already done:
#   - Debian's dataset-fashion-mnist (the original idx files, for training offline), where apt exists;
#   - a virtual environment in .venv with requirements.txt and this package (editable).
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null
  else
    echo "setup.sh: cannot apt-get install dataset-fashion-mnist without root;" \
         "TensorFlow Datasets will download Fashion-MNIST instead." >&2
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
