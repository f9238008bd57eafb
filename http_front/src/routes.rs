//! Every route, once: its method, path and who may call it ([`ROUTES`]), and its handler
//! ([`handler`]). The router is built from this table, and the access-matrix test walks it.

use std::sync::Arc;

use axum::routing::{get, post, MethodRouter};

use crate::auth::Access;
use crate::state::AppState;
use crate::{admin, alerts, api, health, ingest, login, metrics, openapi, pages, predict, series, traffic};

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

const fn route(method: &'static str, path: &'static str, access: Access) -> Route {
    Route { method, path, access }
}

use Access::{AdminPage, Ingest, Metrics, Public, Read, ReadPage};

pub const ROUTES: &[Route] = &[
    route("GET", "/health", Public),
    route("GET", "/login", Public),
    route("POST", "/login", Public),
    route("GET", "/assets/{name}", Public),
    route("POST", "/ingest_packets", Ingest),
    route("GET", "/api/raw_packets/last/{count}", Read),
    route("GET", "/api/packets", Read),
    route("GET", "/api/alerts", Read),
    route("GET", "/api/alert_timeline", Read),
    route("GET", "/api/last10", Read),
    route("GET", "/api/alltraffic", Read),
    route("GET", "/api/features", Read),
    route("POST", "/predict", Read),
    route("GET", "/openapi.json", Read),
    route("GET", "/metrics", Metrics),
    route("GET", "/", ReadPage),
    route("GET", "/alltraffic_page", ReadPage),
    route("GET", "/alerts", ReadPage),
    route("GET", "/alerts/{id}", ReadPage),
    route("GET", "/packets", ReadPage),
    route("GET", "/logout", ReadPage),
    route("POST", "/logout", ReadPage),
    route("GET", "/admin", AdminPage),
    route("POST", "/admin/sensor_tokens", AdminPage),
    route("POST", "/admin/sensor_tokens/revoke", AdminPage),
    route("POST", "/admin/api_tokens", AdminPage),
    route("POST", "/admin/api_tokens/revoke", AdminPage),
    route("POST", "/admin/users", AdminPage),
    route("POST", "/admin/users/disable", AdminPage),
];

/// The handler of a route of [`ROUTES`].
pub fn handler(route: &Route) -> MethodRouter<Arc<AppState>> {
    match (route.method, route.path) {
        ("GET", "/health") => get(health::health),
        ("GET", "/login") => get(login::login_page),
        ("POST", "/login") => post(login::log_in),
        ("GET", "/assets/{name}") => get(pages::asset),
        ("POST", "/ingest_packets") => post(ingest::ingest_packets),
        ("GET", "/api/raw_packets/last/{count}") => get(api::last_raw_packets),
        ("GET", "/api/packets") => get(api::packets),
        ("GET", "/api/alerts") => get(alerts::list_alerts),
        ("GET", "/api/alert_timeline") => get(alerts::alert_timeline),
        ("GET", "/api/last10") => get(traffic::last10),
        ("GET", "/api/alltraffic") => get(traffic::all_traffic),
        ("GET", "/api/features") => get(series::features),
        ("POST", "/predict") => post(predict::predict),
        ("GET", "/openapi.json") => get(openapi::openapi_json),
        ("GET", "/metrics") => get(metrics::metrics),
        ("GET", "/") => get(pages::overview),
        ("GET", "/alltraffic_page") => get(pages::all_traffic_page),
        ("GET", "/alerts") => get(pages::alerts_page),
        ("GET", "/alerts/{id}") => get(pages::alert_page),
        ("GET", "/packets") => get(pages::packets_page),
        ("GET", "/logout") => get(login::logout_page),
        ("POST", "/logout") => post(login::log_out),
        ("GET", "/admin") => get(admin::admin_page),
        ("POST", "/admin/sensor_tokens") => post(admin::issue_sensor_token),
        ("POST", "/admin/sensor_tokens/revoke") => post(admin::revoke_sensor_tokens),
        ("POST", "/admin/api_tokens") => post(admin::issue_api_token),
        ("POST", "/admin/api_tokens/revoke") => post(admin::revoke_api_tokens),
        ("POST", "/admin/users") => post(admin::create_user),
        ("POST", "/admin/users/disable") => post(admin::disable_user),
        (method, path) => unreachable!("route {method} {path} is in ROUTES without a handler"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_a_handler_and_appears_once() {
        for (i, route) in ROUTES.iter().enumerate() {
            let _ = handler(route);
            assert!(
                !ROUTES[..i].iter().any(|r| r.method == route.method && r.path == route.path),
                "{} {} twice",
                route.method,
                route.path
            );
        }
    }
}
