//! Resolver identity, offline: a bundled list of well-known public resolvers (by address) and
//! DoH server names (matched as a domain suffix), overridable by the user.
//!
//! The list is `resolvers.tsv` beside this file (its header names the sources), compiled in and
//! parsed once; lookups are hash-map probes that allocate nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::OnceLock;

/// The bundled list, compiled in.
const BUILTIN: &str = include_str!("resolvers.tsv");

/// Most entries a user list may add.
pub const MAX_USER_ENTRIES: usize = 100_000;
/// Longest provider name a user list may give.
pub const MAX_PROVIDER_LEN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AddrEntry {
    provider: &'static str,
    /// Also serves DoH on 443 (a TLS/QUIC flow to it without a visible name is DoH).
    doh: bool,
}

/// A server name found in the DoH list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DohMatch {
    /// Who runs it, when the list says.
    pub provider: Option<&'static str>,
}

/// Why a user's DoH list was refused. Lines are numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DohListError {
    #[error(
        "line {line}: {text:?} is not a host name (write: host [provider], e.g. doh.example.net Example)"
    )]
    BadHost { line: usize, text: String },
    #[error("line {line}: {text:?} has a single label and would match every name under it; write the full server name")]
    SingleLabel { line: usize, text: String },
    #[error("line {line}: the provider name is longer than {MAX_PROVIDER_LEN} characters")]
    ProviderTooLong { line: usize },
    #[error("more than {MAX_USER_ENTRIES} entries; split the list or keep only the servers you use")]
    TooMany,
}

/// The bundled list plus what the user added.
#[derive(Debug, Clone, Default)]
pub struct ResolverDb {
    /// The bundled list and the user's: no key comes from the wire, so a fast hasher is safe.
    addrs: foldhash::HashMap<IpAddr, AddrEntry>,
    hosts: HashMap<Box<str>, Option<&'static str>>,
    /// Provider names known so far (to reuse one `&'static str` per name).
    providers: Vec<&'static str>,
    user_entries: usize,
}

impl ResolverDb {
    /// The bundled list (parsed on first use, then cloned).
    pub fn builtin() -> Self {
        static DB: OnceLock<ResolverDb> = OnceLock::new();
        DB.get_or_init(|| parse_builtin(BUILTIN)).clone()
    }

    /// Who runs the resolver at `addr`, if it is a well-known public one.
    pub fn provider(&self, addr: &IpAddr) -> Option<&'static str> {
        self.addrs.get(&addr.to_canonical()).map(|e| e.provider)
    }

    /// Whether `addr` is a well-known DoH/DoT resolver address (used when no SNI is visible).
    pub fn is_encrypted_dns_addr(&self, addr: &IpAddr) -> bool {
        self.addrs.get(&addr.to_canonical()).is_some_and(|e| e.doh)
    }

    /// Whether a TLS server name is a DoH server in the list, matched as a domain suffix
    /// (`mozilla.cloudflare-dns.com` matches `cloudflare-dns.com`), ignoring case and a final
    /// dot.
    pub fn doh_host(&self, sni: &str) -> Option<DohMatch> {
        let sni = sni.strip_suffix('.').unwrap_or(sni);
        if sni.bytes().any(|b| b.is_ascii_uppercase()) {
            return self.suffix_match(&sni.to_ascii_lowercase());
        }
        self.suffix_match(sni)
    }

    /// Adds a user's list of DoH server names: one `host [provider]` a line, `#` starts a
    /// comment, blank lines are skipped. A user entry replaces a bundled one for the same host.
    /// Returns how many entries were added. Nothing is added when an error is returned.
    pub fn add_user_list(&mut self, text: &str) -> Result<usize, DohListError> {
        let mut parsed = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            if let Some(entry) = parse_user_line(n + 1, raw)? {
                if self.user_entries + parsed.len() >= MAX_USER_ENTRIES {
                    return Err(DohListError::TooMany);
                }
                parsed.push(entry);
            }
        }
        let added = parsed.len();
        for (host, provider) in parsed {
            let provider = provider.map(|p| self.intern(p));
            self.hosts.insert(host.into_boxed_str(), provider);
        }
        self.user_entries += added;
        Ok(added)
    }

    /// Server names in the list.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// Resolver addresses in the list.
    pub fn addr_count(&self) -> usize {
        self.addrs.len()
    }

    fn suffix_match(&self, name: &str) -> Option<DohMatch> {
        let mut candidate = name;
        loop {
            if let Some(provider) = self.hosts.get(candidate) {
                return Some(DohMatch { provider: *provider });
            }
            let dot = candidate.find('.')?;
            candidate = &candidate[dot + 1..];
        }
    }

    /// One `&'static str` per provider name: bundled names are slices of the compiled-in list;
    /// a name only a user list gives is allocated once and kept for the life of the process
    /// (bounded by `MAX_USER_ENTRIES` × `MAX_PROVIDER_LEN`).
    fn intern(&mut self, name: &str) -> &'static str {
        if let Some(p) = self.providers.iter().find(|p| **p == name) {
            return p;
        }
        let p: &'static str = Box::leak(name.to_owned().into_boxed_str());
        self.providers.push(p);
        p
    }
}

