//! HTTP tests against a real issuer on a real socket (port 0), each on a fresh SQLite file and
//! on a fresh PostgreSQL database (see `helpers::backend_tests!`).

mod database;
mod discovery;
mod errors;
mod headers;
mod helpers;
mod hs256;
mod keys;
mod limits;
mod login;
mod otp;
mod outage;
mod phone_numbers;
mod register;
mod replicas;
mod revocation;
mod rotation;
mod secrets;
mod sessions;
mod throttle;
mod twilio;

#[path = "../support/process.rs"]
mod process;
#[path = "../support/test_database.rs"]
mod test_database;
