//! Window features in SQL: packets are read from `raw_packets` in time order and handed to
//! `traffic_core::features`; no feature math lives here.

use pgrx::prelude::*;
use pgrx::{pg_sys, Inet};
use traffic_core::detectors::brute_force;
use traffic_core::detectors::flood::Rates;
use traffic_core::detectors::ScanThresholds;
use traffic_core::features::{compute_windows, window_start};
use traffic_core::time::{micros, pg_micros_of_unix, unix_micros_of_pg};
use traffic_core::{Packet, COLUMNS};

use crate::error::invalid_argument;
use crate::rows::DatumRow;

fn unix_micros(t: TimestampWithTimeZone) -> i64 {
    unix_micros_of_pg(t.into_inner())
}

pub fn timestamptz(unix_micros: i64) -> TimestampWithTimeZone {
    TimestampWithTimeZone::try_from(pg_micros_of_unix(unix_micros))
        .unwrap_or_else(|_| TimestampWithTimeZone::positive_infinity())
}

/// Packets with `from <= ts < to` (Unix microseconds), in capture-time order, with the columns
/// the features use.
/// The time (Unix µs) of the first packet in [from, to), if any: one index probe.
pub fn next_packet_time(from: i64, to: i64) -> Result<Option<i64>, pgrx::spi::Error> {
    Spi::connect(|client| {
        client
            .select(
                "SELECT (extract(epoch FROM min(ts)) * 1000000)::int8 FROM raw_packets WHERE ts >= $1 AND ts < $2",
                Some(1),
                &[timestamptz(from).into(), timestamptz(to).into()],
            )?
            .first()
            .get_one::<i64>()
    })
}

pub fn packets_between(from: i64, to: i64) -> Result<Vec<Packet>, pgrx::spi::Error> {
    let sql = format!(
        "SELECT {} FROM raw_packets WHERE ts >= $1 AND ts < $2 ORDER BY ts, id",
        crate::rows::feature_select_list()
    );
    Spi::connect(|client| {
        let rows = client.select(&sql, None, &[timestamptz(from).into(), timestamptz(to).into()])?;
        let mut packets = Vec::with_capacity(rows.len());
        // SAFETY: SPI_tuptable is the result of the select just run (held by `rows`), with
        // COLUMNS.len() columns of the types COLUMNS names (packet_schema_drift() checks the table).
        unsafe {
            let table = pg_sys::SPI_tuptable;
            let tupdesc = (*table).tupdesc;
            let mut values = vec![pg_sys::Datum::from(0); COLUMNS.len()];
            let mut nulls = vec![true; COLUMNS.len()];
            let mut datums = Vec::with_capacity(COLUMNS.len());
            for i in 0..rows.len() {
                pg_sys::heap_deform_tuple(*(*table).vals.add(i), tupdesc, values.as_mut_ptr(), nulls.as_mut_ptr());
                datums.clear();
                datums.extend(values.iter().zip(&nulls).map(|(v, null)| (!null).then_some(*v)));
                packets.push(DatumRow::packet(&datums));
            }
        }
        Ok(packets)
    })
}

/// Features of every `window_seconds` window (aligned to the epoch) that starts in
/// [`from`, `to`): a global row, then rows of the `top_k` busiest source and destination hosts.
/// `features` follows feature_names() order.
// pgrx needs the row tuple spelled out in the signature (a type alias is not accepted).
#[allow(clippy::type_complexity)]
#[pg_extern(stable, parallel_safe)]
fn window_features(
    window_seconds: i32,
    from: TimestampWithTimeZone,
    to: TimestampWithTimeZone,
    top_k: default!(i32, 10),
) -> Result<
    TableIterator<
        'static,
        (
            name!(window_seconds, i32),
            name!(window_start, TimestampWithTimeZone),
            name!(window_end, TimestampWithTimeZone),
            name!(scope, String),
            name!(host, Option<Inet>),
            name!(features, Vec<f64>),
        ),
    >,
    pgrx::spi::Error,
