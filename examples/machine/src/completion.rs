//! Shell completion and man pages, both from the command line's definition.
//!
//! Completion is dynamic (clap_complete's `COMPLETE=SHELL machine` protocol): the script
//! `machine completion SHELL` prints only registers `machine` with the shell, which then asks
//! this program for candidates at each Tab, so subcommands, flags and machine names (read from
//! the store at `MACHINE_STORAGE_PATH` or the default one) are always those of the installed
//! binary. `create`'s driver flags come from the driver at run time and are not completed.

use clap::ValueEnum;
use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};
use clap_complete::env::Shells;
use clap_complete::CompleteEnv;
use std::path::Path;
use std::process::ExitCode;

/// The environment variable through which the shell asks for candidates.
const VAR: &str = "COMPLETE";

/// The shells completion scripts are made for.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Shell {
    fn name(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
        }
    }
}

/// When the shell asks for candidates (`COMPLETE=SHELL` in the environment), answers and exits;
/// otherwise returns at once.
pub fn answer_shell() {
    CompleteEnv::with_factory(crate::command)
        .var(VAR)
        .bin(crate::program_name())
        .complete();
}

/// Completes machine names.
pub fn machine_names() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &std::ffi::OsStr| {
        let current = current.to_string_lossy();
        stored_names()
            .into_iter()
            .filter(|n| n.starts_with(&*current))
            .map(CompletionCandidate::new)
            .collect::<Vec<_>>()
    })
}

/// The names in the store; none when it cannot be read (a completion never prints errors).
fn stored_names() -> Vec<String> {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    runtime.block_on(async {
        match machine_core::store::open(&machine_core::store::default_location()).await {
            Ok(store) => store.names().await.unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    })
}

/// `machine completion SHELL`: the script that registers this program's completion with the
/// shell, calling this very executable.
pub fn print(shell: Shell) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let exe = exe
        .to_str()
        .ok_or("this program's path is not UTF-8; completion scripts cannot name it")?;
    let name = crate::program_name();
    let shells = Shells::builtins();
    let completer = shells
        .completer(shell.name())
        .expect("clap_complete knows bash, zsh and fish");
    let mut out = std::io::stdout().lock();
    completer.write_registration(VAR, name, name, exe, &mut out)?;
    Ok(ExitCode::SUCCESS)
}

/// `machine manpages DIR`: one page for the program and one per command.
pub fn manpages(dir: &Path) -> Result<ExitCode, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    clap_mangen::generate_to(crate::command(), dir)
        .map_err(|e| format!("cannot write the man pages into {}: {e}", dir.display()))?;
    println!("Man pages written to {}", dir.display());
    Ok(ExitCode::SUCCESS)
}
