#!/usr/bin/env python3
"""A small DNSCrypt v2 client for dnsleak's tests (the protocol as https://dnscrypt.info/protocol
describes it), on Debian's libsodium (libsodium23, through ctypes): no cryptography here is
written by hand.

    dnscrypt_client.py --host H --port P --provider 2.dnscrypt-cert.NAME [--name example.com]
                       [--tcp] [--queries N]

It asks the resolver for its certificates (a plain TXT query for the provider name), picks the
X25519-XChaCha20Poly1305 one (es-version 2), sends N encrypted A queries from fresh source
ports (as dnscrypt-proxy does) and decrypts the answers. Exit 0 when every answer decrypted.
Every wait is bounded (2 s a packet).
"""

import argparse
import ctypes
import os
import socket
import struct
import sys

RESOLVER_MAGIC = b"r6fnvWj8"
sodium = ctypes.CDLL("libsodium.so.23")
if sodium.sodium_init() < 0:
    sys.exit("libsodium failed to initialise")


def dns_query(name: str, qtype: int, qid: int) -> bytes:
    q = b"".join(bytes([len(x)]) + x.encode() for x in name.strip(".").split("."))
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1) + q + b"\x00" + struct.pack("!HH", qtype, 1) + \
        b"\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00"  # EDNS, 4096-byte payload


def exchange(args, payload: bytes) -> bytes:
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    if args.tcp:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect((args.host, args.port))
            s.sendall(struct.pack("!H", len(payload)) + payload)
            data = b""
            while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
                chunk = s.recv(65535)
                if not chunk:
                    break
                data += chunk
            return data[2:]
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(payload, (args.host, args.port))
        return s.recv(65535)


def txt_strings(msg: bytes) -> list:
    """The TXT records of the answer section, each as its strings joined."""
    def skip_name(at):
        while at < len(msg):
            n = msg[at]
            if n == 0:
                return at + 1
            if n & 0xC0 == 0xC0:
                return at + 2
            at += n + 1
        raise ValueError("name runs past the end")

    qd, an = struct.unpack("!HH", msg[4:8])
    at = 12
    for _ in range(qd):
        at = skip_name(at) + 4
    out = []
    for _ in range(an):
        at = skip_name(at)
        rtype, _, _, rdlen = struct.unpack("!HHIH", msg[at:at + 10])
        at += 10
        rdata = msg[at:at + rdlen]
        at += rdlen
        if rtype == 16:
            strings, i = b"", 0
            while i < len(rdata):
                strings += rdata[i + 1:i + 1 + rdata[i]]
                i += 1 + rdata[i]
            out.append(strings)
    return out


def shared_key(resolver_pk: bytes, client_sk: bytes) -> bytes:
    k = ctypes.create_string_buffer(32)
    if sodium.crypto_box_curve25519xchacha20poly1305_beforenm(k, resolver_pk, client_sk) != 0:
        raise ValueError("bad resolver key")
    return k.raw


def seal(key: bytes, nonce: bytes, msg: bytes) -> bytes:
    out = ctypes.create_string_buffer(len(msg) + 16)
    sodium.crypto_box_curve25519xchacha20poly1305_easy_afternm(out, msg, ctypes.c_ulonglong(len(msg)), nonce, key)
    return out.raw


def unseal(key: bytes, nonce: bytes, box: bytes) -> bytes:
    out = ctypes.create_string_buffer(max(len(box) - 16, 1))
    rc = sodium.crypto_box_curve25519xchacha20poly1305_open_easy_afternm(
        out, box, ctypes.c_ulonglong(len(box)), nonce, key)
    if rc != 0:
        raise ValueError("answer does not decrypt")
    return out.raw[:len(box) - 16]


def pad(msg: bytes, tcp: bool) -> bytes:
    msg += b"\x80"
    size = max(len(msg), 0 if tcp else 256)
    size = (size + 63) // 64 * 64
    return msg + b"\x00" * (size - len(msg))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--provider", required=True)
    p.add_argument("--name", default="example.com")
    p.add_argument("--tcp", action="store_true")
    p.add_argument("--queries", type=int, default=1)
    args = p.parse_args()

    certs = txt_strings(exchange(args, dns_query(args.provider, 16, 0x4443)))
    classic = [c for c in certs if c[:4] == b"DNSC" and c[4:6] == b"\x00\x02" and len(c) >= 124]
    if not classic:
        sys.exit(f"no es-version 2 certificate among {len(certs)} TXT records")
    cert = classic[0]
    resolver_pk, client_magic = cert[72:104], cert[104:112]

    client_pk = ctypes.create_string_buffer(32)
    client_sk = ctypes.create_string_buffer(32)
    sodium.crypto_box_curve25519xchacha20poly1305_keypair(client_pk, client_sk)
    key = shared_key(resolver_pk, client_sk.raw)
    for i in range(args.queries):
        half = os.urandom(12)
        nonce = half + b"\x00" * 12
        box = seal(key, nonce, pad(dns_query(args.name, 1, 0x1000 + i), args.tcp))
        reply = exchange(args, client_magic + client_pk.raw + half + box)
        if reply[:8] != RESOLVER_MAGIC or reply[8:20] != half:
            sys.exit("the answer does not start with the resolver magic and our nonce")
        answer = unseal(key, reply[8:32], reply[32:])
        print(f"answer {i}: {len(answer)} bytes, rcode {answer[3] & 15}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
