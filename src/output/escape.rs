//! Names on the wire are chosen by whoever sends the packet. Every text output (terminal
//! lines, the summary, the dashboard) shows them through `escape`, so a control character or
//! an escape sequence is printed as visible text, never sent to the terminal.

use std::borrow::Cow;
use std::fmt::Write;

/// Escapes control characters (C0, DEL, C1), backslashes and Unicode format/separator
/// characters that can reorder or hide text (bidi overrides, zero-width characters).
/// Printable text, including non-ASCII letters, is kept as is.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !needs_escape(c) {
            out.push(c);
            continue;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
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
    c == '\\'
        || c.is_control()
        || matches!(c as u32,
            0x200b..=0x200f   // zero-width space/joiners, LRM, RLM
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

    #[test]
    fn invalid_utf8_bytes_are_hex() {
        assert_eq!(escape_bytes(b"ok\xff\xfe.x"), "ok\\xff\\xfe.x");
        assert_eq!(escape_bytes(b"\x1b]0;title\x07"), "\\x1b]0;title\\x07");
    }
}
