#!/usr/bin/env bash
# Installs the Debian packages the product and its tests need, where missing and where we are root.
set -euo pipefail
missing=()
python3 -c "import ensurepip, venv" 2>/dev/null || missing+=(python3-venv)
command -v redis-server >/dev/null || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
# the browser tests prefer Chromium's headless shell (less CPU per page) and fall back to the
# full browser (tests/e2e/conftest.py): the shell is needed only where neither is installed
if ! command -v chromium-headless-shell >/dev/null; then
  if command -v chromium >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell >/dev/null 2>&1 \
        || echo "chromium-headless-shell could not be installed; the browser tests use chromium"
    fi
  else
    missing+=(chromium-headless-shell)
  fi
fi
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  echo "Installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
  # The packaged PostgreSQL service is not used; tests start their own server on 127.0.0.1.
  if command -v service >/dev/null; then service postgresql stop >/dev/null 2>&1 || true; fi
else
  echo "Missing system packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
