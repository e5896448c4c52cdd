//! A driver's chatter: what it writes that is not the protocol — stray lines on its stdout, its
//! stderr — logged within a budget, so a driver cannot make the host print without end (a disk
//! fills where stderr is kept: CI, GitLab Runner).
//!
//! At most [`LINES_PER_WINDOW`] lines are shown in each [`WINDOW`], each cut to [`LINE_SHOWN`]
//! bytes; what is held back is counted and said in one line when the next window opens (or when
//! the driver's output ends). A flood of 20 s thus shows at most three windows' worth: about
//! 100 KiB, whatever the driver writes.

use std::time::{Duration, Instant};

/// How long a window of the budget lasts.
pub const WINDOW: Duration = Duration::from_secs(10);
/// The lines shown in one window.
pub const LINES_PER_WINDOW: u32 = 32;
/// The most of one line shown, in bytes; the rest is cut (the line's size is said).
pub const LINE_SHOWN: usize = 1024;

/// The budget of one stream (one driver's stdout, say).
#[derive(Debug)]
pub struct Chatter {
    window_start: Instant,
    shown: u32,
    held_lines: u64,
    held_bytes: u64,
}

impl Default for Chatter {
    fn default() -> Self {
        Chatter::new()
    }
}

impl Chatter {
    /// A budget whose first window opens now.
    pub fn new() -> Chatter {
        Chatter {
            window_start: Instant::now(),
            shown: 0,
            held_lines: 0,
            held_bytes: 0,
        }
    }

    /// What to log for `line` now: `None` while the window's budget is spent (the line is
    /// counted), else the line cut to [`LINE_SHOWN`] bytes, after a note of what was held back
    /// when something was.
    pub fn admit(&mut self, line: &str) -> Option<String> {
        self.admit_at(line, Instant::now())
    }

    fn admit_at(&mut self, line: &str, now: Instant) -> Option<String> {
        let mut note = None;
        if now.duration_since(self.window_start) >= WINDOW {
            note = self.held();
            self.window_start = now;
            self.shown = 0;
        }
        if self.shown >= LINES_PER_WINDOW {
            self.held_lines += 1;
            self.held_bytes += line.len() as u64;
            return None;
        }
        self.shown += 1;
        let shown = cut(line);
        Some(match note {
            Some(note) => format!("{note}\n{shown}"),
            None => shown,
        })
    }

    /// The note of what was held back and not said yet, if anything was (the stream ended).
    pub fn held(&mut self) -> Option<String> {
        if self.held_lines == 0 {
            return None;
        }
        let note = format!(
            "({} more lines, {} bytes, not shown: at most {LINES_PER_WINDOW} lines are shown \
             every {} s)",
            self.held_lines,
            self.held_bytes,
            WINDOW.as_secs()
        );
        self.held_lines = 0;
        self.held_bytes = 0;
        Some(note)
    }
}

/// `line` cut to [`LINE_SHOWN`] bytes (at a character boundary), saying its size when cut.
fn cut(line: &str) -> String {
    if line.len() <= LINE_SHOWN {
        return line.to_string();
    }
    let mut end = LINE_SHOWN;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... (a line of {} bytes, cut)", &line[..end], line.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_shows_its_lines_then_holds_back_and_says_how_much_at_the_next() {
        let start = Instant::now();
        let mut c = Chatter::new();
        c.window_start = start;
        for i in 0..LINES_PER_WINDOW {
            assert_eq!(c.admit_at(&format!("w{i}"), start), Some(format!("w{i}")));
        }
        for _ in 0..1000 {
            assert_eq!(c.admit_at("held", start), None);
        }
        let next = c.admit_at("again", start + WINDOW).unwrap();
        assert_eq!(
            next,
            "(1000 more lines, 4000 bytes, not shown: at most 32 lines are shown every 10 s)\nagain"
        );
        assert_eq!(c.held(), None, "said once");
    }

    #[test]
    fn a_long_line_is_cut_saying_its_size() {
        let mut c = Chatter::new();
        let shown = c.admit(&"é".repeat(5000)).unwrap();
        assert!(shown.len() < LINE_SHOWN + 100, "{}", shown.len());
        assert!(
            shown.ends_with("... (a line of 10000 bytes, cut)"),
            "{shown}"
        );
    }

    #[test]
    fn what_is_held_back_when_the_stream_ends_is_said() {
        let now = Instant::now();
        let mut c = Chatter::new();
        for _ in 0..=LINES_PER_WINDOW {
            c.admit_at("x", now);
        }
        assert_eq!(
            c.held().as_deref(),
            Some("(1 more lines, 1 bytes, not shown: at most 32 lines are shown every 10 s)")
        );
    }
}
