//! The `machine-driver-vsphere` executable: serves the vSphere driver on stdin/stdout.

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MACHINE_DRIVER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let driver = machine_driver_vsphere::VsphereDriver::new();
    // a clone shares the sessions: log them out once the host closes the conversation
    let sessions = driver.clone();
    let served = driver_protocol::serve(driver).await;
    sessions.shutdown().await;
    if let Err(e) = served {
        eprintln!("machine-driver-vsphere: {e}");
        std::process::exit(1);
    }
}
