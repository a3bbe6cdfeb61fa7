//! The chat pipeline that every chat endpoint shares, whatever its wire
//! format: admission, the resilient provider chain with output guardrails,
//! cost settlement, and the completion record.

pub(crate) mod admission;
pub(crate) mod complete;
pub(crate) mod record;
pub(crate) mod stream;

pub(crate) use admission::{Admitted, admit};
pub(crate) use complete::complete;
pub(crate) use record::{CompletionLog, UsageBody};
pub(crate) use stream::{PipelineEvent, start_stream};
