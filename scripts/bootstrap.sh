#!/usr/bin/env bash
# Installs what larkdou needs into .venv (pinned versions from requirements.lock).
#   scripts/bootstrap.sh          the runtime (for `make demo`)
#   scripts/bootstrap.sh --test   plus what the tests need: test packages, redis-server, chromium
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

want_test=0
if [ "${1:-}" = "--test" ]; then
  want_test=1
fi

apt_get() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
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
  if [ ${#missing[@]} -gt 0 ]; then
    apt_get "${missing[@]}"
  fi
}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi

locks=(requirements.lock)
if [ $want_test = 1 ]; then
  locks+=(requirements-test.lock)
fi
stamp="$VENV/.installed-$(cat "${locks[@]}" pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  for lock in "${locks[@]}"; do
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$lock"
  done
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
