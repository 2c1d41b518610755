//! Where the issuer listens (`HOST`, `PORT`) and the HTTP server's limits (`REQUEST_TIMEOUT`,
//! `HEADER_READ_TIMEOUT`, `MAX_CONNECTIONS`: [`telemetry::ServerLimits`], shared with the services).

use std::net::{IpAddr, SocketAddr};

use clap::Args;

use super::ConfigError;
use super::parse::invalid;
use crate::cors::CorsPolicy;

/// The listen address and the server's limits.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// `REQUEST_TIMEOUT`, `HEADER_READ_TIMEOUT`, `MAX_CONNECTIONS`.
    #[command(flatten)]
    pub limits: telemetry::ServerLimits,
    /// Interface to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1", global = true)]
    pub host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value = "3000", global = true)]
    pub port: String,
    /// Browser origins allowed to call the issuer (`https://app.example.com`, comma-separated,
    /// exact); none by default.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", default_value = "", global = true)]
    pub cors_allowed_origins: String,
}

impl ServerArgs {
    /// The address to listen on.
    pub(super) fn parse(&self) -> Result<SocketAddr, ConfigError> {
        Ok(SocketAddr::new(
            parse_host(&self.host)?,
            parse_port(&self.port)?,
        ))
    }

    /// Who may call the issuer from a browser page of another origin.
    pub(super) fn cors(&self) -> Result<CorsPolicy, ConfigError> {
        CorsPolicy::parse(&self.cors_allowed_origins)
            .map_err(|why| invalid("CORS_ALLOWED_ORIGINS", why))
    }

    /// The server's base URL as seen from its own host (`issuer healthcheck`): the listen
    /// address, with an unspecified one (`0.0.0.0`, `::`) replaced by loopback.
    pub fn local_url(&self) -> Result<String, ConfigError> {
        let mut address = self.parse()?;
        if address.ip().is_unspecified() {
            address.set_ip(match address.ip() {
                IpAddr::V4(_) => IpAddr::from([127, 0, 0, 1]),
                IpAddr::V6(_) => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            });
        }
        Ok(format!("http://{address}"))
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
    use std::time::Duration;

    use clap::Parser;

    use crate::config::tests::{error_for, parse};

    #[test]
    fn the_server_limits_have_defaults_and_can_be_set() {
        let limits = parse(&[]).unwrap().server_limits;
        assert_eq!(limits.request_timeout, Duration::from_secs(30));
        assert_eq!(limits.header_read_timeout, Duration::from_secs(65));
        assert_eq!(limits.max_connections, 4096);
        let args = [
            "--request-timeout",
            "5s",
            "--header-read-timeout",
            "500ms",
            "--max-connections",
            "64",
        ];
        let limits = parse(&args).unwrap().server_limits;
        assert_eq!(limits.request_timeout, Duration::from_secs(5));
        assert_eq!(limits.header_read_timeout, Duration::from_millis(500));
        assert_eq!(limits.max_connections, 64);
    }

    #[test]
    fn the_local_url_reaches_an_unspecified_address_through_loopback() {
        let url = |args: &[&str]| {
            let cli = crate::cli::Cli::try_parse_from([&["issuer"], args].concat()).unwrap();
            cli.settings.server.local_url().unwrap()
        };
        assert_eq!(url(&[]), "http://127.0.0.1:3000");
        assert_eq!(
            url(&["--host", "0.0.0.0", "--port", "8080"]),
            "http://127.0.0.1:8080"
        );
        assert_eq!(url(&["--host", "::"]), "http://[::1]:3000");
        assert_eq!(url(&["--host", "10.1.2.3"]), "http://10.1.2.3:3000");
    }

    #[test]
    fn a_non_numeric_port_names_the_variable() {
        assert_eq!(
            error_for(&["--port", "http"]),
            "invalid PORT: 'http' is not a port number (0-65535)"
        );
    }

    #[test]
    fn cors_is_off_by_default_and_a_wildcard_stops_start_up() {
        assert!(!parse(&[]).unwrap().cors.is_on());
        assert!(
            parse(&["--cors-allowed-origins", "https://app.example.com"])
                .unwrap()
                .cors
                .is_on()
        );
        assert_eq!(
            error_for(&["--cors-allowed-origins", "*"]),
            "invalid CORS_ALLOWED_ORIGINS: '*': no wildcard, list each origin \
             (e.g. https://app.example.com)"
        );
    }
}
