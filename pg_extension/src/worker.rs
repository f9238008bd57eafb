//! The scheduler: per database in `traffic_analyzer.databases`, one background worker per
//! materialization job (`traffic_core::jobs::JOBS`), each running one tick of its job every
//! `traffic_analyzer.tick` milliseconds in a transaction of its own. An error aborts that tick only (logged; the next tick retries, since consumed work
//! is rolled back with it). All progress lives in tables, so a restarted server resumes.
//! Registered only when the library is in `shared_preload_libraries`.

use std::time::Duration;

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags};
use pgrx::pg_sys;
use pgrx::prelude::*;
use traffic_core::jobs::{Job, JOBS};

use crate::settings;

/// A scheduler that could not connect (e.g. its database does not exist yet) retries this often.
const RESTART_AFTER: Duration = Duration::from_secs(30);
const LIBRARY: &str = "traffic_analyzer";
const WORKER_TYPE: &str = "traffic_analyzer scheduler";

/// Registers one scheduler per configured database and job (postmaster, at preload only).
pub fn register_schedulers() {
    // SAFETY: a plain flag set by the postmaster while it loads preloaded libraries.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    for database in settings::databases() {
        for (index, job) in JOBS.iter().map(|j| j.name).enumerate() {
            BackgroundWorkerBuilder::new(&format!("{WORKER_TYPE} ({job} windows) for {database}"))
                .set_type(WORKER_TYPE)
                .set_library(LIBRARY)
                .set_function("traffic_analyzer_scheduler_main")
                .set_argument(Some(pg_sys::Datum::from(index)))
                .set_extra(&database)
                .enable_spi_access()
                .set_start_time(BgWorkerStartTime::RecoveryFinished)
                .set_restart_time(Some(RESTART_AFTER))
                .load();
        }
    }
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn traffic_analyzer_scheduler_main(arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let Job { name: job, window_seconds: sizes } = JOBS[arg.value().min(JOBS.len() - 1)];
    let database = BackgroundWorker::get_extra().to_string();
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    log!("traffic_analyzer scheduler ({job} windows) started for database {database}");
    crate::read_ahead::enable();

    let mut failing = false;
    while BackgroundWorker::wait_latch(Some(settings::tick_interval())) {
        if BackgroundWorker::sighup_received() {
            // SAFETY: reloading the configuration between transactions, as any backend does.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        match tick(job, sizes) {
            Ok(_) if failing => {
                log!("traffic_analyzer scheduler ({job} windows, {database}): run_jobs() succeeded again");
                failing = false;
            }
            Ok(_) => {}
            Err(problem) => {
                crate::read_ahead::clear();
                // Logged once per failure streak, not once a second.
                if !failing {
                    warning!(
                        "traffic_analyzer scheduler ({database}): run_jobs() failed, retrying every tick: {problem}"
                    );
                }
                failing = true;
            }
        }
    }
    log!("traffic_analyzer scheduler ({job} windows) for database {database} stopping");
    // Exit code 1: the postmaster restarts the worker after RESTART_AFTER unless the server is
    // shutting down (exit code 0 would unregister it until the next server start).
    // SAFETY: leaving the process the way Postgres expects.
    unsafe { pg_sys::proc_exit(1) };
}

/// One transaction: set the search path to the extension's schema and run one tick of `job`.
/// Returns the rows written (`None` when the extension is not installed in this database).
fn tick(job: &str, sizes: &[u32]) -> Result<Option<i64>, String> {
    // SAFETY: starting a transaction between ticks, with nothing else open.
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
        pg_sys::pgstat_report_activity(pg_sys::BackendState::STATE_RUNNING, c"run_jobs()".as_ptr());
    }
    let outcome = PgTryBuilder::new(|| -> Result<Option<i64>, String> {
        let schema = Spi::get_one::<String>(
            "SELECT (SELECT set_config('search_path', quote_ident(n.nspname) || ', pg_catalog', true)
                     FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                     WHERE e.extname = 'traffic_analyzer')",
        )
        .map_err(|e| e.to_string())?;
        if schema.is_none() {
            return Ok(None);
        }
        crate::jobs::run_job(job, sizes).map(Some).map_err(|e| e.to_string())
    })
    .catch_others(|caught| Err(describe(caught)))
    .execute();
    // SAFETY: ending the transaction started above: commit on success, abort (which also
    // releases the snapshot, locks and memory) on failure.
    unsafe {
        match outcome {
            Ok(_) => {
                pg_sys::PopActiveSnapshot();
                pg_sys::CommitTransactionCommand();
            }
            Err(_) => pg_sys::AbortCurrentTransaction(),
        }
        pg_sys::pgstat_report_activity(pg_sys::BackendState::STATE_IDLE, std::ptr::null());
    }
    outcome
}

fn describe(caught: pg_sys::panic::CaughtError) -> String {
    match caught {
        pg_sys::panic::CaughtError::PostgresError(report)
        | pg_sys::panic::CaughtError::ErrorReport(report)
        | pg_sys::panic::CaughtError::RustPanic { ereport: report, .. } => report.message().to_string(),
    }
}
