#!/usr/bin/env bash
# A throw-away test network for dnsleak, built from network namespaces (needs root).
#
#   world.sh up STATE_DIR PREFIX   build it; names and addresses go to STATE_DIR/env
#   world.sh down STATE_DIR        tear it down (kills by PID, deletes the namespaces); idempotent
#   world.sh tunnel-kill STATE_DIR  end the client's wireguard-go (the tunnel interface vanishes)
#   world.sh tunnel-start STATE_DIR start it again under the same name
#   world.sh stub STATE_DIR UPSTREAM  a dnsmasq stub on the client's 127.0.0.53 forwarding to UPSTREAM
#   world.sh quic STATE_DIR PYTHON  QUIC servers on the router (tests/netns/quic_peer.py, aioquic
#                                   in PYTHON): DoQ and HTTP/3 (DoH at /dns-query, a page
#                                   elsewhere) on UDP 784, 4433 and 8853, every address
#                                   (unbound holds UDP 443 and 853)
#   world.sh dnscrypt STATE_DIR BIN  a DNSCrypt server on the router (BIN: encrypted-dns, from
#                                   `cargo install encrypted-dns`) on 192.0.2.1:5353 and
#                                   198.51.100.1:8443, UDP and TCP, provider resolver.example,
#                                   forwarding to dnsmasq
#
# Layout (only 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and fd00::/8 are used):
#
#   client namespace                                  router namespace
#   ---------------                                   ----------------
#   $LAN 192.0.2.2/24 fd00:1::2/64  <-- veth -->       $RLAN 192.0.2.1/24 fd00:1::1/64
#   $WG  198.51.100.2/24 (WireGuard, IPv4 only) <-->   $RWG  198.51.100.1/24 (endpoint 192.0.2.1:51820)
#   lo   127.0.0.1 (a dnsmasq stub on 127.0.0.53       lo: 203.0.113.53/32, fd00:53::53/128
#        when `stub` is asked for)
#
#   client routes: default dev $WG metric 10; default via 192.0.2.1 metric 1000 (what traffic
#   falls back to when the tunnel dies); 203.0.113.0/24 via 192.0.2.1 (a split route);
#   224.0.0.0/4 dev $LAN (mDNS); IPv6 default via fd00:1::1 (the tunnel carries no IPv6).
#
#   router: dnsmasq answers plain DNS (UDP+TCP 53) on 192.0.2.1 (the LAN resolver),
#   198.51.100.1 (the tunnel resolver), 203.0.113.53 (split-route resolver), fd00:1::1 and
#   fd00:53::53; every name gets A 203.0.113.80 / AAAA fd00:80::80, and big.test a ~3 KB TXT set
#   (a fragmented answer). unbound serves DoT (853) and DoH (443, /dns-query) on 192.0.2.1 and
#   198.51.100.1 with a self-signed certificate.
#
# Every process started is recorded as STATE_DIR/*.pid and killed by PID in `down`.
set -euo pipefail

die() { echo "world.sh: $*" >&2; exit 1; }

# poll CMD... until it succeeds, for at most $POLL_SECS seconds (default 10).
poll() {
  local deadline=$((SECONDS + ${POLL_SECS:-10}))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.02
  done
}

load_env() {
  [ -f "$1/env" ] || die "no world in $1 (missing $1/env)"
  # shellcheck disable=SC1091
  . "$1/env"
}

# start NAME NETNS CMD...: runs CMD in NETNS as a background job, logs to $DIR/NAME.log,
# records its PID in $DIR/NAME.pid.
start() {
  local name=$1 ns=$2
  shift 2
  ip netns exec "$ns" "$@" >"$DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$DIR/$name.pid"
}

# alive PID: running (a zombie waiting for its reaper counts as dead).
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

kill_pid_file() {
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  rm -f "$f"
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  local deadline=$((SECONDS + 3))
  while alive "$pid"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.02
  done
}

