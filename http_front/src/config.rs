//! Configuration: one struct, from CLI flags or environment variables.

use std::net::SocketAddr;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(name = "http_front", about = "Traffic analyzer HTTP front: packet ingest and reads")]
pub struct Config {
    /// Postgres connection string of the front's role (traffic_ingest + traffic_reader).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,

    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8000")]
    pub listen: SocketAddr,

    /// Database connections in the pool.
    #[arg(long, env = "DB_POOL_SIZE", default_value_t = 16)]
    pub pool_size: usize,

    /// Largest request body accepted, bytes, before and after gzip decoding (413 beyond).
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 128 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Most packets accepted in one batch (413 beyond).
    #[arg(long, env = "MAX_BATCH_PACKETS", default_value_t = 250_000)]
    pub max_batch_packets: usize,

    /// How far a packet's timestamp may be ahead of this host's clock, seconds.
    #[arg(long, env = "MAX_CLOCK_SKEW_SECS", default_value_t = 86_400)]
    pub max_clock_skew_secs: u64,

    /// Largest count accepted by /api/raw_packets/last/{count}.
    #[arg(long, env = "MAX_LAST_PACKETS", default_value_t = 10_000)]
    pub max_last_packets: u32,

    /// Require a sensor bearer token on /ingest_packets (401 without a valid one).
    #[arg(long, env = "REQUIRE_AUTH", default_value_t = false)]
    pub require_auth: bool,

    /// Sensor tokens from configuration, as NAME=TOKEN, comma-separated; tokens issued in the
    /// database with create_sensor_token() are accepted as well.
    #[arg(long = "sensor-token", env = "SENSOR_TOKENS", value_delimiter = ',', value_parser = parse_sensor_token)]
    pub sensor_tokens: Vec<(String, String)>,

    /// Log format: text or json.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

fn parse_sensor_token(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, token)) if !name.is_empty() && token.len() >= 16 => Ok((name.to_string(), token.to_string())),
        _ => Err("expected NAME=TOKEN with a token of at least 16 characters".to_string()),
    }
}
