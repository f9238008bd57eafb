//! `/login` and `/logout`: a session cookie for a user name and password the database checks.
//!
//! The session cookie is HttpOnly, SameSite=Strict and, over HTTPS, Secure. Both forms carry a
//! CSRF token: the login form one paired with a short-lived cookie of its own (so no other site
//! can log a browser in under its own account), the logout form the session's. Failed logins
//! are throttled per user name and per client address (LOGIN_ATTEMPTS in 15 minutes).

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use crate::auth::Access::{Public, ReadPage};
use crate::auth::{cookie, same_secret, Principal, SESSION_COOKIE};
use crate::error::ApiError;
use crate::pages::render;
use crate::routes::Routes;
use crate::server::Client;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .page(Public, "GET", "/login", login_page)
        .page(Public, "POST", "/login", log_in)
        .page(ReadPage, "GET", "/logout", logout_page)
        .page(ReadPage, "POST", "/logout", log_out)
}

const LOGIN_COOKIE: &str = "ta_login";
/// How long a login form stays valid.
const LOGIN_FORM_SECS: u32 = 1800;
/// How long a login may wait for a password check to start.
const LOGIN_QUEUE: Duration = Duration::from_secs(5);

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    next: String,
    error: String,
}

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage {
    user: String,
    role: &'static str,
    csrf: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    user: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

/// A secret from the operating system's random source, hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if let Err(e) = getrandom::fill(&mut buf) {
        // Without a random source no form can be made safe: fail the request.
        panic!("no random source: {e}");
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where to go after logging in: a path of this front only (never another site).
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path.to_string(),
        _ => "/".to_string(),
    }
}

/// A `Set-Cookie` value: HttpOnly and SameSite=Strict always, Secure over HTTPS.
fn set_cookie(name: &str, value: &str, path: &str, max_age: u64, tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn is_tls(client: &Option<Extension<Client>>) -> bool {
    client.as_ref().is_some_and(|c| c.tls)
}

/// A fresh login form (and its cookie), with an error line when there is one.
fn login_form(status: StatusCode, next: &str, error: &str, tls: bool) -> Response {
    let csrf = random_hex(32);
    let page = LoginPage { csrf: csrf.clone(), next: next.to_string(), error: error.to_string() };
    let mut response = match render(&page) {
        Ok(response) => response,
        Err(e) => return e.into_response(),
    };
    *response.status_mut() = status;
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, &csrf, "/login", u64::from(LOGIN_FORM_SECS), tls));
    response
}

/// `GET /login`.
pub async fn login_page(
    client: Option<Extension<Client>>,
    query: Result<Query<LoginQuery>, QueryRejection>,
) -> Response {
    let next = local_path(query.as_ref().ok().and_then(|q| q.next.as_deref()));
    login_form(StatusCode::OK, &next, "", is_tls(&client))
}

/// `POST /login`.
pub async fn log_in(
    State(state): State<Arc<AppState>>,
    client: Option<Extension<Client>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let tls = is_tls(&client);
    let next = local_path(form.next.as_deref());
    let form_cookie = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if form.csrf.is_empty() || !same_secret(form_cookie, &form.csrf) {
        return login_form(StatusCode::FORBIDDEN, &next, "The sign-in form expired: please sign in again.", tls);
    }
    // What no account can have (PostgreSQL text holds no NUL) is wrong without asking.
    let impossible = |text: &str, max: usize| text.is_empty() || text.len() > max || text.contains('\0');
    if impossible(&form.user, 64) || impossible(&form.password, 1024) {
        return login_form(StatusCode::UNAUTHORIZED, &next, "Wrong user name or password.", tls);
    }
    let address = client.as_ref().map_or_else(|| "unknown".to_string(), |c| c.addr.ip().to_string());
    let user_key = format!("user:{}", form.user.to_lowercase());
    let keys = [user_key.clone(), format!("address:{address}")];
    if let Some(seconds) = state.login_throttle.wait(&keys) {
        let mut response = login_form(
            StatusCode::TOO_MANY_REQUESTS,
            &next,
            &format!("Too many failed sign-ins: try again in {} minutes.", seconds.div_ceil(60)),
            tls,
        );
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return response;
    }
    let session = match check_password(&state, &form.user, &form.password, &address).await {
        Ok(session) => session,
        Err(e) => return e.into_response(),
    };
    let Some((token, _csrf)) = session else {
        state.login_throttle.failed(&keys);
        tracing::info!(user = form.user, %address, "sign-in refused");
        return login_form(StatusCode::UNAUTHORIZED, &next, "Wrong user name or password.", tls);
    };
    state.login_throttle.succeeded(&user_key);
    tracing::info!(user = form.user, %address, "signed in");
    let mut response = Redirect::to(&next).into_response();
    let max_age = u64::from(state.config.session_hours) * 3600;
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, &token, "/", max_age, tls));
    headers.append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", "/login", 0, tls));
    response
}

