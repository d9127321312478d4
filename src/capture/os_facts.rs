//! The OS facts besides the interfaces that live capture hands on with its frames: the
//! resolver configuration (its own watcher thread reads it when it changes) and which address
//! families each interface routes (re-read when the kernel announces a route change).

use std::time::Duration;

use crossbeam_channel::Sender;

use super::live::{Msg, Options};
use crate::system::clock::wall_now;
use crate::system::resolver::watch::Watcher as ResolverWatcher;
use crate::system::routes::Routes;
use dnsleak_core::Fact;

/// The OS facts besides the interfaces that the watcher thread hands on: the resolver
/// configuration (its own watcher thread reads it when it changes) and which families each
/// interface routes (re-read when the kernel announces a change).
pub(super) struct OsFacts {
    pub(super) resolver: Option<ResolverWatcher>,
    routes: Option<Routes>,
}

impl OsFacts {
    pub(super) fn open(opts: &Options) -> OsFacts {
        OsFacts { resolver: opts.resolver.clone().map(ResolverWatcher::start), routes: Routes::open().ok() }
    }

    /// The first facts, read now.
    pub(super) fn first(&mut self, tx: &Sender<Msg>) {
        if let Some(w) = &self.resolver {
            // Its first reading, waited for (a D-Bus call is abandoned after 2 s).
            if let Ok(c) = w.configs().recv_timeout(Duration::from_secs(5)) {
                let _ = tx.try_send(Msg::Fact { fact: Fact::Resolvers(Box::new(c)), ts: wall_now() });
            }
        }
        self.routes_changed(tx);
    }

    /// Sends the routes' families when they changed; false when the consumer is gone.
    pub(super) fn routes_changed(&mut self, tx: &Sender<Msg>) -> bool {
        let Some(r) = &mut self.routes else { return true };
        if !r.changed() {
            return true;
        }
        match r.link_routes() {
            Ok(l) => tx.send(Msg::Fact { fact: Fact::LinkRoutes(l), ts: wall_now() }).is_ok(),
            Err(_) => true,
        }
    }
}
