//! The materialization jobs and the window sizes each maintains: the one list the extension's
//! scheduler, its `window_jobs`/`window_progress` rows (checked by a test), the front's pages and
//! the trainer read.

/// One job: its name (as `window_jobs.job` stores it) and the window sizes it keeps, seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    pub name: &'static str,
    pub window_seconds: &'static [u32],
}

/// `short` keeps the 5 s windows; `long` the 30 s and 180 s ones, whose ticks read far more
/// packets, so a long tick never delays the 5 s windows.
pub const JOBS: [Job; 2] =
    [Job { name: "short", window_seconds: &[5] }, Job { name: "long", window_seconds: &[30, 180] }];

/// The job whose ticks also maintain raw_packets' address and port indexes: not the one the 5 s
/// windows wait on.
pub const MAINTAINING_JOB: &str = "long";

/// Every window size, shortest first: the jobs' together.
pub const WINDOW_SECONDS: [u32; 3] = [5, 30, 180];

/// The job named `name`.
pub fn job(name: &str) -> Option<Job> {
    JOBS.into_iter().find(|j| j.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_sizes_are_the_jobs() {
        let sizes: Vec<u32> = JOBS.iter().flat_map(|j| j.window_seconds.iter().copied()).collect();
        assert_eq!(sizes, WINDOW_SECONDS);
        assert!(job(MAINTAINING_JOB).is_some() && job("none").is_none());
    }
}
