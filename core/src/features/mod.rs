//! Window features: the ordered list, and their computation from packets.

mod accumulator;
mod list;
mod windows;

pub use accumulator::{FeatureVector, WindowAccumulator};
pub use list::{features_markdown, index_of, Feature, FEATURES, FEATURE_VERSION, INPUT_COLUMNS};
pub use windows::{compute_windows, split_windows, window_rows, window_start, Scope, WindowRow, SCOPE_NAMES};

#[cfg(test)]
mod tests;
