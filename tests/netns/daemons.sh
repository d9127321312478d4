#!/usr/bin/env bash
# Real systemd-resolved and NetworkManager for tests, each in a network + mount namespace of its
# own with a private system bus (needs root). They are never installed: their Debian packages
# are downloaded and unpacked into a directory (installing them would take over this machine's
# resolver and cut it off from the package registries).
#
#   daemons.sh fetch DEBDIR             download + unpack systemd-resolved and network-manager
#                                       into DEBDIR (once; DEBDIR/ok marks it done)
#   daemons.sh up KIND STATE DEBDIR     KIND = resolved | nm: a namespace holder, dbus-daemon and
#                                       the daemon; STATE/holder.pid is the PID to nsenter
#   daemons.sh down STATE               kill everything by PID (idempotent)
#   daemons.sh exec STATE CMD...        run CMD inside (nsenter network + mount)
#
# Inside (only documentation addresses):
#   lo; eth0 192.0.2.10/24 fd00:1::10/64 (veth, peer eth0p); wg0 198.51.100.2/24 (veth, peer
#   wg0p; a stand-in link for per-link DNS settings). /run is a fresh tmpfs, /etc an overlay
#   (STATE/etc-up), /sys a fresh read-only sysfs (NetworkManager then does not wait for udev).
#   resolved: /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf, user systemd-resolve
#   added to the overlay's passwd/group. nm: keyfile connection "lan" on eth0 with DNS 192.0.2.1,
#   rc-manager=symlink, /etc/resolv.conf -> ../run/NetworkManager/resolv.conf.
set -euo pipefail

die() { echo "daemons.sh: $*" >&2; exit 1; }

poll() {
  local deadline=$((SECONDS + ${POLL_SECS:-20}))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

fetch() {
  local deb=$1
  [ -f "$deb/ok" ] && return 0
  mkdir -p "$deb"
  command -v apt-get >/dev/null || die "needs apt-get (Debian) to download the packages"
  (cd "$deb" && apt-get download systemd-resolved network-manager libnm0 libndp0 >download.log 2>&1) ||
    die "apt-get download systemd-resolved network-manager libnm0 libndp0 failed (network? see $deb/download.log)"
  for f in "$deb"/systemd-resolved_*.deb; do dpkg-deb -x "$f" "$deb/resolved"; done
  for f in "$deb"/network-manager_*.deb "$deb"/libnm0_*.deb "$deb"/libndp0_*.deb; do dpkg-deb -x "$f" "$deb/nm"; done
  touch "$deb/ok"
}

bus_has() {
  dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner "string:$1" 2>/dev/null | grep -q "boolean true"
}

# The namespace's setup; runs inside `unshare --net --mount`, then holds the namespaces.
inner() {
  local kind=$1 state=$2 deb=$3
  mount -t tmpfs tmpfs /run
  mount -t sysfs -o ro sysfs /sys
  mkdir -p "$state/etc-up" "$state/etc-work"
  mount -t overlay overlay -o "lowerdir=/etc,upperdir=$state/etc-up,workdir=$state/etc-work" /etc
  mkdir -p /run/dbus
  ip link set lo up
  ip link add eth0 type veth peer name eth0p
  ip link add wg0 type veth peer name wg0p
  ip link set eth0p up
  ip link set wg0p up
  if [ "$kind" = resolved ]; then
    ip addr add 192.0.2.10/24 dev eth0
    ip addr add fd00:1::10/64 dev eth0 nodad
    ip addr add 198.51.100.2/24 dev wg0
    ip link set eth0 up
    ip link set wg0 up
  fi
  cat >"$state/bus.conf" <<'EOF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
  </policy>
</busconfig>
EOF
  dbus-daemon --config-file="$state/bus.conf" --nofork --nopidfile >"$state/dbus.log" 2>&1 &
  echo $! >"$state/dbus.pid"
  poll test -S /run/dbus/system_bus_socket || die "dbus-daemon did not start: $(cat "$state/dbus.log")"
  case $kind in
    resolved) start_resolved "$state" "$deb" ;;
    nm) start_nm "$state" "$deb" ;;
    *) die "unknown daemon $kind" ;;
  esac
  touch "$state/ready"
  exec sleep infinity
}