udp_listening() { ip netns exec "$1" ss -Hlnu "sport = :$2" | grep -q .; }
tcp_listening() { ip netns exec "$1" ss -Hlnt "sport = :$2" | grep -q "$3"; }
sock_exists() { [ -S "/var/run/wireguard/$1.sock" ]; }

start_wg() { # start_wg PIDNAME NETNS IFACE
  rm -f "/var/run/wireguard/$3.sock"
  start "$1" "$2" env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$3"
  POLL_SECS=10 poll sock_exists "$3" || die "wireguard-go $3 gave no control socket: $(cat "$DIR/$1.log")"
}

client_tunnel_up() {
  start_wg wg-client "$NS_C" "$WG"
  ip -n "$NS_C" link set "$WG" mtu 1420
  ip netns exec "$NS_C" wg set "$WG" private-key "$DIR/client.key" \
    peer "$(cat "$DIR/router.pub")" endpoint 192.0.2.1:51820 allowed-ips 0.0.0.0/0 persistent-keepalive 0
  ip -n "$NS_C" addr add 198.51.100.2/24 dev "$WG"
  ip -n "$NS_C" link set "$WG" up
  ip -n "$NS_C" route add default dev "$WG" metric 10
}

router_up() {
  start_wg wg-router "$NS_R" "$RWG"
  ip netns exec "$NS_R" wg set "$RWG" private-key "$DIR/router.key" listen-port 51820 \
    peer "$(cat "$DIR/client.pub")" allowed-ips 198.51.100.2/32
  ip -n "$NS_R" link set "$RWG" mtu 1420
  ip -n "$NS_R" addr add 198.51.100.1/24 dev "$RWG"
  ip -n "$NS_R" link set "$RWG" up
}

write_unbound_conf() {
  cat >"$DIR/unbound.conf" <<EOF
server:
  username: ""
  chroot: ""
  directory: "$DIR"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 0
  num-threads: 1
  so-reuseport: no
  ip-freebind: yes
  do-ip6: no
  interface: 192.0.2.1@853
  interface: 192.0.2.1@443
  interface: 198.51.100.1@853
  interface: 198.51.100.1@443
  tls-port: 853
  https-port: 443
  http-endpoint: "/dns-query"
  tls-service-key: "$DIR/tls.key"
  tls-service-pem: "$DIR/tls.pem"
  access-control: 0.0.0.0/0 allow
  module-config: "iterator"
  do-not-query-localhost: yes
  local-zone: "." redirect
  local-data: ". 60 IN A 203.0.113.80"
  local-zone: "test." redirect
  local-data: "test. 60 IN A 203.0.113.80"
EOF
}

resolvers_up() {
  local big=() i
  for i in $(seq 1 12); do
    big+=("--txt-record=big.test,$(printf 'fragment-me-%02d-%0230d' "$i" 0)")
  done
  start dnsmasq "$NS_R" dnsmasq --conf-file=/dev/null --keep-in-foreground --no-resolv --no-hosts \
    --user=root --pid-file= --bind-interfaces --listen-address=192.0.2.1 \
    --listen-address=198.51.100.1 --listen-address=203.0.113.53 --listen-address=fd00:1::1 \
    --listen-address=fd00:53::53 --address=/#/203.0.113.80 --address=/#/fd00:80::80 \
    --edns-packet-max=4096 --cache-size=0 --log-facility=- "${big[@]}"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=dns.test" -keyout "$DIR/tls.key" -out "$DIR/tls.pem" >/dev/null 2>&1
  write_unbound_conf
  start unbound "$NS_R" unbound -d -c "$DIR/unbound.conf"
  poll udp_listening "$NS_R" 53 || die "dnsmasq did not start: $(cat "$DIR/dnsmasq.log")"
  poll tcp_listening "$NS_R" 853 198.51.100.1 || die "unbound did not start: $(cat "$DIR/unbound.log")"
  poll tcp_listening "$NS_R" 443 192.0.2.1 || die "unbound DoH did not start: $(cat "$DIR/unbound.log")"
}

