//! Ctrl-C and SIGTERM: the first cancels the operation, which then undoes what it made and
//! says so; a second exits at once (leaving a machine that `rm` removes).

use machine_core::CancellationToken;
use tokio::signal::unix::{signal, SignalKind};

/// A token cancelled by the first SIGINT or SIGTERM; the second ends the process.
pub fn on_signals(display: crate::progress::Display) -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        display.note(
            "Interrupted: stopping, and undoing what a create made (interrupt again to exit at once)...",
        );
        t.cancel();
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        display.finish();
        eprintln!("Exited at once: `machine rm NAME` removes what was left");
        std::process::exit(130);
    });
    token
}
