//! Example services protected by `verifier-middleware` (work in progress: see issue 4).
