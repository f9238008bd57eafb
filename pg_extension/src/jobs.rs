//! The materialization jobs: `run_jobs()` turns the ranges recorded by the `raw_packets` trigger
//! into `aggregated_features` rows for every window the watermark has closed. Late packets for
//! windows already materialized make those windows be computed again (delete + insert in one
//! transaction: never counted twice). All state lives in tables, so a restart resumes.
//!
//! Two jobs (`traffic_core::jobs`), each with its own change records and watermark (table
//! `window_jobs`), run by separate scheduler processes. Why: docs/design.md#materialization.

use pgrx::prelude::*;
use pgrx::{pg_sys, Inet, PgOid};
use traffic_core::alerts::rule_findings;
use traffic_core::features::{compute_windows, window_start, WindowRow, FEATURES, FEATURE_VERSION};
use traffic_core::jobs::{self, Job, JOBS, MAINTAINING_JOB};
use traffic_core::time::micros;

use crate::alerts::{raise_alerts, score_rows, Scored};
use crate::error;
use crate::read_ahead;
use crate::scoring::Prediction;
use crate::settings;
use crate::windows::{next_packet_time, packets_between, timestamptz};

/// One tick of the scheduler: materializes every closed window, re-materializes windows that
/// received late packets. Returns the number of window rows written. Call it from pg_cron or
/// any scheduler when the background worker is not running; `job` runs one job only.
#[pg_extern(volatile)]
pub fn run_jobs(job: default!(Option<&str>, "NULL")) -> Result<i64, pgrx::spi::Error> {
    if let Some(job) = job.filter(|j| jobs::job(j).is_none()) {
        error::invalid_argument(
            "run_jobs",
            format!("run_jobs: no job named {job:?}"),
            "The jobs are 'short' (5 s windows) and 'long' (30 s and 180 s); NULL runs both.",
        );
    }
    let mut written = 0;
    for Job { name, window_seconds: sizes } in JOBS {
        if job.is_none_or(|j| j == name) {
            written += run_job(name, sizes)?;
        }
    }
    Ok(written)
}

/// Every window size the jobs keep, seconds, shortest first (traffic_core::jobs).
#[pg_extern(immutable, parallel_safe)]
pub fn window_sizes() -> Vec<i32> {
    jobs::WINDOW_SECONDS.iter().map(|&s| i32::try_from(s).unwrap_or(i32::MAX)).collect()
}

/// One tick of one job.
pub fn run_job(job: &str, sizes: &[u32]) -> Result<i64, pgrx::spi::Error> {
    // One tick of a job at a time (the worker and a pg_cron call may overlap): the other skips.
    let locked = Spi::get_one_with_args::<bool>(
        "SELECT pg_try_advisory_xact_lock(hashtext('traffic_analyzer.run_jobs.' || $1))",
        &[job.into()],
    )?;
    if locked != Some(true) {
        return Ok(0);
    }
    let ranges = consume_invalidations(job)?;
    let largest = sizes.iter().copied().max().unwrap_or(1);
    let (watermark, tick) = advance_watermark(job, &ranges, largest)?;
    let read_ahead = read_ahead::applies_to(job);
    if read_ahead {
        read_ahead::validate(tick, ranges.iter().map(|r| (r.lo, r.hi)));
    }
    let Some(watermark) = watermark else {
        if job == MAINTAINING_JOB {
            // Partitions, batch ids and retention (maintain_packet_storage in sql/schema.sql).
            Spi::run("SELECT maintain_packet_storage()")?;
        }
        return Ok(0);
    };
    let top_k = settings::top_k();
    let removed_until = packets_removed_until()?;
    let mut plans = Vec::new();
    for &seconds in sizes {
        plans.push(plan(seconds, &ranges, watermark, removed_until)?);
    }
    let written = materialize(&plans, largest, top_k, read_ahead)?;
    for plan in &plans {
        Spi::run_with_args(
            "INSERT INTO window_progress (window_seconds, job, materialized_until) VALUES ($1, $2, $3)
             ON CONFLICT (window_seconds) DO UPDATE SET materialized_until = excluded.materialized_until",
            &[window_seconds_arg(plan.seconds), job.into(), timestamptz(plan.closed_until).into()],
        )?;
    }
    if read_ahead {
        // The open window's packets so far, so that closing it reads only its last slice.
        if let Some(open) = plans.iter().map(|p| p.closed_until).filter(|&c| c > 0).min() {
            read_ahead::fill(tick, open, watermark)?;
        }
    }
    if job == MAINTAINING_JOB {
        // Last, so the partition locks these take are held only until the tick commits.
        maintain_packet_indexes(&ranges)?;
        Spi::run("SELECT maintain_packet_storage()")?;
    }
    Ok(written)
}

