//! Who may do what. Every route has an [`Access`] (declared with it in `routes.rs`); a request
//! is let through once its credentials give a [`Principal`] that has it:
//!
//! - sensors ingest with a sensor token (`Authorization: Bearer ta_...`, issued by
//!   `create_sensor_token()` or configured in SENSOR_TOKENS), or without one from a trusted
//!   address (TRUSTED_ADDRESSES, loopback by default); the packets' `sensor` is the token's name
//!   (or `trusted:<address>`), never what the body says;
//! - users (kept in the database, roles reader and admin) read with a login session (a cookie,
//!   from `/login`) or an API token (`Bearer tau_...`, from `create_api_token()`);
//! - `/metrics` takes METRICS_TOKEN or an admin.
//!
//! The database decides: tokens and sessions are checked by its functions (sql/auth.sql), and
//! what it confirmed is kept for CREDENTIAL_CACHE_SECS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::error::ApiError;
use crate::server::Client;
use crate::state::AppState;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (health, the login page, static assets).
    Public,
    /// A sensor: a sensor token, or a trusted address.
    Ingest,
    /// A user (reader or admin); a JSON answer of 401 without one.
    Read,
    /// A user; a page that sends the browser to /login without one.
    ReadPage,
    /// An admin's page (or form).
    AdminPage,
    /// METRICS_TOKEN or an admin.
    Metrics,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Reader,
    Admin,
}

impl Role {
    fn parse(text: &str) -> Option<Role> {
        match text {
            "reader" => Some(Role::Reader),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Admin => "admin",
        }
    }
}

/// A user's login session, as its cookie names it.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    /// Every form of the session carries it.
    pub csrf: String,
}

/// Who the request comes from, once authenticated (a request extension for the handlers).
#[derive(Debug, Clone)]
pub enum Principal {
    Sensor { name: String },
    User { name: String, role: Role, session: Option<Session> },
    Metrics,
}

impl Principal {
    pub fn session(&self) -> Option<&Session> {
        match self {
            Principal::User { session, .. } => session.as_ref(),
            _ => None,
        }
    }
}

pub const SESSION_COOKIE: &str = "ta_session";
/// Prefixes of what `Authorization: Bearer` may carry.
const API_TOKEN_PREFIX: &str = "tau_";
const SESSION_PREFIX: &str = "tas_";
/// Entries a credential cache holds before it starts over.
const CACHE_CAPACITY: usize = 10_000;

/// Credentials the database confirmed, for a while.
pub struct CredentialCache<T> {
    entries: Mutex<HashMap<String, (T, Instant)>>,
}

impl<T: Clone> Default for CredentialCache<T> {
    fn default() -> Self {
        CredentialCache { entries: Mutex::new(HashMap::new()) }
    }
}

impl<T: Clone> CredentialCache<T> {
    fn get(&self, key: &str, ttl: Duration) -> Option<T> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(key).filter(|(_, at)| at.elapsed() < ttl).map(|(value, _)| value.clone())
    }

    fn put(&self, key: &str, value: T) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_CAPACITY {
            entries.clear();
        }
        entries.insert(key.to_string(), (value, Instant::now()));
    }

    pub fn forget(&self, key: &str) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }

    fn forget_where(&self, gone: impl Fn(&T) -> bool) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, (value, _)| !gone(value));
    }
}

impl CredentialCache<Principal> {
    pub fn forget_sensor(&self, sensor: &str) {
        self.forget_where(|p| matches!(p, Principal::Sensor { name } if name == sensor));
    }

    pub fn forget_user(&self, user: &str) {
        self.forget_where(|p| matches!(p, Principal::User { name, .. } if name == user));
    }
}

