//! The sensor: captures or replays frames, parses them into the shared packet record and ships
//! batches to the front.

pub mod parse;
#[cfg(feature = "agent")]
pub mod pipeline;
#[cfg(feature = "agent")]
pub mod ship;
#[cfg(feature = "agent")]
pub mod source;
#[cfg(feature = "agent")]
pub mod spool;