/// raw_packets' address and port indexes: summarizes the bloom indexes of the partitions the
/// consumed ranges touched, and gives one closed partition its btree indexes (not one just
/// written to).
fn maintain_packet_indexes(ranges: &[Invalidation]) -> Result<(), pgrx::spi::Error> {
    let lo = ranges.iter().map(|r| r.lo).min().map(timestamptz);
    let hi = ranges.iter().map(|r| r.hi).max().map(timestamptz);
    if lo.is_some() {
        Spi::run_with_args("SELECT summarize_packet_ranges($1, $2)", &[lo.into(), hi.into()])?;
    }
    Spi::run_with_args("SELECT index_closed_packet_partitions($1, $2)", &[lo.into(), hi.into()])
}

/// (lo, hi) event-time ranges, Unix microseconds, with the wall-clock time they were recorded.
struct Invalidation {
    lo: i64,
    hi: i64,
    recorded_at: i64,
}

/// SQL for a timestamptz expression as Unix microseconds.
fn micros_of(expression: &str) -> String {
    format!("(extract(epoch FROM {expression}) * 1000000)::int8")
}

fn consume_invalidations(job: &str) -> Result<Vec<Invalidation>, pgrx::spi::Error> {
    let sql = format!(
        "WITH consumed AS (DELETE FROM window_invalidations WHERE job = $1 RETURNING lo, hi, recorded_at)
         SELECT {}, {}, {} FROM consumed",
        micros_of("lo"),
        micros_of("hi"),
        micros_of("recorded_at")
    );
    Spi::connect_mut(|client| {
        let rows = client.update(&sql, None, &[job.into()])?;
        rows.map(|row| {
            Ok(Invalidation {
                lo: row.get(1)?.unwrap_or(0),
                hi: row.get(2)?.unwrap_or(0),
                recorded_at: row.get(3)?.unwrap_or(0),
            })
        })
        .collect()
    })
}

/// Records the job's newest event time and last arrival, counts the tick, and returns its
/// watermark (Unix µs): the newest event time minus the allowed lateness, or past every window
/// (of at most `largest` seconds) when the network has been quiet for longer than the allowed
/// lateness (`None` before the first packet); and the tick's number.
fn advance_watermark(job: &str, ranges: &[Invalidation], largest: u32) -> Result<(Option<i64>, i64), pgrx::spi::Error> {
    let newest = ranges.iter().map(|r| r.hi).max();
    let arrival = ranges.iter().map(|r| r.recorded_at).max();
    let sql = format!(
        "UPDATE window_jobs
         SET newest_event = greatest(newest_event, $1), last_arrival = greatest(last_arrival, $2),
             ticks = ticks + 1
         WHERE job = $3
         RETURNING {}, {}, {}, ticks",
        micros_of("newest_event"),
        micros_of("last_arrival"),
        micros_of("clock_timestamp()")
    );
    let (newest, arrival, now, tick) = Spi::connect_mut(|client| {
        let row = client
            .update(&sql, Some(1), &[newest.map(timestamptz).into(), arrival.map(timestamptz).into(), job.into()])?
            .first();
        Ok::<_, pgrx::spi::Error>((
            row.get::<i64>(1)?,
            row.get::<i64>(2)?,
            row.get::<i64>(3)?,
            row.get::<i64>(4)?.unwrap_or(0),
        ))
    })?;
    let (Some(newest), Some(arrival), Some(now)) = (newest, arrival, now) else { return Ok((None, tick)) };
    let lateness = settings::allowed_lateness_micros();
    let largest = micros(i64::from(largest));
    Ok((Some(if now - arrival > lateness { newest + largest } else { newest - lateness }), tick))
}

