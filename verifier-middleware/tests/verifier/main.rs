//! verifier-middleware against real servers on port 0: a JWKS server it fetches from and apps
//! it protects (`support`, in this process); a port with nothing behind it comes from the
//! workspace's `test-support` crate.

mod architecture;
mod builder;
mod cache;
mod discovery;
mod embedding;
mod grpc;
mod key_types;
mod local_jwks;
mod metrics;
mod revocation;
mod scopes_and_role_claims;
mod support;
mod token_cache;
mod token_sources;
mod validation;
