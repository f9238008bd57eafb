//! TLS end to end, with certificates of a CA made for the test: the front serves HTTPS (HSTS,
//! Secure session cookies), the real sensor ships over it verifying the front's certificate
//! against a CA file (and refuses a front whose certificate it cannot verify), and the front
//! reaches PostgreSQL over TLS, verifying the server's certificate (a private cluster with
//! ssl = on), or refuses to use one it cannot verify.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::cluster::PrivateCluster;
use e2e::{free_port, workspace_binary, Front, TestDb};
use reqwest::StatusCode;

fn openssl(args: &[&str]) {
    let output = Command::new("openssl").args(args).output().expect("openssl (apt install openssl)");
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A CA, and a certificate it signed for 127.0.0.1 and localhost, in `dir`.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn pki(dir: &Path, name: &str) -> Pki {
    std::fs::create_dir_all(dir).unwrap();
    let path = |file: &str| dir.join(format!("{name}-{file}"));
    let s = |p: &PathBuf| p.to_string_lossy().into_owned();
    let (ca, ca_key, cert, key, csr, ext) =
        (path("ca.crt"), path("ca.key"), path("server.crt"), path("server.key"), path("server.csr"), path("ext"));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        &format!("/CN={name} test CA"),
        "-keyout",
        &s(&ca_key),
        "-out",
        &s(&ca),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &s(&key),
        "-out",
        &s(&csr),
    ]);
    std::fs::write(&ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &s(&csr),
        "-CA",
        &s(&ca),
        "-CAkey",
        &s(&ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &s(&ext),
        "-out",
        &s(&cert),
    ]);
    Pki { ca, cert, key }
}

fn client_trusting(ca: &Path) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps/benign").join(name)
}

/// Replays a capture through the sensor to `front`; the sensor's exit status and log.
async fn replay(front: &str, ca: &Path, token: &str, name: &str) -> (std::process::ExitStatus, String) {
    let spool = std::env::temp_dir().join(format!("sensor-spool-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&spool);
    let log_path = std::env::temp_dir().join(format!("sensor-tls-{name}.log"));
    let mut sensor = Command::new(workspace_binary("sensor").expect("sensor"))
        .args(["replay", "--quiet", "--drain-timeout-secs", "3", "--max-backoff-ms", "300", "--name", name])
        .args(["--front", front, "--token", token])
        .arg("--ca-file")
        .arg(ca)
        .arg("--spool-dir")
        .arg(&spool)
        .arg(capture("anydesk.pcap"))
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap()))
        .spawn()
        .expect("sensor starts");
    let status = e2e::wait_child(&mut sensor, Duration::from_secs(120)).await.expect("sensor ends");
    let _ = std::fs::remove_dir_all(&spool);
    (status, std::fs::read_to_string(&log_path).unwrap_or_default())
}

#[tokio::test]
async fn the_front_serves_https_and_the_sensor_verifies_it() {
    let dir = std::env::temp_dir().join(format!("ta-tls-front-{}", std::process::id()));
    let good = pki(&dir, "front");
    let other = pki(&dir, "other");
    let db = TestDb::create("ta_e2e_tls_front").await.expect("db");
    let tls_port = free_port().unwrap();
    let env = [
        ("TLS_LISTEN_ADDR", format!("127.0.0.1:{tls_port}")),
        ("TLS_CERT", good.cert.to_string_lossy().into_owned()),
        ("TLS_KEY", good.key.to_string_lossy().into_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let front = Front::start(&db.front_url().expect("url"), &env).await.expect("front");
    let https = format!("https://127.0.0.1:{tls_port}");

    let client = client_trusting(&good.ca);
    let health = client.get(format!("{https}/health")).send().await.expect("HTTPS");
    assert_eq!(health.status(), StatusCode::OK);
    assert!(health.headers()["strict-transport-security"].to_str().unwrap().contains("max-age="));
    // A client that trusts another CA cannot talk to it.
    assert!(client_trusting(&other.ca).get(format!("{https}/health")).send().await.is_err());
    // Over HTTPS the session cookie is Secure.
    let form = client.get(format!("{https}/login")).send().await.unwrap();
    let login_cookie = form.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(login_cookie.contains("; Secure"), "{login_cookie}");

    // The sensor ships over HTTPS with its token, verifying the front against the CA file.
    let token: String = db.admin.query_one("SELECT create_sensor_token('edge-tls')", &[]).await.unwrap().get(0);
    let (status, log) = replay(&https, &good.ca, &token, "edge-tls").await;
    assert!(status.success(), "sensor over HTTPS: {status}: {log}");
    let stored = db.count("SELECT count(*) FROM raw_packets WHERE sensor = 'edge-tls'").await;
    assert_eq!(stored, 6963, "every packet of anydesk.pcap");
    // Against a CA that did not sign the front's certificate, it delivers nothing.
    let (status, log) = replay(&https, &other.ca, &token, "edge-wrong-ca").await;
    assert!(!status.success(), "the sensor must refuse a front it cannot verify: {log}");
    assert_eq!(db.count("SELECT count(*) FROM raw_packets WHERE sensor = 'edge-wrong-ca'").await, 0);
    drop(front);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_front_reaches_postgres_over_verified_tls() {
    // The server's key must belong to postgres and be private to it.
    let dir = PathBuf::from("/var/tmp/traffic_analyzer-e2e/tls-db");
    let _ = std::fs::remove_dir_all(&dir);
    let good = pki(&dir, "db");
    let other = pki(&dir, "other");
    for file in [&good.cert, &good.key, &good.ca] {
        let status = Command::new("chown").arg("postgres").arg(file).status().unwrap();
        assert!(status.success());
    }
    std::fs::set_permissions(&good.key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    Command::new("chmod").args(["0755", &dir.to_string_lossy()]).status().unwrap();
    let cluster = PrivateCluster::create(
        "tls_db",
        &[
            "ssl = on",
            &format!("ssl_cert_file = '{}'", good.cert.display()),
            &format!("ssl_key_file = '{}'", good.key.display()),
        ],
    )
    .expect("cluster with TLS");
    cluster.connect("postgres").await.unwrap().batch_execute("CREATE DATABASE ta_tls").await.unwrap();
    cluster.connect("ta_tls").await.unwrap().batch_execute("CREATE EXTENSION traffic_analyzer").await.unwrap();
    let url = format!("{}?sslmode=require", cluster.url("ta_tls"));

    let ca = good.ca.to_string_lossy().into_owned();
    let front = Front::start(&url, &[("DB_TLS_CA", &ca)]).await.expect("front");
    let health = reqwest::get(front.url("/health")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "{}", front.log_text());
    let encrypted = cluster
        .connect("ta_tls")
        .await
        .unwrap()
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = 'traffic_analyzer http_front' AND s.ssl",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert!(encrypted >= 1, "the front's sessions are encrypted");

    // A server whose certificate does not chain to the configured CA is not talked to.
    let wrong = other.ca.to_string_lossy().into_owned();
    let front = Front::start(&url, &[("DB_TLS_CA", &wrong)]).await.expect("front");
    let health = reqwest::get(front.url("/health")).await.unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(front.log_text().contains("certificate"), "{}", front.log_text());
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}