/// The end of the newest packets retention removed (Unix µs), if it removed any. Windows that
/// start before it are final: some of their packets may be gone, so a late packet there (a sensor
/// back from a long outage) is stored but does not make them be computed again from what is left.
fn packets_removed_until() -> Result<Option<i64>, pgrx::spi::Error> {
    Spi::get_one(&format!("SELECT {}", micros_of("packets_removed_until()")))
}

/// What one window size needs this tick: spans [lo, hi) of window starts to (re)compute.
struct Plan {
    seconds: u32,
    spans: Vec<(i64, i64)>,
    /// Every window starting before this is materialized after this tick.
    closed_until: i64,
}

fn window_seconds_arg(seconds: u32) -> pgrx::datum::DatumWithOid<'static> {
    i32::try_from(seconds).unwrap_or(i32::MAX).into()
}

/// The windows of one size to compute: closed ones with late packets, then newly closed ones;
/// none that starts before `removed_until` (packets_removed_until).
fn plan(
    seconds: u32,
    ranges: &[Invalidation],
    watermark: i64,
    removed_until: Option<i64>,
) -> Result<Plan, pgrx::spi::Error> {
    let width = micros(i64::from(seconds));
    let until: Option<i64> = Spi::get_one_with_args(
        // A size's row is written at its job's first tick.
        &format!("SELECT (SELECT {} FROM window_progress WHERE window_seconds = $1)", micros_of("materialized_until")),
        &[window_seconds_arg(seconds)],
    )?;
    // The first window starting at or after removed_until.
    let first_open = removed_until.map_or(i64::MIN, |t| window_start(t.saturating_add(width - 1), seconds));
    let earliest = ranges.iter().map(|r| window_start(r.lo, seconds).max(first_open)).min();
    let Some(from) = until.or(earliest) else { return Ok(Plan { seconds, spans: Vec::new(), closed_until: 0 }) };
    let closed_until = window_start(watermark, seconds).max(from);

    // Late packets: windows before `from` that received packets since the last tick.
    let mut spans: Vec<(i64, i64)> = ranges
        .iter()
        .filter(|r| r.lo < from)
        .map(|r| {
            let lo = window_start(r.lo, seconds).max(first_open);
            (lo, (window_start(r.hi.min(from - 1), seconds) + width).min(from))
        })
        .filter(|(lo, hi)| lo < hi)
        .collect();
    if closed_until > from {
        spans.push((from, closed_until));
    }
    Ok(Plan { seconds, spans: merge(spans), closed_until })
}

