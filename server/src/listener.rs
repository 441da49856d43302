//! The listening socket of the service, with the timeouts actix does not give.
//!
//! actix bounds how long a request head may take, not how long a response may sit unsent:
//! a client that stops reading fills its receive window, and the connection (with its
//! buffered answer, which quotes findings of the client's code) would wait forever. Linux's
//! `TCP_USER_TIMEOUT` bounds how long sent data may stay unacknowledged, zero-window probes
//! included, after which the kernel aborts the connection and actix drops it. Set on the
//! listening socket, it is inherited by every accepted connection.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// Pending connections the kernel queues before `accept` (actix's own default).
const BACKLOG: i32 = 1024;

/// Binds `addr` for serving, with `write_timeout` as the stalled-write bound of every
/// connection accepted on it.
pub fn bind(addr: SocketAddr, write_timeout: Duration) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    socket.set_tcp_user_timeout(Some(write_timeout))?;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = write_timeout;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn accepted_connections_inherit_the_write_timeout() {
        let listener = match bind(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            Duration::from_secs(7),
        ) {
            Ok(l) => l,
            Err(e) => panic!("bind: {e}"),
        };
        let Ok(addr) = listener.local_addr() else {
            panic!("no local address")
        };
        let Ok(_client) = std::net::TcpStream::connect(addr) else {
            panic!("connect")
        };
        let _ = listener.set_nonblocking(false);
        let Ok((accepted, _)) = listener.accept() else {
            panic!("accept")
        };
        let timeout = Socket::from(accepted).tcp_user_timeout().ok().flatten();
        assert_eq!(timeout, Some(Duration::from_secs(7)));
    }
}
