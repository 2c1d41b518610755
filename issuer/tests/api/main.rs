//! HTTP tests against a real issuer on a real socket (port 0), each on a fresh SQLite file and
//! on a fresh PostgreSQL database (`backend_tests!`). The databases, the `issuer serve`
//! processes of the replica and secrets tests, and the waits come from the workspace's
//! `test-support` crate; `helpers` adds what is the issuer's own (`spawn_app`, the test app).

mod admin;
mod architecture;
mod cors;
mod database;
mod discovery;
mod email;
mod errors;
mod headers;
mod helpers;
mod hs256;
mod keys;
mod limits;
mod login;
mod me;
mod otp;
mod outage;
mod overload;
mod phone_numbers;
mod register;
mod replicas;
mod revocation;
mod rotation;
mod secrets;
mod sessions;
mod throttle;
mod twilio;
