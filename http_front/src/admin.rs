//! `/admin`: users, sensor tokens and API tokens, for admins. Every action is a form carrying
//! the session's CSRF token, and is carried out by a database function that checks the
//! admin's session itself (sql/auth.sql): the front's own role cannot issue a token or create a
//! user without one.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Form};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio_postgres::error::SqlState;

use crate::auth::Access;
use crate::auth::{Principal, Session};
use crate::error::ApiError;
use crate::login::{check_csrf, session_of};
use crate::pages::{render, time_text};
use crate::routes::Routes;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .page(Access::AdminPage, "GET", "/admin", admin_page)
        .page(Access::AdminPage, "POST", "/admin/sensor_tokens", issue_sensor_token)
        .page(Access::AdminPage, "POST", "/admin/sensor_tokens/revoke", revoke_sensor_tokens)
        .page(Access::AdminPage, "POST", "/admin/api_tokens", issue_api_token)
        .page(Access::AdminPage, "POST", "/admin/api_tokens/revoke", revoke_api_tokens)
        .page(Access::AdminPage, "POST", "/admin/users", create_user)
        .page(Access::AdminPage, "POST", "/admin/users/disable", disable_user)
}

pub struct Entry {
    pub name: String,
    pub detail: String,
    pub created_at: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    admin: String,
    csrf: String,
    notice: String,
    secret: String,
    users: Vec<Entry>,
    sensors: Vec<Entry>,
    api_tokens: Vec<Entry>,
}

const OVERVIEW_SQL: &str = "
SELECT kind, name, detail, created_at,
       coalesce(active, false) AS active
FROM admin_overview($1)";

/// The page, with what the last action said (and a secret it made, shown once).
async fn page(state: &AppState, principal: &Principal, notice: String, secret: String) -> Result<Response, ApiError> {
    let (admin, _, session) = session_of(principal)?;
    let client = state.pool.get().await?;
    let rows = client.query(OVERVIEW_SQL, &[&session.token]).await.map_err(admin_error)?;
    let (mut users, mut sensors, mut api_tokens) = (Vec::new(), Vec::new(), Vec::new());
    for row in &rows {
        let entry = Entry {
            name: row.try_get("name")?,
            detail: row.try_get("detail")?,
            created_at: row.try_get::<_, Option<DateTime<Utc>>>("created_at")?.map(time_text).unwrap_or_default(),
            active: row.try_get("active")?,
        };
        match row.try_get::<_, &str>("kind")? {
            "user" => users.push(entry),
            "sensor" => sensors.push(entry),
            _ => api_tokens.push(entry),
        }
    }
    render(&AdminPage {
        admin: admin.to_string(),
        csrf: session.csrf.clone(),
        notice,
        secret,
        users,
        sensors,
        api_tokens,
    })
}

/// An admin function's refusal: its own message for what the admin got wrong, 403 when the
/// session is not an admin's; anything else is ours.
fn admin_error(e: tokio_postgres::Error) -> ApiError {
    let Some(db) = e.as_db_error() else { return e.into() };
    let code = db.code();
    if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        ApiError::Forbidden("this needs the live session of an admin".into())
    } else if *code == SqlState::CHARACTER_NOT_IN_REPERTOIRE {
        // A form field with a NUL, which PostgreSQL text cannot hold.
        ApiError::unprocessable(
            "a field holds a character PostgreSQL cannot store (NUL)",
            vec![serde_json::json!("body")],
        )
    } else if [SqlState::INVALID_PARAMETER_VALUE, SqlState::DUPLICATE_OBJECT, SqlState::UNDEFINED_OBJECT].contains(code)
    {
        ApiError::unprocessable(db.message().to_string(), vec![serde_json::json!("body")])
    } else {
        e.into()
    }
}