start_resolved() {
  local state=$1 deb=$2
  grep -q '^systemd-resolve:' /etc/passwd || echo 'systemd-resolve:x:991:991:systemd Resolver:/:/usr/sbin/nologin' >>/etc/passwd
  grep -q '^systemd-resolve:' /etc/group || echo 'systemd-resolve:x:991:' >>/etc/group
  mkdir -p /run/systemd/resolve
  chown systemd-resolve:systemd-resolve /run/systemd/resolve
  rm -f /etc/resolv.conf
  ln -s ../run/systemd/resolve/stub-resolv.conf /etc/resolv.conf
  "$deb/resolved/lib/systemd/systemd-resolved" >"$state/daemon.log" 2>&1 &
  echo $! >"$state/daemon.pid"
  poll bus_has org.freedesktop.resolve1 || die "systemd-resolved did not start: $(cat "$state/daemon.log")"
}

start_nm() {
  local state=$1 deb=$2
  mkdir -p /etc/NetworkManager/system-connections /var/lib/NetworkManager 2>/dev/null || true
  mount -t tmpfs tmpfs /var/lib
  mkdir -p /var/lib/NetworkManager
  cat >/etc/NetworkManager/NetworkManager.conf <<'EOF'
[main]
plugins=keyfile
dns=default
rc-manager=symlink
no-auto-default=*
[logging]
level=INFO
EOF
  cat >/etc/NetworkManager/system-connections/lan.nmconnection <<'EOF'
[connection]
id=lan
type=ethernet
interface-name=eth0
autoconnect=true
[ipv4]
method=manual
address1=192.0.2.10/24,192.0.2.1
dns=192.0.2.1;
dns-search=home.example;
[ipv6]
method=disabled
EOF
  chmod 600 /etc/NetworkManager/system-connections/lan.nmconnection
  rm -f /etc/resolv.conf
  ln -s ../run/NetworkManager/resolv.conf /etc/resolv.conf
  LD_LIBRARY_PATH="$deb/nm/usr/lib/x86_64-linux-gnu" "$deb/nm/usr/sbin/NetworkManager" --no-daemon \
    >"$state/daemon.log" 2>&1 &
  echo $! >"$state/daemon.pid"
  poll bus_has org.freedesktop.NetworkManager || die "NetworkManager did not start: $(cat "$state/daemon.log")"
  POLL_SECS=30 poll grep -q 192.0.2.1 /run/NetworkManager/resolv.conf ||
    die "NetworkManager did not bring up eth0's DNS: $(tail -20 "$state/daemon.log")"
}

up() {
  local kind=$1 state=$2 deb=$3
  [ "$(id -u)" = 0 ] || die "needs root"
  command -v dbus-daemon >/dev/null || die "needs dbus-daemon: apt-get install dbus-daemon"
  command -v nsenter >/dev/null || die "needs nsenter: apt-get install util-linux"
  fetch "$deb"
  mkdir -p "$state"
  unshare --net --mount --propagation private bash "$0" inner "$kind" "$state" "$deb" \
    >"$state/inner.log" 2>&1 </dev/null &
  echo $! >"$state/holder.pid"
  POLL_SECS=60 poll test -f "$state/ready" || die "the $kind namespace did not come up: $(cat "$state/inner.log")"
}

down() {
  local state=$1 f
  for f in daemon dbus holder; do
    [ -f "$state/$f.pid" ] && kill "$(cat "$state/$f.pid")" 2>/dev/null || true
  done
  for f in daemon dbus holder; do
    [ -f "$state/$f.pid" ] || continue
    POLL_SECS=10 poll bash -c "! kill -0 $(cat "$state/$f.pid")" || kill -9 "$(cat "$state/$f.pid")" 2>/dev/null || true
  done
}

run_in() {
  local state=$1
  shift
  nsenter -t "$(cat "$state/holder.pid")" -n -m -- "$@"
}

cmd=${1:-}
shift || true
case $cmd in
  fetch) fetch "$1" ;;
  up) up "$@" ;;
  down) down "$1" ;;
  exec) run_in "$@" ;;
  inner) inner "$@" ;;
  *) die "usage: daemons.sh fetch DEBDIR | up KIND STATE DEBDIR | down STATE | exec STATE CMD..." ;;
esac
