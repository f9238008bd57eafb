//! The sensor: captures or replays frames, parses them into the shared packet record and ships
//! batches to the front.

pub mod parse;
pub mod pipeline;
pub mod ship;
pub mod source;
pub mod spool;
