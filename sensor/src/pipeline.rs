//! Parsed packets → validated → batched by size and time → NDJSON output or the shipper.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use traffic_core::{Limits, Packet};

use crate::parse::ParseStats;
use crate::ship::{make_batch, ShipStats};
use crate::spool::Batch;

pub enum Output {
    /// One JSON object per line, to a file or stdout.
    Ndjson(Box<dyn Write + Send>),
    /// Batches to the shipper thread (bounded channel: memory stays bounded).
    Front { batches: SyncSender<Batch>, shipper: JoinHandle<ShipStats> },
}

pub struct Pipeline {
    output: Output,
    batch: Vec<Packet>,
    batch_started: Instant,
    batch_size: usize,
    batch_interval: Duration,
    /// Batch ids are `<sensor>/<run>/<sequence>`: unique across runs, stable across retries.
    id_prefix: String,
    seq: u64,
    pub parse: ParseStats,
    /// Packets the front would refuse, by field, dropped here rather than failing a batch.
    pub invalid: BTreeMap<&'static str, u64>,
    pub accepted: u64,
    limits: Limits,
}

/// Everything the run did, for the summary at exit.
pub struct Summary {
    pub parse: ParseStats,
    pub accepted: u64,
    pub invalid: BTreeMap<&'static str, u64>,
    pub ship: Option<ShipStats>,
}

impl Pipeline {
    pub fn new(output: Output, sensor: &str, batch_size: usize, batch_interval: Duration) -> Pipeline {
        let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        Pipeline {
            output,
            batch: Vec::with_capacity(batch_size),
            batch_started: Instant::now(),
            batch_size: batch_size.max(1),
            batch_interval,
            id_prefix: format!("{sensor}/{run:x}"),
            seq: 0,
            parse: ParseStats::default(),
            invalid: BTreeMap::new(),
            accepted: 0,
            limits: limits_now(),
        }
    }

    pub fn push(&mut self, packet: Packet) -> anyhow::Result<()> {
        if let Err(e) = packet.validate(&self.limits) {
            *self.invalid.entry(e.field).or_default() += 1;
            return Ok(());
        }
        if self.batch.is_empty() {
            self.batch_started = Instant::now();
            // The front's clock-skew bound, refreshed once per batch rather than per packet.
            self.limits = limits_now();
        }
        self.accepted += 1;
        self.batch.push(packet);
        if self.batch.len() >= self.batch_size {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends a partly filled batch once it is `batch_interval` old (call it regularly).
    pub fn tick(&mut self) -> anyhow::Result<()> {
        if !self.batch.is_empty() && self.batch_started.elapsed() >= self.batch_interval {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        match &mut self.output {
            Output::Ndjson(out) => {
                for packet in &self.batch {
                    serde_json::to_writer(&mut *out, packet)?;
                    out.write_all(b"\n")?;
                }
            }
            Output::Front { batches, .. } => {
                let batch = make_batch(format!("{}/{}", self.id_prefix, self.seq), &self.batch)?;
                batches.send(batch).ok().context("the shipper stopped")?;
            }
        }
        self.seq += 1;
        self.batch.clear();
        Ok(())
    }

    /// Flushes what is left and waits for the shipper to finish (and drain its spool).
    pub fn finish(mut self) -> anyhow::Result<Summary> {
        self.flush()?;
        let ship = match self.output {
            Output::Ndjson(mut out) => {
                out.flush()?;
                None
            }
            Output::Front { batches, shipper } => {
                drop(batches);
                Some(shipper.join().map_err(|_| anyhow::anyhow!("the shipper panicked"))?)
            }
        };
        Ok(Summary { parse: self.parse, accepted: self.accepted, invalid: self.invalid, ship })
    }
}

impl Summary {
    pub fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        let p = &self.parse;
        writeln!(out, "packets read:      {}", p.frames)?;
        writeln!(
            out,
            "  partly decoded:  {} truncated, {} fragments, {} malformed, {} not IP",
            p.truncated, p.fragments, p.malformed, p.non_ip
        )?;
        let invalid: u64 = self.invalid.values().sum();
        writeln!(out, "  invalid, dropped: {invalid} {:?}", self.invalid)?;
        writeln!(out, "packets accepted:  {}", self.accepted)?;
        if let Some(s) = &self.ship {
            writeln!(
                out,
                "packets sent:      {} in {} batches ({} duplicates acknowledged)",
                s.sent_packets, s.sent_batches, s.duplicate_batches
            )?;
            writeln!(out, "packets spooled:   {} (went through the disk queue)", s.spooled_packets)?;
            writeln!(out, "  still in spool:  {} (sent on the next run)", s.left_in_spool)?;
            writeln!(
                out,
                "packets dropped:   {} spool full, {} refused by the front",
                s.dropped_spool_full, s.rejected_packets
            )?;
            writeln!(out, "failed attempts:   {}", s.failed_attempts)?;
        }
        Ok(())
    }
}

/// What the front accepts: capture times up to the end of the UTC day a day ahead of this clock.
fn limits_now() -> Limits {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    Limits::at(now, 86_400)
}
