//! Configuration: one struct, from CLI flags or environment variables. Every limit an outsider
//! could otherwise grow has a setting here, with a default that holds on a small machine.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use ipnet::IpNet;

use crate::request_body::BodyPace;
use crate::server::ConnectionLimits;

#[derive(Debug, Clone, Parser)]
#[command(name = "http_front", about = "Traffic analyzer HTTP front: packet ingest and reads")]
pub struct Config {
    /// Postgres connection string of the front's role (traffic_ingest + traffic_reader +
    /// traffic_auth). `sslmode=require` (or `prefer`) connects over TLS, verified against
    /// DB_TLS_CA or the system's roots.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,

    /// CA certificate (PEM) that PostgreSQL's certificate must chain to (TLS to the database).
    #[arg(long, env = "DB_TLS_CA")]
    pub db_tls_ca: Option<PathBuf>,

    /// Address to serve plain HTTP on ("none": no plain listener). Loopback by default: other
    /// hosts reach the front over HTTPS (TLS_LISTEN_ADDR).
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8000", value_parser = parse_listen)]
    pub listen: Listen,

    /// Address to serve HTTPS on (with TLS_CERT and TLS_KEY).
    #[arg(long, env = "TLS_LISTEN_ADDR")]
    pub tls_listen: Option<SocketAddr>,

    /// The HTTPS certificate chain (PEM).
    #[arg(long, env = "TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// The HTTPS certificate's private key (PEM).
    #[arg(long, env = "TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// Address to serve GET /metrics on without credentials (e.g. 127.0.0.1:9464 for a local
    /// Prometheus). On the main listeners /metrics needs METRICS_TOKEN or an admin.
    #[arg(long, env = "METRICS_LISTEN_ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Bearer token that may read /metrics on the main listeners.
    #[arg(long, env = "METRICS_TOKEN")]
    pub metrics_token: Option<String>,

    /// Networks whose clients may ingest without a sensor token, comma-separated ("none": every
    /// sensor needs a token). Their packets are stored with sensor "trusted:<address>".
    #[arg(long, env = "TRUSTED_ADDRESSES", default_value = "127.0.0.0/8,::1/128", value_parser = parse_networks)]
    pub trusted_addresses: Networks,

    /// Require a sensor token from every client, trusted addresses included (the same as
    /// TRUSTED_ADDRESSES=none).
    #[arg(long, env = "REQUIRE_AUTH", default_value_t = false)]
    pub require_auth: bool,

    /// Sensor tokens from configuration, as NAME=TOKEN, comma-separated; tokens issued in the
    /// database with create_sensor_token() are accepted as well.
    #[arg(long = "sensor-token", env = "SENSOR_TOKENS", value_delimiter = ',', value_parser = parse_sensor_token)]
    pub sensor_tokens: Vec<(String, String)>,

    /// Seconds a token or session confirmed by the database is trusted before it is asked again
    /// (how long a revocation may take to reach this front).
    #[arg(long, env = "CREDENTIAL_CACHE_SECS", default_value_t = 10)]
    pub credential_cache_secs: u64,

    /// Hours a login session lasts at most.
    #[arg(long, env = "SESSION_HOURS", default_value_t = 12)]
    pub session_hours: u32,

    /// Minutes a login session may go unused before it ends.
    #[arg(long, env = "SESSION_IDLE_MINUTES", default_value_t = 60)]
    pub session_idle_minutes: u32,

    /// Failed logins allowed per user name, and per client address, in 15 minutes.
    #[arg(long, env = "LOGIN_ATTEMPTS", default_value_t = 5)]
    pub login_attempts: u32,

    /// Database connections in the pool.
    #[arg(long, env = "DB_POOL_SIZE", default_value_t = 16)]
    pub pool_size: usize,

    /// Seconds a pooled database connection is used before it is replaced (bounds what a
    /// backend accumulates).
    #[arg(long, env = "DB_CONNECTION_MAX_AGE_SECS", default_value_t = 600)]
    pub db_connection_max_age_secs: u64,

    /// Longest statement the front runs, seconds (statement_timeout of its sessions).
    #[arg(long, env = "DB_STATEMENT_TIMEOUT_SECS", default_value_t = 30)]
    pub db_statement_timeout_secs: u64,

    /// Largest request body accepted, bytes, before and after gzip decoding (413 beyond).
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 128 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Most packets accepted in one batch (413 beyond).
    #[arg(long, env = "MAX_BATCH_PACKETS", default_value_t = 250_000)]
    pub max_batch_packets: usize,

    /// Batches decoded and stored at once; more get 503 with Retry-After.
    #[arg(long, env = "MAX_CONCURRENT_BATCHES", default_value_t = 4)]
    pub max_concurrent_batches: usize,

    /// Milliseconds a batch waits for one of those before it gets 503.
    #[arg(long, env = "BATCH_QUEUE_MS", default_value_t = 2000)]
    pub batch_queue_ms: u64,

    /// POST /predict calls answered at once; more get 503 with Retry-After.
    #[arg(long, env = "MAX_CONCURRENT_PREDICTIONS", default_value_t = 4)]
    pub max_concurrent_predictions: usize,

    /// How far a packet's timestamp may be ahead of this host's clock, seconds (rounded up to the
    /// end of that UTC day).
    #[arg(long, env = "MAX_CLOCK_SKEW_SECS", default_value_t = 86_400)]
    pub max_clock_skew_secs: u64,

