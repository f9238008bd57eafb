//! Transparent detectors beside the model: thresholds a person can read, check and set in SQL.
//! Each yields [`scan::Finding`]s that `crate::alerts` turns into alerts marked as raised by a
//! rule (or by both, when the model agrees).

pub mod scan;

pub use scan::{scan_findings, Finding, ScanThresholds};