links_up() {
  ip netns add "$NS_C"
  ip netns add "$NS_R"
  ip link add "$LAN" netns "$NS_C" type veth peer name "$RLAN" netns "$NS_R"
  for ns in "$NS_C" "$NS_R"; do
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  done
  ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1
  ip -n "$NS_C" addr add 192.0.2.2/24 dev "$LAN"
  ip -n "$NS_C" addr add fd00:1::2/64 dev "$LAN" nodad
  ip -n "$NS_R" addr add 192.0.2.1/24 dev "$RLAN"
  ip -n "$NS_R" addr add fd00:1::1/64 dev "$RLAN" nodad
  ip -n "$NS_R" addr add 203.0.113.53/32 dev lo
  ip -n "$NS_R" addr add fd00:53::53/128 dev lo
  ip -n "$NS_C" link set "$LAN" up
  ip -n "$NS_R" link set "$RLAN" up
  ip -n "$NS_C" route add default via 192.0.2.1 dev "$LAN" metric 1000
  ip -n "$NS_C" route add 203.0.113.0/24 via 192.0.2.1 dev "$LAN"
  ip -n "$NS_C" route add 224.0.0.0/4 dev "$LAN"
  ip -n "$NS_C" -6 route add default via fd00:1::1 dev "$LAN"
}

cmd_up() {
  DIR=$1
  local p=$2
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  NS_C="dl-$p-client"
  NS_R="dl-$p-router"
  LAN=${WORLD_LAN:-eth$p}
  RLAN="rl$p"
  WG=${WORLD_WG:-wg$p}
  RWG="wr$p"
  cat >"$DIR/env" <<EOF
DIR='$DIR'
NS_C='$NS_C'
NS_R='$NS_R'
LAN='$LAN'
RLAN='$RLAN'
WG='$WG'
RWG='$RWG'
EOF
  wg genkey | tee "$DIR/client.key" | wg pubkey >"$DIR/client.pub"
  wg genkey | tee "$DIR/router.key" | wg pubkey >"$DIR/router.pub"
  links_up
  router_up
  client_tunnel_up
  resolvers_up
  # The tunnel works when the router answers a ping across it.
  poll ip netns exec "$NS_C" ping -c1 -W1 -I "$WG" 198.51.100.1 || die "the WireGuard tunnel does not carry traffic"
  poll ip netns exec "$NS_C" ping -c1 -W1 fd00:53::53 || die "IPv6 over the LAN does not work"
}

