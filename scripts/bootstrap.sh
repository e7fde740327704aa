#!/usr/bin/env bash
# Installs what larkdou needs into .venv (pinned versions from requirements.lock).
#   scripts/bootstrap.sh          the runtime (for `make demo`)
#   scripts/bootstrap.sh --test   plus what the tests need: test packages, redis-server, chromium
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

apt_get() {
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing with apt-get: $*"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

apt_install() {
  # Debian packages, only when the command is missing.
  local missing=()
  for pair in "$@"; do
    local cmd=${pair%%:*} pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] || apt_get "${missing[@]}"
}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.installed-$( (cat requirements.lock pyproject.toml; [ $want_test = 1 ] && cat requirements-test.lock) | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.lock
  [ $want_test = 1 ] && "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements-test.lock
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi

if [ $want_test = 1 ]; then
  apt_install redis-server:redis-server chromium:chromium wrk:wrk
  # a Chinese font, so the sandbox page (and its screenshots in docs/img) shows Chinese text
  if command -v fc-list >/dev/null 2>&1 && [ -z "$(fc-list :lang=zh 2>/dev/null)" ]; then
    apt_get fonts-wqy-microhei
  fi
fi
