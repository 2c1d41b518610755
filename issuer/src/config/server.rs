//! Where the issuer listens: `HOST`, `PORT`.

use std::net::{IpAddr, SocketAddr};

use clap::Args;

use super::ConfigError;
use super::parse::invalid;

/// The listen address.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Interface to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1", global = true)]
    pub host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value = "3000", global = true)]
    pub port: String,
}

impl ServerArgs {
    /// The address to listen on.
    pub(super) fn parse(&self) -> Result<SocketAddr, ConfigError> {
        Ok(SocketAddr::new(
            parse_host(&self.host)?,
            parse_port(&self.port)?,
        ))
    }
}

fn parse_host(raw: &str) -> Result<IpAddr, ConfigError> {
    if raw == "localhost" {
        return Ok(IpAddr::from([127, 0, 0, 1]));
    }
    raw.parse().map_err(|_| {
        invalid(
            "HOST",
            format!("'{raw}' is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)"),
        )
    })
}

fn parse_port(raw: &str) -> Result<u16, ConfigError> {
    raw.parse()
        .map_err(|_| invalid("PORT", format!("'{raw}' is not a port number (0-65535)")))
}

#[cfg(test)]
mod tests {
    use crate::config::tests::error_for;

    #[test]
    fn a_non_numeric_port_names_the_variable() {
        assert_eq!(
            error_for(&["--port", "http"]),
            "invalid PORT: 'http' is not a port number (0-65535)"
        );
    }
}
