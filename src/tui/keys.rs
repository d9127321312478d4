//! Keys to actions: a pure function, tested without a terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What the keyboard is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputMode {
    Normal,
    /// Typing a name filter after `/`.
    Filter,
    /// The help overlay is open.
    Help,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Up,
    Down,
    PageUp,
    PageDown,
    /// Newest event (and follow new ones).
    Top,
    /// Oldest event kept.
    Bottom,
    /// Open the detail of the selected event.
    Open,
    /// Close the detail, the help, or the filter being typed.
    Back,
    NextPane,
    PrevPane,
    StartFilter,
    FilterChar(char),
    FilterBackspace,
    /// Keep the filter typed and stop typing.
    FilterApply,
    CycleVerdict,
    TogglePause,
    Clear,
    ToggleHelp,
    /// The view "resolvers: configured vs seen".
    ToggleConfigured,
    None,
}

/// The action for one key in `mode`.
pub fn action(key: KeyEvent, mode: InputMode) -> Action {
    if key.kind == KeyEventKind::Release {
        return Action::None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('C')) {
        return Action::Quit;
    }
    match mode {
        InputMode::Filter => filter_action(key, ctrl),
        InputMode::Help => match key.code {
            KeyCode::Char('q') => Action::Quit,
            KeyCode::Char('?') | KeyCode::Esc | KeyCode::Enter => Action::ToggleHelp,
            _ => Action::None,
        },
        InputMode::Normal if ctrl => match key.code {
            KeyCode::Char('d') => Action::PageDown,
            KeyCode::Char('u') => Action::PageUp,
            _ => Action::None,
        },
        InputMode::Normal => normal_action(key.code),
    }
}

fn filter_action(key: KeyEvent, ctrl: bool) -> Action {
    match key.code {
        KeyCode::Esc => Action::Back,
        KeyCode::Enter => Action::FilterApply,
        KeyCode::Backspace => Action::FilterBackspace,
        KeyCode::Char(c) if !ctrl && !c.is_control() => Action::FilterChar(c),
        _ => Action::None,
    }
}

fn normal_action(code: KeyCode) -> Action {
    match code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown | KeyCode::Char(' ') => Action::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Action::Top,
        KeyCode::End | KeyCode::Char('G') => Action::Bottom,
        KeyCode::Enter => Action::Open,
        KeyCode::Esc => Action::Back,
        KeyCode::Tab => Action::NextPane,
        KeyCode::BackTab => Action::PrevPane,
        KeyCode::Char('/') => Action::StartFilter,
        KeyCode::Char('v') => Action::CycleVerdict,
        KeyCode::Char('p') => Action::TogglePause,
        KeyCode::Char('c') => Action::Clear,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Char('r') => Action::ToggleConfigured,
        _ => Action::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn usual_habits_in_normal_mode() {
        let n = InputMode::Normal;
        let cases = [
            (KeyCode::Char('q'), Action::Quit),
            (KeyCode::Up, Action::Up),
            (KeyCode::Char('k'), Action::Up),
            (KeyCode::Down, Action::Down),
            (KeyCode::Char('j'), Action::Down),
            (KeyCode::PageUp, Action::PageUp),
            (KeyCode::PageDown, Action::PageDown),
            (KeyCode::Char('g'), Action::Top),
            (KeyCode::Char('G'), Action::Bottom),
            (KeyCode::Enter, Action::Open),
            (KeyCode::Esc, Action::Back),
            (KeyCode::Tab, Action::NextPane),
            (KeyCode::BackTab, Action::PrevPane),
            (KeyCode::Char('/'), Action::StartFilter),
            (KeyCode::Char('v'), Action::CycleVerdict),
            (KeyCode::Char('p'), Action::TogglePause),
            (KeyCode::Char('c'), Action::Clear),
            (KeyCode::Char('?'), Action::ToggleHelp),
            (KeyCode::Char('r'), Action::ToggleConfigured),
            (KeyCode::Char('x'), Action::None),
        ];
        for (code, want) in cases {
            assert_eq!(action(key(code), n), want, "{code:?}");
        }
    }

    #[test]
    fn ctrl_c_quits_in_every_mode() {
        let k = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        for mode in [InputMode::Normal, InputMode::Filter, InputMode::Help] {
            assert_eq!(action(k, mode), Action::Quit, "{mode:?}");
        }
    }

    #[test]
    fn filter_mode_takes_letters_as_text() {
        let f = InputMode::Filter;
        assert_eq!(action(key(KeyCode::Char('q')), f), Action::FilterChar('q'));
        assert_eq!(action(key(KeyCode::Char('c')), f), Action::FilterChar('c'));
        assert_eq!(action(key(KeyCode::Backspace), f), Action::FilterBackspace);
        assert_eq!(action(key(KeyCode::Enter), f), Action::FilterApply);
        assert_eq!(action(key(KeyCode::Esc), f), Action::Back);
    }

    #[test]
    fn help_closes_on_question_mark_or_esc_and_q_still_quits() {
        let h = InputMode::Help;
        assert_eq!(action(key(KeyCode::Char('?')), h), Action::ToggleHelp);
        assert_eq!(action(key(KeyCode::Esc), h), Action::ToggleHelp);
        assert_eq!(action(key(KeyCode::Char('q')), h), Action::Quit);
        assert_eq!(action(key(KeyCode::Char('j')), h), Action::None);
    }

    #[test]
    fn key_releases_do_nothing() {
        let mut k = key(KeyCode::Char('q'));
        k.kind = KeyEventKind::Release;
        assert_eq!(action(k, InputMode::Normal), Action::None);
    }
}