cmd_down() {
  DIR=$1
  [ -f "$DIR/env" ] || return 0
  load_env "$DIR"
  local f
  for f in "$DIR"/*.pid; do kill_pid_file "$f"; done
  ip netns del "$NS_C" 2>/dev/null || true
  ip netns del "$NS_R" 2>/dev/null || true
  rm -f "/var/run/wireguard/$WG.sock" "/var/run/wireguard/$RWG.sock"
}

cmd_stub() { # a dnsmasq stub on the client's 127.0.0.53 forwarding to UPSTREAM
  load_env "$1"
  kill_pid_file "$DIR/stub.pid"
  ip -n "$NS_C" addr add 127.0.0.53/8 dev lo 2>/dev/null || true
  start stub "$NS_C" dnsmasq --conf-file=/dev/null --keep-in-foreground --no-resolv --no-hosts \
    --user=root --pid-file= --bind-interfaces --listen-address=127.0.0.53 --server="$2" \
    --cache-size=0 --log-facility=-
  poll udp_listening "$NS_C" 53 || die "the stub did not start: $(cat "$DIR/stub.log")"
}

cmd_tunnel_kill() {
  load_env "$1"
  kill_pid_file "$DIR/wg-client.pid"
  POLL_SECS=5 poll bash -c "! ip -n '$NS_C' link show '$WG'" || die "$WG did not vanish"
}

cmd_tunnel_start() {
  load_env "$1"
  client_tunnel_up
  poll ip netns exec "$NS_C" ping -c1 -W1 -I "$WG" 198.51.100.1 || die "the tunnel did not come back"
}

cmd_quic() { # QUIC servers (DoQ + HTTP/3) on the router's UDP 784, 4433 and 8853
  load_env "$1"
  local py=$2 port peer
  peer="$(cd "$(dirname "$0")" && pwd)/quic_peer.py"
  "$py" -c 'import aioquic' 2>/dev/null || die "$py has no aioquic (pip install -r .ci/requirements.txt)"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj /CN=resolver.example -keyout "$DIR/quic.key" -out "$DIR/quic.crt" 2>/dev/null
  for port in 784 4433 8853; do
    kill_pid_file "$DIR/quic-$port.pid"
    start "quic-$port" "$NS_R" "$py" "$peer" server --host :: --port "$port" \
      --cert "$DIR/quic.crt" --key "$DIR/quic.key" --answer 203.0.113.80 --lifetime 600
  done
  for port in 784 4433 8853; do
    poll grep -q "^listening" "$DIR/quic-$port.log" || die "quic_peer.py did not start: $(cat "$DIR/quic-$port.log")"
  done
}

cmd_dnscrypt() {
  load_env "$1"
  local bin=$2
  [ -x "$bin" ] || die "no encrypted-dns at $bin (cargo install encrypted-dns)"
  mkdir -p "$DIR/dnscrypt"
  cat >"$DIR/dnscrypt/encrypted-dns.toml" <<CONF
listen_addrs = [
  { local = "192.0.2.1:5353", external = "192.0.2.1:5353" },
  { local = "198.51.100.1:8443", external = "198.51.100.1:8443" },
]
upstream_addrs = ["192.0.2.1:53"]
state_file = "$DIR/dnscrypt/encrypted-dns.state"
udp_timeout = 10
tcp_timeout = 10
udp_max_active_connections = 100
tcp_max_active_connections = 100
cache_capacity = 100
cache_ttl_min = 1
cache_ttl_max = 60
cache_ttl_error = 1
client_ttl_holdon = 60
daemonize = false
[dnscrypt]
provider_name = "resolver.example"
pq_enabled = true
dnssec = false
no_filters = true
no_logs = true
key_cache_capacity = 100
[tls]
[filtering]
[anonymized_dns]
enabled = false
allowed_ports = [443]
allow_non_reserved_ports = false
blacklisted_ips = []
[access_control]
enabled = false
tokens = []
[rate_limit]
enabled = false
max_queries_per_second = 100
capacity = 100
CONF
  kill_pid_file "$DIR/dnscrypt.pid"
  start dnscrypt "$NS_R" "$bin" --config "$DIR/dnscrypt/encrypted-dns.toml"
  poll udp_listening "$NS_R" 5353 || die "encrypted-dns did not start: $(cat "$DIR/dnscrypt.log")"
  poll udp_listening "$NS_R" 8443 || die "encrypted-dns did not start: $(cat "$DIR/dnscrypt.log")"
}

case "${1:-}" in
  up) [ $# -eq 3 ] || die "usage: world.sh up STATE_DIR PREFIX"; cmd_up "$2" "$3" ;;
  down) [ $# -eq 2 ] || die "usage: world.sh down STATE_DIR"; cmd_down "$2" ;;
  tunnel-kill) cmd_tunnel_kill "$2" ;;
  tunnel-start) cmd_tunnel_start "$2" ;;
  stub) [ $# -eq 3 ] || die "usage: world.sh stub STATE_DIR UPSTREAM"; cmd_stub "$2" "$3" ;;
  quic) [ $# -eq 3 ] || die "usage: world.sh quic STATE_DIR PYTHON"; cmd_quic "$2" "$3" ;;
  dnscrypt) [ $# -eq 3 ] || die "usage: world.sh dnscrypt STATE_DIR ENCRYPTED_DNS"; cmd_dnscrypt "$2" "$3" ;;
  *) die "usage: world.sh up|down|tunnel-kill|tunnel-start|stub|quic|dnscrypt STATE_DIR [ARG]" ;;
esac
