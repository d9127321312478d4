// Scratch probe (not committed): peak RSS of the pipeline on a file with different limits.
use dnsleak::capture::reader::{for_each_frame, topology_of, Input};
use dnsleak::core::{Config, Pipeline};
fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines().find(|l| l.starts_with("VmHWM")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap()
}
fn main() {
    sizes();
    let a: Vec<String> = std::env::args().collect();
    let mut cfg = Config::new();
    if let Some(f) = a.get(2) {
        cfg.tcp.max_flows = f.parse().unwrap();
    }
    if let Some(f) = a.get(3) {
        cfg.tracker.max_pending = f.parse().unwrap();
    }
    let mut p: Option<Pipeline> = None;
    let mut out = Vec::new();
    let mut report = dnsleak::output::report::Report::new(Default::default());
    let base = rss();
    for_each_frame(a[1].as_ref(), |i| {
        match i {
            Input::Interfaces { ifaces, .. } => {
                p = Some(Pipeline::new(cfg.clone(), topology_of(ifaces, &Default::default())))
            }
            Input::Frame(f) => {
                if std::env::var("MODE").as_deref() != Ok("read") {
                    p.as_mut().unwrap().process(f, &mut out)
                }
            }
        }
        if std::env::var("MODE").as_deref() == Ok("core") {
            out.clear();
        } else {
            for j in out.drain(..) {
                report.observe(&j);
            }
        }
        Ok(())
    })
    .unwrap();
    let s = p.unwrap().stats();
    println!(
        "base {} KB peak {} KB flows {} evicted {} pending-evicted {} unanswered {}",
        base,
        rss(),
        s.tcp.flows,
        s.tcp.flows_evicted,
        s.pairs.evicted,
        s.pairs.unanswered
    );
}
#[allow(dead_code)]
fn sizes() {
    eprintln!(
        "Judged {} Event {} Reason {} Notice {}",
        std::mem::size_of::<dnsleak::core::Judged>(),
        std::mem::size_of::<dnsleak::core::Event>(),
        std::mem::size_of::<dnsleak::core::Reason>(),
        std::mem::size_of::<dnsleak::core::Notice>()
    );
}
