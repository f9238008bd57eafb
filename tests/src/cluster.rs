//! A PostgreSQL 15 cluster of a test's own (initdb in a temporary directory, run as the postgres
//! OS user), for tests that must crash and restart the server or preload the extension with
//! their own settings, without disturbing the shared cluster the other tests use.

use std::path::PathBuf;
use std::process::{Command, Output};

use anyhow::{bail, Context};
use tokio_postgres::Client;

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const ROOT: &str = "/var/tmp/traffic_analyzer-e2e";

pub struct PrivateCluster {
    pub dir: PathBuf,
    pub port: u16,
}

fn as_postgres(program: &str, args: &[&str]) -> anyhow::Result<Output> {
    let output = Command::new("sudo")
        .args(["-u", "postgres", &format!("{PG_BIN}/{program}")])
        .args(args)
        .current_dir("/")
        .output()
        .with_context(|| format!("running {program} as postgres (is sudo installed?)"))?;
    Ok(output)
}

fn check(what: &str, output: Output) -> anyhow::Result<()> {
    if !output.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

impl PrivateCluster {
    /// A fresh cluster named `name` that preloads the extension, with extra `postgresql.conf`
    /// lines (`setting = value`), started.
    pub fn create(name: &str, settings: &[&str]) -> anyhow::Result<PrivateCluster> {
        let dir = PathBuf::from(ROOT).join(name);
        let dir_str = dir.to_string_lossy().into_owned();
        if dir.exists() {
            let _ = as_postgres("pg_ctl", &["-D", &dir_str, "-m", "immediate", "-w", "stop"]);
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(ROOT)?;
        check("chown", Command::new("chown").args(["postgres", ROOT]).output()?)?;
        check(
            "initdb",
            as_postgres("initdb", &["-D", &dir_str, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])?,
        )?;
        let port = crate::free_port()?;
        let mut conf = format!(
            "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{dir_str}'\n\
             shared_preload_libraries = 'traffic_analyzer'\n"
        );
        for setting in settings {
            conf.push_str(setting);
            conf.push('\n');
        }
        let conf_path = dir.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_path)?;
        text.push_str(&conf);
        std::fs::write(&conf_path, text)?;
        let cluster = PrivateCluster { dir, port };
        cluster.start()?;
        Ok(cluster)
    }

    fn dir_str(&self) -> String {
        self.dir.to_string_lossy().into_owned()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn start(&self) -> anyhow::Result<()> {
        let log = self.log_path().to_string_lossy().into_owned();
        check("pg_ctl start", as_postgres("pg_ctl", &["-D", &self.dir_str(), "-l", &log, "-w", "-t", "60", "start"])?)
    }

    /// Stops the server the way a crash would (SIGQUIT: no checkpoint, recovery at next start).
    pub fn crash(&self) -> anyhow::Result<()> {
        check(
            "pg_ctl stop -m immediate",
            as_postgres("pg_ctl", &["-D", &self.dir_str(), "-m", "immediate", "-w", "stop"])?,
        )
    }

    pub fn restart(&self) -> anyhow::Result<()> {
        let log = self.log_path().to_string_lossy().into_owned();
        check(
            "pg_ctl restart",
            as_postgres("pg_ctl", &["-D", &self.dir_str(), "-l", &log, "-m", "fast", "-w", "-t", "60", "restart"])?,
        )
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    pub async fn connect(&self, db: &str) -> anyhow::Result<Client> {
        crate::connect(&format!("host=127.0.0.1 port={} user=postgres dbname={db}", self.port)).await
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = as_postgres("pg_ctl", &["-D", &self.dir_str(), "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
