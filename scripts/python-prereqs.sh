#!/usr/bin/env bash
# Make sure python3 can create a virtual environment (Debian splits venv/pip out of python3).
set -euo pipefail
PY=${PY:-python3}
if ! command -v "$PY" >/dev/null 2>&1 || ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "python-prereqs: installing python3, python3-venv and python3-pip with apt"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    python3 python3-venv python3-pip python3-dev gcc >/dev/null
fi
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' || {
  echo "python-prereqs: Python 3.11 or newer is required" >&2; exit 1; }
