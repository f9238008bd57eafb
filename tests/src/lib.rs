//! Harness for end-to-end tests and benchmarks: fresh databases with the extension created, and
//! the real `http_front` binary started against them.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio_postgres::{Client, NoTls};

pub mod browser;
pub mod cluster;
pub mod oracle;

/// Where setup.sh keeps the front role's password.
const FRONT_ENV: &str = "/etc/traffic_analyzer/front.env";
const SOCKET_DIR: &str = "/var/run/postgresql";

pub fn pg_port() -> u16 {
    std::env::var("TA_PG_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(5432)
}

/// A superuser connection through the local socket (setup.sh makes the OS user a superuser role).
pub async fn admin(db: &str) -> anyhow::Result<Client> {
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let config = format!("host={SOCKET_DIR} port={} user={user} dbname={db}", pg_port());
    connect(&config).await
}

pub async fn connect(config: &str) -> anyhow::Result<Client> {
    let (client, connection) =
        tokio_postgres::connect(config, NoTls).await.with_context(|| format!("connecting to {config}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

fn front_password() -> anyhow::Result<String> {
    let env =
        std::fs::read_to_string(FRONT_ENV).with_context(|| format!("reading {FRONT_ENV}: run scripts/setup.sh"))?;
    env.lines()
        .find_map(|l| l.strip_prefix("TA_FRONT_PASSWORD="))
        .map(str::to_string)
        .with_context(|| format!("no TA_FRONT_PASSWORD in {FRONT_ENV}"))
}

/// A database of its own for one test, created fresh with the extension.
pub struct TestDb {
    pub name: String,
    pub admin: Client,
}

impl TestDb {
    pub async fn create(name: &str) -> anyhow::Result<TestDb> {
        let server = admin("postgres").await?;
        server.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
        server.batch_execute(&format!("CREATE DATABASE {name}")).await?;
        let admin = admin(name).await?;
        admin.batch_execute("CREATE EXTENSION traffic_analyzer").await?;
        Ok(TestDb { name: name.to_string(), admin })
    }

    /// Connection string of the front's least-privilege role for this database.
    pub fn front_url(&self) -> anyhow::Result<String> {
        Ok(format!("postgres://traffic_front:{}@127.0.0.1:{}/{}", front_password()?, pg_port(), self.name))
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.admin.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
    }

    pub async fn packets(&self) -> i64 {
        self.count("SELECT count(*) FROM raw_packets").await
    }

    /// One scheduler tick (`run_jobs()`) as if the network had been quiet for an hour (the
    /// change records dated back): every window of what is stored is materialized.
    pub async fn run_jobs_as_if_quiet(&self) -> anyhow::Result<()> {
        self.admin
            .batch_execute(
                "UPDATE window_invalidations SET recorded_at = recorded_at - interval '1 hour';
                 SELECT run_jobs();",
            )
            .await
            .context("run_jobs")
    }
}

/// A running `http_front` process; stopped when dropped.
pub struct Front {
    child: Child,
    pub base: String,
    pub log: PathBuf,
    /// An admin's API token for this front's database (None when it cannot be reached).
    pub token: Option<String>,
}

/// The user the harness reads as (with its API token) and signs in as (in a browser).
pub const HARNESS_USER: &str = "e2e-admin";
pub const HARNESS_PASSWORD: &str = "e2e-password-not-secret";

/// A superuser connection to the database a front's connection string names: through the
/// shared cluster's socket, or as postgres over TCP to a private cluster (trust auth).
pub async fn superuser_for(database_url: &str) -> anyhow::Result<Client> {
    let config: tokio_postgres::Config = database_url.parse()?;
    let db = config.get_dbname().context("the URL names no database")?.to_string();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    if port == pg_port() {
        admin(&db).await
    } else {
        connect(&format!("host=127.0.0.1 port={port} user=postgres dbname={db}")).await
    }
}

/// An API token of an admin user (created when missing) of that database.
pub async fn admin_token(database_url: &str) -> anyhow::Result<String> {
    let client = superuser_for(database_url).await?;
    client
        .execute(
            "SELECT create_front_user($1, 'admin', $2) WHERE NOT EXISTS (SELECT FROM front_users WHERE name = $1)",
            &[&HARNESS_USER, &HARNESS_PASSWORD],
        )
        .await?;
    Ok(client.query_one("SELECT create_api_token($1, 'harness')", &[&HARNESS_USER]).await?.get(0))
}

impl Front {
    pub async fn start(database_url: &str, env: &[(&str, &str)]) -> anyhow::Result<Front> {
        Front::start_on(free_port()?, database_url, env).await
    }

    /// Starts the front on a given port (to restart it where its clients expect it).
    pub async fn start_on(port: u16, database_url: &str, env: &[(&str, &str)]) -> anyhow::Result<Front> {
        Front::spawn(port, database_url, env, None).await
    }

    /// Starts the front with at most `files` open descriptors (its hard limit).
    pub async fn start_with_file_limit(database_url: &str, env: &[(&str, &str)], files: u64) -> anyhow::Result<Front> {
        Front::spawn(free_port()?, database_url, env, Some(files)).await
    }

    async fn spawn(port: u16, database_url: &str, env: &[(&str, &str)], files: Option<u64>) -> anyhow::Result<Front> {
        use std::os::unix::process::CommandExt;
        let log = log_dir().join(format!("front-{port}.log"));
        let log_file = std::fs::File::create(&log)?;
        let mut command = Command::new(workspace_binary("http_front")?);
        command
            .env("DATABASE_URL", database_url)
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::from(log_file.try_clone()?))
            .stderr(Stdio::from(log_file));
        if let Some(files) = files {
            let limit = libc::rlimit { rlim_cur: files, rlim_max: files };
            // SAFETY: setrlimit is async-signal-safe; called in the child between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let child = command.spawn().context("starting http_front")?;
        let mut front = Front { child, base: format!("http://127.0.0.1:{port}"), log, token: None };
        front.wait_listening().await?;
        front.token = admin_token(database_url).await.ok();
        Ok(front)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A line of the front's /proc status, in KiB (VmRSS, VmHWM: peak resident memory).
    pub fn memory_kib(&self, field: &str) -> u64 {
        proc_status_kib(self.pid(), field)
    }

    /// An HTTP client that reads as the harness's admin (its API token on every request).
    pub fn client(&self) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = &self.token {
            if let Ok(value) = format!("Bearer {token}").parse() {
                headers.insert(reqwest::header::AUTHORIZATION, value);
            }
        }
        reqwest::Client::builder().default_headers(headers).build().expect("HTTP client")
    }

    /// `GET path` as the harness's admin.
    pub async fn get(&self, path: &str) -> reqwest::Result<reqwest::Response> {
        self.client().get(self.url(path)).send().await
    }

    async fn wait_listening(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let address = self.base.trim_start_matches("http://").to_string();
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("http_front exited with {status}; log: {}", std::fs::read_to_string(&self.log)?);
            }
            if tokio::net::TcpStream::connect(&address).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("http_front did not listen on {address} within 20 s")
    }

    /// Sends SIGTERM (graceful shutdown).
    pub fn terminate(&self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) with a pid we spawned and own.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }

    /// Waits for the process to exit and returns whether it exited successfully.
    pub async fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<bool> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.success());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!("http_front still running after {timeout:?}")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `target/<profile>`, found from the running test or bench executable (`target/<profile>/deps/...`).
fn profile_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .context("test executable is not under target/<profile>/deps")
}

fn log_dir() -> PathBuf {
    let dir = profile_dir().unwrap_or_else(|_| std::env::temp_dir()).join("e2e-logs");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// A binary of this workspace, built (once per test process) in the same profile as the
/// running test, so tests always run the current code.
pub fn workspace_binary(package: &str) -> anyhow::Result<PathBuf> {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let profile = profile_dir()?;
    let mut built = BUILT.lock().map_err(|_| anyhow::anyhow!("build lock poisoned"))?;
    if !built.iter().any(|p| p == package) {
        let release = profile.file_name().is_some_and(|n| n == "release");
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-q", "-p", package, "--manifest-path", manifest]);
        if release {
            build.arg("--release");
        }
        let status = build.status().context("running cargo build")?;
        anyhow::ensure!(status.success(), "cargo build -p {package} failed: {status}");
        built.push(package.to_string());
    }
    Ok(profile.join(package))
}

/// A table's rows over `columns` (all of them when empty), counted and digested: one line that
/// changes when any row does.
pub async fn table_digest(client: &Client, table: &str, columns: &[String]) -> anyhow::Result<String> {
    let list = if columns.is_empty() {
        "*".to_string()
    } else {
        columns.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ")
    };
    let sql = format!(
        "SELECT count(*) AS rows, md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) AS digest
         FROM (SELECT {list} FROM \"{table}\") r"
    );
    let row = client.query_one(&sql, &[]).await.with_context(|| format!("digesting {table}"))?;
    Ok(format!("{table}: {} rows, {}", row.get::<_, i64>("rows"), row.get::<_, String>("digest")))
}

/// Stores `packets` with one binary COPY (the front's encoder), returning the rows written.
pub async fn copy_packets(client: &Client, packets: &[traffic_core::Packet]) -> anyhow::Result<u64> {
    let sink = client.copy_in(&http_front::copy_binary::copy_statement()).await?;
    Ok(http_front::copy_binary::send(sink, &http_front::copy_binary::encode(packets)).await?)
}

/// Waits for a spawned process (e.g. a sensor replay) to exit, at most `timeout`.
pub async fn wait_child(child: &mut Child, timeout: Duration) -> anyhow::Result<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        anyhow::ensure!(Instant::now() < deadline, "still running after {timeout:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A field of /proc/PID/status in KiB (e.g. VmRSS, VmHWM, RssAnon); 0 when unreadable.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|l| {
                l.strip_prefix(field)?.strip_prefix(':')?.trim().trim_end_matches("kB").trim().parse().ok()
            })
        })
        .unwrap_or(0)
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `n` packets shaped like real TCP/UDP/DNS traffic, timestamps spread over `span_secs` from `start`.
pub fn synthetic_packets(n: usize, start: f64, span_secs: f64) -> Vec<traffic_core::Packet> {
    (0..n)
        .map(|i| {
            let mut p = traffic_core::Packet::new(
                start + span_secs * i as f64 / n.max(1) as f64,
                "eth0",
                60 + (i % 1400) as u32,
            );
            p.src_ip = Some(std::net::IpAddr::from([10, 0, (i / 256 % 256) as u8, (i % 256) as u8]));
            p.dst_ip = Some(std::net::IpAddr::from([192, 168, 1, (i % 7) as u8 + 1]));
            p.ip_version = Some(4);
            p.ttl = Some(64);
            p.src_mac = Some(traffic_core::MacAddr([0x02, 0, 0, 0, (i % 256) as u8, 1]));
            p.dst_mac = Some(traffic_core::MacAddr([0x02, 0, 0, 0, 0, 2]));
            if i % 5 == 0 {
                p.protocol = Some("UDP".into());
                p.src_port = Some(53000 + (i % 1000) as u16);
                p.dst_port = Some(53);
                p.dns_query = Some(format!("host{}.example.com", i % 50));
                p.dns_qtype = Some(1);
                p.dns_response = Some(false);
            } else {
                p.protocol = Some("TCP".into());
                p.src_port = Some(40000 + (i % 20000) as u16);
                p.dst_port = Some([80, 443, 22, 8080][i % 4]);
                p.tcp_flags = Some("ACK".into());
                p.tcp_ack = Some(true);
                p.tcp_syn = Some(false);
                p.tcp_window = Some(64240);
                p.payload_length = Some((i % 1400) as u32);
            }
            p
        })
        .collect()
}

/// A held-back capture of tests/captures (`NAME.pcap.gz`) unpacked into `dir` as `NAME.pcap`.
pub fn unpack_capture(gz: &std::path::Path, dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    let name = gz.file_name().context("capture name")?.to_string_lossy().trim_end_matches(".gz").to_string();
    let pcap = dir.join(name);
    let mut reader =
        flate2::read::GzDecoder::new(std::fs::File::open(gz).with_context(|| format!("{}", gz.display()))?);
    std::io::copy(&mut reader, &mut std::fs::File::create(&pcap)?)?;
    Ok(pcap)
}

/// The value of one sample line (`name{labels} value`) of a Prometheus text exposition.
pub fn metric_sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}
