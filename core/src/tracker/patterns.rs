//! The patterns beyond single messages: plaintext DNS while no tunnel is up (the kill switch
//! failed), the same name asked inside and outside the tunnel within a window (parallel
//! resolution), and answers from an address other than the one asked (hijack).

use std::net::IpAddr;

use super::{At, Tracker};
use crate::event::{Event, Notice};
use crate::frame::Ts;
use crate::topology::{IfaceId, IfaceKind, IfaceName, Topology};
use crate::verdict::{Dir, Reason, TunnelState, Verdict};

/// Where a name was last asked inside and outside the tunnel.
#[derive(Debug, Default)]
pub(super) struct NameSeen {
    tunnel: Option<(Ts, IfaceId)>,
    outside: Option<(Ts, IfaceId)>,
    /// No parallel-resolution notice for this name before this time.
    quiet_until: Ts,
}

impl NameSeen {
    pub(super) fn latest(&self) -> Ts {
        let t = self.tunnel.as_ref().map_or(Ts(i64::MIN), |s| s.0);
        let o = self.outside.as_ref().map_or(Ts(i64::MIN), |s| s.0);
        t.max(o).max(self.quiet_until)
    }
}

impl Tracker {
    pub(super) fn hijack(
        &mut self,
        at: &At<'_>,
        asked: IpAddr,
        from: IpAddr,
        qname: &str,
        notices: &mut Vec<Event>,
    ) {
        let pair = (asked, from);
        if let Some(seen) = self.hijacks.touch(&pair, 0) {
            *seen = at.ts;
            return;
        }
        if self.hijacks.len() >= self.limits.max_hijack_pairs {
            // Forget the pair seen least recently.
            self.hijacks.pop_oldest(0);
        }
        self.hijacks.insert(pair, at.ts, 0);
        notices.push(at.notice(Notice::Hijack { asked, answered_from: from, name: qname.into() }));
    }

    /// Plaintext DNS leaving a physical interface while no tunnel is up, though one was seen.
    pub(super) fn kill_switch(&mut self, at: &At<'_>, reason: &Reason, notices: &mut Vec<Event>) {
        let Reason::Plaintext { dir: Dir::Out, kind: IfaceKind::Physical, tunnel: TunnelState::Down, .. } =
            reason
        else {
            return;
        };
        if self.outage_noticed {
            return;
        }
        self.outage_noticed = true;
        notices.push(at.notice(Notice::KillSwitchFailed { iface: at.iface_name.clone() }));
    }

    /// The same name asked through a tunnel and outside it within the window: one notice per
    /// name and window.
    pub(super) fn parallel(
        &mut self,
        at: &At<'_>,
        verdict: Option<Verdict>,
        name: &str,
        hash: u64,
        topology: &Topology,
        notices: &mut Vec<Event>,
    ) {
        let inside = match verdict {
            Some(Verdict::Tunnel) => true,
            Some(Verdict::Leak) => false,
            _ => return,
        };
        if !topology.has_tunnel() {
            return; // no tunnel known: nothing can be asked through one
        }
        let window = self.limits.parallel_window_ns;
        // One hash lookup for a name seen before, two for a new one.
        let slot = match self.names.find(&hash) {
            Some(slot) => {
                self.names.move_to(slot, 0);
                slot
            }
            None => {
                if self.names.len() >= self.limits.max_names {
                    self.expire_names(at.ts);
                }
                if self.names.len() >= self.limits.max_names {
                    self.stats.names_dropped += 1;
                    return;
                }
                self.names.insert_at(hash, NameSeen::default(), 0).0
            }
        };
        let Some(seen) = self.names.value_mut(slot) else { return };
        let mine = Some((at.ts, at.iface));
        let other = if inside {
            seen.tunnel = mine;
            &seen.outside
        } else {
            seen.outside = mine;
            &seen.tunnel
        };
        let Some((t, other_iface)) = other else { return };
        if at.ts.since(*t) > window || at.ts < seen.quiet_until {
            return;
        }
        let other_iface = match topology.get(*other_iface) {
            Some(i) => i.name.clone(),
            None => IfaceName::from(format!("if{other_iface}")),
        };
        seen.quiet_until = at.ts.add_nanos(window);
        let (tunnel, outside) =
            if inside { (at.iface_name.clone(), other_iface) } else { (other_iface, at.iface_name.clone()) };
        notices.push(at.notice(Notice::ParallelResolution { name: name.into(), tunnel, outside }));
    }
}
