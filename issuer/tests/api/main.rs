//! HTTP tests against a real issuer on a real socket (port 0) and a real SQLite file.

mod database;
mod discovery;
mod errors;
mod helpers;
mod hs256;
mod login;
mod register;
mod revocation;
mod sessions;
mod throttle;
