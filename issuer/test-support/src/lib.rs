//! What the workspace's tests share, so that each piece of test machinery exists once. Every
//! test crate (`issuer`'s API and CLI tests, the telemetry tests, the verifier's tests, the
//! example services' end-to-end suites) and the issuer's load bench dev-depend on this crate;
//! none of them includes a support file through a path attribute.
//!
//! - [`process`]: a real binary started on port 0, awaited until it logs that it listens, its
//!   output collected line by line, killed when the test ends.
//! - [`architecture`]: import loops between a crate's source files, read from `src`.
//! - [`database`]: a database of its own for each test, a temporary SQLite file or a fresh
//!   PostgreSQL database from `TEST_DATABASE_URL`; [`backend_tests!`] declares a test on both.
//! - [`http`]: requests by path to a server under test, and the JWKS it serves.
//! - [`port`]: [`free_port`], a port nothing listens on.
//! - [`wait`]: [`PATIENCE`](wait::PATIENCE), the one bound on waiting for a condition, and
//!   [`wait_until`](wait::wait_until).
//! - [`stack`]: the workspace's real binaries (`issuer`, `user-service`, `raider-service`) as the
//!   end-to-end tests start them, and where those binaries are found (see its docs for why no
//!   test runs `cargo build`).
//! - [`serve`]: a router of the test's own served on port 0, its URL.
//! - [`sentry`]: a local Sentry ingestion endpoint that records the events it receives.
//! - [`prometheus`]: reading samples from a `/metrics` page.
//!
//! ```
//! let port = test_support::free_port();
//! assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
//! ```

pub mod architecture;
pub mod database;
pub mod http;
pub mod port;
pub mod process;
pub mod prometheus;
pub mod sentry;
pub mod serve;
pub mod stack;
pub mod wait;

pub use port::free_port;
pub use serve::serve;
