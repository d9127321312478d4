//! The BPF filter of live capture: what the kernel hands over, so the core sees every DNS
//! message and encrypted-DNS flow start and little else. Its unit tests run the compiled
//! program on packets built in filter_tests.rs.

/// The BPF filter every capture gets: only what the core needs, and what carries it without
/// showing the ports.
/// - DNS, mDNS, LLMNR on UDP and TCP; DoT and DoQ (port 853) whole.
/// - TLS on TCP 443: connection set-up and tear-down (SYN, FIN, RST) and, from the client,
///   every segment that is not TLS application data (record type 0x17): the ClientHello and
///   its continuation segments pass, a download's data does not.
/// - TLS on any other TCP port: segments that start with a TLS handshake record (0x16 0x03),
///   which is where a client's ClientHello (server name, ALPN) starts.
/// - QUIC on UDP 443: long-header packets (first byte's top bit); on any other UDP port,
///   long-header packets of the versions the core reads (1, 2, drafts 29 to 34).
/// - DNSCrypt on any port: UDP datagrams and TCP segments (after the 2-byte length) that start
///   with the resolver magic `r6fnvWj8`, and certificate queries and answers (a DNS message
///   whose question starts with the labels `<digit>` `dnscrypt-cert`, letters in any case).
/// - IPv4 fragments after the first (they carry no ports), IPv6 packets whose first
///   extension header is a fragment header, 6in4 (protocol 41), Teredo (UDP 3544).
pub const BPF_FILTER: &str = "port 53 or port 5353 or port 5355 or port 853 \
or (tcp port 443 and (tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0 \
or (tcp dst port 443 and tcp[((tcp[12] & 0xf0) >> 2)] != 0x17))) \
or (tcp and tcp[((tcp[12] & 0xf0) >> 2):2] = 0x1603) \
or (udp port 443 and udp[8] & 0x80 != 0) \
or (udp and udp[8] & 0x80 != 0 and (udp[9:4] = 1 or udp[9:4] = 0x6b3343cf \
or (udp[9:2] = 0xff00 and udp[11] = 0 and udp[12] >= 0x1d and udp[12] <= 0x22))) \
or (udp and udp[8:4] = 0x7236666e and udp[12:4] = 0x76576a38) \
or (tcp and tcp[((tcp[12] & 0xf0) >> 2) + 2:4] = 0x7236666e \
and tcp[((tcp[12] & 0xf0) >> 2) + 6:4] = 0x76576a38) \
or (udp and udp[20] = 1 and udp[22] = 13 and udp[23:4] & 0xdfdfdfdf = 0x444e5343 \
and udp[27:4] & 0xdfdfdfdf = 0x52595054 and udp[31:4] & 0xffdfdfdf = 0x2d434552 \
and udp[35] & 0xdf = 0x54) \
or (tcp and tcp[((tcp[12] & 0xf0) >> 2) + 14] = 1 and tcp[((tcp[12] & 0xf0) >> 2) + 16] = 13 \
and tcp[((tcp[12] & 0xf0) >> 2) + 17:4] & 0xdfdfdfdf = 0x444e5343 \
and tcp[((tcp[12] & 0xf0) >> 2) + 21:4] & 0xdfdfdfdf = 0x52595054 \
and tcp[((tcp[12] & 0xf0) >> 2) + 25:4] & 0xffdfdfdf = 0x2d434552) \
or udp port 3544 or ip proto 41 \
or (ip and ip[6:2] & 0x1fff != 0) or (ip6 and ip6[6] = 44)";

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
