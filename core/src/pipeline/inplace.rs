//! A message's event written where it stays in the output vector.

use super::{Judge, Origin};
use crate::event::{Body, DnsInfo, Event, Judged, Message, MessageKind, Wire};
use crate::topology::IfaceName;
use crate::verdict::Reason;

impl Judge {
    /// Appends the event of a message to `out`, not judged yet.
    ///
    /// An event is a few hundred bytes (`size_of::<Judged>()` is 328), and a value handed to
    /// `Vec::push` is built on the stack first and copied: the body into the event, the event
    /// into the vector (three calls to memcpy, 184, 208 and 328 bytes: 7% of the pipeline's
    /// time in `dnsleak bench`). So a template is written where it stays, and the message's
    /// parts are moved into it one by one, each small enough to be moved without a call.
    #[inline]
    pub(super) fn push_message(
        &mut self,
        o: Origin,
        kind: MessageKind,
        wire: Wire,
        dns: Option<DnsInfo>,
        out: &mut Vec<Judged>,
    ) {
        // `resize_with` writes the template where it stays (a value handed to `push` is built
        // on the stack and copied in), and the parts below are moved in one by one.
        out.resize_with(out.len() + 1, || Judged {
            event: Event {
                ts: o.ts,
                frame: o.frame,
                iface: o.iface,
                iface_name: IfaceName::default(),
                body: Body::Message(Message {
                    kind,
                    wire: Wire::TEMPLATE,
                    dns: None,
                    rtt_ns: None,
                    owner: None,
                }),
            },
            verdict: None,
            reason: Reason::Notice,
            cause: None,
        });
        let iface_name = self.iface_name(o.iface);
        if let Some(Judged { event: Event { iface_name: name, body: Body::Message(m), .. }, .. }) =
            out.last_mut()
        {
            *name = iface_name;
            m.wire = wire;
            m.dns = dns;
        }
    }
}
