//! The dashboard: `monitor` on a terminal, `replay --tui`.
//!
//! The command (`app`) hands `run` its work; the work runs on its own thread and queues updates through `sink::TuiSink` into an
//! `Inbox`, never waiting on drawing. The UI thread owns the `model::Model`: it blocks on the
//! keyboard with a timeout of `FRAME`, swaps the inbox out, applies it, and draws when something
//! changed (at most once per `FRAME`) or once per second (the clock).
//! `view` is a pure function of `app::App` and the model, so every screen is tested with
//! ratatui's `TestBackend`.

pub mod app;
pub mod configured;
pub mod detail;
pub mod keys;
pub mod model;
pub mod sink;
mod tables;
mod term;
pub mod text;
pub mod view;

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use crossterm::event::{self, Event as TermEvent};

use self::app::{App, Effect, Progress, Source};
use self::model::Model;
use self::sink::{Inbox, TuiSink, Update};
use crate::output::escape::escape;
use crate::output::Sink;
use crate::system::clock::wall_now;
use crate::system::{signals, stderr};

/// Shortest time between two redraws while events arrive.
pub const FRAME: Duration = Duration::from_millis(100);
/// Live, redraw at least this often (the clock in the header, the chart).
const TICK: Duration = Duration::from_secs(1);

/// For the tests of terminal restoring: `DNSLEAK_TEST_PANIC=ui` or `=pipeline` makes that
/// thread panic once the dashboard is up.
fn test_panic(place: &str) {
    if std::env::var_os("DNSLEAK_TEST_PANIC").is_some_and(|v| v == place) {
        panic!("DNSLEAK_TEST_PANIC={place}: a deliberate panic to test that the terminal is restored");
    }
}

/// How the dashboard ended, once the terminal is restored.
pub struct Closed<T> {
    /// Leaks and bypasses the dashboard saw (also when the work did not finish).
    pub exposures: u64,
    /// What the work returned, when it finished in time after the dashboard closed (it is
    /// asked to stop when the user quits; a capture closes its handles within a few seconds).
    pub result: Option<anyhow::Result<T>>,
}

/// How long the dashboard waits, after the user quits, for the work to end.
const WORK_GRACE: Duration = Duration::from_secs(3);

