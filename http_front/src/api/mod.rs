//! The JSON reads, by what they serve (as `pages/` is): stored packets, windows, feature series
//! and alerts. Each module declares its routes beside its handlers.

pub mod alerts;
pub mod features;
pub mod packets;
pub mod windows;

use crate::routes::Routes;

pub fn routes() -> Routes {
    Routes::new().merge(packets::routes()).merge(windows::routes()).merge(features::routes()).merge(alerts::routes())
}
