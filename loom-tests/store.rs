//! Loom models (see .ci/loom).
#![cfg(loom)]
