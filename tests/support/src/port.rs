//! Loopback ports for tests that need one nobody answers on.

use socket2::{Domain, Socket, Type};

/// A loopback port that refuses connections for as long as this lives: a socket bound to it
/// that never listens. No other test can take the port meanwhile (a port found free and
/// released may be another test's server by the time it is dialled).
pub struct ClosedPort {
    _socket: Socket,
    port: u16,
}

impl ClosedPort {
    /// Binds a fresh loopback port.
    pub fn new() -> ClosedPort {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a TCP socket");
        socket
            .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .expect("a free loopback port");
        let port = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .expect("a bound address")
            .port();
        ClosedPort {
            _socket: socket,
            port,
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        ClosedPort::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_port_refuses_at_once() {
        let closed = ClosedPort::new();
        let e = std::net::TcpStream::connect(("127.0.0.1", closed.port())).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
        assert!(std::net::TcpListener::bind(("127.0.0.1", closed.port())).is_err());
    }
}
