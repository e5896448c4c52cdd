//! Asking a machine where it was last reached before asking its driver: [`hedged`] runs the
//! first, and the second beside it once the first is slow, keeping the first useful answer.

use std::future::Future;
use std::time::Duration;

/// How long a machine's recorded address has to answer before its driver is asked as well.
/// A daemon nearby answers in milliseconds; one far away, or an address that now drops
/// packets, costs at most this before the driver's answer is sought.
pub(crate) const HEDGE: Duration = Duration::from_millis(100);

/// Runs `recorded`; when it has no answer within `after`, runs `asked` beside it. The first
/// useful answer wins: `recorded`'s `Some`, or `asked`'s when it `settles` the question (an
/// answer from the daemon, or the driver's word that the machine is not running). An `asked`
/// that fails (a missing or crashed driver, a daemon silent at the driver's address) waits for
/// `recorded`, which may still answer, and is the result only when it does not.
pub(crate) async fn hedged<T>(
    recorded: impl Future<Output = Option<T>>,
    asked: impl Future<Output = T>,
    settles: impl Fn(&T) -> bool,
    after: Duration,
) -> T {
    tokio::pin!(recorded);
    tokio::select! {
        biased;
        r = &mut recorded => return match r {
            Some(v) => v,
            None => asked.await,
        },
        _ = tokio::time::sleep(after) => {}
    }
    tokio::pin!(asked);
    let mut recorded_failed = false;
    loop {
        tokio::select! {
            biased;
            r = &mut recorded, if !recorded_failed => match r {
                Some(v) => return v,
                None => recorded_failed = true,
            },
            v = &mut asked => {
                if recorded_failed || settles(&v) {
                    return v;
                }
                return recorded.await.unwrap_or(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    async fn after<T>(ms: u64, v: T) -> T {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        v
    }

    #[tokio::test]
    async fn hedged_takes_the_first_useful_answer() {
        let hedge = Duration::from_millis(30);
        let settles = |v: &&str| *v != "failed";
        // the recorded address answers at once: the driver is never asked
        let asked = AtomicBool::new(false);
        let ask = async {
            asked.store(true, Ordering::SeqCst);
            "asked"
        };
        assert_eq!(
            hedged(async { Some("recorded") }, ask, settles, hedge).await,
            "recorded"
        );
        assert!(!asked.load(Ordering::SeqCst), "the driver was asked");
        // it is slow, but answers before the driver, which never does
        let slow = after(60, Some("recorded"));
        let never = std::future::pending::<&str>();
        assert_eq!(hedged(slow, never, settles, hedge).await, "recorded");
        // (recorded after ms, its answer; the driver's after ms, its answer; the result)
        let cases = [
            // it fails at once: the driver is asked
            ((0, None), (0, "asked"), "asked"),
            // it is slow: the driver is asked beside it, and answers first
            ((2_000, Some("recorded")), (10, "asked"), "asked"),
            // it is slow and then fails: the driver's answer is waited for
            ((60, None), (120, "asked"), "asked"),
            // it fails first, then the driver fails too: the driver's failure is the answer
            ((60, None), (120, "failed"), "failed"),
            // the driver fails first (missing, crashed): the recorded address still answers
            ((100, Some("recorded")), (40, "failed"), "recorded"),
            // ... or does not: the failure is the answer
            ((100, None), (40, "failed"), "failed"),
        ];
        for ((r_ms, r), (a_ms, a), want) in cases {
            let got = hedged(after(r_ms, r), after(a_ms, a), settles, hedge).await;
            assert_eq!(
                got, want,
                "recorded {r:?} after {r_ms} ms, asked {a:?} after {a_ms} ms"
            );
        }
    }
}