> {
    let (seconds, packets) = whole_windows("window_features", window_seconds, from, to)?;
    let width = micros(i64::from(seconds));
    let top_k = usize::try_from(top_k).unwrap_or(0);
    let rows = compute_windows(&packets, seconds, top_k).into_iter().map(move |row| {
        (
            window_seconds,
            timestamptz(row.start_micros),
            timestamptz(row.start_micros + width),
            row.scope.name().to_string(),
            row.scope.host().map(|h| Inet(h.to_string())),
            row.features.values,
        )
    });
    Ok(TableIterator::new(rows))
}

/// The packets of every `window_seconds` window that starts in [`from`, `to`), read to the end
/// of the last one; the arguments checked.
fn whole_windows(
    function: &'static str,
    window_seconds: i32,
    from: TimestampWithTimeZone,
    to: TimestampWithTimeZone,
) -> Result<(u32, Vec<Packet>), pgrx::spi::Error> {
    let seconds = match u32::try_from(window_seconds) {
        Ok(s) if (1..=86_400).contains(&s) => s,
        _ => invalid_argument(
            function,
            format!("window_seconds must be between 1 and 86400, got {window_seconds}"),
            "The materialized windows are 5, 30 and 180 seconds.",
        ),
    };
    if !from.is_finite() || !to.is_finite() {
        invalid_argument(
            function,
            "from and to must be finite timestamps",
            "Pass a time range, e.g. now() - interval '5 minutes', now().",
        );
    }
    let first_window = window_start(unix_micros(from), seconds);
    let width = micros(i64::from(seconds));
    let end = window_start(unix_micros(to) - 1, seconds) + width;
    let packets = if end > first_window { packets_between(first_window, end)? } else { Vec::new() };
    Ok((seconds, packets))
}

/// Packets a rule function reads are held in memory: at most a day of them per call.
const RULE_SPAN_MAX_MICROS: i64 = micros(86_400);

/// [`whole_windows`] for the rule functions, over at most a day.
fn rule_windows(
    function: &'static str,
    window_seconds: i32,
    from: TimestampWithTimeZone,
    to: TimestampWithTimeZone,
) -> Result<(u32, Vec<Packet>), pgrx::spi::Error> {
    if from.is_finite() && to.is_finite() && unix_micros(to) - unix_micros(from) > RULE_SPAN_MAX_MICROS {
        invalid_argument(
            function,
            "from and to may be at most a day apart",
            "The packets of the range are read into memory: ask for a day at a time.",
        );
    }
    whole_windows(function, window_seconds, from, to)
}

/// A rule function's threshold argument: the current setting when NULL, 0 or more.
fn threshold_arg(function: &'static str, name: &str, given: Option<i32>, current: u32) -> u32 {
    match given {
        None => current,
        Some(given) => u32::try_from(given).unwrap_or_else(|_| {
            invalid_argument(function, format!("{name} must be 0 or more, got {given}"), "0 turns the rule off.")
        }),
    }
}