/// `GET /admin`.
pub async fn admin_page(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, ApiError> {
    page(&state, &principal, String::new(), String::new()).await
}

/// Runs an admin function for a form of this session; then the page, saying what happened.
async fn act<F>(state: &AppState, principal: &Principal, csrf: &str, action: F) -> Result<Response, ApiError>
where
    F: AsyncFnOnce(&tokio_postgres::Client, &Session) -> Result<(String, String), tokio_postgres::Error>,
{
    let (admin, _, session) = session_of(principal)?;
    check_csrf(session, csrf)?;
    let client = state.pool.get().await?;
    let (notice, secret) = action(&client, session).await.map_err(admin_error)?;
    tracing::info!(admin, notice, "admin action");
    page(state, principal, notice, secret).await
}

#[derive(Debug, Deserialize)]
pub struct SensorForm {
    csrf: String,
    sensor: String,
}

#[derive(Debug, Deserialize)]
pub struct ApiTokenForm {
    csrf: String,
    user: String,
    label: String,
}

#[derive(Debug, Deserialize)]
pub struct UserForm {
    csrf: String,
    name: String,
    role: String,
    password: String,
}

#[derive(Debug, Deserialize)]
pub struct NameForm {
    csrf: String,
    name: String,
}

pub async fn issue_sensor_token(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Form(form): Form<SensorForm>,
) -> Result<Response, ApiError> {
    act(&state, &principal, &form.csrf, async |client, session| {
        let token: String = client
            .query_one("SELECT admin_create_sensor_token($1, $2) AS token", &[&session.token, &form.sensor])
            .await?
            .try_get("token")?;
        Ok((format!("issued a token for sensor {}", form.sensor), token))
    })
    .await
}

pub async fn revoke_sensor_tokens(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Form(form): Form<SensorForm>,
) -> Result<Response, ApiError> {
    let result = act(&state, &principal, &form.csrf, async |client, session| {
        let revoked: i32 = client
            .query_one("SELECT admin_revoke_sensor_tokens($1, $2) AS revoked", &[&session.token, &form.sensor])
            .await?
            .try_get("revoked")?;
        Ok((format!("revoked {revoked} tokens of sensor {}", form.sensor), String::new()))
    })
    .await;
    // This front stops trusting them at once; others within CREDENTIAL_CACHE_SECS.
    state.tokens.forget_sensor(&form.sensor);
    result
}

pub async fn issue_api_token(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Form(form): Form<ApiTokenForm>,
) -> Result<Response, ApiError> {
    act(&state, &principal, &form.csrf, async |client, session| {
        let token: String = client
            .query_one("SELECT admin_create_api_token($1, $2, $3) AS token", &[&session.token, &form.user, &form.label])
            .await?
            .try_get("token")?;
        Ok((format!("issued API token {} for {}", form.label, form.user), token))
    })
    .await
}

pub async fn revoke_api_tokens(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Form(form): Form<ApiTokenForm>,
) -> Result<Response, ApiError> {
    let result = act(&state, &principal, &form.csrf, async |client, session| {
        let revoked: i32 = client
            .query_one(
                "SELECT admin_revoke_api_tokens($1, $2, $3) AS revoked",
                &[&session.token, &form.user, &form.label],
            )
            .await?
            .try_get("revoked")?;
        Ok((format!("revoked {revoked} API tokens {} of {}", form.label, form.user), String::new()))
    })
    .await;
    state.tokens.forget_user(&form.user);
    result
}

pub async fn create_user(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Form(form): Form<UserForm>,
) -> Result<Response, ApiError> {
    act(&state, &principal, &form.csrf, async |client, session| {
        client
            .execute(
                "SELECT admin_create_user($1, $2, $3, $4)",
                &[&session.token, &form.name, &form.role, &form.password],
            )
            .await?;
        Ok((format!("created {} user {}", form.role, form.name), String::new()))
    })
    .await
}

pub async fn disable_user(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Form(form): Form<NameForm>,
) -> Result<Response, ApiError> {
    let result = act(&state, &principal, &form.csrf, async |client, session| {
        client.execute("SELECT admin_disable_user($1, $2)", &[&session.token, &form.name]).await?;
        Ok((format!("disabled user {}", form.name), String::new()))
    })
    .await;
    state.tokens.forget_user(&form.name);
    state.sessions.forget_user(&form.name);
    result
}
