//! Shipping batches to the front: gzip NDJSON over one keep-alive connection, an idempotency key
//! per batch, retries with exponential backoff and jitter, and the spool when the front is away.
//! Batches leave in order: while the spool holds anything, new batches queue behind it.

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::Context;
use traffic_core::Packet;

use crate::spool::{Batch, Spool};

#[derive(Debug, Clone)]
pub struct ShipConfig {
    /// Base URL of the front, e.g. http://127.0.0.1:8000.
    pub front: String,
    pub token: Option<String>,
    /// CA certificate (PEM) for an HTTPS front; None: the system's roots.
    pub ca_file: Option<PathBuf>,
    pub spool_dir: PathBuf,
    pub spool_max_bytes: u64,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
    /// At the end of input, how long to keep trying to empty the spool.
    pub drain_timeout: Duration,
}

#[derive(Debug, Default, Clone)]
pub struct ShipStats {
    pub sent_packets: u64,
    pub sent_batches: u64,
    /// Batches the front already had (a retry after a lost answer).
    pub duplicate_batches: u64,
    /// Packets that went through the spool at least once.
    pub spooled_packets: u64,
    /// Packets still in the spool at exit (kept on disk for the next run).
    pub left_in_spool: u64,
    pub dropped_spool_full: u64,
    /// Packets in batches the front refused as invalid (not retried).
    pub rejected_packets: u64,
    pub failed_attempts: u64,
}

/// Builds a batch: NDJSON, gzip-compressed.
pub fn make_batch(id: String, packets: &[Packet]) -> anyhow::Result<Batch> {
    // Serialize first, compress once: serde's many small writes straight into the encoder
    // made batching 20x slower.
    let mut ndjson = Vec::with_capacity(packets.len() * 320);
    for packet in packets {
        serde_json::to_writer(&mut ndjson, packet)?;
        ndjson.push(b'\n');
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(ndjson.len() / 8), flate2::Compression::fast());
    encoder.write_all(&ndjson)?;
    Ok(Batch { id, packets: packets.len() as u64, body: encoder.finish()? })
}

enum Outcome {
    Stored {
        duplicate: bool,
    },
    /// The front will never take this batch (4xx other than auth/throttling).
    Rejected(String),
    /// Try again later (connection refused, timeout, 5xx, 401, 429).
    Retry(String),
}

pub struct Shipper {
    config: ShipConfig,
    http: reqwest::blocking::Client,
    spool: Spool,
    pub stats: ShipStats,
    backoff: Duration,
    next_attempt: Instant,
}

const MIN_BACKOFF: Duration = Duration::from_millis(200);

