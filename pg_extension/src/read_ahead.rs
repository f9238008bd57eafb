//! Read-ahead for the short windows: at the end of each tick, the packets of the window still open
//! (from its start up to the watermark) are read into this backend's memory, so the tick that
//! closes the window reads only the last slice from the table instead of the whole window. At
//! 100k packets/s that is ~100k packets at close instead of 500k.
//!
//! The buffer is a cache of table rows and is used only while provably equal to them: this backend
//! ran every tick of the job since it was filled (`window_jobs.ticks`), and no change record
//! consumed since then touches the range it holds (a late or slow-committing insert). Otherwise it
//! is dropped and the window is read from the table as before. Nothing of it is needed after a
//! restart. Why: docs/design.md#materialization.

use std::cell::RefCell;

use traffic_core::Packet;

use crate::windows::packets_between;

/// The job whose windows are read ahead: its window (5 s) is small enough to hold in memory.
pub const JOB: &str = "short";

struct Buffer {
    /// The job tick that filled it last.
    tick: i64,
    /// Packets with from <= ts < until (Unix µs), in (ts, id) order.
    from: i64,
    until: i64,
    packets: Vec<Packet>,
}

thread_local! {
    static BUFFER: RefCell<Option<Buffer>> = const { RefCell::new(None) };
    /// Only the scheduler reads ahead; a session calling run_jobs() keeps no packets around.
    static ENABLED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Called by the scheduler process at start.
pub fn enable() {
    ENABLED.set(true);
}

/// Whether `job`'s ticks in this backend read ahead.
pub fn applies_to(job: &str) -> bool {
    ENABLED.get() && job == JOB
}

/// At the start of tick `tick` (after consuming its change records): keeps the buffer only if the
/// previous tick was this backend's and no consumed record overlaps it.
pub fn validate(tick: i64, consumed: impl IntoIterator<Item = (i64, i64)>) {
    BUFFER.with_borrow_mut(|buffer| {
        let Some(b) = buffer else { return };
        let overlapping = consumed.into_iter().any(|(lo, hi)| lo < b.until && hi >= b.from);
        if b.tick + 1 != tick || overlapping {
            *buffer = None;
        }
    });
}

/// Packets with from <= ts < to, from the buffer where it holds them (then dropped from it: the
/// window they belong to is being materialized), the rest from the table.
pub fn packets(from: i64, to: i64) -> Result<Vec<Packet>, pgrx::spi::Error> {
    let buffered = BUFFER.with_borrow_mut(|buffer| match buffer.take() {
        Some(b) if b.from == from && b.until <= to => Some((b.until, b.packets)),
        other => {
            *buffer = other;
            None
        }
    });
    match buffered {
        Some((until, mut packets)) => {
            packets.extend(packets_between(until, to)?);
            Ok(packets)
        }
        None => packets_between(from, to),
    }
}

/// At the end of tick `tick`: the open window's packets from `from` (its start) up to `to` (the
/// watermark), reading only what the buffer does not hold yet.
pub fn fill(tick: i64, from: i64, to: i64) -> Result<(), pgrx::spi::Error> {
    let kept = BUFFER.with_borrow_mut(|buffer| buffer.take().filter(|b| b.from == from && b.until <= to));
    let mut b = kept.unwrap_or(Buffer { tick, from, until: from, packets: Vec::new() });
    if to > b.until {
        b.packets.extend(packets_between(b.until, to)?);
        b.until = to;
    }
    b.tick = tick;
    BUFFER.set(Some(b));
    Ok(())
}

/// Drops the buffer (a failed tick: its change records were not consumed).
pub fn clear() {
    BUFFER.set(None);
}