    /// Largest count accepted by /api/raw_packets/last/{count}.
    #[arg(long, env = "MAX_LAST_PACKETS", default_value_t = 10_000)]
    pub max_last_packets: u32,

    /// Seconds to receive a request's head, and that a keep-alive connection may stay idle.
    #[arg(long, env = "HEADER_TIMEOUT_SECS", default_value_t = 5)]
    pub header_timeout_secs: u64,

    /// Seconds for a request body to start; then it must keep coming at BODY_MIN_RATE.
    #[arg(long, env = "BODY_TIMEOUT_SECS", default_value_t = 5)]
    pub body_timeout_secs: u64,

    /// Bytes per second a request body must arrive at, at least, once started.
    #[arg(long, env = "BODY_MIN_RATE", default_value_t = 16 * 1024)]
    pub body_min_rate: u64,

    /// Seconds a request may take in all (body, handler, response).
    #[arg(long, env = "REQUEST_TIMEOUT_SECS", default_value_t = 60)]
    pub request_timeout_secs: u64,

    /// Seconds a response write may make no progress (a client that stopped reading).
    #[arg(long, env = "WRITE_TIMEOUT_SECS", default_value_t = 10)]
    pub write_timeout_secs: u64,

    /// Open connections at most (0: from the open-file limit).
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,

    /// Open connections from one client address at most (0: no limit; put a load balancer's
    /// address in mind).
    #[arg(long, env = "MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 64)]
    pub max_connections_per_address: usize,

    /// Log format: text or json.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

/// A listening address, or none.
#[derive(Debug, Clone, Copy)]
pub struct Listen(pub Option<SocketAddr>);

/// Networks, as configured.
#[derive(Debug, Clone, Default)]
pub struct Networks(pub Vec<IpNet>);

impl Networks {
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d.
pub fn canonical(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
        v4 => v4,
    }
}

fn parse_networks(s: &str) -> Result<Networks, String> {
    if matches!(s.trim(), "" | "none") {
        return Ok(Networks::default());
    }
    s.split(',')
        .map(str::trim)
        .map(|part| {
            part.parse::<IpNet>()
                .or_else(|_| part.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{part:?} is not an address or a network (e.g. 10.0.0.0/24)"))
        })
        .collect::<Result<_, _>>()
        .map(Networks)
}

fn parse_listen(s: &str) -> Result<Listen, String> {
    match s.trim() {
        "none" | "off" => Ok(Listen(None)),
        other => {
            other.parse().map(|a| Listen(Some(a))).map_err(|_| format!("{other:?} is not an address:port or \"none\""))
        }
    }
}

fn parse_sensor_token(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, token)) if (1..=64).contains(&name.len()) && token.len() >= 16 => {
            Ok((name.to_string(), token.to_string()))
        }
        _ => Err("expected NAME=TOKEN with a name of 1 to 64 characters and a token of at least 16".to_string()),
    }
}

impl Config {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }

    pub fn credential_cache(&self) -> Duration {
        Duration::from_secs(self.credential_cache_secs)
    }

    /// Whether a client may ingest without a token.
    pub fn is_trusted(&self, ip: std::net::IpAddr) -> bool {
        !self.require_auth && self.trusted_addresses.contains(ip)
    }

    pub fn body_pace(&self) -> BodyPace {
        BodyPace {
            first: Duration::from_secs(self.body_timeout_secs.max(1)),
            min_rate: self.body_min_rate.max(1),
            max: self.request_timeout(),
        }
    }

    /// Connection bounds; `file_limit` is the process's open-file limit.
    pub fn connection_limits(&self, file_limit: u64) -> ConnectionLimits {
        // Descriptors for the pool, the log, listeners and the blocking tasks' files.
        let reserve = self.pool_size as u64 + 64;
        let by_files = usize::try_from(file_limit.saturating_sub(reserve)).unwrap_or(usize::MAX).max(16);
        let max_connections = match self.max_connections {
            0 => by_files.min(65_536),
            n => n.min(by_files),
        };
        ConnectionLimits {
            header_timeout: Duration::from_secs(self.header_timeout_secs.max(1)),
            handshake_timeout: Duration::from_secs(self.header_timeout_secs.max(1)),
            write_timeout: Duration::from_secs(self.write_timeout_secs.max(1)),
            max_connections,
            max_per_address: self.max_connections_per_address,
            drain_timeout: self.request_timeout(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse() {
        let config = Config::try_parse_from(["http_front", "--database-url", "postgres://x@y/z"]).unwrap();
        assert_eq!(config.listen.0, Some("127.0.0.1:8000".parse().unwrap()));
        assert!(config.is_trusted("127.0.0.1".parse().unwrap()) && !config.is_trusted("10.0.0.1".parse().unwrap()));
        let config = Config::try_parse_from([
            "http_front",
            "--database-url",
            "postgres://x@y/z",
            "--listen",
            "none",
            "--trusted-addresses",
            "none",
        ])
        .unwrap();
        assert_eq!(config.listen.0, None);
        assert!(!config.is_trusted("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn trusted_networks_parse_and_match() {
        let nets = parse_networks("127.0.0.0/8, ::1/128,10.1.2.3").unwrap();
        assert!(nets.contains("127.0.0.2".parse().unwrap()));
        assert!(nets.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(nets.contains("10.1.2.3".parse().unwrap()));
        assert!(!nets.contains("10.1.2.4".parse().unwrap()));
        assert!(parse_networks("none").unwrap().0.is_empty());
        assert!(parse_networks("10.0.0.0/33").is_err());
    }
}
