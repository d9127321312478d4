//! The dashboard. TODO(tui helper).
