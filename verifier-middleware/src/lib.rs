//! Tower layer that verifies bearer tokens issued by `issuer` (work in progress: see issue 3).
