//! Drawing the library's events: a live display on a terminal (a spinner per machine with its
//! elapsed time, the last line of the Docker install under it), plain `(NAME) message` lines
//! when stderr is not a terminal or with --debug. Never on stdout, where scripts read results.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use machine_core::{Event, Events, Level};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The display; [`Display::finish`] clears the spinners.
#[derive(Clone)]
pub struct Display {
    live: Option<Arc<Live>>,
}

struct Live {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Display {
    /// A live display when stderr is a terminal and `debug` is off; plain lines otherwise.
    pub fn new(debug: bool) -> Display {
        let live = (!debug && std::io::stderr().is_terminal()).then(|| {
            Arc::new(Live {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                bars: Mutex::default(),
            })
        });
        Display { live }
    }

    /// Where the library sends its events. Their messages (a driver's progress, a line of a
    /// host's install output) are shown with control characters escaped.
    pub fn events(&self) -> Events {
        match &self.live {
            Some(live) => {
                let live = live.clone();
                Events::new(move |e| live.show(e))
            }
            None => Events::new(plain),
        }
    }

    /// Prints a line for the user (above the spinners when they are drawn), on stderr.
    pub fn note(&self, line: &str) {
        match &self.live {
            Some(live) => {
                let _ = live.multi.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    /// Ends every spinner.
    pub fn finish(&self) {
        if let Some(live) = &self.live {
            for (_, bar) in live.bars.lock().unwrap().drain() {
                bar.finish_and_clear();
            }
        }
    }
}

fn plain(e: Event) {
    if e.level != Level::Output {
        eprintln!("({}) {}", e.machine, crate::terminal::line(&e.message));
    }
}

impl Live {
    fn show(&self, mut e: Event) {
        e.message = crate::terminal::line(&e.message).into_owned();
        let mut bars = self.bars.lock().unwrap();
        let bar = bars.entry(e.machine.clone()).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed:>3}] {prefix} {wide_msg}")
                    .expect("a valid template"),
            );
            bar.set_prefix(format!("({})", e.machine));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        match e.level {
            Level::Output => bar.set_message(format!("  {}", e.message)),
            _ => {
                let _ = self.multi.println(format!("({}) {}", e.machine, e.message));
                match e.progress {
                    Some((done, total)) if total > 0 => {
                        bar.set_message(format!("{} {}%", e.message, percent(done, total)))
                    }
                    _ => bar.set_message(e.message.clone()),
                }
            }
        }
    }
}

/// `done` of `total` in percent, at most 100; the numbers come from a driver and may be anything.
fn percent(done: u64, total: u64) -> u128 {
    u128::from(done.min(total)) * 100 / u128::from(total.max(1))
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_of_any_numbers_a_driver_sends() {
        assert_eq!(super::percent(1, 4), 25);
        assert_eq!(super::percent(u64::MAX, u64::MAX), 100);
        assert_eq!(super::percent(u64::MAX, 3), 100);
        assert_eq!(super::percent(5, 0), 0);
    }
}
