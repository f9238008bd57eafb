//! Who may do what, through the real front: every route of `http_front::routes::ROUTES` with
//! every kind of credentials (none, a reader's and an admin's API token and signed-in session,
//! a sensor token, a wrong and a revoked token), and the login itself: CSRF, throttling,
//! cookie flags, sign-out, and trusted addresses for ingest.

use std::collections::HashMap;

use e2e::{Front, TestDb};
use http_front::auth::Access;
use http_front::routes::ROUTES;
use reqwest::header::{HeaderMap, AUTHORIZATION, COOKIE, SET_COOKIE};
use reqwest::{redirect, StatusCode};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Credentials {
    None,
    ReaderToken,
    AdminToken,
    ReaderSession,
    AdminSession,
    SensorToken,
    WrongToken,
    RevokedToken,
}

const ALL: [Credentials; 8] = [
    Credentials::None,
    Credentials::ReaderToken,
    Credentials::AdminToken,
    Credentials::ReaderSession,
    Credentials::AdminSession,
    Credentials::SensorToken,
    Credentials::WrongToken,
    Credentials::RevokedToken,
];

const PASSWORD: &str = "a-long-enough-password";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(redirect::Policy::none()).build().expect("client")
}

/// A signed-in browser's cookie and the CSRF token of its forms.
struct Signed {
    cookie: String,
    csrf: String,
}

/// Signs in through the login form as a browser does: the form (and its cookie), then the post.
async fn sign_in(front: &Front, user: &str, password: &str) -> Result<Signed, (StatusCode, String)> {
    let client = no_redirects();
    let form = client.get(front.url("/login")).send().await.expect("login form");
    let login_cookie = form.headers().get(SET_COOKIE).expect("form cookie").to_str().unwrap().to_string();
    let login_cookie = login_cookie.split(';').next().unwrap().to_string();
    let page = form.text().await.unwrap();
    let csrf = between(&page, "name=\"csrf\" value=\"", "\"");
    let response = client
        .post(front.url("/login"))
        .header(COOKIE, &login_cookie)
        .form(&[("user", user), ("password", password), ("csrf", &csrf), ("next", "/alerts")])
        .send()
        .await
        .expect("login post");
    if response.status() != StatusCode::SEE_OTHER {
        let status = response.status();
        return Err((status, response.text().await.unwrap_or_default()));
    }
    assert_eq!(response.headers()["location"], "/alerts", "sent on to where the user was going");
    let session = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("ta_session="))
        .expect("a session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"), "{session}");
    assert!(!session.contains("Secure"), "plain HTTP: no Secure flag ({session})");
    let cookie = session.split(';').next().unwrap().to_string();
    // The session's forms carry its CSRF token (the sign-out page has one).
    let page = client.get(front.url("/logout")).header(COOKIE, &cookie).send().await.unwrap().text().await.unwrap();
    Ok(Signed { cookie, csrf: between(&page, "name=\"csrf\" value=\"", "\"") })
}

fn between(text: &str, start: &str, end: &str) -> String {
    text.split(start).nth(1).and_then(|rest| rest.split(end).next()).unwrap_or_default().to_string()
}

/// What each kind of credentials must get from a route of each access, answered by a handler
/// that has what it needs (the bodies below are valid).
fn expected(route: &http_front::routes::Route, credentials: Credentials) -> StatusCode {
    use Credentials::{
        AdminSession, AdminToken, None, ReaderSession, ReaderToken, RevokedToken, SensorToken, WrongToken,
    };
    let session = matches!(credentials, ReaderSession | AdminSession);
    match (route.access, credentials) {
        // The login post checks its own form's CSRF cookie, which these requests lack.
        (Access::Public, _) if route.method == "POST" => StatusCode::FORBIDDEN,
        (Access::Public, _) => StatusCode::OK,
        (Access::Ingest, SensorToken) => StatusCode::OK,
        (Access::Ingest, ReaderToken | AdminToken) => StatusCode::FORBIDDEN,
        (Access::Ingest, _) => StatusCode::UNAUTHORIZED,
        (Access::Read, ReaderToken | AdminToken | ReaderSession | AdminSession) => StatusCode::OK,
        (Access::Read, SensorToken) => StatusCode::FORBIDDEN,
        (Access::Read, _) => StatusCode::UNAUTHORIZED,
        // The sign-out form and post are a browser session's; an API token has none.
        (Access::ReadPage, ReaderToken | AdminToken) if route.path == "/logout" => StatusCode::FORBIDDEN,
        (Access::ReadPage, _) if route.path == "/logout" && session && route.method == "POST" => StatusCode::SEE_OTHER,
        (Access::ReadPage, ReaderToken | AdminToken | ReaderSession | AdminSession) => StatusCode::OK,
        (Access::ReadPage | Access::AdminPage, SensorToken) => StatusCode::FORBIDDEN,
        // No credentials, or ones that are not valid: the browser is sent to sign in.
        (Access::ReadPage | Access::AdminPage, None | WrongToken | RevokedToken) => StatusCode::SEE_OTHER,
        (Access::AdminPage, AdminSession) => StatusCode::OK,
        (Access::AdminPage, _) => StatusCode::FORBIDDEN,
        (Access::Metrics, AdminToken | AdminSession) => StatusCode::OK,
        (Access::Metrics, ReaderToken | ReaderSession | SensorToken) => StatusCode::FORBIDDEN,
        (Access::Metrics, _) => StatusCode::UNAUTHORIZED,
    }
}

