#!/usr/bin/env bash
# ensure_debian_package.sh COMMAND PACKAGE… — install Debian packages with apt when COMMAND is missing.
# Used for the model-code sandbox (bubblewrap), the browser tests (chromium) and the benchmark's
# load generator (wrk). Needs Debian or
# Ubuntu (apt-get) and root or sudo; elsewhere it says what to install and stops.
set -euo pipefail
command_name=$1; shift
if command -v "$command_name" >/dev/null 2>&1; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "$command_name is missing and this is not Debian/Ubuntu (no apt-get): install $* yourself." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "$command_name is missing; installing $* needs root or sudo: run 'apt-get install $*' as root." >&2
    exit 1
  fi
  SUDO="sudo"
fi
echo "Installing Debian's $* with apt-get (for $command_name)…"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
