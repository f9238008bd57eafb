//! Every `traffic_analyzer.*` setting, in one place: registered at load, read through typed
//! getters. What each one means for a DBA is in its descriptions (`SHOW ALL`, `pg_settings`).

use std::ffi::CString;
use std::time::Duration;

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use traffic_core::detectors::{brute_force, flood, slow_dos, RuleThresholds, ScanThresholds};

// The jobs.
static ALLOWED_LATENESS_SECS: GucSetting<i32> = GucSetting::<i32>::new(10);
static TOP_K: GucSetting<i32> = GucSetting::<i32>::new(10);

// The scheduler.
static DATABASES: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"traffic_analyzer"));
static TICK_MS: GucSetting<i32> = GucSetting::<i32>::new(1000);

// Alerts and the rules.
static ALERT_THRESHOLD: GucSetting<f64> = GucSetting::<f64>::new(0.8);
static ALERT_MERGE_GAP_SECS: GucSetting<i32> = GucSetting::<i32>::new(60);
static SCAN_PORT_THRESHOLD: GucSetting<i32> = GucSetting::<i32>::new(ScanThresholds::DEFAULT.ports as i32);
static SWEEP_HOST_THRESHOLD: GucSetting<i32> = GucSetting::<i32>::new(ScanThresholds::DEFAULT.hosts as i32);
static SYN_FLOOD_THRESHOLD: GucSetting<i32> = GucSetting::<i32>::new(flood::DEFAULT_THRESHOLD as i32);
static FLOOD_RATE_THRESHOLD: GucSetting<i32> = GucSetting::<i32>::new(flood::Rates::DEFAULT.packets as i32);
static DNS_FLOOD_RATE_THRESHOLD: GucSetting<i32> = GucSetting::<i32>::new(flood::Rates::DEFAULT.dns_queries as i32);
static HTTP_AUTH_FAILURE_THRESHOLD: GucSetting<i32> =
    GucSetting::<i32>::new(brute_force::Thresholds::DEFAULT.http_failures as i32);
static LOGIN_CONNECTION_THRESHOLD: GucSetting<i32> =
    GucSetting::<i32>::new(brute_force::Thresholds::DEFAULT.login_connections as i32);
static SLOW_DOS_THRESHOLD: GucSetting<i32> = GucSetting::<i32>::new(slow_dos::DEFAULT_THRESHOLD as i32);

