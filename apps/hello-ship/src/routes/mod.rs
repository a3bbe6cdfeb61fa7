//! Route handlers.

pub(crate) mod chat;
pub(crate) mod health;
pub(crate) mod input;
pub(crate) mod metrics;
pub(crate) mod page;
mod sse;
pub(crate) mod stream;
