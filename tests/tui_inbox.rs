//! The dashboard's inbox under a flood of large messages while the UI does not keep up: the
//! queue waits for the UI by the memory it holds, not only by the number of updates
//! (issue #13: 65,536 queued events of 64 KiB each would be 4 GiB).

mod support;
mod tui_common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use dnsleak::output::Sink;
use dnsleak::tui::model::Model;
use dnsleak::tui::sink::{Inbox, TuiSink, INBOX_BYTES};
use tui_common::*;

#[test]
fn queued_updates_stay_within_the_memory_budget() {
    let topo = topology(true);
    let mut ev = event(&topo, &query(1.0, 0, "192.0.2.10", "192.0.2.1", "big.example"));
    if let dnsleak_core::Body::Message(m) = &mut ev.body {
        if let Some(dns) = m.dns.as_mut() {
            dns.payload = vec![0u8; 65_535].into();
        }
    }
    let big = judged(&topo, ev);
    let events = 3 * INBOX_BYTES / 65_535;
    let inbox = Arc::new(Inbox::default());
    let stop = Arc::new(AtomicBool::new(false));
    let pusher = {
        let (inbox, stop) = (inbox.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut sink = TuiSink::new(inbox, stop, true, None);
            for _ in 0..events {
                sink.event(&big, None).unwrap();
            }
        })
    };
    // The pipeline fills the inbox up to its budget, then waits for the UI.
    let full = support::poll(Duration::from_secs(60), || {
        let (_, bytes) = inbox.queued();
        (bytes + 2 * 65_535 >= INBOX_BYTES).then_some(bytes)
    });
    assert!(full.is_some(), "the inbox never filled: {:?}", inbox.queued());
    let (mut model, mut spare) = (Model::new(), Vec::new());
    let done = support::poll(Duration::from_secs(60), || {
        let (_, bytes) = inbox.queued();
        assert!(bytes <= INBOX_BYTES, "{bytes} bytes queued");
        inbox.drain_into(&mut model, &mut spare);
        pusher.is_finished().then_some(())
    });
    assert!(done.is_some(), "the pipeline did not get through");
    pusher.join().unwrap();
    inbox.drain_into(&mut model, &mut spare);
    assert_eq!(model.events_seen(), events as u64, "every event arrived");
}
