//! The audit report: one self-contained HTML page per capture (`replay --report`,
//! `monitor --report`).
//!
//! Three steps, each its own module: [`Collector`] is a [`Sink`] that keeps bounded aggregates
//! while events pass and hands out a plain [`ReportData`]; `view` turns that into display
//! strings and chart geometry; an askama template (autoescape on) writes the page, with inline
//! SVG charts and inline CSS: no script, no network access (a Content-Security-Policy says so
//! to the browser too), a dark theme for screens that prefer it and a light A4 layout for print.
//!
//! ```no_run
//! use dnsleak::output::html::{Collector, Origin, render};
//! let collector = Collector::default();
//! // ... feed it as a Sink ...
//! let html = render(&collector.data(Origin::Live, Vec::new(), None))?;
//! # anyhow::Ok(())
//! ```

pub mod bins;
mod chart;
mod collect;
mod data;
mod timeline;
mod view;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use askama::Template;

use dnsleak_core::Ts;

pub use collect::{Collector, Limits};
pub use data::{CauseRow, InputFile, Lane, Leaked, OnLeakCounts, Origin, ReportData};
pub use view::{page, Page};

// The engine's configuration sits beside this module (not at the crate root, askama's
// default): where the templates are and how whitespace between tags is trimmed. HTML escaping
// is on for every .html template.
#[derive(Template)]
#[template(path = "report.html", config = "src/output/html/askama.toml")]
struct PageTemplate<'a> {
    p: &'a Page,
}

/// The page of `data`, as HTML.
pub fn render(data: &ReportData) -> anyhow::Result<String> {
    let page = view::page(data);
    PageTemplate { p: &page }.render().context("rendering the HTML report")
}

/// A report being collected, and the file it goes to (created when the run starts, so that an
/// unwritable path fails before a long capture).
pub struct HtmlReport {
    path: PathBuf,
    file: File,
    pub collector: Collector,
    /// The files replayed so far (None: live capture).
    inputs: Option<Vec<InputFile>>,
    /// What `--on-leak` did, when it was given.
    pub on_leak: Option<OnLeakCounts>,
}

impl HtmlReport {
    /// For `replay --report PATH FILE...`; each file is added with [`HtmlReport::input_read`].
    pub fn replay(path: &Path) -> anyhow::Result<HtmlReport> {
        // app::config refused a report path that is one of the inputs.
        Ok(HtmlReport { inputs: Some(Vec::new()), ..Self::create(path)? })
    }

    /// For `monitor --report PATH`.
    pub fn live(path: &Path) -> anyhow::Result<HtmlReport> {
        Self::create(path)
    }

    fn create(path: &Path) -> anyhow::Result<HtmlReport> {
        let file = File::create(path).with_context(|| {
            format!("cannot create the report {}: check the directory exists and is writable", path.display())
        })?;
        Ok(HtmlReport {
            path: path.to_path_buf(),
            file,
            collector: Collector::default(),
            inputs: None,
            on_leak: None,
        })
    }

    /// One input file was read (or could not be): it joins the audit trail, and (when
    /// `ends`: its pipeline ends with it, not with `--continue`) what the collector knows of
    /// its interfaces ends with it.
    pub fn input_read(&mut self, file: InputFile, ends: bool) {
        if ends {
            self.collector.end_of_input();
        }
        if let Some(v) = &mut self.inputs {
            v.push(file);
        }
    }

    /// Writes the page. `error` is how the input ended early, if it did; `generated` is the
    /// wall clock's now.
    pub fn write(
        self,
        mut notes: Vec<String>,
        error: Option<&anyhow::Error>,
        generated: Ts,
    ) -> anyhow::Result<()> {
        let origin = self.inputs.map_or(Origin::Live, Origin::Replay);
        if let Some(e) = error {
            notes.push(format!(
                "The input ended early with an error; what was read before it is counted here: {e:#}"
            ));
        }
        if let Some(h) = self.on_leak {
            notes.push(format!(
                "--on-leak: {} leak episodes; the command ran {} times ({} succeeded, {} failed), {} not run.",
                h.episodes,
                h.succeeded + h.failed,
                h.succeeded,
                h.failed,
                h.dropped
            ));
        }
        let mut data = self.collector.data(origin, notes, Some(generated));
        data.on_leak = self.on_leak;
        let html = render(&data)?;
        let mut w = BufWriter::new(self.file);
        w.write_all(html.as_bytes())
            .and_then(|()| w.flush())
            .with_context(|| format!("writing the report {}", self.path.display()))
    }
}
