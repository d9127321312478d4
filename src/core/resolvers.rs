//! Resolver identity, offline: a bundled list of well-known public resolvers (by address) and
//! DoH server names (matched as a domain suffix), overridable by the user.

use std::net::IpAddr;

/// The bundled list plus what the user added.
#[derive(Debug, Clone, Default)]
pub struct ResolverDb {}

impl ResolverDb {
    /// The bundled list. TODO(encrypted helper): fill from a public source.
    pub fn builtin() -> Self {
        ResolverDb {}
    }

    /// Who runs the resolver at `addr`, if it is a well-known public one.
    pub fn provider(&self, addr: &IpAddr) -> Option<&'static str> {
        let _ = addr;
        None
    }

    /// Whether `addr` is a well-known DoH/DoT resolver address (used when no SNI is visible).
    pub fn is_encrypted_dns_addr(&self, addr: &IpAddr) -> bool {
        let _ = addr;
        false
    }

    /// The provider of a DoH server name, matched as a domain suffix
    /// (`mozilla.cloudflare-dns.com` matches `cloudflare-dns.com`).
    pub fn doh_host(&self, sni: &str) -> Option<&'static str> {
        let _ = sni;
        None
    }
}
