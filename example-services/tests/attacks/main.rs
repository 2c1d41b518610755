//! The attack suite: hostile tokens, minted here, sent over real HTTP to the real
//! `user-service` binary, which verifies against the real `issuer`'s JWKS (both started by the
//! workspace's `test_support::stack`). Every attack must be refused with 401 (403 where a
//! genuine token lacks the role) for the documented reason, next to a control token that
//! passes. SECURITY.md maps each case to the RFC 8725 checklist.

// Test modules share helpers with `pub`; nothing here is reachable from outside.
#![allow(unreachable_pub)]

mod forge;
mod target;

mod algorithms;
mod claims;
mod curves;
mod headers;
mod logs;
mod shape;
