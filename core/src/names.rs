//! The names of DNS numbers, in one place for every output (NDJSON, the line output, the
//! dashboard): record types, classes, RCODEs and opcodes.
//!
//! Types follow IANA's "Resource Record (RR) TYPEs" registry (10 is NULL, 17 is RP, 32 is
//! NIMLOC, ...), with `ANY` for 255 (the registry writes `*`; dig, Zeek and tshark say ANY) and
//! RFC 3597's `TYPE<n>` for numbers without a mnemonic. Classes are IANA's mnemonics (`IN`,
//! `CH`, ...) or `CLASS<n>`; NDJSON keeps the names of Zeek's dns.log (`C_INTERNET`, ...), the
//! schema it documents. RCODEs and opcodes are IANA's mnemonics upper-cased as dig and Zeek
//! print them (`NOERROR`, `NXDOMAIN`, `QUERY`), or `RCODE<n>` / `OPCODE<n>`.
//!
//! The words for dnsleak's own vocabulary (verdicts, transports, event kinds, notices) are the
//! `as_str` of their enums (`Verdict`, `Transport`, `EventKind`, `Notice::code`).

use std::borrow::Cow;

/// IANA's record types with a mnemonic, by number (`ANY` for 255), sorted for binary search.
#[rustfmt::skip]
const TYPES: &[(u16, &str)] = &[
    (1, "A"), (2, "NS"), (3, "MD"), (4, "MF"), (5, "CNAME"), (6, "SOA"), (7, "MB"), (8, "MG"),
    (9, "MR"), (10, "NULL"), (11, "WKS"), (12, "PTR"), (13, "HINFO"), (14, "MINFO"), (15, "MX"),
    (16, "TXT"), (17, "RP"), (18, "AFSDB"), (19, "X25"), (20, "ISDN"), (21, "RT"), (22, "NSAP"),
    (23, "NSAP-PTR"), (24, "SIG"), (25, "KEY"), (26, "PX"), (27, "GPOS"), (28, "AAAA"),
    (29, "LOC"), (30, "NXT"), (31, "EID"), (32, "NIMLOC"), (33, "SRV"), (34, "ATMA"),
    (35, "NAPTR"), (36, "KX"), (37, "CERT"), (38, "A6"), (39, "DNAME"), (40, "SINK"),
    (41, "OPT"), (42, "APL"), (43, "DS"), (44, "SSHFP"), (45, "IPSECKEY"), (46, "RRSIG"),
    (47, "NSEC"), (48, "DNSKEY"), (49, "DHCID"), (50, "NSEC3"), (51, "NSEC3PARAM"),
    (52, "TLSA"), (53, "SMIMEA"), (55, "HIP"), (56, "NINFO"), (57, "RKEY"), (58, "TALINK"),
    (59, "CDS"), (60, "CDNSKEY"), (61, "OPENPGPKEY"), (62, "CSYNC"), (63, "ZONEMD"),
    (64, "SVCB"), (65, "HTTPS"), (66, "DSYNC"), (67, "HHIT"), (68, "BRID"), (99, "SPF"),
    (100, "UINFO"), (101, "UID"), (102, "GID"), (103, "UNSPEC"), (104, "NID"), (105, "L32"),
    (106, "L64"), (107, "LP"), (108, "EUI48"), (109, "EUI64"), (128, "NXNAME"), (249, "TKEY"),
    (250, "TSIG"), (251, "IXFR"), (252, "AXFR"), (253, "MAILB"), (254, "MAILA"), (255, "ANY"),
    (256, "URI"), (257, "CAA"), (258, "AVC"), (259, "DOA"), (260, "AMTRELAY"), (261, "RESINFO"),
    (262, "WALLET"), (263, "CLA"), (264, "IPN"), (32768, "TA"), (32769, "DLV"),
];

/// A record type's mnemonic, when IANA's registry has one (`ANY` for 255).
pub fn type_mnemonic(t: u16) -> Option<&'static str> {
    TYPES.binary_search_by_key(&t, |&(n, _)| n).ok().map(|i| TYPES[i].1)
}

