//! A router the test builds itself, served on 127.0.0.1 port 0 in the background: a fake
//! dependency (a JWKS server, Twilio, a protected service) or an app under test.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let url = test_support::serve(axum::Router::new().route("/", axum::routing::get(|| async { "hi" }))).await;
//! assert_eq!(reqwest::get(&url).await.unwrap().text().await.unwrap(), "hi");
//! # }
//! ```

use axum::Router;
use tokio::net::TcpListener;

/// Serves `router` on a port of its own for as long as the runtime runs; its base URL
/// (`http://127.0.0.1:<port>`, no trailing slash).
///
/// # Panics
/// When no port can be bound.
pub async fn serve(router: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let url = format!("http://{}", listener.local_addr().expect("bound address"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}