/// Middleware (one per route, with its access): authenticates, checks, and hands the principal
/// to the handler.
pub async fn require(
    State((state, access)): State<(Arc<AppState>, Access)>,
    mut request: Request,
    next: Next,
) -> Response {
    if access == Access::Public {
        return next.run(request).await;
    }
    let client = request.extensions().get::<Client>().copied();
    match authorize(&state, access, request.headers(), request.method(), client).await {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(ApiError::Unauthorized(_)) if matches!(access, Access::ReadPage | Access::AdminPage) => {
            let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
            Redirect::to(&format!("/login?next={}", crate::pages::urlencode(path))).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn authorize(
    state: &AppState,
    access: Access,
    headers: &HeaderMap,
    method: &Method,
    client: Option<Client>,
) -> Result<Principal, ApiError> {
    let principal = match (bearer(headers)?, access) {
        (Some(token), _) => principal_of_token(state, token).await?,
        (None, Access::Ingest) => {
            return match client {
                Some(c) if state.config.is_trusted(c.addr.ip()) => {
                    Ok(Principal::Sensor { name: format!("trusted:{}", crate::config::canonical(c.addr.ip())) })
                }
                _ => Err(ApiError::Unauthorized(
                    "a sensor token is needed (Authorization: Bearer ...): this address is not trusted".into(),
                )),
            };
        }
        (None, _) => {
            let principal = session_principal(state, headers).await?.ok_or_else(ApiError::unauthorized)?;
            // A session cookie rides along with any request the browser makes: state changes
            // must come from the front's own pages.
            if !matches!(*method, Method::GET | Method::HEAD) && cross_site(headers) {
                return Err(ApiError::Forbidden("cross-site requests are refused".into()));
            }
            principal
        }
    };
    let allowed = matches!(
        (&principal, access),
        (_, Access::Public)
            | (Principal::Sensor { .. }, Access::Ingest)
            | (Principal::User { .. }, Access::Read | Access::ReadPage)
            | (Principal::User { role: Role::Admin, .. }, Access::AdminPage | Access::Metrics)
            | (Principal::Metrics, Access::Metrics)
    );
    if allowed {
        Ok(principal)
    } else {
        Err(ApiError::Forbidden(match (&principal, access) {
            (_, Access::Ingest) => "only sensors ingest: use a sensor token".into(),
            (Principal::Sensor { .. }, _) => "a sensor token may only ingest".into(),
            (Principal::Metrics, _) => "the metrics token may only read /metrics".into(),
            _ => "this needs the admin role".into(),
        }))
    }
}

/// The token of an `Authorization: Bearer` header; an Authorization header of another kind is
/// refused rather than ignored.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 256)
        .map(Some)
        .ok_or_else(|| ApiError::Unauthorized("Authorization must be a bearer token".into()))
}

/// Whether the browser says the request came from another site.
fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    match (headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()), headers.get(header::HOST)) {
        (Some(origin), Some(host)) => {
            let host = host.to_str().unwrap_or("");
            origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) != Some(host)
        }
        _ => false,
    }
}

/// Equal contents without an early exit (a token compared byte by byte would tell its prefix).
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn principal_of_token(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let config = &state.config;
    if config.metrics_token.as_deref().is_some_and(|known| same_secret(known, token)) {
        return Ok(Principal::Metrics);
    }
    if let Some((name, _)) = config.sensor_tokens.iter().find(|(_, known)| same_secret(known, token)) {
        return Ok(Principal::Sensor { name: name.clone() });
    }
    let ttl = config.credential_cache();
    if let Some(principal) = state.tokens.get(token, ttl) {
        return Ok(principal);
    }
    let client = state.pool.get().await?;
    let principal = if token.starts_with(API_TOKEN_PREFIX) {
        let row = client.query_opt("SELECT user_name, role FROM authenticate_api_token($1)", &[&token]).await?;
        let row = row.ok_or_else(ApiError::unauthorized)?;
        let role: &str = row.try_get("role")?;
        Principal::User {
            name: row.try_get("user_name")?,
            role: Role::parse(role).ok_or_else(ApiError::unauthorized)?,
            session: None,
        }
    } else if token.starts_with(SESSION_PREFIX) {
        return Err(ApiError::Unauthorized("a session is a cookie, not a bearer token".into()));
    } else {
        let sensor: Option<String> =
            client.query_one("SELECT authenticate_sensor($1) AS sensor", &[&token]).await?.try_get("sensor")?;
        Principal::Sensor { name: sensor.ok_or_else(ApiError::unauthorized)? }
    };
    state.tokens.put(token, principal.clone());
    Ok(principal)
}