/// A record type's name: its mnemonic, or `TYPE<n>` (RFC 3597).
pub fn qtype(t: u16) -> Cow<'static, str> {
    match type_mnemonic(t) {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(format!("TYPE{t}")),
    }
}

/// A class's name: `IN`, `CH`, `HS`, `NONE`, `ANY`, or `CLASS<n>` (RFC 3597). The top bit
/// mDNS uses (unicast response, cache flush) is not part of the class: pass `c & 0x7fff`.
pub fn qclass(c: u16) -> Cow<'static, str> {
    Cow::Borrowed(match c {
        1 => "IN",
        3 => "CH",
        4 => "HS",
        254 => "NONE",
        255 => "ANY",
        _ => return Cow::Owned(format!("CLASS{c}")),
    })
}

/// A class as Zeek's dns.log names it (NDJSON's `qclass_name`), ignoring mDNS's top bit.
pub fn zeek_qclass(c: u16) -> &'static str {
    match c & 0x7fff {
        1 => "C_INTERNET",
        3 => "C_CHAOS",
        4 => "C_HESIOD",
        254 => "C_NONE",
        255 => "C_ANY",
        _ => "C_OTHER",
    }
}

/// An RCODE's name (the header's four bits, or the twelve with EDNS), or `RCODE<n>`.
pub fn rcode(r: u16) -> Cow<'static, str> {
    Cow::Borrowed(match r {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        11 => "DSOTYPENI",
        16 => "BADVERS",
        17 => "BADKEY",
        18 => "BADTIME",
        19 => "BADMODE",
        20 => "BADNAME",
        21 => "BADALG",
        22 => "BADTRUNC",
        23 => "BADCOOKIE",
        _ => return Cow::Owned(format!("RCODE{r}")),
    })
}

/// An opcode's name, or `OPCODE<n>`.
pub fn opcode(op: u8) -> Cow<'static, str> {
    Cow::Borrowed(match op {
        0 => "QUERY",
        1 => "IQUERY",
        2 => "STATUS",
        4 => "NOTIFY",
        5 => "UPDATE",
        6 => "DSO",
        _ => return Cow::Owned(format!("OPCODE{op}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: NDJSON named type 10 `TYPE10` and type 17 `RP` while the dashboard said
    /// `NULL` and `TYPE17`; both now read this one table, IANA's.
    #[test]
    fn type_names_follow_iana_10_is_null_17_is_rp() {
        #[rustfmt::skip]
        let iana = [
            (1, "A"), (10, "NULL"), (17, "RP"), (23, "NSAP-PTR"), (28, "AAAA"), (32, "NIMLOC"),
            (41, "OPT"), (64, "SVCB"), (65, "HTTPS"), (99, "SPF"), (255, "ANY"), (257, "CAA"),
            (32769, "DLV"),
        ];
        for (n, name) in iana {
            assert_eq!(qtype(n), name, "type {n}");
        }
        for n in [0, 54, 69, 98, 110, 127, 65534] {
            assert_eq!(qtype(n), format!("TYPE{n}"), "type {n} has no mnemonic");
        }
    }

    #[test]
    fn the_type_table_is_sorted_and_unique() {
        assert!(TYPES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(TYPES.len(), 97, "the 97 mnemonics of the table");
    }

    #[test]
    fn classes_codes_and_opcodes() {
        assert_eq!((qclass(1), qclass(3), qclass(7)), ("IN".into(), "CH".into(), "CLASS7".into()));
        assert_eq!(
            (zeek_qclass(1), zeek_qclass(0x8001), zeek_qclass(7)),
            ("C_INTERNET", "C_INTERNET", "C_OTHER")
        );
        assert_eq!(
            (rcode(0), rcode(3), rcode(16), rcode(12)),
            ("NOERROR".into(), "NXDOMAIN".into(), "BADVERS".into(), "RCODE12".into())
        );
        assert_eq!((opcode(0), opcode(5), opcode(3)), ("QUERY".into(), "UPDATE".into(), "OPCODE3".into()));
    }
}
