#!/usr/bin/env python3
"""Rebuilds core/src/resolvers.tsv, dnsleak's bundled list of public encrypted-DNS servers.

    tools/resolvers/build.py PUBLIC_RESOLVERS_MD --commit SHA --date YYYY-MM-DD [-o OUT]

Inputs:
  - tools/resolvers/curated.tsv: the hand-checked part (the providers' own published addresses
    and the DoH server names from curl's "DNS over HTTPS" wiki page); its entries win.
  - PUBLIC_RESOLVERS_MD: the DNSCrypt project's public resolver list,
    github.com/DNSCrypt/dnscrypt-resolvers, file v3/public-resolvers.md (`## name` sections,
    each with one or more `sdns://` stamps). --commit and --date name the revision read; they
    go into the output's header.

Each stamp (https://dnscrypt.info/stamps-specifications) gives a protocol, an address and
port, and for DoH, DoT, DoQ and ODoH a host name. Addresses become `addr` lines (flag `doh`
when the stamp is DoH on port 443), host names `host` lines; the provider is the section's
name. Relays (anonymized DNSCrypt, ODoH relays) and plain DNS stamps are skipped: they are not
encrypted-DNS resolvers a client talks to.

The output is deterministic: the same inputs give the same file.
"""

import argparse
import base64
import ipaddress
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTOCOLS = {0x01: "dnscrypt", 0x02: "doh", 0x03: "dot", 0x04: "doq", 0x05: "odoh"}
MAX_PROVIDER = 64


class StampError(ValueError):
    pass


def decode(stamp: str) -> dict:
    """One sdns:// stamp as {protocol, addr, port, host} (protocol None for one not read)."""
    raw = stamp.removeprefix("sdns://")
    data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    at = 0

    def take(n):
        nonlocal at
        if at + n > len(data):
            raise StampError(f"stamp cut short: {stamp[:40]}...")
        out = data[at:at + n]
        at += n
        return out

    def lp():
        return take(take(1)[0])

    def vlp():
        items = []
        while True:
            n = take(1)[0]
            items.append(take(n & 0x7F))
            if not n & 0x80:
                return items

    proto = take(1)[0]
    if proto not in PROTOCOLS:
        return {"protocol": None}
    take(8)  # properties
    addr, host = "", ""
    if proto == 0x05:
        host = lp().decode()
    else:
        addr = lp().decode()
        if proto == 0x01:
            lp()  # provider public key
            host = ""  # the provider name (2.dnscrypt-cert...) is no server name
        else:
            vlp()  # certificate hashes
            host = lp().decode()
    default_port = {0x01: 443, 0x02: 443, 0x03: 853, 0x04: 853, 0x05: 443}[proto]
    ip, port = split_addr(addr, default_port)
    host = host.split(":")[0].strip(".").lower() if host and not host.startswith("[") else ""
    return {"protocol": PROTOCOLS[proto], "addr": ip, "port": port, "host": host}


def split_addr(addr: str, default_port: int):
    """'1.2.3.4', '1.2.3.4:443', '[2001:db8::1]:443' or '' -> (address or None, port)."""
    if not addr:
        return None, default_port
    m = re.fullmatch(r"\[([0-9a-fA-F:.]+)\](?::(\d+))?", addr) or re.fullmatch(r"([0-9.]+)(?::(\d+))?", addr)
    if not m:
        return None, default_port
    try:
        ip = ipaddress.ip_address(m.group(1))
    except ValueError:
        return None, default_port
    return str(ip), int(m.group(2) or default_port)


def sections(text: str):
    """(name, [stamps]) for each `## name` section."""
    name, stamps = None, []
    for line in text.splitlines():
        if line.startswith("## "):
            if name:
                yield name, stamps
            name, stamps = line[3:].strip(), []
        elif line.strip().startswith("sdns://") and name:
            stamps.append(line.strip())
    if name:
        yield name, stamps


def host_ok(host: str) -> bool:
    """A server name (not an address) of at least two labels."""
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        pass
    labels = host.split(".")
    return 2 <= len(labels) and len(host) <= 253 and all(
        label and len(label) <= 63 and re.fullmatch(r"[a-z0-9_-]+", label) for label in labels)


