//! Frames -> judged events through `core::Pipeline` on the built-in traffic mix, and in the same
//! run the two hickory-proto baselines on the same DNS payloads: the full `Message::from_vec`,
//! and `BinDecoder` reading only the header and first question. Throughput is in DNS messages.
//! At the end the ratios (pipeline / baseline) are printed from the time each contender took.
//!
//! `cargo bench --bench pipeline` (about half a minute); `DNSLEAK_BENCH_PACKETS=1000000` for a
//! larger mix.

use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use dnsleak::app::bench::{dns_messages, Capture};

/// Time and iterations one contender spent inside criterion (warm-up included).
#[derive(Default)]
struct Spent {
    time: Cell<Duration>,
    iters: Cell<u64>,
}

impl Spent {
    fn add(&self, t: Duration, iters: u64) {
        self.time.set(self.time.get() + t);
        self.iters.set(self.iters.get() + iters);
    }
    /// Messages per second, for `messages` per iteration.
    fn rate(&self, messages: u64) -> f64 {
        (self.iters.get() * messages) as f64 / self.time.get().as_secs_f64().max(1e-9)
    }
}

fn main() {
    let packets = std::env::var("DNSLEAK_BENCH_PACKETS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let cap = Capture::builtin(packets, dnsleak::app::bench::BUILTIN_SEED);
    let payloads = cap.dns_payloads();
    let messages = payloads.len() as u64;
    assert_eq!(cap.run_once(), messages, "the pipeline and the baselines see the same messages");

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6))
        .configure_from_args();
    let spent: [Spent; 3] = Default::default();
    let mut group = c.benchmark_group(format!("mix_{packets}_packets"));
    group.throughput(Throughput::Elements(messages));
    group.bench_function("pipeline_frames_to_events", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let mut p = cap.pipeline();
                let mut out = Vec::new();
                cap.feed(&mut p, 0, &mut out);
                p.finish(&mut out);
                black_box(dns_messages(&p));
            }
            let t = start.elapsed();
            spent[0].add(t, iters);
            t
        })
    });
    group.bench_function("hickory_message_from_vec", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(payloads.hickory_full());
            }
            let t = start.elapsed();
            spent[1].add(t, iters);
            t
        })
    });
    group.bench_function("hickory_header_and_question", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(payloads.hickory_header_question());
            }
            let t = start.elapsed();
            spent[2].add(t, iters);
            t
        })
    });
    group.finish();
    c.final_summary();

    let [pipe, full, head] = spent.map(|s| s.rate(messages));
    println!("\n{messages} DNS messages in {packets} packets per iteration");
    println!("pipeline (frames -> judged events): {:>12.0} messages/s", pipe);
    println!("hickory Message::from_vec:          {:>12.0} messages/s", full);
    println!("hickory header + first question:    {:>12.0} messages/s", head);
    println!("ratio pipeline / full decode:          {:.2}", pipe / full.max(1e-9));
    println!("ratio pipeline / header + question:    {:.2}", pipe / head.max(1e-9));
}
