//! Facts about the machine reaching the pipeline (`Pipeline::apply`), in order with the
//! frames: interfaces (tunnel up/down notices), the resolver configuration and routes (the
//! causes' inputs).

use super::Pipeline;
use crate::dnsconfig::ResolverConfig;
use crate::event::{Judged, Notice};
use crate::fact::Fact;
use crate::frame::Ts;
use crate::topology::{Iface, IfaceId, IfaceName, Topology};

impl Pipeline {
    /// Takes a fact about the machine, true from trace time `ts`: the one way facts reach the
    /// core, in order with the frames. Appends what it raises (tunnel up/down notices) to `out`.
    ///
    /// A route fact also completes the causes of the leaks and bypasses still in `out` whose
    /// resolver it is about: the shell asks the kernel about a destination when the first leak
    /// to it wants the route (`Caused::wants_route`), after that leak was judged.
    pub fn apply(&mut self, fact: Fact, ts: Ts, out: &mut Vec<Judged>) {
        match fact {
            Fact::Interfaces(topology) => self.update_topology(topology, ts, out),
            Fact::Socket(owner) => self.judge.processes.get_or_insert_with(Box::default).insert(owner),
            Fact::Recorded(r) => self.judge.processes.get_or_insert_with(Box::default).record(r, ts),
            Fact::Resolvers(config) => self.judge.causes.set_resolver_config(*config),
            Fact::LinkRoutes(routes) => self.judge.causes.set_link_routes(routes),
            Fact::Route(decision) => {
                let dst = decision.dst;
                self.judge.causes.set_route(decision);
                let judge = &mut self.judge;
                for j in out.iter_mut().filter(|j| j.event.resolver().is_some_and(|(r, _)| r == dst)) {
                    judge.causes.complete(j, &judge.topology);
                }
            }
        }
    }

    /// The resolver configuration last handed in (`Fact::Resolvers`), if any.
    pub fn resolver_config(&self) -> Option<&ResolverConfig> {
        self.judge.causes.resolver_config()
    }

    /// Replaces the interface facts at trace time `ts`, emitting tunnel up/down notices.
    fn update_topology(&mut self, topology: Topology, ts: Ts, out: &mut Vec<Judged>) {
        let (down, up) = self.judge.topology.tunnel_changes(&topology);
        let named = |v: Vec<&Iface>| v.into_iter().map(|i| (i.id, i.name.clone())).collect();
        let (down, up): (Vec<(IfaceId, IfaceName)>, Vec<_>) = (named(down), named(up));
        let none_up = topology.first_tunnel_up().is_none();
        self.judge.tunnel_seen |= topology.has_tunnel();
        self.judge.tracker.topology_changed(&topology);
        self.judge.causes.set_topology(&topology, ts);
        self.judge.topology = topology;
        self.judge.iface_memo.clear();
        let frame = self.last_frame;
        for (id, name) in down {
            let notice = Notice::TunnelDown { iface: name, none_up };
            self.judge.notice(ts, frame, id, notice, out);
        }
        for (id, name) in up {
            self.judge.notice(ts, frame, id, Notice::TunnelUp { iface: name }, out);
        }
    }
}
