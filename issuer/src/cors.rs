//! Calls from browser apps on other origins (`CORS_ALLOWED_ORIGINS`), off by default.
//!
//! Only the origins listed, compared exactly (`https://app.example.com`, no wildcard, no path),
//! get CORS headers: their preflight (`OPTIONS` with `Access-Control-Request-Method`) is
//! answered 200 with the methods, headers and `Access-Control-Max-Age` below, and their
//! requests carry `Access-Control-Allow-Origin` (their own origin; the timeout and panic
//! answers of [`telemetry::instrument`] too, it runs inside) and
//! `Access-Control-Expose-Headers: x-request-id, retry-after`. A request from any other origin
//! goes to the issuer as if CORS were off: no CORS header at all, so the browser keeps the
//! answer from the page. No credentials are allowed (`Access-Control-Allow-Credentials` is
//! never sent): the issuer sets no cookie, tokens travel in bodies and `Authorization`.
//!
//! While CORS is on, every answer says `Vary: Origin`, so that a shared cache (the JWKS and
//! discovery are cacheable) never hands one origin's answer to another.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, Uri, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may reuse a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The browser origins allowed to call the issuer; none (CORS off) by default.
#[derive(Debug, Clone, Default)]
pub struct CorsPolicy {
    origins: Vec<HeaderValue>,
}

impl CorsPolicy {
    /// Parses a comma-separated list of origins (`https://app.example.com,http://localhost:5173`);
    /// an empty list turns CORS off.
    ///
    /// # Errors
    /// One line saying which entry is not an exact origin.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let origins = raw
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(origin)
            .collect::<Result<_, _>>()?;
        Ok(Self { origins })
    }

    /// Whether any origin is allowed.
    pub fn is_on(&self) -> bool {
        !self.origins.is_empty()
    }

    /// `router` answering the allowed origins' preflights and adding their CORS headers; the
    /// router unchanged when CORS is off.
    pub fn apply<S>(&self, router: Router<S>) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        if !self.is_on() {
            return router;
        }
        let cors = Arc::new(Cors {
            origins: self.origins.clone(),
            layer: cors_layer(&self.origins),
        });
        router.layer(middleware::from_fn_with_state(cors, answer))
    }
}

/// What the middleware shares between requests.
struct Cors {
    origins: Vec<HeaderValue>,
    layer: CorsLayer,
}

/// tower-http's CORS for the allowed origins' requests; the others pass by untouched but for
/// `Vary: Origin`.
async fn answer(State(cors): State<Arc<Cors>>, request: Request, next: Next) -> Response {
    let allowed = request
        .headers()
        .get(header::ORIGIN)
        .is_some_and(|origin| cors.origins.contains(origin));
    if allowed {
        let answered: Result<Response, Infallible> =
            cors.layer.clone().layer(next).oneshot(request).await;
        return match answered {
            Ok(response) => response,
            Err(never) => match never {},
        };
    }
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("origin"));
    response
}

fn cors_layer(origins: &[HeaderValue]) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static(telemetry::REQUEST_ID_HEADER),
        ])
        .expose_headers([
            HeaderName::from_static(telemetry::REQUEST_ID_HEADER),
            header::RETRY_AFTER,
        ])
        .max_age(PREFLIGHT_MAX_AGE)
}

/// One exact origin, `http(s)://host[:port]`, lower-cased as browsers send it.
fn origin(entry: &str) -> Result<HeaderValue, String> {
    let example = "e.g. https://app.example.com";
    if entry.contains('*') {
        return Err(format!(
            "'{entry}': no wildcard, list each origin ({example})"
        ));
    }
    let uri: Uri = entry
        .parse()
        .map_err(|_| format!("'{entry}' is not an origin ({example})"))?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let authority = uri.authority().map(|authority| authority.as_str());
    // An origin is the scheme and authority alone: `http::Uri` keeps a path, even `/`, as
    // written.
    let bare = entry.len()
        == uri.scheme_str().map_or(0, str::len) + "://".len() + authority.map_or(0, str::len);
    let Some(authority) = authority.filter(|a| scheme_ok && bare && !a.contains('@')) else {
        return Err(format!(
            "'{entry}' is not an origin: scheme http or https and a host, with no path, query \
             or user ({example})"
        ));
    };
    // Browsers leave the scheme's default port out of `Origin`: an entry with it, or with a
    // port that is not one, would never match.
    let after_host = &authority[authority.rfind(']').unwrap_or(0)..];
    if after_host.contains(':') {
        let default = if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        };
        match uri.port_u16() {
            None => return Err(format!("'{entry}': the port is not a number up to 65535")),
            Some(port) if port == default => {
                return Err(format!(
                    "'{entry}': leave out the default port {port}, as browsers do"
                ));
            }
            Some(_) => {}
        }
    }
    HeaderValue::from_str(&entry.to_ascii_lowercase())
        .map_err(|_| format!("'{entry}' is not an origin ({example})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_origins_are_kept_lower_cased() {
        let policy = CorsPolicy::parse("https://App.Example.com, http://localhost:5173,,").unwrap();

        assert_eq!(
            policy.origins,
            ["https://app.example.com", "http://localhost:5173"]
        );
        assert!(policy.is_on());
    }

    #[test]
    fn an_empty_list_turns_cors_off() {
        assert!(!CorsPolicy::parse("").unwrap().is_on());
        assert!(!CorsPolicy::parse(" , ").unwrap().is_on());
    }

    #[test]
    fn a_port_must_be_a_number_and_not_the_default_one() {
        let kept = CorsPolicy::parse("https://a.example.com:8443,http://[::1]:3000").unwrap();
        assert_eq!(
            kept.origins,
            ["https://a.example.com:8443", "http://[::1]:3000"]
        );
        for (raw, reason) in [
            ("https://a.example.com:99999", "not a number"),
            ("https://a.example.com:", "not a number"),
            ("https://a.example.com:abc", "not a number"),
            ("https://a.example.com:443", "default port 443"),
            ("http://a.example.com:80", "default port 80"),
        ] {
            let error = CorsPolicy::parse(raw).unwrap_err();
            assert!(error.contains(reason), "{raw}: {error}");
        }
    }

    #[test]
    fn a_wildcard_is_refused() {
        for raw in ["*", "https://*.example.com"] {
            let error = CorsPolicy::parse(raw).unwrap_err();
            assert!(error.contains("no wildcard"), "{raw}: {error}");
        }
    }

    #[test]
    fn anything_but_a_scheme_and_a_host_is_refused() {
        for raw in [
            "app.example.com",
            "ftp://app.example.com",
            "https://app.example.com/",
            "https://app.example.com/login",
            "https://app.example.com?x=1",
            "https://user@app.example.com",
            "null",
        ] {
            let error = CorsPolicy::parse(raw).unwrap_err();
            assert!(error.contains("is not an origin"), "{raw}: {error}");
        }
    }
}
