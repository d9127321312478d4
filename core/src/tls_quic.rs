//! QUIC connections in the encrypted-DNS flow table: the client's Initial packets are
//! decrypted (`quic`) until the ClientHello is whole, then the connection is decided like a
//! TLS one (server name and ALPN).

use super::super::quic;
use super::{
    decide_with_name, decide_without_name, settle, ConnKey, EncryptedFlows, ResolverDb, Seen, State, Ts,
    MAX_WAITING_BYTES,
};

/// The client's Initial keys and the CRYPTO data reassembled so far.
#[derive(Debug)]
pub(super) struct QuicHello {
    keys: quic::Keys,
    pub(super) crypto: quic::Crypto,
    /// Client Initial packets read so far.
    packets: u32,
}

/// Client Initial packets read before a QUIC ClientHello that is still not whole is given up.
const MAX_QUIC_INITIALS: u32 = 16;

impl EncryptedFlows {
    /// The first datagram of an unknown UDP flow that starts with a QUIC long header: when an
    /// Initial in it decrypts with client keys, the sender is the client and the flow is
    /// remembered (whatever it turns out to be); `None` when nothing decrypted.
    pub(super) fn first_quic(
        &mut self,
        ts: Ts,
        conn: ConnKey,
        payload: &[u8],
        db: &ResolverDb,
    ) -> Option<Seen> {
        let first = quic::initials(payload).next()?;
        let keys = quic::Keys::client(first.version, first.dcid)?;
        let mut q = Box::new(QuicHello { keys, crypto: quic::Crypto::default(), packets: 0 });
        if !self.read_initials(&mut q, payload) {
            return None;
        }
        self.insert(ts, conn, State::Undecided);
        let (next, seen) = self.quic_progress(q, &conn, db);
        if let Some(flow) = self.flows.get_mut(&conn) {
            flow.state = next;
        }
        Some(seen)
    }

    /// A later packet of a QUIC connection whose ClientHello is not whole yet.
    pub(super) fn continue_quic(
        &mut self,
        mut q: Box<QuicHello>,
        conn: &ConnKey,
        from_client: bool,
        payload: &[u8],
        db: &ResolverDb,
    ) -> (State, Seen) {
        if !from_client {
            return (State::Quic(q), Seen::NotDns);
        }
        if !quic::is_long_header(payload) {
            // The client is past its Initial packets: the rest of the hello was not seen.
            self.quic_given_up += 1;
            self.release(&State::Quic(q));
            return settle(decide_without_name(conn, db));
        }
        self.read_initials(&mut q, payload);
        self.quic_progress(q, conn, db)
    }

    /// Decrypts the client Initial packets of one datagram into the connection's CRYPTO
    /// stream; false when none decrypted.
    fn read_initials(&mut self, q: &mut QuicHello, datagram: &[u8]) -> bool {
        let before = q.crypto.held();
        let mut any = false;
        for p in quic::initials(datagram) {
            // Keys stay those of the first Destination Connection ID even when later packets
            // carry the server's; only after a Retry do they follow the new one.
            let mut opened = q.keys.open(&p, &mut self.scratch).is_some();
            if !opened && !q.keys.fit(&p) {
                if let Some(k) = quic::Keys::client(p.version, p.dcid) {
                    opened = k.open(&p, &mut self.scratch).is_some();
                    if opened {
                        q.keys = k;
                    }
                }
            }
            if !opened {
                continue;
            }
            any = true;
            q.packets += 1;
            let crypto = &mut q.crypto;
            quic::crypto_frames(&self.scratch, |offset, data| crypto.add(offset, data));
        }
        self.waiting_bytes += q.crypto.held().saturating_sub(before);
        any
    }

    /// Decides a QUIC connection once its ClientHello is whole, or gives up.
    fn quic_progress(&mut self, q: Box<QuicHello>, conn: &ConnKey, db: &ResolverDb) -> (State, Seen) {
        match q.crypto.progress() {
            quic::Progress::Hello(info) => {
                self.release(&State::Quic(q));
                settle(decide_with_name(conn, info, db))
            }
            quic::Progress::Incomplete
                if q.packets < MAX_QUIC_INITIALS && self.waiting_bytes <= MAX_WAITING_BYTES =>
            {
                (State::Quic(q), Seen::NotDns)
            }
            _ => {
                self.quic_given_up += 1;
                self.release(&State::Quic(q));
                settle(decide_without_name(conn, db))
            }
        }
    }
}
