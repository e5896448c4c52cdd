//! A small mutation fuzzer that builds with the stable toolchain (cargo-fuzz wants nightly).
//!
//! A target is a function from bytes to an outcome word (`ok`, or the kind of error it
//! returned). [`Fuzz::run`] first replays the target's seed corpus (`corpus/TARGET/`) and every
//! crash found before (`regressions/TARGET/`), then mutates inputs for `FUZZ_SECONDS` (default:
//! a fixed 2,000 mutations from seed 0, so a plain `cargo test` stays quick and deterministic):
//! bit flips, interesting bytes, insertions, deletions, repeated chunks (deep nesting), splices
//! of two inputs, tokens from the target's dictionary, truncation and extreme numbers. An input
//! whose outcome word was not seen yet joins the pool it mutates from, so it digs past the first
//! error. It is not coverage-guided; it is small, honest and reproducible: the run prints its seed
//! (`FUZZ_SEED` replays it).
//!
//! A panic (in the target or in any task it runs on its thread) or an input that takes more than
//! [`SLOW`] is a finding: the input is written to `target/fuzz-findings/TARGET/` and the test
//! fails naming it; copied into `regressions/TARGET/`, it is replayed by every run from then on.

use std::cell::RefCell;
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant};

/// An input taking longer than this is reported as a finding (a hang in the making).
pub const SLOW: Duration = Duration::from_secs(3);

/// Inputs grow no longer than this.
const MAX_LEN: usize = 8 * 1024;

/// Mutations run when `FUZZ_SECONDS` is not set.
const DEFAULT_RUNS: u64 = 2_000;

/// One fuzz target: its name (the folder of its corpus) and its dictionary.
pub struct Fuzz {
    target: &'static str,
    dictionary: Vec<Vec<u8>>,
    extra_seeds: Vec<Vec<u8>>,
}

/// The folder holding `corpus/` and `regressions/`.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

impl Fuzz {
    /// The target `name`, with tokens the mutator inserts.
    pub fn new(target: &'static str, dictionary: &[&str]) -> Fuzz {
        Fuzz {
            target,
            dictionary: dictionary.iter().map(|t| t.as_bytes().to_vec()).collect(),
            extra_seeds: Vec::new(),
        }
    }

    /// Binary tokens the mutator inserts too (type ids, count bytes: what is not UTF-8).
    pub fn tokens(mut self, tokens: &[&[u8]]) -> Fuzz {
        self.dictionary.extend(tokens.iter().map(|t| t.to_vec()));
        self
    }

    /// A seed made by the test itself (e.g. a record the current code writes).
    pub fn seed(mut self, input: impl Into<Vec<u8>>) -> Fuzz {
        self.extra_seeds.push(input.into());
        self
    }