/// Sorted, overlapping or touching spans merged.
fn merge(mut spans: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    spans.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::new();
    for (lo, hi) in spans {
        match merged.last_mut() {
            Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    merged
}

/// Replaces the rows of every planned span. Packets are read once for the job's window sizes,
/// over the union of the spans cut at multiples of the largest window (every size divides it, and no
/// span is cut elsewhere, so each piece holds whole windows of every size it touches).
fn materialize(plans: &[Plan], largest: u32, top_k: usize, read_ahead: bool) -> Result<i64, pgrx::spi::Error> {
    for plan in plans {
        for &(lo, hi) in &plan.spans {
            Spi::run_with_args(
                "DELETE FROM aggregated_features WHERE window_seconds = $1 AND window_start >= $2 AND window_start < $3",
                &[window_seconds_arg(plan.seconds), timestamptz(lo).into(), timestamptz(hi).into()],
            )?;
        }
    }
    let union = merge(plans.iter().flat_map(|p| p.spans.iter().copied()).collect());
    let thresholds = settings::rule_thresholds();
    let mut written = 0;
    for (lo, hi) in union {
        let mut start = lo;
        while start < hi {
            let end = (window_start(start, largest) + micros(i64::from(largest))).min(hi);
            let packets = if read_ahead { read_ahead::packets(start, end)? } else { packets_between(start, end)? };
            if packets.is_empty() {
                // Empty time is skipped, not walked: packets years apart (captures with odd
                // clocks, a sensor's clock jump) must not cost a query per empty window.
                match next_packet_time(end, hi)? {
                    Some(next) => start = window_start(next, largest).max(end),
                    None => break,
                }
                continue;
            }
            let mut rows = Vec::new();
            let mut findings = Vec::new();
            for plan in plans {
                for &(span_lo, span_hi) in &plan.spans {
                    let (from, to) = (span_lo.max(start), span_hi.min(end));
                    if from < to {
                        let first = packets.partition_point(|p| p.timestamp_micros() < from);
                        let last = packets.partition_point(|p| p.timestamp_micros() < to);
                        let window = &packets[first..last];
                        rows.extend(compute_windows(window, plan.seconds, top_k));
                        findings.extend(rule_findings(window, plan.seconds, &thresholds));
                    }
                }
            }
            // Scored in memory before they are written: the rows carry their label, and
            // flagged ones (and the rules' findings) raise alerts in the same transaction.
            let scored = score_rows(&rows)?;
            written += insert_rows(&rows, scored.as_ref())?;
            if scored.is_some() || !findings.is_empty() {
                raise_alerts(&rows, scored.as_ref(), &findings)?;
            }
            start = end;
        }
    }
    Ok(written)
}

/// Inserts window rows, with their predictions when a model is active, through one prepared
/// statement.
fn insert_rows(rows: &[WindowRow], scored: Option<&Scored>) -> Result<i64, pgrx::spi::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let names: Vec<&str> = FEATURES.iter().map(|f| f.name).collect();
    let params: Vec<String> = (11..11 + FEATURES.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO aggregated_features (window_seconds, window_start, window_end, scope, host, total_packets,
             total_bytes, feature_version, predicted_label, confidence, {})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, {})",
        names.join(", "),
        params.join(", ")
    );
    let mut types: Vec<PgOid> = [
        pg_sys::INT4OID,
        pg_sys::TIMESTAMPTZOID,
        pg_sys::TIMESTAMPTZOID,
        pg_sys::TEXTOID,
        pg_sys::INETOID,
        pg_sys::INT8OID,
        pg_sys::INT8OID,
        pg_sys::INT4OID,
        pg_sys::TEXTOID,
        pg_sys::FLOAT8OID,
    ]
    .into_iter()
    .map(PgOid::from)
    .collect();
    types.extend(FEATURES.iter().map(|_| PgOid::from(pg_sys::FLOAT8OID)));
    Spi::connect_mut(|client| {
        let statement = client.prepare_mut(sql.as_str(), &types)?;
        for (i, row) in rows.iter().enumerate() {
            let prediction = scored.map(|s| &s.predictions[i]);
            client.update(&statement, None, &row_args(row, prediction))?;
        }
        Ok(i64::try_from(rows.len()).unwrap_or(i64::MAX))
    })
}

fn row_args<'a>(row: &WindowRow, prediction: Option<&'a Prediction>) -> Vec<pgrx::datum::DatumWithOid<'a>> {
    let width = micros(i64::from(row.window_seconds));
    let feature = |name: &str| row.features.get(name).unwrap_or(0.0);
    let mut args: Vec<pgrx::datum::DatumWithOid> = vec![
        window_seconds_arg(row.window_seconds),
        timestamptz(row.start_micros).into(),
        timestamptz(row.start_micros + width).into(),
        row.scope.name().into(),
        row.scope.host().map(|h| Inet(h.to_string())).into(),
        (feature("packet_count") as i64).into(),
        (feature("byte_count") as i64).into(),
        i32::try_from(FEATURE_VERSION).unwrap_or(i32::MAX).into(),
        prediction.map(|p| p.label.as_str()).into(),
        prediction.map(|p| p.confidence).into(),
    ];
    args.extend(row.features.values.iter().map(|v| (*v).into()));
    args
}