/// The database checks the password (argon2id) and opens a session: its token and CSRF token,
/// or None.
async fn check_password(
    state: &AppState,
    user: &str,
    password: &str,
    address: &str,
) -> Result<Option<(String, String)>, ApiError> {
    let _slot = tokio::time::timeout(LOGIN_QUEUE, state.login_slots.clone().acquire_owned())
        .await
        .map_err(|_| ApiError::Busy { message: "too many sign-ins at once; retry shortly".into(), retry_after: 2 })?
        .map_err(|_| ApiError::Internal("login slots closed".into()))?;
    let client = state.pool.get().await?;
    let hours = i32::try_from(state.config.session_hours).unwrap_or(i32::MAX);
    let idle = i32::try_from(state.config.session_idle_minutes).unwrap_or(i32::MAX);
    let row = client
        .query_opt(
            "SELECT session_token, csrf_token FROM front_login($1, $2, $3, $4, $5)",
            &[&user, &password, &address, &hours, &idle],
        )
        .await?;
    row.map(|row| Ok((row.try_get("session_token")?, row.try_get("csrf_token")?))).transpose()
}

/// The session of a user principal, or a 403 (a request with an API token has none).
pub fn session_of(principal: &Principal) -> Result<(&str, crate::auth::Role, &crate::auth::Session), ApiError> {
    match principal {
        Principal::User { name, role, session: Some(session) } => Ok((name, *role, session)),
        _ => Err(ApiError::Forbidden("this is a page of a signed-in browser, not of an API token".into())),
    }
}

/// The form's CSRF token must be the session's.
pub fn check_csrf(session: &crate::auth::Session, form_token: &str) -> Result<(), ApiError> {
    if !form_token.is_empty() && same_secret(form_token, &session.csrf) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("the form is not from this session (CSRF token mismatch): reload the page".into()))
    }
}

/// `GET /logout`: the sign-out form.
pub async fn logout_page(Extension(principal): Extension<Principal>) -> Result<Response, ApiError> {
    let (user, role, session) = session_of(&principal)?;
    render(&LogoutPage { user: user.to_string(), role: role.name(), csrf: session.csrf.clone() })
}

/// `POST /logout`: ends the session.
pub async fn log_out(
    State(state): State<Arc<AppState>>,
    client: Option<Extension<Client>>,
    Extension(principal): Extension<Principal>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ApiError> {
    let (user, _, session) = session_of(&principal)?;
    check_csrf(session, &form.csrf)?;
    state.pool.get().await?.execute("SELECT front_logout($1)", &[&session.token]).await?;
    state.sessions.forget(&session.token);
    tracing::info!(user, "signed out");
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", "/", 0, is_tls(&client)));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(local_path(Some("/alerts?type=x")), "/alerts?type=x");
        for foreign in ["https://evil.example/", "//evil.example/", "/\\evil.example", "alerts"] {
            assert_eq!(local_path(Some(foreign)), "/", "{foreign}");
        }
        assert_eq!(local_path(None), "/");
    }
}
