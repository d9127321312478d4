//! Key handling and UI state, without a terminal: navigation follows the newest event or stays
//! on the one selected, pause freezes the list while counting goes on, filters narrow it.

mod support;
mod tui_common;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use dnsleak::tui::app::{Effect, Pane};
use dnsleak::tui::keys::{action, Action, InputMode};
use dnsleak::tui::model::Model;
use tui_common::*;

fn session() -> Model {
    let topo = topology(true);
    let mut m = Model::new();
    tunnel_session(&mut m, &topo);
    m
}

fn press(app: &mut dnsleak::tui::app::App, m: &Model, code: KeyCode) -> Effect {
    let a = action(KeyEvent::new(code, KeyModifiers::NONE), app.input_mode());
    app.apply(a, m)
}

#[test]
fn selection_follows_newest_until_moved_then_stays_on_its_event() {
    let topo = topology(true);
    let mut m = session();
    let mut app = replay_app(&m);
    assert_eq!(app.selected, None);
    let newest = app.current(&m).unwrap().seq;
    press(&mut app, &m, KeyCode::Char('j'));
    let second = app.selected.expect("a selection");
    assert!(second < newest);
    // New events arrive: the selection stays on the same event.
    feed(&mut m, &topo, query(40.0, 1, "198.51.100.2", "198.51.100.1", "late.example"));
    assert_eq!(app.current(&m).unwrap().seq, second);
    press(&mut app, &m, KeyCode::Char('k'));
    press(&mut app, &m, KeyCode::Char('k'));
    assert_eq!(app.selected, None, "back at the top: following again");
    press(&mut app, &m, KeyCode::Char('G'));
    assert_eq!(app.current(&m).unwrap().seq, m.events.front().unwrap().seq);
    press(&mut app, &m, KeyCode::Char('g'));
    assert_eq!(app.selected, None);
}

#[test]
fn page_keys_move_by_the_rows_drawn() {
    let m = session();
    let mut app = replay_app(&m);
    draw(&app, &m, 80, 24); // the view records the page height
    let page = app.page.get();
    assert!(page > 5, "page {page}");
    press(&mut app, &m, KeyCode::PageDown);
    let list = app.visible(&m);
    assert_eq!(app.position(&list), page);
    press(&mut app, &m, KeyCode::PageUp);
    assert_eq!(app.selected, None);
}

#[test]
fn enter_opens_detail_and_esc_goes_back() {
    let m = session();
    let mut app = replay_app(&m);
    press(&mut app, &m, KeyCode::Enter);
    assert!(app.detail);
    assert!(app.selected.is_some(), "the detail is pinned to its event");
    press(&mut app, &m, KeyCode::Esc);
    assert!(!app.detail);
}

#[test]
fn pause_freezes_the_list_but_counting_goes_on() {
    let topo = topology(true);
    let mut m = session();
    let mut app = replay_app(&m);
    let before = app.visible(&m).len();
    press(&mut app, &m, KeyCode::Char('p'));
    feed(&mut m, &topo, query(40.0, 0, "192.0.2.10", "192.0.2.1", "while-paused.example"));
    assert_eq!(app.visible(&m).len(), before);
    assert_eq!(m.exposures, 1, "the leak is counted while paused");
    press(&mut app, &m, KeyCode::Char('p'));
    assert_eq!(app.visible(&m).len(), before + 1);
}

#[test]
fn filter_typing_takes_q_as_a_letter_and_esc_restores() {
    let m = session();
    let mut app = replay_app(&m);
    press(&mut app, &m, KeyCode::Char('/'));
    assert_eq!(app.input_mode(), InputMode::Filter);
    for c in "HOST1".chars() {
        assert_eq!(press(&mut app, &m, KeyCode::Char(c)), Effect::None);
    }
    // host1, host10, host11 (queries and responses), case-insensitive.
    assert_eq!(app.visible(&m).len(), 6);
    press(&mut app, &m, KeyCode::Esc);
    assert_eq!(app.filter, "");
    press(&mut app, &m, KeyCode::Char('/'));
    press(&mut app, &m, KeyCode::Char('q'));
    press(&mut app, &m, KeyCode::Enter);
    assert_eq!(app.filter, "q");
    assert_eq!(app.input_mode(), InputMode::Normal);
    assert_eq!(press(&mut app, &m, KeyCode::Char('q')), Effect::Quit);
}

#[test]
fn tab_cycles_panes_and_c_clears() {
    let m = session();
    let mut app = replay_app(&m);
    press(&mut app, &m, KeyCode::Tab);
    assert_eq!(app.pane, Pane::Resolvers);
    press(&mut app, &m, KeyCode::Tab);
    assert_eq!(app.pane, Pane::Interfaces);
    press(&mut app, &m, KeyCode::BackTab);
    assert_eq!(app.pane, Pane::Resolvers);
    assert_eq!(press(&mut app, &m, KeyCode::Char('c')), Effect::ClearEvents);
    let mut m = m;
    m.clear_events();
    assert!(app.visible(&m).is_empty());
    assert!(m.tables.resolver_rows().len() == 1 + 2, "tables stay after clearing the list");
}

#[test]
fn verdict_filter_cycles_back_to_all() {
    let m = session();
    let mut app = replay_app(&m);
    let all = app.visible(&m).len();
    let mut seen = vec![];
    for _ in 0..5 {
        press(&mut app, &m, KeyCode::Char('v'));
        seen.push(app.visible(&m).len());
    }
    assert_eq!(seen, vec![0, 24, 2, 0, all]);
    assert_eq!(
        action(KeyEvent::new(KeyCode::Char('v'), KeyModifiers::NONE), InputMode::Normal),
        Action::CycleVerdict
    );
}