#[tokio::test]
async fn every_route_answers_each_kind_of_credentials_as_its_access_says() {
    let db = TestDb::create("ta_e2e_access").await.expect("db");
    let model = traffic_core::testing::single_split_json(
        &traffic_core::features::FEATURES.iter().map(|f| f.name).collect::<Vec<_>>(),
        traffic_core::features::FEATURE_VERSION,
        "syn_without_ack_ratio",
        0.5,
        "SYN_Flood",
    );
    db.admin.execute("SELECT load_model('m', $1)", &[&model]).await.expect("model");
    for (user, role) in [("reader1", "reader"), ("admin1", "admin"), ("victim", "reader")] {
        db.admin.execute("SELECT create_front_user($1, $2, $3)", &[&user, &role, &PASSWORD]).await.expect("user");
    }
    let token = |sql: &'static str| {
        let admin = &db.admin;
        async move { admin.query_one(sql, &[]).await.expect(sql).get::<_, String>(0) }
    };
    let reader_token = token("SELECT create_api_token('reader1', 'matrix')").await;
    let admin_token = token("SELECT create_api_token('admin1', 'matrix')").await;
    let sensor_token = token("SELECT create_sensor_token('matrix-sensor')").await;
    let revoked = token("SELECT create_api_token('reader1', 'gone')").await;
    db.admin.execute("SELECT revoke_api_tokens('reader1', 'gone')", &[]).await.expect("revoke");
    db.admin
        .batch_execute(
            "INSERT INTO detected_alerts (alert_type, severity, confidence, description, first_seen, last_seen)
             VALUES ('SYN_Flood', 'High', 0.9, 'matrix', now(), now())",
        )
        .await
        .expect("alert");
    let alert_id = db.count("SELECT max(id) FROM detected_alerts").await;

    // No address is trusted: ingest needs a sensor token here.
    let front = Front::start(&db.front_url().expect("url"), &[("TRUSTED_ADDRESSES", "none")]).await.expect("front");
    let reader = sign_in(&front, "reader1", PASSWORD).await.expect("reader signs in");
    let admin = sign_in(&front, "admin1", PASSWORD).await.expect("admin signs in");

    let mut results: HashMap<(usize, Credentials), StatusCode> = HashMap::new();
    let mut failures = Vec::new();
    let client = no_redirects();
    for credentials in ALL {
        // A session of its own for each sign-out, so signing out ends no other request's.
        let logout_session = match credentials {
            Credentials::ReaderSession => Some(sign_in(&front, "reader1", PASSWORD).await.expect("reader")),
            Credentials::AdminSession => Some(sign_in(&front, "admin1", PASSWORD).await.expect("admin")),
            _ => None,
        };
        for (i, route) in ROUTES.iter().enumerate() {
            let path =
                route.path.replace("{count}", "5").replace("{id}", &alert_id.to_string()).replace("{name}", "app.css");
            let session = match (credentials, route.path) {
                (Credentials::ReaderSession | Credentials::AdminSession, "/logout") => logout_session.as_ref(),
                (Credentials::ReaderSession, _) => Some(&reader),
                (Credentials::AdminSession, _) => Some(&admin),
                _ => None,
            };
            let csrf = session.map_or("none".to_string(), |s| s.csrf.clone());
            let mut headers = HeaderMap::new();
            let bearer = match credentials {
                Credentials::ReaderToken => Some(reader_token.as_str()),
                Credentials::AdminToken => Some(admin_token.as_str()),
                Credentials::SensorToken => Some(sensor_token.as_str()),
                Credentials::WrongToken => Some("ta_0000000000000000000000000000000000000000"),
                Credentials::RevokedToken => Some(revoked.as_str()),
                _ => None,
            };
            if let Some(token) = bearer {
                headers.insert(AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
            }
            if let Some(s) = session {
                headers.insert(COOKIE, s.cookie.parse().unwrap());
            }
            let url = front.url(&path);
            let request = match (route.method, route.path) {
                ("GET", _) => client.get(&url),
                ("POST", "/ingest_packets") => {
                    client.post(&url).json(&json!([{"timestamp": 1_704_067_200.0, "interface": "eth0", "length": 60}]))
                }
                ("POST", "/predict") => client.post(&url).json(&json!({"dest_ip": "8.8.8.8", "source_mac": "a",
                    "dest_mac": "b", "packet_count": 10, "packet_per_sec": 1.0})),
                ("POST", "/admin/sensor_tokens" | "/admin/sensor_tokens/revoke") => {
                    client.post(&url).form(&[("csrf", csrf.as_str()), ("sensor", "matrix-sensor-2")])
                }
                ("POST", "/admin/api_tokens" | "/admin/api_tokens/revoke") => {
                    client.post(&url).form(&[("csrf", csrf.as_str()), ("user", "reader1"), ("label", "made")])
                }
                ("POST", "/admin/users") => client.post(&url).form(&[
                    ("csrf", csrf.as_str()),
                    ("name", "made-by-admin"),
                    ("role", "reader"),
                    ("password", PASSWORD),
                ]),
                ("POST", "/admin/users/disable") => {
                    client.post(&url).form(&[("csrf", csrf.as_str()), ("name", "victim")])
                }
                ("POST", "/logout") => client.post(&url).form(&[("csrf", csrf.as_str())]),
                ("POST", "/login") => {
                    client.post(&url).form(&[("user", "x"), ("password", "y"), ("csrf", "forged"), ("next", "/")])
                }
                (method, path) => panic!("the matrix has no request for {method} {path}: add one"),
            };
            let response = request.headers(headers).send().await.expect("request");
            let status = response.status();
            let want = expected(route, credentials);
            if status != want {
                let body = response.text().await.unwrap_or_default();
                failures.push(format!(
                    "{} {path} with {credentials:?}: {status}, expected {want}: {body:.200}",
                    route.method
                ));
            } else if status == StatusCode::SEE_OTHER && route.path != "/logout" {
                let location = response.headers()["location"].to_str().unwrap().to_string();
                if !location.starts_with("/login?next=") {
                    failures.push(format!("{} {path} with {credentials:?}: redirected to {location}", route.method));
                }
            }
            results.insert((i, credentials), status);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        ROUTES.len() * ALL.len(),
        failures.join("\n")
    );

    // Unauthenticated, only /health, the login form and the assets answer with content.
    for (i, route) in ROUTES.iter().enumerate() {
        let status = results[&(i, Credentials::None)];
        if status.is_success() {
            assert!(
                matches!(route.path, "/health" | "/login" | "/assets/{name}"),
                "{} {} is open",
                route.method,
                route.path
            );
        }
    }
    // What the admin's forms did, they did through the admin's session only.
    assert_eq!(db.count("SELECT count(*) FROM front_users WHERE name = 'made-by-admin'").await, 1);
    assert_eq!(db.count("SELECT count(*) FROM front_users WHERE name = 'victim' AND disabled_at IS NOT NULL").await, 1);
    assert_eq!(db.count("SELECT count(*) FROM sensor_tokens WHERE sensor = 'matrix-sensor-2'").await, 1);
    // Packets were stored under the token's sensor name only.
    let sensors = db.admin.query("SELECT DISTINCT sensor FROM raw_packets", &[]).await.expect("sensors");
    assert_eq!(sensors.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>(), ["matrix-sensor"]);
}

#[tokio::test]
async fn logins_are_throttled_csrf_checked_and_end_on_sign_out() {
    let db = TestDb::create("ta_e2e_login").await.expect("db");
    db.admin.execute("SELECT create_front_user('ana', 'reader', $1)", &[&PASSWORD]).await.expect("user");
    let front = Front::start(&db.front_url().expect("url"), &[("LOGIN_ATTEMPTS", "3")]).await.expect("front");

    // Wrong passwords, and a user that does not exist, answer alike.
    let (status, page) = sign_in(&front, "ana", "wrong-password").await.err().expect("refused");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("Wrong user name or password"), "{page}");
    let (status, _) = sign_in(&front, "nobody", "wrong-password").await.err().expect("refused");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    sign_in(&front, "ana", "wrong-again!").await.err().expect("refused");
    sign_in(&front, "ana", "and-again!!").await.err().expect("refused");
    // Three failures for ana: even the right password waits now.
    let (status, page) = sign_in(&front, "ana", PASSWORD).await.err().expect("throttled");
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{page}");

    // A name or password no account can have (a NUL) is a wrong one, not a fault.
    let front_nul = Front::start(&db.front_url().expect("url"), &[]).await.expect("front");
    let (status, _) = sign_in(&front_nul, "an\0a", PASSWORD).await.err().expect("refused");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = sign_in(&front_nul, "ana", "pass\0word!!").await.err().expect("refused");
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A login post without the form's own cookie (a forged cross-site form) is refused.
    db.admin.execute("SELECT create_front_user('bo', 'reader', $1)", &[&PASSWORD]).await.expect("user");
    let forged = no_redirects()
        .post(front.url("/login"))
        .form(&[("user", "bo"), ("password", PASSWORD), ("csrf", "guessed"), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    // The address is at its limit too (three failures from 127.0.0.1): another front for bo.
    let front = Front::start(&db.front_url().expect("url"), &[]).await.expect("front");
    let bo = sign_in(&front, "bo", PASSWORD).await.expect("bo signs in");
    let client = no_redirects();
    let read = |cookie: String| {
        let client = client.clone();
        let url = front.url("/api/last10");
        async move { client.get(url).header(COOKIE, cookie).send().await.unwrap().status() }
    };
    assert_eq!(read(bo.cookie.clone()).await, StatusCode::OK);
    // A state change from another site is refused even with the cookie.
    let cross = client
        .post(front.url("/logout"))
        .header(COOKIE, &bo.cookie)
        .header("origin", "https://evil.example")
        .form(&[("csrf", bo.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    // The right form's token is needed.
    let wrong =
        client.post(front.url("/logout")).header(COOKIE, &bo.cookie).form(&[("csrf", "x")]).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let out = client.post(front.url("/logout")).header(COOKIE, &bo.cookie).form(&[("csrf", bo.csrf.as_str())]).send();
    assert_eq!(out.await.unwrap().status(), StatusCode::SEE_OTHER);
    assert_eq!(read(bo.cookie.clone()).await, StatusCode::UNAUTHORIZED, "the session ended");

    // Disabling a user ends their sessions at once in the database.
    sign_in(&front, "bo", PASSWORD).await.expect("bo again");
    assert_eq!(db.count("SELECT count(*) FROM front_sessions WHERE user_name = 'bo'").await, 1);
    db.admin.execute("SELECT disable_front_user('bo')", &[]).await.expect("disable");
    assert_eq!(db.count("SELECT count(*) FROM front_sessions WHERE user_name = 'bo'").await, 0);
}

#[tokio::test]
async fn trusted_addresses_ingest_without_a_token_under_their_own_name() {
    let db = TestDb::create("ta_e2e_trusted").await.expect("db");
    let front = Front::start(&db.front_url().expect("url"), &[]).await.expect("front");
    let body = json!([{"timestamp": 1_704_067_200.0, "interface": "eth0", "length": 60, "sensor": "claimed"}]);
    // The original's curl example, from the same host.
    let response = reqwest::Client::new().post(front.url("/ingest_packets")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let sensor: String = db.admin.query_one("SELECT sensor FROM raw_packets", &[]).await.unwrap().get(0);
    assert_eq!(sensor, "trusted:127.0.0.1", "the connection names the sensor, not the body");
    // Reads are not trusted by address: they need a login, from loopback too.
    let read = reqwest::Client::new().get(front.url("/api/last10")).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::UNAUTHORIZED);
    // Another network's client needs a token.
    let front = Front::start(&db.front_url().expect("url"), &[("TRUSTED_ADDRESSES", "10.0.0.0/8")]).await.unwrap();
    let response = reqwest::Client::new().post(front.url("/ingest_packets")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn metrics_need_their_token_or_their_own_address() {
    let db = TestDb::create("ta_e2e_metrics_access").await.expect("db");
    let metrics_port = e2e::free_port().unwrap();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let token = "metrics-token-0123456789abcdef";
    let front = Front::start(
        &db.front_url().expect("url"),
        &[("METRICS_LISTEN_ADDR", metrics_addr.as_str()), ("METRICS_TOKEN", token)],
    )
    .await
    .expect("front");
    let client = no_redirects();
    let get = |url: String, bearer: Option<&'static str>| {
        let client = client.clone();
        async move {
            let mut request = client.get(url);
            if let Some(b) = bearer {
                request = request.header(AUTHORIZATION, format!("Bearer {b}"));
            }
            request.send().await.unwrap().status()
        }
    };
    // On its own address, /metrics is all there is, for whoever can reach it.
    assert_eq!(get(format!("http://{metrics_addr}/metrics"), None).await, StatusCode::OK);
    assert_eq!(get(format!("http://{metrics_addr}/api/last10"), None).await, StatusCode::NOT_FOUND);
    // On the main listener, the metrics token reads /metrics and nothing else.
    assert_eq!(get(front.url("/metrics"), None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(get(front.url("/metrics"), Some("metrics-token-0123456789abcdef")).await, StatusCode::OK);
    assert_eq!(get(front.url("/api/last10"), Some("metrics-token-0123456789abcdef")).await, StatusCode::FORBIDDEN);
    assert_eq!(get(front.url("/metrics"), Some("metrics-token-0123456789abcdeX")).await, StatusCode::UNAUTHORIZED);
}