/// What the scan rule finds in the stored packets of every `window_seconds` window that starts in
/// [`from`, `to`), at the given thresholds (default: the current settings
/// traffic_analyzer.scan_port_threshold and sweep_host_threshold; 0 turns one off). For trying a
/// threshold on past traffic before setting it.
#[allow(clippy::type_complexity)]
#[pg_extern(stable, parallel_safe)]
fn scan_findings(
    window_seconds: i32,
    from: TimestampWithTimeZone,
    to: TimestampWithTimeZone,
    port_threshold: default!(Option<i32>, "NULL"),
    host_threshold: default!(Option<i32>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(window_start, TimestampWithTimeZone),
            name!(alert_type, &'static str),
            name!(scanner, Inet),
            name!(victim, Option<Inet>),
            name!(service, Option<String>),
            name!(failed, i64),
            name!(probes, i64),
            name!(description, String),
        ),
    >,
    pgrx::spi::Error,
> {
    let current = crate::settings::rule_thresholds().scan;
    let thresholds = ScanThresholds {
        ports: threshold_arg("scan_findings", "port_threshold", port_threshold, current.ports),
        hosts: threshold_arg("scan_findings", "host_threshold", host_threshold, current.hosts),
    };
    let (seconds, packets) = rule_windows("scan_findings", window_seconds, from, to)?;
    let findings = traffic_core::detectors::scan_findings(&packets, seconds, thresholds);
    Ok(TableIterator::new(findings.into_iter().map(|f| {
        (
            timestamptz(f.start_micros),
            f.class,
            Inet(f.scanner.to_string()),
            f.victim.map(|v| Inet(v.to_string())),
            f.service.map(|s| s.to_string()),
            i64::from(f.failed),
            i64::try_from(f.probes).unwrap_or(i64::MAX),
            f.describe(),
        )
    })))
}

/// What the SYN flood rule finds in the stored packets of every `window_seconds` window that
/// starts in [`from`, `to`): each port of a host with at least `threshold` half-open handshakes
/// (default: the setting traffic_analyzer.syn_flood_threshold). For trying a threshold on past
/// traffic before setting it.
#[allow(clippy::type_complexity)]
#[pg_extern(stable, parallel_safe)]
fn syn_flood_findings(
    window_seconds: i32,
    from: TimestampWithTimeZone,
    to: TimestampWithTimeZone,
    threshold: default!(Option<i32>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(window_start, TimestampWithTimeZone),
            name!(victim, Inet),
            name!(port, i32),
            name!(half_open, i64),
            name!(sources, i64),
            name!(attackers, Vec<Inet>),
            name!(description, String),
        ),
    >,
    pgrx::spi::Error,
> {
    let threshold =
        threshold_arg("syn_flood_findings", "threshold", threshold, crate::settings::rule_thresholds().syn_flood);
    let (seconds, packets) = rule_windows("syn_flood_findings", window_seconds, from, to)?;
    let findings = traffic_core::detectors::syn_flood_findings(&packets, seconds, threshold);
    Ok(TableIterator::new(findings.into_iter().map(|f| {
        (
            timestamptz(f.start_micros),
            Inet(f.victim.to_string()),
            f.port.map_or(0, i32::from),
            i64::from(f.count),
            i64::from(f.sources),
            f.attackers().iter().map(|ip| Inet(ip.to_string())).collect(),
            f.describe(),
        )
    })))
}

/// What the packet flood rule finds in the stored packets of every `window_seconds` window that
/// starts in [`from`, `to`): each host that received ICMP queries, or UDP datagrams or TCP segments
/// it never answered, at `rate_threshold` a second or more, or DNS queries at
/// `dns_rate_threshold` (defaults: the settings traffic_analyzer.flood_rate_threshold and
/// dns_flood_rate_threshold; 0 turns one off). For trying a rate on past traffic before setting it.
#[allow(clippy::type_complexity)]
#[pg_extern(stable, parallel_safe)]
fn flood_findings(
    window_seconds: i32,
    from: TimestampWithTimeZone,
    to: TimestampWithTimeZone,
    rate_threshold: default!(Option<i32>, "NULL"),
    dns_rate_threshold: default!(Option<i32>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(window_start, TimestampWithTimeZone),
            name!(alert_type, &'static str),
            name!(victim, Inet),
            name!(packets, i64),
            name!(sources, i64),
            name!(attackers, Vec<Inet>),
            name!(description, String),
        ),
    >,
    pgrx::spi::Error,
> {
    let settings = crate::settings::rule_thresholds();
    let current = settings.flood_rates;
    let rates = Rates {
        packets: threshold_arg("flood_findings", "rate_threshold", rate_threshold, current.packets),
        dns_queries: threshold_arg("flood_findings", "dns_rate_threshold", dns_rate_threshold, current.dns_queries),
    };
    let (seconds, packets) = rule_windows("flood_findings", window_seconds, from, to)?;
    let findings = traffic_core::detectors::packet_flood_findings(&packets, seconds, rates, settings.scan.ports);
    Ok(TableIterator::new(findings.into_iter().map(|f| {
        (
            timestamptz(f.start_micros),
            f.class,
            Inet(f.victim.to_string()),
            i64::from(f.count),
            i64::from(f.sources),
            f.attackers().iter().map(|ip| Inet(ip.to_string())).collect(),
            f.describe(),
        )
    })))
}

/// What the brute-force rule finds in the stored packets of every `window_seconds` window that
/// starts in [`from`, `to`): each client with at least `http_threshold` HTTP authentication
/// failures from one server, or `connection_threshold` connections accepted by one login service
/// (defaults: the settings traffic_analyzer.http_auth_failure_threshold and
/// login_connection_threshold; 0 turns one off). For trying a threshold on past traffic.
#[allow(clippy::type_complexity)]
#[pg_extern(stable, parallel_safe)]
fn brute_force_findings(
    window_seconds: i32,
    from: TimestampWithTimeZone,
    to: TimestampWithTimeZone,
    http_threshold: default!(Option<i32>, "NULL"),
    connection_threshold: default!(Option<i32>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(window_start, TimestampWithTimeZone),
            name!(attacker, Inet),
            name!(victim, Inet),
            name!(service, String),
            name!(attempts, i64),
            name!(description, String),
        ),
    >,
    pgrx::spi::Error,
> {
    let current = crate::settings::rule_thresholds().brute_force;
    let thresholds = brute_force::Thresholds {
        http_failures: threshold_arg("brute_force_findings", "http_threshold", http_threshold, current.http_failures),
        login_connections: threshold_arg(
            "brute_force_findings",
            "connection_threshold",
            connection_threshold,
            current.login_connections,
        ),
    };
    let (seconds, packets) = rule_windows("brute_force_findings", window_seconds, from, to)?;
    let findings = brute_force::brute_force_findings(&packets, seconds, thresholds);
    Ok(TableIterator::new(findings.into_iter().map(|f| {
        let service = match f.service {
            brute_force::Service::Http => "http".to_string(),
            brute_force::Service::Login(port) => format!("port {port}"),
        };
        (
            timestamptz(f.start_micros),
            Inet(f.attacker.to_string()),
            Inet(f.victim.to_string()),
            service,
            i64::from(f.count),
            f.describe(),
        )
    })))
}

/// What the slow DoS rule finds in the stored packets of every `window_seconds` window that
/// starts in [`from`, `to`): each client holding at least `threshold` connections at one port of
/// one host (default: the setting traffic_analyzer.slow_dos_threshold). For trying a threshold on
/// past traffic.
#[allow(clippy::type_complexity)]
#[pg_extern(stable, parallel_safe)]
fn slow_dos_findings(
    window_seconds: i32,
    from: TimestampWithTimeZone,
    to: TimestampWithTimeZone,
    threshold: default!(Option<i32>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(window_start, TimestampWithTimeZone),
            name!(attacker, Inet),
            name!(victim, Inet),
            name!(port, i32),
            name!(held, i64),
            name!(trickling, i64),
            name!(starving, i64),
            name!(description, String),
        ),
    >,
    pgrx::spi::Error,
> {
    let threshold =
        threshold_arg("slow_dos_findings", "threshold", threshold, crate::settings::rule_thresholds().slow_dos);
    let (seconds, packets) = rule_windows("slow_dos_findings", window_seconds, from, to)?;
    let findings = traffic_core::detectors::slow_dos_findings(&packets, seconds, threshold);
    Ok(TableIterator::new(findings.into_iter().map(|f| {
        (
            timestamptz(f.start_micros),
            Inet(f.attacker.to_string()),
            Inet(f.victim.to_string()),
            i32::from(f.port),
            i64::from(f.held),
            i64::from(f.trickling),
            i64::from(f.starving),
            f.describe(),
        )
    })))
}
