//! Names on the wire are chosen by whoever sends the packet, and names of interfaces, files
//! and processes by whoever made them. Every text that reaches a terminal (event lines,
//! reasons, notices, the summary, the dashboard, error messages) goes through `escape` (or
//! `Escaped`, the same as a `Display` wrapper), so a control character or an escape sequence
//! is printed as visible text, never sent to the terminal; and a character that reorders or
//! hides text (bidi controls, zero-width characters) is shown as its code.
//!
//! [`is_hidden_or_control`] is the one list of such characters: NDJSON writes the same ones as
//! `\uXXXX` (`output::json`), legal JSON that a log viewer cannot show reversed or hidden.

use std::borrow::Cow;
use std::fmt::{self, Display, Write};

/// Escapes control characters (C0, DEL, C1), backslashes and Unicode format/separator
/// characters that can reorder or hide text (bidi overrides, zero-width characters).
/// Printable text, including non-ASCII letters, is kept as is.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let _ = write_escaped(&mut out, s);
    Cow::Owned(out)
}

/// Shows a value's `Display` text escaped as [`escape`] does, without an allocation:
/// `format!("{}", Escaped(&reason))`.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<T>(pub T);

impl<T: Display> Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Through<'a, 'b>(&'a mut fmt::Formatter<'b>);
        impl Write for Through<'_, '_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                write_escaped(self.0, s)
            }
        }
        write!(Through(f), "{}", self.0)
    }
}

fn write_escaped(out: &mut impl Write, s: &str) -> fmt::Result {
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if !needs_escape(c) {
            continue;
        }
        out.write_str(&s[start..i])?;
        start = i + c.len_utf8();
        match c {
            '\\' => out.write_str("\\\\")?,
            '\t' => out.write_str("\\t")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            c if (c as u32) < 0x100 => write!(out, "\\x{:02x}", c as u32)?,
            c => write!(out, "\\u{{{:04x}}}", c as u32)?,
        }
    }
    out.write_str(&s[start..])
}

/// Escapes raw bytes (a DNS label is bytes, not text): printable ASCII is kept, valid UTF-8
/// letters are kept, everything else is shown as `\xNN`.
pub fn escape_bytes(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => escape(s),
        Err(_) => {
            let mut out = String::with_capacity(b.len() + 8);
            for chunk in b.utf8_chunks() {
                out.push_str(&escape(chunk.valid()));
                for byte in chunk.invalid() {
                    let _ = write!(out, "\\x{byte:02x}");
                }
            }
            Cow::Owned(out)
        }
    }
}

fn needs_escape(c: char) -> bool {
    c == '\\' || is_hidden_or_control(c)
}

/// Characters no output shows as they are: control characters (C0, DEL, C1) and those that
/// reorder or hide text. All are in the Basic Multilingual Plane.
pub fn is_hidden_or_control(c: char) -> bool {
    c.is_control()
        || matches!(c as u32,
            0x061c            // Arabic letter mark (bidi)
            | 0x180e          // Mongolian vowel separator (zero width)
            | 0x200b..=0x200f // zero-width space/joiners, LRM, RLM
            | 0x2028..=0x202e // line/paragraph separators, bidi embeddings and overrides
            | 0x2060..=0x2069 // word joiner, invisible operators, bidi isolates
            | 0xfeff          // zero-width no-break space
            | 0xfff9..=0xfffb // interlinear annotations
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_borrowed() {
        assert!(matches!(escape("www.example.com"), Cow::Borrowed(_)));
        assert!(matches!(escape("bücher.example"), Cow::Borrowed(_)));
    }

    #[test]
    fn terminal_escapes_are_made_visible() {
        assert_eq!(escape("evil\x1b[2J.example"), "evil\\x1b[2J.example");
        assert_eq!(escape("a\tb\nc\rd"), "a\\tb\\nc\\rd");
        assert_eq!(escape("bell\x07"), "bell\\x07");
        assert_eq!(escape("c1\u{9b}31m"), "c1\\x9b31m");
        assert_eq!(escape("back\\slash"), "back\\\\slash");
        assert_eq!(escape("rtl\u{202e}gnp.exe"), "rtl\\u{202e}gnp.exe");
        assert_eq!(escape("nul\0"), "nul\\x00");
    }

    /// Regression (issue #13): every bidi control and zero-width character the issue lists.
    #[test]
    fn bidi_and_zero_width_characters_are_shown_as_codes() {
        for c in ['\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{061c}'] {
            assert_eq!(escape(&format!("a{c}b")), format!("a\\u{{{:04x}}}b", c as u32));
        }
        for c in ['\u{200b}', '\u{200c}', '\u{200d}', '\u{feff}'] {
            assert_eq!(escape(&format!("a{c}b")), format!("a\\u{{{:04x}}}b", c as u32));
        }
        assert_eq!(escape("c1 \u{80} \u{9f}"), "c1 \\x80 \\x9f");
    }

    #[test]
    fn escaped_display_matches_escape() {
        let reason = format!("outside the tunnel on {}", "d\x1b]0;PW\x07\x1b[2J");
        assert_eq!(Escaped(&reason).to_string(), escape(&reason));
        assert_eq!(format!("[{}]", Escaped(42)), "[42]");
    }

    #[test]
    fn invalid_utf8_bytes_are_hex() {
        assert_eq!(escape_bytes(b"ok\xff\xfe.x"), "ok\\xff\\xfe.x");
        assert_eq!(escape_bytes(b"\x1b]0;title\x07"), "\\x1b]0;title\\x07");
    }
}
