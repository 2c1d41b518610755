//! Who is asking: the client's address (from `CLIENT_IP_SOURCE`) and what is kept of the
//! request with a session.

use std::net::IpAddr;

use axum::http::{HeaderMap, header};
use axum_client_ip::{ClientIp, Rejection as ClientIpRejection};

use crate::error::ApiError;
use crate::sessions::ClientInfo;

/// The client's address, from the configured `CLIENT_IP_SOURCE`. Only a header source can
/// fail: the request did not come through the configured proxy.
pub(crate) fn client_address(
    client_ip: Result<ClientIp, ClientIpRejection>,
) -> Result<IpAddr, ApiError> {
    let ClientIp(ip) = client_ip.map_err(|rejection| {
        tracing::debug!(?rejection, "request refused: no client address");
        ApiError::BadRequest("the client address header set by the proxy is missing".into())
    })?;
    Ok(ip)
}

/// What a session keeps of a request from `ip` with these headers.
pub(crate) fn client_info(ip: IpAddr, headers: &HeaderMap) -> ClientInfo {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok());
    ClientInfo::new(Some(ip.to_canonical().to_string()), user_agent)
}
