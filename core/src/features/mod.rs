//! Window features: the ordered list, and their computation from packets.

mod accumulator;
mod list;

pub use accumulator::{FeatureVector, WindowAccumulator};
pub use list::{features_markdown, index_of, Feature, FEATURES, FEATURE_VERSION};

#[cfg(test)]
mod tests;