/// Parses the bundled list. Lines that do not parse are skipped (a unit test checks there are
/// none).
fn parse_builtin(text: &'static str) -> ResolverDb {
    let mut db = ResolverDb::default();
    for line in text.lines() {
        let fields: Vec<&'static str> = line.split('\t').collect();
        match fields.as_slice() {
            ["addr", addr, provider, flag] => {
                if let Ok(ip) = addr.parse::<IpAddr>() {
                    db.addrs.insert(ip, AddrEntry { provider, doh: *flag == "doh" });
                    db.note_provider(provider);
                }
            }
            ["host", host, provider] => {
                db.hosts.entry((*host).into()).or_insert(Some(*provider));
                db.note_provider(provider);
            }
            _ => {}
        }
    }
    db
}

impl ResolverDb {
    fn note_provider(&mut self, p: &'static str) {
        if !self.providers.contains(&p) {
            self.providers.push(p);
        }
    }
}

/// One line of a user list: `Ok(None)` for a blank or comment line.
fn parse_user_line(line: usize, raw: &str) -> Result<Option<(String, Option<&str>)>, DohListError> {
    let text = raw.split('#').next().unwrap_or("").trim();
    if text.is_empty() {
        return Ok(None);
    }
    let (host, rest) = match text.find(char::is_whitespace) {
        Some(i) => (&text[..i], text[i..].trim()),
        None => (text, ""),
    };
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let labels_ok = host.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    if host.is_empty() || host.len() > 253 || !labels_ok {
        return Err(DohListError::BadHost { line, text: text.chars().take(80).collect() });
    }
    if !host.contains('.') {
        return Err(DohListError::SingleLabel { line, text: host });
    }
    if rest.chars().count() > MAX_PROVIDER_LEN {
        return Err(DohListError::ProviderTooLong { line });
    }
    Ok(Some((host, (!rest.is_empty()).then_some(rest))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn every_bundled_line_parses() {
        for (n, line) in BUILTIN.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = line.split('\t').collect();
            let ok = match f.as_slice() {
                ["addr", a, p, flag] => {
                    a.parse::<IpAddr>().is_ok() && !p.is_empty() && ["doh", "-"].contains(flag)
                }
                ["host", h, p] => !p.is_empty() && parse_user_line(1, h).is_ok_and(|e| e.is_some()),
                _ => false,
            };
            assert!(ok, "resolvers.tsv line {}: {line:?}", n + 1);
        }
        let db = ResolverDb::builtin();
        assert!(db.addr_count() >= 150, "{}", db.addr_count());
        assert!(db.host_count() >= 50, "{}", db.host_count());
    }

    #[test]
    fn dnscrypt_project_entries_are_bundled_after_the_hand_checked_ones() {
        // From the DNSCrypt project's public-resolvers.md (tools/resolvers/build.py): the
        // section name is the provider, unless the hand-checked list names its server.
        let db = ResolverDb::builtin();
        assert_eq!(
            db.doh_host("zrh01.dnscry.pt").and_then(|m| m.provider),
            Some("dnscry.pt-doh-zurich-ipv4")
        );
        assert_eq!(db.provider(&ip("217.169.20.22")), Some("Andrews & Arnold"));
        assert!(db.doh_host("130.59.31.248").is_none(), "an address is no server name");
        // The hand-checked names win where both lists have an entry.
        assert_eq!(db.provider(&ip("9.9.9.9")), Some("Quad9"));
        assert!(BUILTIN.contains("public-resolvers.md, commit "), "the header names the revision");
    }

    #[test]
    fn required_doh_hosts_are_bundled() {
        let db = ResolverDb::builtin();
        let want = [
            ("dns.google", "Google"),
            ("cloudflare-dns.com", "Cloudflare"),
            ("dns.quad9.net", "Quad9"),
            ("doh.opendns.com", "OpenDNS"),
            ("dns.nextdns.io", "NextDNS"),
            ("dns.adguard-dns.com", "AdGuard"),
            ("doh.mullvad.net", "Mullvad"),
        ];
        for (host, provider) in want {
            assert_eq!(db.doh_host(host), Some(DohMatch { provider: Some(provider) }), "{host}");
        }
    }

    #[test]
    fn doh_hosts_match_as_a_domain_suffix() {
        let db = ResolverDb::builtin();
        let cf = Some(DohMatch { provider: Some("Cloudflare") });
        assert_eq!(db.doh_host("mozilla.cloudflare-dns.com"), cf);
        assert_eq!(db.doh_host("a.b.security.cloudflare-dns.com"), cf);
        assert_eq!(db.doh_host("Mozilla.Cloudflare-DNS.com."), cf);
        assert_eq!(db.doh_host("firefox.dns.nextdns.io").and_then(|m| m.provider), Some("NextDNS"));
        // Not a label boundary, or only a parent of a listed name.
        assert_eq!(db.doh_host("evilcloudflare-dns.com"), None);
        assert_eq!(db.doh_host("google"), None);
        assert_eq!(db.doh_host("www.google.com"), None);
        assert_eq!(db.doh_host("quad9.net"), None);
        assert_eq!(db.doh_host(""), None);
        assert_eq!(db.doh_host("."), None);
        assert_eq!(db.doh_host("...."), None);
    }

    #[test]
    fn providers_by_address_v4_and_v6() {
        let db = ResolverDb::builtin();
        let cases = [
            ("1.1.1.1", "Cloudflare"),
            ("2606:4700:4700::1111", "Cloudflare"),
            ("8.8.4.4", "Google"),
            ("2001:4860:4860::8888", "Google"),
            ("9.9.9.9", "Quad9"),
            ("2620:fe::fe", "Quad9"),
            ("208.67.222.222", "OpenDNS"),
            ("2620:119:35::35", "OpenDNS"),
            ("45.90.28.0", "NextDNS"),
            ("2a07:a8c0::", "NextDNS"),
            ("94.140.14.14", "AdGuard"),
            ("2a10:50c0::ad1:ff", "AdGuard"),
            ("194.242.2.2", "Mullvad"),
            ("2a07:e340::2", "Mullvad"),
            ("185.228.168.9", "CleanBrowsing"),
            ("2a0d:2a00:1::2", "CleanBrowsing"),
            ("76.76.2.0", "Control D"),
            ("2606:1a40::", "Control D"),
            ("185.222.222.222", "DNS.SB"),
            ("2a09::", "DNS.SB"),
            ("::ffff:8.8.8.8", "Google"),
        ];
        for (a, p) in cases {
            assert_eq!(db.provider(&ip(a)), Some(p), "{a}");
        }
        assert_eq!(db.provider(&ip("192.0.2.53")), None);
        assert!(db.is_encrypted_dns_addr(&ip("1.1.1.1")));
        assert!(db.is_encrypted_dns_addr(&ip("2001:4860:4860::8844")));
        // OpenDNS answers DoH on other addresses than its plain resolvers.
        assert!(!db.is_encrypted_dns_addr(&ip("208.67.222.222")));
        assert!(db.is_encrypted_dns_addr(&ip("146.112.41.2")));
        assert!(!db.is_encrypted_dns_addr(&ip("192.0.2.1")));
    }

    #[test]
    fn user_list_adds_hosts_with_and_without_provider() {
        let mut db = ResolverDb::builtin();
        let text = "# my servers\n\ndoh.example.net Example Co  # trailing comment\nDNS.Corp.Example.\n";
        assert_eq!(db.add_user_list(text), Ok(2));
        assert_eq!(db.doh_host("doh.example.net").and_then(|m| m.provider), Some("Example Co"));
        assert_eq!(db.doh_host("eu.doh.example.net").and_then(|m| m.provider), Some("Example Co"));
        assert_eq!(db.doh_host("dns.corp.example"), Some(DohMatch { provider: None }));
        // A provider already known is reused, and a user entry replaces a bundled one.
        assert_eq!(db.add_user_list("dns.google Google\ncloudflare-dns.com Mine"), Ok(2));
        assert_eq!(db.doh_host("cloudflare-dns.com").and_then(|m| m.provider), Some("Mine"));
        assert!(std::ptr::eq(
            db.doh_host("dns.google").and_then(|m| m.provider).unwrap_or(""),
            db.provider(&ip("8.8.8.8")).unwrap_or("x")
        ));
    }

    #[test]
    fn user_list_errors_name_the_line() {
        let mut db = ResolverDb::builtin();
        let before = db.host_count();
        let err = db.add_user_list("ok.example.net\n\nbad/host.example\n").unwrap_err();
        assert_eq!(err, DohListError::BadHost { line: 3, text: "bad/host.example".into() });
        assert!(err.to_string().starts_with("line 3: "), "{err}");
        assert_eq!(db.host_count(), before, "nothing is added on error");
        assert!(matches!(db.add_user_list("com"), Err(DohListError::SingleLabel { line: 1, .. })));
        assert!(matches!(db.add_user_list("a..b"), Err(DohListError::BadHost { line: 1, .. })));
        let long = format!("x.example {}", "p".repeat(MAX_PROVIDER_LEN + 1));
        assert_eq!(db.add_user_list(&long), Err(DohListError::ProviderTooLong { line: 1 }));
        let label = format!("{}.example", "a".repeat(64));
        assert!(matches!(db.add_user_list(&label), Err(DohListError::BadHost { .. })));
    }

    #[test]
    fn user_list_is_bounded() {
        let mut db = ResolverDb::default();
        let text: String = (0..MAX_USER_ENTRIES + 1).map(|i| format!("h{i}.example\n")).collect();
        assert_eq!(db.add_user_list(&text), Err(DohListError::TooMany));
        assert_eq!(db.host_count(), 0);
    }
}