/// Runs the dashboard over `work`, which runs on a thread of its own and feeds the sink it is
/// given until it is done or the flag it is given is set (the user quit). The dashboard knows
/// nothing of where events come from: the caller (`app`) hands it the work. Returns once the
/// terminal is restored.
pub fn run<T, F>(source: Source, speed: Option<f64>, work: F) -> anyhow::Result<Closed<T>>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Sink, &AtomicBool) -> anyhow::Result<T> + Send + 'static,
{
    if !io::stdout().is_terminal() {
        bail!("the dashboard needs a terminal on standard output: run it in a terminal, or ask for text output (replay without --tui, monitor --json or --no-tui)");
    }
    let live = matches!(source, Source::Live { .. });
    // Before any thread starts, so a panic anywhere restores the terminal, and a signal ends
    // the loop (which restores it) instead of the process.
    term::install_hooks();
    signals::install().context("installing the signal handlers")?;
    let inbox = Arc::new(Inbox::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let (ib, st) = (inbox.clone(), stop.clone());
    let worker = std::thread::Builder::new()
        .name("dnsleak-pipeline".into())
        .spawn(move || {
            test_panic("pipeline");
            let mut sink = TuiSink::new(ib, st.clone(), !live, speed);
            let result = work(&mut sink, &st);
            let _ = tx.send(result.as_ref().map(drop).map_err(|e| format!("{e:#}")));
            result
        })
        .context("starting the pipeline thread")?;
    let mut app = App::new(source);
    let mut model = Model::new();
    let term = term::Term::enter().context("opening the terminal for the dashboard")?;
    let diverted = Diverted::start(&inbox, &stop);
    let result = ui_loop(term, &mut app, &mut model, &inbox, &rx, live);
    diverted.print_after();
    stop.store(true, Ordering::Relaxed);
    // Let the work close its captures and files (it checks `stop` often).
    let deadline = Instant::now() + WORK_GRACE;
    while !worker.is_finished() && Instant::now() < deadline {
        std::thread::park_timeout(Duration::from_millis(20));
    }
    result?;
    // What the pipeline queued after the last frame still counts for the exit status.
    inbox.drain_into(&mut model, &mut Vec::new());
    let result = if worker.is_finished() {
        Some(worker.join().unwrap_or_else(|_| Err(anyhow::anyhow!("the pipeline thread panicked"))))
    } else {
        None
    };
    Ok(Closed { exposures: model.exposures, result })
}

/// Draws and reads keys until quit. Takes the terminal so it is restored when this returns.
/// Standard error while the dashboard is open: its lines are shown as warnings (escaped by the
/// view) and, the first `KEPT_LINES`, printed again once the terminal is restored.
struct Diverted {
    kept: Arc<Mutex<(Vec<String>, u64)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Lines of standard error printed again after the dashboard closes.
const KEPT_LINES: usize = 32;

impl Diverted {
    fn start(inbox: &Arc<Inbox>, stop: &Arc<AtomicBool>) -> Diverted {
        let kept = Arc::new(Mutex::new((Vec::new(), 0u64)));
        let (ib, st, k) = (inbox.clone(), stop.clone(), kept.clone());
        let thread = stderr::divert(move |line| {
            let mut k = k.lock().unwrap_or_else(|p| p.into_inner());
            k.1 += 1;
            if k.0.len() < KEPT_LINES {
                k.0.push(line.clone());
            }
            drop(k);
            ib.push(Update::Diagnostic(line), &st);
        });
        // Not diverted (no pipe): lines go to the terminal as before, which is no worse.
        Diverted { kept, thread: thread.ok() }
    }

    /// Once the terminal is restored (which restores standard error): what was said there.
    fn print_after(self) {
        stderr::restore();
        let deadline = Instant::now() + Duration::from_millis(200);
        while self.thread.as_ref().is_some_and(|t| !t.is_finished()) && Instant::now() < deadline {
            std::thread::park_timeout(Duration::from_millis(10));
        }
        let k = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let mut err = io::stderr().lock();
        for line in &k.0 {
            let _ = writeln!(err, "dnsleak: (while the dashboard was open) {}", escape(line));
        }
        if k.1 > k.0.len() as u64 {
            let _ = writeln!(err, "dnsleak: ... and {} more such lines", k.1 - k.0.len() as u64);
        }
    }
}

fn ui_loop(
    mut term: term::Term,
    app: &mut App,
    model: &mut Model,
    inbox: &Inbox,
    rx: &Receiver<Result<(), String>>,
    live: bool,
) -> anyhow::Result<()> {
    let mut last_draw: Option<Instant> = None;
    let mut dirty = true;
    let mut changed = false;
    let mut spare = Vec::new();
    loop {
        if term::PANICKED.load(Ordering::Relaxed) {
            bail!(
                "a thread of the dashboard panicked (its message is above); this is a bug, please report it"
            );
        }
        if signals::received() {
            return Ok(());
        }
        match rx.try_recv() {
            Ok(Ok(())) if live => return Ok(()),
            Ok(Ok(())) => (app.progress, dirty) = (Progress::Finished, true),
            Ok(Err(e)) => (app.progress, dirty) = (Progress::Failed(e), true),
            Err(TryRecvError::Empty) => {}
            Err(TryRecvError::Disconnected) if app.progress == Progress::Running => {
                bail!("the pipeline thread stopped unexpectedly")
            }
            Err(TryRecvError::Disconnected) => {}
        }
        let since = last_draw.map_or(Duration::MAX, |t| t.elapsed());
        // Take updates in every turn (a flood never waits a whole frame for room); draw at
        // most once per FRAME.
        let busy = inbox.drain_into(model, &mut spare);
        changed |= busy;
        // Live, the clock and the chart move every second; a replay stands still once read.
        let tick = live && since >= TICK;
        if dirty || tick || (changed && since >= FRAME) {
            app.now = if live { wall_now() } else { model.last_ts.unwrap_or_default() };
            let drawn = term::draw_guarded(|| {
                term.terminal.draw(|f| f.render_widget(view::Dashboard { app, model }, f.area())).map(drop)
            })?;
            if !drawn {
                continue; // a panic restored the terminal; the check above ends the loop
            }
            last_draw = Some(Instant::now());
            (dirty, changed) = (false, false);
            test_panic("ui");
        }
        // While events flow, wake often to take them in; idle, once per FRAME.
        let wait = if busy { FRAME / 10 } else { FRAME };
        // Wait on the terminal ourselves: crossterm spins forever reading a terminal that was
        // closed (read returns 0), so a hang-up must be seen before crossterm reads.
        if term::wait_input(wait)? == term::Input::HungUp {
            return Ok(());
        }
        // Also when nothing was typed: a resize arrives as a signal crossterm turns into an event.
        while event::poll(Duration::ZERO)? {
            match event::read()? {
                TermEvent::Key(k) => {
                    let action = keys::action(k, app.input_mode());
                    match app.apply(action, model) {
                        Effect::Quit => return Ok(()),
                        Effect::ClearEvents => model.clear_events(),
                        Effect::None => {}
                    }
                }
                TermEvent::Resize(..) => {}
                _ => continue,
            }
            dirty = true;
        }
    }
}
