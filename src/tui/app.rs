//! The dashboard's UI state (what is selected, filtered, paused) and how actions change it.
//! Pure: no terminal here, so every view can be built in a test.

use std::cell::Cell;

use super::keys::{Action, InputMode};
use super::model::{Model, Row};
use dnsleak_core::{EventKind, Judged, Ts, Verdict};

/// The panes `Tab` moves between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Events,
    Resolvers,
    Interfaces,
}

impl Pane {
    pub const ALL: [Pane; 3] = [Pane::Events, Pane::Resolvers, Pane::Interfaces];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Events => "Events",
            Pane::Resolvers => "Resolvers",
            Pane::Interfaces => "Interfaces",
        }
    }

    fn step(self, by: isize) -> Pane {
        let i = Pane::ALL.iter().position(|p| *p == self).unwrap_or(0) as isize;
        Pane::ALL[(i + by).rem_euclid(Pane::ALL.len() as isize) as usize]
    }
}

/// The verdict filter `v` cycles through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerdictFilter {
    All,
    /// Leaks and bypasses only.
    Exposures,
    Tunnel,
    /// Local and multicast.
    LocalMulticast,
    /// Notices and malformed messages.
    Notices,
}

impl VerdictFilter {
    pub fn next(self) -> VerdictFilter {
        match self {
            VerdictFilter::All => VerdictFilter::Exposures,
            VerdictFilter::Exposures => VerdictFilter::Tunnel,
            VerdictFilter::Tunnel => VerdictFilter::LocalMulticast,
            VerdictFilter::LocalMulticast => VerdictFilter::Notices,
            VerdictFilter::Notices => VerdictFilter::All,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            VerdictFilter::All => "all",
            VerdictFilter::Exposures => "leak+bypass",
            VerdictFilter::Tunnel => "tunnel",
            VerdictFilter::LocalMulticast => "local+multicast",
            VerdictFilter::Notices => "notices+malformed",
        }
    }

    pub fn matches(self, j: &Judged) -> bool {
        match self {
            VerdictFilter::All => true,
            VerdictFilter::Exposures => matches!(j.verdict, Some(Verdict::Leak | Verdict::Bypass)),
            VerdictFilter::Tunnel => j.verdict == Some(Verdict::Tunnel),
            VerdictFilter::LocalMulticast => matches!(j.verdict, Some(Verdict::Local | Verdict::Multicast)),
            VerdictFilter::Notices => matches!(j.event.kind(), EventKind::Notice | EventKind::Malformed),
        }
    }
}

/// Where the events come from, for the header.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `replay --tui`: the files' names, and the playback speed when paced.
    Replay { files: String, speed: Option<f64> },
    /// `monitor`: capture time is wall time; `started` is when the dashboard opened.
    Live { started: Ts },
}

/// What the reading or capture thread is doing.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Progress {
    #[default]
    Running,
    Finished,
    Failed(String),
}

/// What an action asks of the loop beyond the UI state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    None,
    Quit,
    /// Empty the model's event list (`c`).
    ClearEvents,
}

#[derive(Debug)]
pub struct App {
    pub source: Source,
    pub progress: Progress,
    /// The time the header and chart are drawn at: wall time live, the capture's last packet in
    /// replay.
    pub now: Ts,
    pub pane: Pane,
    pub detail: bool,
    pub help: bool,
    /// The view "resolvers: configured vs seen" (`r`) is open.
    pub configured: bool,
    /// Name filter (case-insensitive substring of the name or SNI).
    pub filter: String,
    /// Typing the filter; the filter before typing, restored by Esc.
    pub editing: Option<String>,
    pub verdicts: VerdictFilter,
    /// Paused: events after this sequence number are not listed (still counted).
    pub paused: Option<u64>,
    /// The selected event's sequence number; `None` follows the newest.
    pub selected: Option<u64>,
    pub resolver_sel: usize,
    pub iface_sel: usize,
    /// First listed row and rows per page, kept by the view as it draws.
    pub offset: Cell<usize>,
    pub page: Cell<usize>,
    /// The detail pane's first row shown (PgUp/PgDn), and its rows shown and most useful
    /// first row, kept by the view as it draws (a detail longer than the pane scrolls).
    pub detail_scroll: u16,
    pub detail_page: Cell<u16>,
    pub detail_max: Cell<u16>,
}

impl App {
    pub fn new(source: Source) -> Self {
        App {
            source,
            progress: Progress::Running,
            now: Ts::ZERO,
            pane: Pane::Events,
            detail: false,
            help: false,
            configured: false,
            filter: String::new(),
            editing: None,
            verdicts: VerdictFilter::All,
            paused: None,
            selected: None,
            resolver_sel: 0,
            iface_sel: 0,
            offset: Cell::new(0),
            page: Cell::new(10),
            detail_scroll: 0,
            detail_page: Cell::new(10),
            detail_max: Cell::new(0),
        }
    }

    pub fn input_mode(&self) -> InputMode {
        if self.help {
            InputMode::Help
        } else if self.editing.is_some() {
            InputMode::Filter
        } else {
            InputMode::Normal
        }
    }

    /// Whether a row passes the pause, verdict and name filters.
    pub fn shows(&self, row: &Row) -> bool {
        if self.paused.is_some_and(|p| row.seq > p) || !self.verdicts.matches(&row.judged) {
            return false;
        }
        if self.filter.is_empty() {
            return true;
        }
        let ev = &row.judged.event;
        let name = ev.qname().or(ev.sni()).unwrap_or("");
        contains_ignore_case(name, &self.filter)
    }

