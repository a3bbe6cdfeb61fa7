//! Route handlers.

pub(crate) mod admin;
pub(crate) mod anthropic;
pub(crate) mod chat;
mod compat;
pub(crate) mod health;
pub(crate) mod input;
pub(crate) mod metrics;
pub(crate) mod openai;
pub(crate) mod page;
mod sse;
pub(crate) mod stream;
