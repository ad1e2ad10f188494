#!/bin/sh
# Install the Debian packages edix builds, runs and tests with, if missing.
# Used by demo.sh, test.sh and CI; safe to run again.
set -eu
PKGS="build-essential cmake pkg-config libxml2-dev libzmq3-dev libczmq-dev libssl-dev
libsodium-dev libsqlite3-dev libcmocka-dev sqlite3 python3 util-linux python3-zmq strace"
missing=""
for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
