//! Route handlers.

mod chain;
pub(crate) mod chat;
pub(crate) mod health;
mod input;
mod outcome;
pub(crate) mod stream;
