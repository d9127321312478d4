//! The system's resolver configuration, read in the shell and handed to the core as
//! `dnsleak_core::ResolverConfig`: /etc/resolv.conf and its owner, systemd-resolved and
//! NetworkManager over the system D-Bus (zbus, blocking). What cannot be read is said in
//! `ResolverConfig::unread` ("systemd-resolved is not running"), never guessed.

pub mod nm;
pub mod resolvconf;
pub mod resolved;
pub mod watch;

use std::path::PathBuf;
use std::time::Duration;

use zbus::blocking::{fdo::DBusProxy, Connection};

use dnsleak_core::dnsconfig::{ResolverConfig, Source, Unread};
use dnsleak_core::IfaceName;

/// Servers, domains and entries kept per list at most.
pub(crate) const MAX_LIST: usize = 64;
/// A D-Bus call that takes longer than this is abandoned (a hung daemon must not hang us).
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// A name from the OS, cut to a DNS name's length (on a character boundary).
pub(crate) fn cap_name(s: &str) -> String {
    s.chars().take(253).collect()
}

/// Where to read from.
#[derive(Debug, Clone)]
pub struct Options {
    pub resolv_conf: PathBuf,
    /// Ask systemd-resolved and NetworkManager on the system bus.
    pub dbus: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { resolv_conf: PathBuf::from(resolvconf::PATH), dbus: true }
    }
}

/// The system bus, with a timeout on every call.
pub fn system_bus() -> Result<Connection, String> {
    zbus::blocking::connection::Builder::system()
        .and_then(|b| b.method_timeout(CALL_TIMEOUT).build())
        .map_err(|e| format!("the system D-Bus cannot be reached ({e}); is dbus-daemon running?"))
}

/// Whether `name` has an owner on the bus (asking never activates a service).
fn running(conn: &Connection, name: &str) -> Result<bool, String> {
    let dbus = DBusProxy::new(conn).map_err(|e| e.to_string())?;
    let name = zbus::names::BusName::try_from(name).map_err(|e| e.to_string())?;
    dbus.name_has_owner(name).map_err(|e| e.to_string())
}

/// Asks the daemon that owns `name` with `read`, if it is running; else says why not.
fn ask<T>(
    conn: &Connection,
    source: Source,
    name: &str,
    read: impl FnOnce(&Connection) -> zbus::Result<T>,
) -> Result<T, Unread> {
    let who = source.as_str();
    match running(conn, name) {
        Ok(true) => read(conn).map_err(|e| Unread { source, why: format!("{who} did not answer: {e}") }),
        Ok(false) => {
            Err(Unread { source, why: format!("{who} is not running (no {name} on the system bus)") })
        }
        Err(why) => Err(Unread { source, why }),
    }
}

/// Reads everything `opts` names, now.
pub fn read(opts: &Options, name_of: &dyn Fn(u32) -> IfaceName) -> ResolverConfig {
    let mut c = ResolverConfig::default();
    match resolvconf::read(&opts.resolv_conf) {
        Ok(r) => c.resolv_conf = Some(r),
        Err(why) => c.unread.push(Unread { source: Source::ResolvConf, why }),
    }
    if !opts.dbus {
        return c;
    }
    let conn = match system_bus() {
        Ok(conn) => conn,
        Err(why) => {
            for source in [Source::SystemdResolved, Source::NetworkManager] {
                c.unread.push(Unread { source, why: why.clone() });
            }
            return c;
        }
    };
    match ask(&conn, Source::SystemdResolved, resolved::BUS_NAME, |conn| resolved::read(conn, name_of)) {
        Ok(r) => c.resolved = Some(r),
        Err(u) => c.unread.push(u),
    }
    match ask(&conn, Source::NetworkManager, nm::BUS_NAME, nm::read) {
        Ok(n) => c.network_manager = Some(n),
        Err(u) => c.unread.push(u),
    }
    c
}

/// Interface names by index, from the OS's interface list now.
pub fn os_names() -> impl Fn(u32) -> IfaceName {
    let names: Vec<(u32, String)> =
        super::interfaces::list().into_iter().map(|f| (f.index, f.name)).collect();
    move |i| {
        names
            .iter()
            .find(|(x, _)| *x == i)
            .map(|(_, n)| IfaceName::new(n))
            .unwrap_or_else(|| IfaceName::new(format!("if{i}")))
    }
}
