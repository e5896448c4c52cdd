//! The `machine-driver-generic` executable: the generic driver (see the library) served on
//! stdin/stdout.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    driver_protocol::serve(machine_driver_generic::Generic).await
}