/// Defines every setting (`_PG_init`).
pub fn register() {
    GucRegistry::define_int_guc(
        c"traffic_analyzer.allowed_lateness",
        c"Seconds a window stays open for late packets",
        c"The watermark is the newest packet time minus this; windows ending before it are materialized. \
          When no packet has arrived for this long (wall clock), all windows close.",
        &ALLOWED_LATENESS_SECS,
        0,
        86_400,
        GucContext::Userset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"traffic_analyzer.top_k",
        c"Busiest source and destination hosts given their own rows per window",
        c"Bounds the per-host rows of a window, so a random-source flood cannot explode aggregated_features.",
        &TOP_K,
        0,
        1000,
        GucContext::Userset,
        GucFlags::default(),
    );

    GucRegistry::define_string_guc(
        c"traffic_analyzer.databases",
        c"Databases whose windows and alerts the background scheduler maintains (comma-separated)",
        c"One scheduler process per database; each does nothing until CREATE EXTENSION traffic_analyzer. \
          Takes effect at server start.",
        &DATABASES,
        // Read once, at server start; Sighup (not Postmaster) so a session that LOADs the
        // library can define it, e.g. for ALTER SYSTEM before the first preloaded start.
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"traffic_analyzer.tick",
        c"Interval between two runs of the scheduler's job",
        c"Each tick materializes the windows the watermark has closed (run_jobs()).",
        &TICK_MS,
        10,
        3_600_000,
        GucContext::Sighup,
        GucFlags::UNIT_MS,
    );

    GucRegistry::define_float_guc(
        c"traffic_analyzer.alert_threshold",
        c"Smallest confidence of an attack prediction that raises an alert",
        c"Windows predicted as an attack with less confidence keep their label but raise no alert.",
        &ALERT_THRESHOLD,
        0.0,
        1.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"traffic_analyzer.alert_merge_gap",
        c"Seconds between windows of one attack that still extend its alert",
        c"A flagged window within this many seconds of an alert of the same type, source and destination extends it.",
        &ALERT_MERGE_GAP_SECS,
        0,
        86_400,
        GucContext::Userset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"traffic_analyzer.scan_port_threshold",
        c"Failed ports of one host, from one source in one window, that raise a Port_Scan alert (0: off)",
        c"The scan rule beside the model: a probe failed when the port never answered (silence, RST or ICMP \
          unreachable), whatever the probe's TCP flags. Try values with scan_findings().",
        &SCAN_PORT_THRESHOLD,
        0,
        65_536,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"traffic_analyzer.sweep_host_threshold",
        c"Failed hosts for one service, from one source in one window, that raise a Host_Sweep alert (0: off)",
        c"The sweep rule beside the model: hosts that never answered a probe of one TCP or UDP port or an ICMP \
          query. Try values with scan_findings().",
        &SWEEP_HOST_THRESHOLD,
        0,
        16_777_216,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"traffic_analyzer.syn_flood_threshold",
        c"Half-open handshakes to one port of one host in one window that raise a SYN_Flood alert (0: off)",
        c"The flood rule beside the model: connection attempts (SYN) the client never completed with an ACK, \
          from any number of sources. Try values with syn_flood_findings().",
        &SYN_FLOOD_THRESHOLD,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"traffic_analyzer.flood_rate_threshold",
        c"Packets a second to one host, over a window, that raise an ICMP_Flood, UDP_Flood or TCP_Flood alert (0: off)",
        c"The packet flood rule beside the model: ICMP queries, and UDP datagrams or TCP segments outside a \
          handshake from sources the host never answered, from any number of sources. Needs both directions \
          on the wire. Try values with flood_findings().",
        &FLOOD_RATE_THRESHOLD,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"traffic_analyzer.dns_flood_rate_threshold",
        c"DNS queries a second to one host, over a window, that raise a DNS_Flood alert (0: off)",
        c"Set it above the peak rate of your busiest resolver. Try values with flood_findings().",
        &DNS_FLOOD_RATE_THRESHOLD,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"traffic_analyzer.http_auth_failure_threshold",
        c"HTTP authentication failures (401, 407) from one server to one client in one window that raise a \
          Brute_Force alert (0: off)",
        c"The brute-force rule beside the model. Try values with brute_force_findings().",
        &HTTP_AUTH_FAILURE_THRESHOLD,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"traffic_analyzer.login_connection_threshold",
        c"Connections from one client that one login service (SSH, FTP, RDP, databases, ...) accepted in one \
          window that raise a Brute_Force alert (0: off)",
        c"The brute-force rule beside the model: each accepted connection is at least one guess. Try values with \
          brute_force_findings().",
        &LOGIN_CONNECTION_THRESHOLD,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"traffic_analyzer.slow_dos_threshold",
        c"Connections one client holds at one port of one host in one window that raise a Slow_DoS alert (0: off)",
        c"The slow DoS rule beside the model: held connections trickle a request the server acknowledges but \
          does not answer (slowloris, slow POST), or advertise a zero window (slow read). Needs both directions on \
          the wire. Try values with slow_dos_findings().",
        &SLOW_DOS_THRESHOLD,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
}

/// Seconds a window stays open for late packets, in microseconds.
pub fn allowed_lateness_micros() -> i64 {
    traffic_core::time::micros(i64::from(ALLOWED_LATENESS_SECS.get()))
}

/// Busiest source and destination hosts given their own rows per window.
pub fn top_k() -> usize {
    usize::try_from(TOP_K.get()).unwrap_or(0)
}

/// The databases the scheduler serves: names of at most 63 bytes (bgw_extra holds one in 127).
pub fn databases() -> Vec<String> {
    let list = DATABASES.get().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    list.split(',').map(str::trim).filter(|d| !d.is_empty() && d.len() < 64).map(str::to_string).collect()
}

/// Time between two ticks of a scheduler.
pub fn tick_interval() -> Duration {
    Duration::from_millis(u64::try_from(TICK_MS.get()).unwrap_or(1000))
}

/// Smallest confidence of an attack prediction that raises an alert.
pub fn alert_threshold() -> f64 {
    ALERT_THRESHOLD.get()
}

/// Seconds between windows of one attack that still extend its alert.
pub fn alert_merge_gap_secs() -> f64 {
    f64::from(ALERT_MERGE_GAP_SECS.get())
}

/// A count setting's value now (the settings are 0 or more).
fn count(setting: &GucSetting<i32>) -> u32 {
    u32::try_from(setting.get()).unwrap_or(0)
}

/// Every rule's thresholds as set now (0: that rule off).
pub fn rule_thresholds() -> RuleThresholds {
    RuleThresholds {
        scan: ScanThresholds { ports: count(&SCAN_PORT_THRESHOLD), hosts: count(&SWEEP_HOST_THRESHOLD) },
        syn_flood: count(&SYN_FLOOD_THRESHOLD),
        flood_rates: flood::Rates {
            packets: count(&FLOOD_RATE_THRESHOLD),
            dns_queries: count(&DNS_FLOOD_RATE_THRESHOLD),
        },
        brute_force: brute_force::Thresholds {
            http_failures: count(&HTTP_AUTH_FAILURE_THRESHOLD),
            login_connections: count(&LOGIN_CONNECTION_THRESHOLD),
        },
        slow_dos: count(&SLOW_DOS_THRESHOLD),
    }
}