def curated():
    """The curated file's lines, and the addresses and hosts it already names."""
    lines = (HERE / "curated.tsv").read_text().splitlines()
    addrs, hosts = {}, {}
    for line in lines:
        f = line.split("\t")
        if f[0] == "addr":
            addrs[str(ipaddress.ip_address(f[1]))] = f[2]
        elif f[0] == "host":
            hosts[f[1]] = f[2]
    return lines, addrs, hosts


def build(md: str, commit: str, date: str) -> str:
    lines, addrs, hosts = curated()
    out_addrs, out_hosts, counts, skipped = {}, {}, {}, 0
    for name, stamps in sections(md):
        decoded = []
        for stamp in stamps:
            try:
                decoded.append(decode(stamp))
            except (StampError, ValueError, UnicodeDecodeError):
                skipped += 1
        decoded = [s for s in decoded if s["protocol"]]
        # A section whose server the curated list names takes the curated provider name.
        known = [hosts.get(s["host"]) or addrs.get(s["addr"]) for s in decoded]
        provider = next((k for k in known if k), name[:MAX_PROVIDER])
        for s in decoded:
            counts[s["protocol"]] = counts.get(s["protocol"], 0) + 1
            if s["addr"] and s["addr"] not in addrs:
                doh = s["protocol"] == "doh" and s["port"] == 443
                old = out_addrs.get(s["addr"])
                out_addrs[s["addr"]] = (old[0] if old else provider, doh or (old and old[1]))
            if s["host"] and host_ok(s["host"]) and s["host"] not in hosts:
                out_hosts.setdefault(s["host"], provider)
    header = HEADER.format(
        commit=commit, date=date,
        counts=", ".join(f"{n} {p}" for p, n in sorted(counts.items())),
        addrs=len(out_addrs), hosts=len(out_hosts), skipped=skipped)
    out = [header.rstrip("\n"), "", "# --- hand-checked (tools/resolvers/curated.tsv) ---"]
    out += lines[lines.index("") + 1:]  # everything after curated.tsv's own header
    out += ["", "# --- from the DNSCrypt project's public-resolvers.md (provider: its section name) ---"]
    for addr in sorted(out_addrs, key=lambda a: (ipaddress.ip_address(a).version, ipaddress.ip_address(a))):
        provider, doh = out_addrs[addr]
        out.append(f"addr\t{addr}\t{provider}\t{'doh' if doh else '-'}")
    for host in sorted(out_hosts):
        out.append(f"host\t{host}\t{out_hosts[host]}")
    return "\n".join(out) + "\n"


HEADER = """\
# Well-known public resolvers and encrypted-DNS servers, bundled into dnsleak.
# Generated by tools/resolvers/build.py: do not edit by hand (edit tools/resolvers/curated.tsv,
# or rerun the script on a newer list).
#
# Sources:
#  - tools/resolvers/curated.tsv: the providers' own published service addresses (Cloudflare,
#    Google Public DNS, Quad9, OpenDNS, NextDNS, AdGuard DNS, Mullvad DNS, CleanBrowsing,
#    Control D, DNS.SB and others), checked 2026-11-24, and DoH server names from the curl
#    project's wiki page "DNS over HTTPS", section "Publicly available servers"
#    (https://github.com/curl/curl/wiki/DNS-over-HTTPS, the revision edited 2024-05-23, read
#    2026-11-24). These come first and win.
#  - the DNSCrypt project's public resolver list, https://github.com/DNSCrypt/dnscrypt-resolvers
#    file v3/public-resolvers.md, commit {commit}
#    ({date}): its stamps ({counts}) give {addrs} more addresses and {hosts} more
#    server names ({skipped} stamps did not decode).
#
# Format: tab-separated.
#   addr <address> <provider> <doh|->   an address of a public resolver; "doh" when it also
#                                       serves DoH on 443, so a TLS or QUIC flow to it on 443
#                                       with no visible server name is taken for DoH
#   host <name> <provider>              a DoH, DoT or DoQ server name; it matches itself and
#                                       every name below it (mozilla.cloudflare-dns.com matches
#                                       cloudflare-dns.com)
#
# Add your own names with --doh-list FILE (lines "host [provider]").
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("public_resolvers_md", type=Path)
    p.add_argument("--commit", required=True)
    p.add_argument("--date", required=True)
    p.add_argument("-o", "--output", type=Path, default=HERE.parent.parent / "core" / "src" / "resolvers.tsv")
    args = p.parse_args()
    text = build(args.public_resolvers_md.read_text(), args.commit, args.date)
    args.output.write_text(text)
    print(f"wrote {args.output} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
