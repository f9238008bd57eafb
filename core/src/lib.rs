//! Pure-Rust core of the traffic analyzer: everything that is knowledge rather than plumbing.
//!
//! No pgrx, no tokio: the HTTP front, the sensor and the Postgres extension all depend on this
//! crate, so the packet schema defined here is the single source of truth for all of them.

pub mod alerts;
pub mod columns;
pub mod detectors;
pub mod features;
pub mod jobs;
pub mod mac;
pub mod model;
pub mod packet;
pub mod query;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;
pub mod wire;

pub use columns::{Column, ColumnSink, ColumnSource, ColumnType, COLUMNS};
pub use mac::MacAddr;
pub use packet::{FieldError, Limits, Packet, Protocol};
pub use wire::{decode_batch, decode_stream, BatchError, Format, StreamError};
