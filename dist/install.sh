#!/bin/sh
# Installs dnsleak as a system service (as root): the binary to /usr/local/bin, the unit to
# /etc/systemd/system, checked with systemd-analyze verify, then enabled and started.
#   sudo dist/install.sh            build (release) if needed, install, enable, start
#   sudo dist/install.sh --remove   stop, disable, remove both
set -eu
cd "$(dirname "$0")/.."
unit=/etc/systemd/system/dnsleak.service
if [ "${1:-}" = "--remove" ]; then
  systemctl disable --now dnsleak.service 2>/dev/null || true
  rm -f "$unit" /usr/local/bin/dnsleak
  systemctl daemon-reload
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "install.sh: run it as root (sudo dist/install.sh)" >&2; exit 2; }
bin=${BIN:-target/release/dnsleak}
if [ ! -x "$bin" ]; then
  cargo build --release --locked
fi
install -m 0755 "$bin" /usr/local/bin/dnsleak
install -m 0644 dist/dnsleak.service "$unit"
systemd-analyze verify "$unit"
systemctl daemon-reload
systemctl enable --now dnsleak.service
systemctl --no-pager status dnsleak.service || true
