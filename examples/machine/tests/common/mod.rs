//! What the CLI tests share: running the real `machine` binary on a store, with nothing of the
//! caller's environment that would change its answers, and no terminal on stdin.

#![allow(dead_code)] // each test binary uses its own part

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `machine --storage-path STORE ARGS` with `env` added; stdin is empty (not a terminal).
pub fn machine_with_env(store: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_machine"))
        .arg("--storage-path")
        .arg(store)
        .args(args)
        .env_remove("MACHINE_STORAGE_PATH")
        .env_remove("MACHINE_DEBUG")
        .env_remove("DOCKER_HOST")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run machine")
}

/// `machine --storage-path STORE ARGS`.
pub fn machine(store: &Path, args: &[&str]) -> Output {
    machine_with_env(store, args, &[])
}

/// Its stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Its stdout and stderr together.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(o))
}
