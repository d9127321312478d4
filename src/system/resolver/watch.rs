//! Re-reads the resolver configuration when it changes and hands out each new one: at once
//! when systemd-resolved or NetworkManager signal a change (D-Bus PropertiesChanged) or come
//! and go (NameOwnerChanged); /etc/resolv.conf by a cheap poll of its metadata (and its link's
//! target) every tick; and every few ticks in any case, for changes no signal announces.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, select, tick, Receiver, Sender};
use zbus::blocking::{fdo::DBusProxy, MessageIterator};

use dnsleak_core::ResolverConfig;

use super::{nm, os_names, read, resolved, system_bus, Options};

/// How often resolv.conf's metadata is looked at.
pub const TICK: Duration = Duration::from_millis(500);
/// Every this many ticks, everything is re-read whatever the signals said.
const FULL_EVERY: u32 = 10;

/// What identifies a version of a file without reading it: (device, inode, size, mtime ns,
/// ctime ns), for the path and, through a link, its target.
type Stamp = Option<(u64, u64, u64, i64, i64)>;

fn stamp(path: &Path) -> (Stamp, Stamp) {
    let of = |m: std::fs::Metadata| {
        Some((
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            m.ctime() * 1_000_000_000 + m.ctime_nsec(),
        ))
    };
    (std::fs::symlink_metadata(path).ok().and_then(of), std::fs::metadata(path).ok().and_then(of))
}

/// A thread that reads the configuration at start and whenever it changes.
pub struct Watcher {
    configs: Receiver<ResolverConfig>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Starts watching; the first configuration is on `configs()` as soon as it is read.
    /// Interface names are the OS's at each reading.
    pub fn start(opts: Options) -> Watcher {
        let (tx, configs) = bounded(4);
        let (stop, stopped) = bounded(1);
        let thread = std::thread::Builder::new()
            .name("resolver-watch".into())
            .spawn(move || run(opts, tx, stopped))
            .expect("starting the resolver watcher thread");
        Watcher { configs, stop: Some(stop), thread: Some(thread) }
    }

    /// Each configuration that differs from the one before, the first one included.
    pub fn configs(&self) -> &Receiver<ResolverConfig> {
        &self.configs
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(opts: Options, tx: Sender<ResolverConfig>, stopped: Receiver<()>) {
    let signals = if opts.dbus { subscribe() } else { crossbeam_channel::never() };
    let ticks = tick(TICK);
    let mut last = read(&opts, &os_names());
    if tx.send(last.clone()).is_err() {
        return;
    }
    let mut file = stamp(&opts.resolv_conf);
    let mut n = 0u32;
    loop {
        let reread = select! {
            recv(stopped) -> _ => return,
            recv(signals) -> s => s.is_ok(),
            recv(ticks) -> _ => {
                n = n.wrapping_add(1);
                let now = stamp(&opts.resolv_conf);
                let changed = now != file;
                file = now;
                changed || n % FULL_EVERY == 0
            }
        };
        if !reread {
            continue;
        }
        let now = read(&opts, &os_names());
        if now != last {
            last = now.clone();
            // A full queue means nobody is reading: wait for them or for the stop.
            select! {
                send(tx, now) -> r => if r.is_err() { return },
                recv(stopped) -> _ => return,
            }
        }
    }
}

/// Signals from the daemons, as a channel: one message per signal. The listening thread
/// blocks in the bus library; it ends at the first signal after every receiver is gone.
/// When the bus cannot be reached, the channel never fires (the ticks still re-read).
fn subscribe() -> Receiver<()> {
    let (tx, rx) = bounded(1);
    let Ok(conn) = system_bus() else { return crossbeam_channel::never() };
    let rules = [
        format!("type='signal',sender='{}',interface='org.freedesktop.DBus.Properties'", resolved::BUS_NAME),
        format!("type='signal',sender='{}',interface='org.freedesktop.DBus.Properties'", nm::BUS_NAME),
        format!(
            "type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='{}'",
            resolved::BUS_NAME
        ),
        format!(
            "type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='{}'",
            nm::BUS_NAME
        ),
    ];
    let Ok(dbus) = DBusProxy::new(&conn) else { return crossbeam_channel::never() };
    for r in &rules {
        let Ok(rule) = zbus::MatchRule::try_from(r.as_str()) else { return crossbeam_channel::never() };
        if dbus.add_match_rule(rule).is_err() {
            return crossbeam_channel::never();
        }
    }
    let spawned = std::thread::Builder::new().name("resolver-signals".into()).spawn(move || {
        for msg in MessageIterator::from(&conn) {
            let Ok(msg) = msg else { break };
            if msg.message_type() != zbus::message::Type::Signal {
                continue;
            }
            match tx.try_send(()) {
                Ok(()) | Err(crossbeam_channel::TrySendError::Full(())) => {}
                Err(crossbeam_channel::TrySendError::Disconnected(())) => break,
            }
        }
    });
    match spawned {
        Ok(_) => rx,
        Err(_) => crossbeam_channel::never(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without D-Bus, a change of the file is seen by the poll and handed out; an unchanged
    /// file is not handed out again.
    #[test]
    fn a_changed_resolv_conf_is_handed_out() {
        let dir = std::env::temp_dir().join(format!("dnsleak-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("resolv.conf");
        std::fs::write(&path, "nameserver 192.0.2.1\n").unwrap();
        let w = Watcher::start(Options { resolv_conf: path.clone(), dbus: false });
        let first = w.configs().recv_timeout(Duration::from_secs(10)).expect("the first configuration");
        assert_eq!(
            first.resolv_conf.unwrap().nameservers,
            ["192.0.2.1".parse::<std::net::IpAddr>().unwrap()]
        );
        std::fs::write(&path, "nameserver 192.0.2.1\nnameserver 198.51.100.1\n").unwrap();
        let second = w.configs().recv_timeout(Duration::from_secs(10)).expect("the changed configuration");
        assert_eq!(second.resolv_conf.unwrap().nameservers.len(), 2);
        assert!(w.configs().recv_timeout(TICK * 3).is_err(), "nothing changed since");
        drop(w);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
