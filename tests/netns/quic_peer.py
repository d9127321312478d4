#!/usr/bin/env python3
"""Real QUIC peers for dnsleak's tests, on aioquic (PyPI): a DNS-over-QUIC (RFC 9250) and a
DNS-over-HTTPS over HTTP/3 (RFC 8484) server and client, and a plain HTTP/3 web exchange.

    quic_peer.py server --port P --cert C --key K [--answer 192.0.2.99]
    quic_peer.py client --mode doq|doh3|web --host H --port P [--sni NAME]
                        [--version 1|2] [--big-hello] [--name example.com]

The server answers DoQ (ALPN doq) with an A record for every question, DoH over HTTP/3 (ALPN
h3, POST /dns-query) the same way, and any other HTTP/3 request with a small page. The client
makes one exchange, prints what it got, and exits 0 on an answer. --big-hello sends aioquic's
"quantum readiness" dummy extension, so the ClientHello spans several Initial packets.
Everything is bounded: the client gives up after 10 s, the server after --lifetime seconds.
"""

import argparse
import asyncio
import ssl
import struct
import sys

from aioquic.asyncio import QuicConnectionProtocol, connect, serve
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import StreamDataReceived
from aioquic.quic.packet import QuicProtocolVersion


def dns_query(name: str) -> bytes:
    """A DNS query for NAME, type A, with ID 0 (RFC 9250 4.2.1)."""
    q = b"".join(bytes([len(label)]) + label.encode() for label in name.strip(".").split("."))
    return struct.pack("!HHHHHH", 0, 0x0100, 1, 0, 0, 0) + q + b"\x00" + struct.pack("!HH", 1, 1)


def dns_answer(query: bytes, addr: str) -> bytes:
    """An answer to QUERY (its first question) with one A record."""
    end = 12
    while end < len(query) and query[end] != 0:
        end += query[end] + 1
    question = query[12 : end + 5]
    header = query[:2] + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0)
    rr = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes(int(x) for x in addr.split("."))
    return header + question + rr


class ServerProtocol(QuicConnectionProtocol):
    answer = "192.0.2.99"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.h3 = None
        self.bodies = {}

    def quic_event_received(self, event):
        alpn = self._quic.tls.alpn_negotiated
        if alpn == "doq":
            if isinstance(event, StreamDataReceived):
                buf = self.bodies.get(event.stream_id, b"") + event.data
                self.bodies[event.stream_id] = buf
                if event.end_stream and len(buf) >= 2:
                    reply = dns_answer(buf[2:], self.answer)
                    self._quic.send_stream_data(event.stream_id, struct.pack("!H", len(reply)) + reply, True)
                    self.transmit()
            return
        if alpn in H3_ALPN:
            if self.h3 is None:
                self.h3 = H3Connection(self._quic)
            for ev in self.h3.handle_event(event):
                self.h3_event(ev)

    def h3_event(self, ev):
        if isinstance(ev, HeadersReceived):
            self.bodies[ev.stream_id] = (dict(ev.headers), b"")
            if ev.stream_ended:
                self.h3_reply(ev.stream_id)
        elif isinstance(ev, DataReceived):
            headers, body = self.bodies.get(ev.stream_id, ({}, b""))
            self.bodies[ev.stream_id] = (headers, body + ev.data)
            if ev.stream_ended:
                self.h3_reply(ev.stream_id)

    def h3_reply(self, stream_id):
        headers, body = self.bodies.pop(stream_id, ({}, b""))
        if headers.get(b":path") == b"/dns-query" and body:
            data, ctype = dns_answer(body, self.answer), b"application/dns-message"
        else:
            data, ctype = b"<html>hello</html>\n", b"text/html"
        self.h3.send_headers(stream_id, [(b":status", b"200"), (b"content-type", ctype)])
        self.h3.send_data(stream_id, data, end_stream=True)
        self.transmit()


class ClientProtocol(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.h3 = None
        self.done = asyncio.get_running_loop().create_future()
        self.data = b""

    def quic_event_received(self, event):
        if self.h3 is not None:
            for ev in self.h3.handle_event(event):
                if isinstance(ev, DataReceived):
                    self.data += ev.data
                    if ev.stream_ended and not self.done.done():
                        self.done.set_result(self.data)
        elif isinstance(event, StreamDataReceived):
            self.data += event.data
            if event.end_stream and not self.done.done():
                self.done.set_result(self.data[2:])


async def run_client(args) -> int:
    alpn = ["doq"] if args.mode == "doq" else ["h3"]
    config = QuicConfiguration(is_client=True, alpn_protocols=alpn, server_name=args.sni)
    config.verify_mode = ssl.CERT_NONE
    config.quantum_readiness_test = args.big_hello
    version = QuicProtocolVersion.VERSION_2 if args.version == 2 else QuicProtocolVersion.VERSION_1
    config.supported_versions = [version]
    async with connect(args.host, args.port, configuration=config, create_protocol=ClientProtocol) as client:
        quic = client._quic
        stream = quic.get_next_available_stream_id()
        if args.mode == "doq":
            q = dns_query(args.name)
            quic.send_stream_data(stream, struct.pack("!H", len(q)) + q, True)
        else:
            client.h3 = H3Connection(quic)
            doh = args.mode == "doh3"
            headers = [
                (b":method", b"POST" if doh else b"GET"),
                (b":scheme", b"https"),
                (b":authority", (args.sni or args.host).encode()),
                (b":path", b"/dns-query" if doh else b"/"),
            ]
            if doh:
                headers.append((b"content-type", b"application/dns-message"))
                client.h3.send_headers(stream, headers)
                client.h3.send_data(stream, dns_query(args.name), end_stream=True)
            else:
                client.h3.send_headers(stream, headers, end_stream=True)
        client.transmit()
        data = await asyncio.wait_for(client.done, 10)
    print(f"{args.mode}: {len(data)} bytes back")
    return 0 if data else 1


async def run_server(args) -> int:
    config = QuicConfiguration(is_client=False, alpn_protocols=["doq", *H3_ALPN])
    config.load_cert_chain(args.cert, args.key)
    ServerProtocol.answer = args.answer
    server = await serve(args.host, args.port, configuration=config, create_protocol=ServerProtocol)
    print(f"listening on {args.host} {args.port}", flush=True)
    try:
        await asyncio.sleep(args.lifetime)
    finally:
        server.close()
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("--host", default="::")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--answer", default="192.0.2.99")
    p.add_argument("--lifetime", type=float, default=120)
    p.add_argument("--mode", choices=["doq", "doh3", "web"], default="doq")
    p.add_argument("--sni")
    p.add_argument("--version", type=int, choices=[1, 2], default=1)
    p.add_argument("--big-hello", action="store_true")
    p.add_argument("--name", default="example.com")
    args = p.parse_args()
    run = run_server if args.role == "server" else run_client
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