fn is_loopback_url(url: &str) -> bool {
    let host = url.trim_start_matches("http://").split(['/', ':']).next().unwrap_or("");
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Shipper {
    pub fn new(config: ShipConfig) -> anyhow::Result<Shipper> {
        let spool = Spool::open(&config.spool_dir, config.spool_max_bytes)?;
        if !spool.is_empty() {
            tracing::info!(packets = spool.packets(), "spool holds batches from an earlier run; sending them first");
        }
        let mut http = reqwest::blocking::Client::builder();
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).with_context(|| format!("reading CA file {}", path.display()))?;
            let ca = reqwest::Certificate::from_pem(&pem).with_context(|| format!("CA file {}", path.display()))?;
            // Only this CA: a front with a certificate of another is refused.
            http = http.tls_built_in_root_certs(false).add_root_certificate(ca);
        }
        if config.front.starts_with("http://") && config.token.is_some() && !is_loopback_url(&config.front) {
            tracing::warn!(front = config.front, "sending a token over plain HTTP to another host: use https://");
        }
        let http = http
            .https_only(config.front.starts_with("https://"))
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(60))
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .context("HTTP client")?;
        Ok(Shipper {
            config,
            http,
            spool,
            stats: ShipStats::default(),
            backoff: MIN_BACKOFF,
            next_attempt: Instant::now(),
        })
    }

    /// Ships batches from `batches` until the channel closes, then tries to empty the spool for
    /// up to `drain_timeout`.
    pub fn run(mut self, batches: Receiver<Batch>) -> ShipStats {
        loop {
            let wait = self.next_attempt.saturating_duration_since(Instant::now()).max(Duration::from_millis(50));
            match batches.recv_timeout(if self.spool.is_empty() { Duration::from_secs(3600) } else { wait }) {
                Ok(batch) => self.offer(batch),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.drain_spool();
        }
        let deadline = Instant::now() + self.config.drain_timeout;
        while !self.spool.is_empty() && Instant::now() < deadline {
            std::thread::sleep(
                self.next_attempt.saturating_duration_since(Instant::now()).min(Duration::from_millis(500)),
            );
            self.drain_spool();
        }
        self.stats.left_in_spool = self.spool.packets();
        self.stats.dropped_spool_full = self.spool.dropped_packets;
        self.stats
    }

    /// A new batch: sent now when nothing waits before it, else queued behind the spool.
    fn offer(&mut self, batch: Batch) {
        if self.spool.is_empty() && Instant::now() >= self.next_attempt {
            match self.send(&batch) {
                Outcome::Stored { duplicate } => return self.stored(&batch, duplicate),
                Outcome::Rejected(why) => return self.rejected(&batch, &why),
                Outcome::Retry(why) => self.failed(&why),
            }
        }
        self.stats.spooled_packets += batch.packets;
        if let Err(e) = self.spool.push(&batch) {
            // Disk full or unwritable: the batch cannot be kept.
            tracing::error!(error = %format!("{e:#}"), packets = batch.packets, "could not spool a batch; dropped");
            self.stats.dropped_spool_full += batch.packets;
        }
    }

    /// Sends spooled batches oldest first while the front takes them.
    fn drain_spool(&mut self) {
        while Instant::now() >= self.next_attempt {
            let batch = match self.spool.peek() {
                Ok(Some(batch)) => batch,
                Ok(None) => return,
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "unreadable spooled batch; dropped");
                    let _ = self.spool.pop();
                    continue;
                }
            };
            match self.send(&batch) {
                Outcome::Stored { duplicate } => self.stored(&batch, duplicate),
                Outcome::Rejected(why) => self.rejected(&batch, &why),
                Outcome::Retry(why) => return self.failed(&why),
            }
            if let Err(e) = self.spool.pop() {
                tracing::error!(error = %format!("{e:#}"), "could not remove a sent batch from the spool");
                return;
            }
        }
    }

    fn send(&self, batch: &Batch) -> Outcome {
        let mut request = self
            .http
            .post(format!("{}/ingest_packets", self.config.front.trim_end_matches('/')))
            .header("content-type", "application/x-ndjson")
            .header("content-encoding", "gzip")
            .header("idempotency-key", &batch.id)
            .body(batch.body.clone());
        if let Some(token) = &self.config.token {
            request = request.bearer_auth(token);
        }
        match request.send() {
            Ok(response) => {
                let status = response.status();
                let text = response.text().unwrap_or_default();
                if status.is_success() {
                    let duplicate = serde_json::from_str::<serde_json::Value>(&text)
                        .map(|v| v["duplicate"] == serde_json::Value::Bool(true))
                        .unwrap_or(false);
                    Outcome::Stored { duplicate }
                } else if status.is_server_error() || [401, 403, 408, 429].contains(&status.as_u16()) {
                    Outcome::Retry(format!("{status}: {text}"))
                } else {
                    Outcome::Rejected(format!("{status}: {text}"))
                }
            }
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }

    fn stored(&mut self, batch: &Batch, duplicate: bool) {
        self.stats.sent_batches += 1;
        self.stats.sent_packets += batch.packets;
        self.stats.duplicate_batches += u64::from(duplicate);
        if self.backoff > MIN_BACKOFF {
            tracing::info!("front reachable again");
        }
        self.backoff = MIN_BACKOFF;
    }

    fn rejected(&mut self, batch: &Batch, why: &str) {
        tracing::error!(batch = %batch.id, packets = batch.packets, reason = why, "front refused a batch; not retried");
        self.stats.rejected_packets += batch.packets;
    }

    /// Exponential backoff with jitter (50-100% of the step), capped.
    fn failed(&mut self, why: &str) {
        self.stats.failed_attempts += 1;
        let jittered = self.backoff.mul_f64(0.5 + fastrand::f64() * 0.5);
        tracing::warn!(reason = why, retry_in_ms = jittered.as_millis() as u64, "front unavailable; spooling");
        self.next_attempt = Instant::now() + jittered;
        self.backoff = (self.backoff * 2).min(self.config.max_backoff);
    }
}
