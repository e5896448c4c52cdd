//! `machine store migrate FROM TO`: copy a store to another backend (a folder, etcd) and check
//! the copy.

use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum StoreCmd {
    /// Copy every machine (and the store's CA) from one store to another, then read each back
    /// and compare. FROM and TO are storage paths: folders or etcd://HOST:PORT[,...]/PREFIX
    Migrate {
        /// The store to copy (only read)
        from: String,
        /// The store to copy into (machines already there are left alone and reported)
        to: String,
    },
}

pub async fn run(cmd: StoreCmd) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match cmd {
        StoreCmd::Migrate { from, to } => {
            let open = |l: String| async move {
                machine_core::store::open(&l)
                    .await
                    .map_err(machine_core::Error::from)
            };
            let (src, dst) = (open(from).await?, open(to).await?);
            let m = machine_core::store::migrate(&*src, &*dst)
                .await
                .map_err(machine_core::Error::from)?;
            if m.certs {
                println!("copied the store's CA and client certificate");
            }
            for name in &m.copied {
                println!("copied {name}");
            }
            for (name, e) in &m.failed {
                eprintln!(
                    "not copied {}: {}",
                    crate::terminal::line(name),
                    crate::terminal::block(&e.to_string())
                );
            }
            println!(
                "{} of {} machines copied to {} and checked",
                m.copied.len(),
                m.copied.len() + m.failed.len(),
                dst.location()
            );
            Ok(if m.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
