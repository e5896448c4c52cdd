//! `machine import [--from DIR] [NAME...]`: machines of a Docker Machine store brought under
//! management, each checked over SSH (its host key shown and recorded) and over TLS. A line per
//! machine on stdout; the reason for each machine left out on stderr, and a non-zero exit.

use crate::hints;
use crate::App;
use machine_core::import::docker_machine::ReadError;
use machine_core::{DaemonError, Error, ImportError, ImportOptions};
use std::path::PathBuf;
use std::process::ExitCode;

/// `machine import`'s arguments.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// Docker Machine's store [default: ~/.docker/machine]
    #[arg(long, value_name = "DIR")]
    from: Option<PathBuf>,
    /// The machines to import [default: all of the store's]
    names: Vec<String>,
}

pub async fn run(app: &App, args: ImportArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut opts = ImportOptions::new(args.from.unwrap_or_else(ImportOptions::default_store));
    opts.names = args.names;
    let cancel = app.cancel_on_signals();
    let results = app.manager.import_docker_machine(&opts, &cancel).await?;
    app.display.finish();
    if results.is_empty() {
        eprintln!("No machines in {}", opts.from.display());
    }
    let mut failed = false;
    for (name, result) in results {
        match result {
            Ok(m) => println!(
                "Imported {name} ({}, {}, Docker {}); SSH host key {}",
                m.driver,
                m.url,
                crate::terminal::line(&m.docker_version),
                m.host_key_fingerprint
            ),
            Err(e) => {
                failed = true;
                // a folder of Docker Machine's store may be named anything
                let name = crate::terminal::line(&name);
                eprintln!(
                    "Not imported {name}: {}",
                    crate::terminal::block(&e.to_string())
                );
                if let Some(h) = hint(&name, &e) {
                    eprintln!("  ({h})");
                }
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// What to do about a machine that was not imported.
fn hint(name: &str, e: &ImportError) -> Option<String> {
    Some(match e {
        ImportError::NotInStore { store } => format!(
            "the store's machines are the folders in {}",
            store.join("machines").display()
        ),
        ImportError::Read(ReadError::File { .. }) => "Docker Machine did not finish writing this \
             machine (an interrupted create?): `docker-machine rm` it, or `machine create` it anew"
            .into(),
        ImportError::Read(ReadError::ConfigVersion { .. }) => "import reads records of Docker \
             Machine 0.6 to 0.16; let a newer Docker Machine upgrade this one first"
            .into(),
        ImportError::Read(ReadError::UnsupportedDriver { driver }) => format!(
            "put a machine-driver-{driver} that can adopt machines on PATH, or `machine create` \
             a machine with one of the installed drivers instead"
        ),
        ImportError::AlreadyExists => format!(
            "the machine here was left as it is: `machine rm {name}` first, or import into \
             another --storage-path"
        ),
        ImportError::Docker(e)
            if matches!(
                **e,
                Error::Daemon(DaemonError::BadTls { .. } | DaemonError::Tls { .. })
            ) =>
        {
            "the daemon's certificate is not signed by the machine's CA in the Docker Machine \
             store, or not for this address; does `docker-machine env` + `docker version` work?"
                .into()
        }
        ImportError::Driver(e) if matches!(**e, Error::NotSupported { .. }) => {
            "this driver cannot take existing machines; update it".into()
        }
        ImportError::Driver(e)
        | ImportError::Ssh(e)
        | ImportError::Docker(e)
        | ImportError::Store(e) => return hints::hint(e),
        _ => return None,
    })
}