/// The value of a cookie of the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The user behind the session cookie, if it names a live session.
pub async fn session_principal(state: &AppState, headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
    let Some(token) = cookie(headers, SESSION_COOKIE).filter(|t| t.starts_with(SESSION_PREFIX) && t.len() <= 128)
    else {
        return Ok(None);
    };
    let ttl = state.config.credential_cache();
    if let Some(principal) = state.sessions.get(token, ttl) {
        return Ok(Some(principal));
    }
    let client = state.pool.get().await?;
    let idle = i32::try_from(state.config.session_idle_minutes).unwrap_or(i32::MAX);
    let row =
        client.query_opt("SELECT user_name, role, csrf_token FROM front_session($1, $2)", &[&token, &idle]).await?;
    let Some(row) = row else { return Ok(None) };
    let role: &str = row.try_get("role")?;
    let Some(role) = Role::parse(role) else { return Ok(None) };
    let principal = Principal::User {
        name: row.try_get("user_name")?,
        role,
        session: Some(Session { token: token.to_string(), csrf: row.try_get("csrf_token")? }),
    };
    state.sessions.put(token, principal.clone());
    Ok(Some(principal))
}

/// Failed logins per user name and per client address, in a sliding window: past the limit,
/// logins are refused (429) until the oldest failure leaves the window. Kept in the front's
/// memory: each front of several throttles on its own.
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, Vec<Instant>>>,
    limit: usize,
}

pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

impl LoginThrottle {
    pub fn new(limit: u32) -> Self {
        LoginThrottle { failures: Mutex::new(HashMap::new()), limit: limit.max(1) as usize }
    }

    /// Seconds to wait before another attempt for these keys, if they are at the limit.
    pub fn wait(&self, keys: &[String]) -> Option<u64> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter_map(|key| {
                let times = failures.get_mut(key)?;
                times.retain(|t| t.elapsed() < LOGIN_WINDOW);
                (times.len() >= self.limit).then(|| (LOGIN_WINDOW - times[0].elapsed()).as_secs() + 1)
            })
            .max()
    }

    pub fn failed(&self, keys: &[String]) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() > CACHE_CAPACITY {
            failures.retain(|_, times| times.last().is_some_and(|t| t.elapsed() < LOGIN_WINDOW));
        }
        for key in keys {
            failures.entry(key.clone()).or_default().push(Instant::now());
        }
    }

    pub fn succeeded(&self, user_key: &str) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(user_key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; ta_session=tas_x; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("tas_x"));
        assert_eq!(cookie(&headers, "c"), None);
    }

    #[test]
    fn cross_site_requests_are_told_apart() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            h
        };
        assert!(!cross_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!cross_site(&headers(&[("origin", "http://127.0.0.1:8000"), ("host", "127.0.0.1:8000")])));
        assert!(cross_site(&headers(&[("origin", "https://evil.example"), ("host", "127.0.0.1:8000")])));
        assert!(!cross_site(&headers(&[])));
    }

    #[test]
    fn throttle_counts_failures_per_key() {
        let throttle = LoginThrottle::new(2);
        let keys = ["user:a".to_string(), "address:1".to_string()];
        assert_eq!(throttle.wait(&keys), None);
        throttle.failed(&keys);
        throttle.failed(&keys);
        assert!(throttle.wait(&keys).is_some_and(|s| s > 800));
        assert!(throttle.wait(&["user:b".to_string()]).is_none());
        throttle.succeeded("user:a");
        assert!(throttle.wait(&["user:a".to_string()]).is_none());
        assert!(throttle.wait(&["address:1".to_string()]).is_some());
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
