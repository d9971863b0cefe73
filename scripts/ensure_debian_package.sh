#!/usr/bin/env bash
# ensure_debian_package.sh COMMAND PACKAGE… — install Debian packages when COMMAND is missing.
# Used for the browser tests (chromium) and the benchmark's load generator (wrk).
set -euo pipefail
command_name=$1; shift
if command -v "$command_name" >/dev/null 2>&1; then exit 0; fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
echo "Installing Debian's $* (for $command_name)…"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
