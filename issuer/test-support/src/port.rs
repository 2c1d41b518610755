//! A port nothing listens on: for a server a test starts later on a port it must know first (a
//! late issuer), or for an address that refuses connections (an unreachable dependency).
//!
//! A server the test starts itself binds port 0 instead and reports the port it got; this is
//! only for ports that must be named before anything listens on them.
//!
//! ```
//! let port = test_support::free_port();
//! assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
//! ```

use std::net::TcpListener;

/// A port on 127.0.0.1 that was free a moment ago: bound on port 0, then released. Another
/// process could take it in between; the kernel hands out ports in turn, so that is unlikely
/// within a test's lifetime.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port on 127.0.0.1")
        .port()
}