    /// The events listed, newest first.
    pub fn visible<'m>(&self, model: &'m Model) -> Listing<'m> {
        let ring = &model.events;
        if self.filter.is_empty() && self.verdicts == VerdictFilter::All {
            // No filter: the ring itself (seqs increase), cut at the pause; no scan.
            let len = match self.paused {
                Some(p) => ring.partition_point(|r| r.seq <= p),
                None => ring.len(),
            };
            return Listing::All(ring, len);
        }
        Listing::Filtered(ring.iter().rev().filter(|r| self.shows(r)).collect())
    }

    /// Index of the selection in `list` (0 when following or when it left the list).
    pub fn position(&self, list: &Listing<'_>) -> usize {
        let Some(s) = self.selected else { return 0 };
        match list {
            Listing::All(ring, len) => match ring.binary_search_by_key(&s, |r| r.seq) {
                Ok(i) if i < *len => len - 1 - i,
                _ => 0,
            },
            Listing::Filtered(rows) => rows.iter().position(|r| r.seq == s).unwrap_or(0),
        }
    }

    /// The event the detail pane shows.
    pub fn current<'m>(&self, model: &'m Model) -> Option<&'m Row> {
        let list = self.visible(model);
        list.get(self.position(&list))
    }

    /// Applies one action.
    pub fn apply(&mut self, action: Action, model: &Model) -> Effect {
        match action {
            Action::Quit => return Effect::Quit,
            Action::Up => self.move_by(model, -1),
            Action::Down => self.move_by(model, 1),
            Action::PageUp if self.detail => self.scroll_detail(-1),
            Action::PageDown if self.detail => self.scroll_detail(1),
            Action::PageUp => self.move_by(model, -(self.page.get().max(1) as isize)),
            Action::PageDown => self.move_by(model, self.page.get().max(1) as isize),
            Action::Top => self.move_by(model, isize::MIN / 2),
            Action::Bottom => self.move_by(model, isize::MAX / 2),
            Action::Open => self.open(model),
            Action::Back => self.back(),
            Action::NextPane => self.switch_pane(1),
            Action::PrevPane => self.switch_pane(-1),
            Action::StartFilter => self.editing = Some(self.filter.clone()),
            Action::FilterChar(c) if self.filter.chars().count() < 64 => self.filter.push(c),
            Action::FilterChar(_) => {}
            Action::FilterBackspace => {
                self.filter.pop();
            }
            Action::FilterApply => self.editing = None,
            Action::CycleVerdict => self.verdicts = self.verdicts.next(),
            Action::TogglePause => {
                self.paused = match self.paused {
                    Some(_) => None,
                    None => Some(model.events_seen()),
                }
            }
            Action::Clear => {
                self.selected = None;
                self.offset.set(0);
                return Effect::ClearEvents;
            }
            Action::ToggleHelp => self.help = !self.help,
            Action::ToggleConfigured => self.configured = !self.configured,
            Action::None => {}
        }
        Effect::None
    }

    /// The detail a page up (`-1`) or down (`1`), within what it holds.
    fn scroll_detail(&mut self, pages: i32) {
        let page = i32::from(self.detail_page.get().saturating_sub(1).max(1));
        let to = (i32::from(self.detail_scroll) + pages * page).clamp(0, i32::from(self.detail_max.get()));
        self.detail_scroll = u16::try_from(to).unwrap_or(0);
    }

    fn switch_pane(&mut self, by: isize) {
        self.detail = false;
        self.configured = false;
        self.pane = self.pane.step(by);
    }

    fn back(&mut self) {
        if let Some(before) = self.editing.take() {
            self.filter = before;
        } else if self.help {
            self.help = false;
        } else if self.configured {
            self.configured = false;
        } else if self.detail {
            self.detail = false;
        } else if !self.filter.is_empty() {
            self.filter.clear();
        }
    }

    fn open(&mut self, model: &Model) {
        if self.pane != Pane::Events {
            return;
        }
        if let Some(row) = self.current(model) {
            self.selected = Some(row.seq);
            self.detail = true;
            self.detail_scroll = 0;
        }
    }

    fn move_by(&mut self, model: &Model, by: isize) {
        match self.pane {
            Pane::Resolvers => {
                self.resolver_sel = step(self.resolver_sel, by, model.tables.resolver_rows().len())
            }
            Pane::Interfaces => self.iface_sel = step(self.iface_sel, by, model.tables.interfaces().len()),
            Pane::Events => {
                let list = self.visible(model);
                if list.is_empty() {
                    self.selected = None;
                    return;
                }
                let to = step(self.position(&list), by, list.len());
                self.detail_scroll = 0;
                // The top row follows new events, unless a detail is open on it.
                self.selected = if to == 0 && !self.detail { None } else { list.get(to).map(|r| r.seq) };
            }
        }
    }
}

/// The events listed, newest first: the whole ring (up to the pause), or the rows a filter kept.
pub enum Listing<'m> {
    All(&'m std::collections::VecDeque<Row>, usize),
    Filtered(Vec<&'m Row>),
}

impl<'m> Listing<'m> {
    pub fn len(&self) -> usize {
        match self {
            Listing::All(_, len) => *len,
            Listing::Filtered(rows) => rows.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th row, newest first.
    pub fn get(&self, i: usize) -> Option<&'m Row> {
        match self {
            Listing::All(ring, len) => ring.get(len.checked_sub(i + 1)?),
            Listing::Filtered(rows) => rows.get(i).copied(),
        }
    }
}

fn step(from: usize, by: isize, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    (from as isize).saturating_add(by).clamp(0, len as isize - 1) as usize
}

/// Case-insensitive (ASCII) substring test without allocating.
pub fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}
