//! One JWKS download, read into a key set.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;

use crate::keys::KeySet;
use crate::keys::jwk::{SkippedKey, parse_jwks};
use crate::remote::{Endpoint, FetchError};

/// A downloaded key set.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) keys: KeySet,
    pub(crate) skipped: Vec<SkippedKey>,
    /// From `Cache-Control`: `max-age`, or zero for `no-cache`/`no-store`.
    pub(crate) max_age: Option<Duration>,
}

/// Downloads and reads the JWKS.
pub(crate) async fn fetch(
    endpoint: &Endpoint,
    algorithms: &Arc<[Algorithm]>,
) -> Result<Fetched, FetchError> {
    let document = endpoint.get(None).await?;
    let body = document.body.ok_or(FetchError::Unusable(
        "the server answered 304 to an unconditional request",
    ))?;
    read_jwks(&body, algorithms, document.max_age)
}

/// Reads a JWKS document into a key set, which must hold a usable key.
pub(crate) fn read_jwks(
    body: &[u8],
    algorithms: &Arc<[Algorithm]>,
    max_age: Option<Duration>,
) -> Result<Fetched, FetchError> {
    let (keys, skipped) = parse_jwks(body, algorithms)
        .map_err(|_| FetchError::Unusable("the response is not a JWKS document"))?;
    if keys.is_empty() {
        return Err(FetchError::Unusable("the JWKS holds no usable key"));
    }
    Ok(Fetched {
        keys,
        skipped,
        max_age,
    })
}