    /// Replays the corpus and the regressions, then fuzzes `target` for the configured time.
    /// Panics with the input's file on a finding.
    pub fn run(&self, mut target: impl FnMut(&[u8]) -> String) {
        install_hook();
        let seeds = read_dir(&root().join("corpus").join(self.target));
        assert!(
            !seeds.is_empty(),
            "no seed inputs in {}",
            root().join("corpus").join(self.target).display()
        );
        let regressions = read_dir(&root().join("regressions").join(self.target));
        let mut pool: Vec<Vec<u8>> = Vec::new();
        let mut seen = HashSet::new();
        for (path, input) in seeds.iter().chain(&regressions) {
            let outcome = self.check(&mut target, input, &format!("{}", path.display()));
            seen.insert(outcome);
            pool.push(input.clone());
        }
        for input in &self.extra_seeds {
            seen.insert(self.check(&mut target, input, "a built-in seed"));
            pool.push(input.clone());
        }

        let seconds: Option<u64> = std::env::var("FUZZ_SECONDS").ok().map(|s| {
            s.parse()
                .unwrap_or_else(|_| panic!("FUZZ_SECONDS={s:?} is not a number of seconds"))
        });
        let seed: u64 = match std::env::var("FUZZ_SEED") {
            Ok(s) => s
                .parse()
                .unwrap_or_else(|_| panic!("FUZZ_SEED={s:?} is not a number")),
            Err(_) if seconds.is_some() => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1),
            Err(_) => 0,
        };
        let deadline = seconds.map(|s| Instant::now() + Duration::from_secs(s));
        eprintln!(
            "fuzz {}: {} seeds, {} regressions; seed {seed} (FUZZ_SEED={seed} replays), {}",
            self.target,
            seeds.len() + self.extra_seeds.len(),
            regressions.len(),
            match seconds {
                Some(s) => format!("{s} s"),
                None => format!("{DEFAULT_RUNS} mutations"),
            }
        );
        let mut rng = Rng(seed);
        let mut runs = 0u64;
        loop {
            let done = match deadline {
                Some(d) => Instant::now() >= d,
                None => runs >= DEFAULT_RUNS,
            };
            if done {
                break;
            }
            let parent = &pool[rng.below(pool.len())];
            let other = &pool[rng.below(pool.len())];
            let input = self.mutate(&mut rng, parent, other);
            let outcome = self.check(
                &mut target,
                &input,
                &format!("mutation {runs} of seed {seed}"),
            );
            if seen.insert(outcome) && pool.len() < 10_000 {
                pool.push(input);
            }
            runs += 1;
        }
        eprintln!(
            "fuzz {}: {runs} inputs, {} distinct outcomes, no finding",
            self.target,
            seen.len()
        );
    }

    /// Runs one input; a panic or a slow run saves it and fails the test.
    fn check(&self, target: &mut impl FnMut(&[u8]) -> String, input: &[u8], what: &str) -> String {
        PANICKED.with(|p| p.borrow_mut().take());
        let start = Instant::now();
        let result = panic::catch_unwind(AssertUnwindSafe(|| target(input)));
        let took = start.elapsed();
        let panicked = PANICKED.with(|p| p.borrow_mut().take());
        let finding = match (&result, panicked) {
            (_, Some(message)) => Some(format!("panicked: {message}")),
            (Err(_), None) => Some("panicked".to_string()),
            (Ok(_), None) if took > SLOW => Some(format!("took {took:.1?} (more than {SLOW:?})")),
            (Ok(_), None) => None,
        };
        if let Some(finding) = finding {
            let path = self.save_finding(input);
            panic!(
                "fuzz {}: {what} {finding}\ninput ({} bytes) saved to {}: {:?}\n\
                 fix it, then copy the file into {} so that every run replays it",
                self.target,
                input.len(),
                path.display(),
                String::from_utf8_lossy(&input[..input.len().min(400)]),
                root().join("regressions").join(self.target).display()
            );
        }
        result.unwrap_or_default()
    }

    fn save_finding(&self, input: &[u8]) -> PathBuf {
        let dir = target_dir().join("fuzz-findings").join(self.target);
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("finding-{:016x}", fnv(input)));
        let _ = std::fs::write(&path, input);
        path
    }

    /// One to four mutations of `parent` (`other` for splices).
    fn mutate(&self, rng: &mut Rng, parent: &[u8], other: &[u8]) -> Vec<u8> {
        const INTERESTING: &[u8] = b"\0\xff\x7f\x80\"\\{}[]:,\n\r\t -.0e";
        const NUMBERS: &[&str] = &[
            "-1",
            "0",
            "-0",
            "4294967296",
            "18446744073709551616",
            "-9223372036854775809",
            "1e999",
            "1.5",
            "NaN",
            "65536",
        ];
        let mut data = parent.to_vec();
        for _ in 0..1 + rng.below(4) {
            let len = data.len();
            match rng.below(10) {
                0 if len > 0 => {
                    let i = rng.below(len);
                    data[i] ^= 1 << rng.below(8);
                }
                1 if len > 0 => {
                    let i = rng.below(len);
                    data[i] = INTERESTING[rng.below(INTERESTING.len())];
                }
                2 => {
                    let i = rng.below(len + 1);
                    data.insert(i, rng.next() as u8);
                }
                3 if len > 0 => {
                    let i = rng.below(len);
                    let n = 1 + rng.below((len - i).min(32));
                    data.drain(i..i + n);
                }
                4 if len > 0 => {
                    // a chunk repeated: deep nesting, long runs
                    let i = rng.below(len);
                    let n = 1 + rng.below((len - i).min(16));
                    let chunk = data[i..i + n].to_vec();
                    let times = 1 + rng.below(64);
                    for _ in 0..times {
                        data.splice(i..i, chunk.iter().copied());
                    }
                }
                5 if !other.is_empty() => {
                    let at = rng.below(len + 1);
                    let from = rng.below(other.len());
                    let to = from + 1 + rng.below(other.len() - from);
                    data.truncate(at);
                    data.extend_from_slice(&other[from..to]);
                }
                6 if !self.dictionary.is_empty() => {
                    let token = &self.dictionary[rng.below(self.dictionary.len())];
                    let i = rng.below(len + 1);
                    data.splice(i..i, token.iter().copied());
                }
                7 if !self.dictionary.is_empty() && len > 0 => {
                    let token = &self.dictionary[rng.below(self.dictionary.len())];
                    let i = rng.below(len);
                    let end = (i + token.len()).min(len);
                    data.splice(i..end, token.iter().copied());
                }
                8 if len > 0 => data.truncate(rng.below(len)),
                9 => {
                    // a number replaced by an extreme one
                    let digits: Vec<usize> =
                        (0..len).filter(|&i| data[i].is_ascii_digit()).collect();
                    let n = NUMBERS[rng.below(NUMBERS.len())].as_bytes();
                    if digits.is_empty() {
                        let i = rng.below(len + 1);
                        data.splice(i..i, n.iter().copied());
                    } else {
                        let start = digits[rng.below(digits.len())];
                        let mut end = start;
                        while end < len && data[end].is_ascii_digit() {
                            end += 1;
                        }
                        data.splice(start..end, n.iter().copied());
                    }
                }
                _ => {}
            }
        }
        data.truncate(MAX_LEN);
        data
    }
}

thread_local! {
    /// The message of a panic on this thread since the last input (a task of a current-thread
    /// runtime panics here too, where catch_unwind does not see it).
    static PANICKED: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let message = info.to_string();
            PANICKED.with(|p| *p.borrow_mut() = Some(message));
            previous(info);
        }));
    });
}

/// The files of `dir` (sorted, without README files); none when it does not exist.
fn read_dir(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
            .map(|p| {
                let data = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                (p, data)
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../../target"))
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// splitmix64: small, fast, and the same sequence everywhere for a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}
