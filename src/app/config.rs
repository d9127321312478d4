//! The command line, validated once: each command turns its flags (`cli`, the "low" arguments)
//! into the decisions it runs on (the "high" ones), here, before anything starts.

use std::ffi::OsStr;
use std::io::{self, IsTerminal};

use crate::cli::ColorChoice;

/// Whether text output is coloured: `--color always|never`, else only when standard output is
/// a terminal and `NO_COLOR` is not set to a non-empty value (<https://no-color.org>: an empty
/// `NO_COLOR` does not count).
pub fn use_color(choice: ColorChoice) -> bool {
    color_for(choice, io::stdout().is_terminal(), std::env::var_os("NO_COLOR").as_deref())
}

fn color_for(choice: ColorChoice, terminal: bool, no_color: Option<&OsStr>) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && no_color.is_none_or(OsStr::is_empty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `monitor` turned colour off for an empty NO_COLOR while `replay` kept it;
    /// both follow the convention now (set and non-empty).
    #[test]
    fn no_color_counts_only_when_set_and_not_empty() {
        let auto = ColorChoice::Auto;
        assert!(color_for(auto, true, None));
        assert!(color_for(auto, true, Some(OsStr::new(""))), "an empty NO_COLOR does not count");
        assert!(!color_for(auto, true, Some(OsStr::new("1"))));
        assert!(!color_for(auto, false, None), "no colour off a terminal");
        assert!(color_for(ColorChoice::Always, false, Some(OsStr::new("1"))));
        assert!(!color_for(ColorChoice::Never, true, None));
    }
}
