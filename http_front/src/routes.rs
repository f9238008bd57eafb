//! Every route is declared once, beside its handler: each resource module has a `routes()` that
//! lists its handlers with who may call them. A JSON route's method, path and OpenAPI operation
//! come from the `#[utoipa::path]` on the handler itself (read by utoipa-axum's `routes!`); a
//! page or form is declared with its method and path. The router ([`router`]), the OpenAPI
//! document's paths ([`api_paths`]) and the access table ([`ROUTES`], which the access-matrix test
//! walks) are all made from these declarations ([`all`]).

use std::sync::{Arc, LazyLock, Mutex};

use axum::handler::Handler;
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodFilter, MethodRouter};
use axum::Router;
use utoipa::openapi::path::Paths;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa_axum::router::UtoipaMethodRouter;

use crate::auth::Access;
use crate::state::AppState;
use crate::{admin, api, health, ingest, login, metrics, openapi, pages, predict};

/// A route: its method, path and who may call it.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

/// A JSON route's OpenAPI operation, and the schemas it names.
pub type ApiDoc = (Paths, Vec<(String, RefOr<Schema>)>);

/// A route with its handler and, for a JSON route, its OpenAPI operation.
pub struct Declared {
    pub route: Route,
    handler: MethodRouter<Arc<AppState>>,
    doc: Option<ApiDoc>,
}

/// The routes a module declares.
#[derive(Default)]
pub struct Routes(Vec<Declared>);

impl Routes {
    pub fn new() -> Self {
        Routes::default()
    }

    /// A JSON route, documented: `routes!(handler)` of a handler with `#[utoipa::path]`.
    pub fn api(mut self, access: Access, (schemas, paths, handler): UtoipaMethodRouter<Arc<AppState>>) -> Self {
        let mut declared = paths.paths.iter().flat_map(|(path, item)| {
            let methods = [("GET", item.get.is_some()), ("POST", item.post.is_some())];
            methods.into_iter().filter(|(_, set)| *set).map(move |(method, _)| (method, path.clone()))
        });
        let (method, path) = declared.next().expect("#[utoipa::path] names a GET or POST operation");
        assert!(declared.next().is_none(), "one operation per handler");
        let path = static_path(&path);
        self.0.push(Declared { route: Route { method, path, access }, handler, doc: Some((paths, schemas)) });
        self
    }

    /// A page or form (not in the OpenAPI document).
    pub fn page<H, T>(mut self, access: Access, method: &'static str, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, Arc<AppState>>,
        T: 'static,
    {
        let filter = match method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            other => panic!("no route method {other}"),
        };
        let handler = axum::routing::on(filter, handler);
        self.0.push(Declared { route: Route { method, path, access }, handler, doc: None });
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.0.extend(other.0);
        self
    }
}

/// A path of a `#[utoipa::path]` (a `String`) as the `&'static str` the table holds: each
/// distinct path is allocated once per process, however often the routes are declared.
fn static_path(path: &str) -> &'static str {
    static PATHS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut paths = PATHS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = paths.iter().find(|known| **known == path) {
        return known;
    }
    let path: &'static str = Box::leak(path.to_owned().into_boxed_str());
    paths.push(path);
    path
}

/// Every route of the front.
pub fn all() -> Vec<Declared> {
    Routes::new()
        .merge(health::routes())
        .merge(login::routes())
        .merge(ingest::routes())
        .merge(api::routes())
        .merge(predict::routes())
        .merge(openapi::routes())
        .merge(metrics::routes())
        .merge(pages::routes())
        .merge(admin::routes())
        .0
}

/// Who may call what: every route's method, path and access.
pub static ROUTES: LazyLock<Vec<Route>> = LazyLock::new(|| all().into_iter().map(|d| d.route).collect());

/// Every route, each behind its access check.
pub fn router(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    all().into_iter().fold(Router::new(), |router, declared| {
        let check = from_fn_with_state((state.clone(), declared.route.access), crate::auth::require);
        router.route(declared.route.path, declared.handler.route_layer(check))
    })
}

/// The documented routes' operations and the schemas they name (collected once per process).
pub fn api_paths() -> ApiDoc {
    static DOC: LazyLock<ApiDoc> = LazyLock::new(|| {
        let mut paths = Paths::new();
        let mut schemas = Vec::new();
        for (more_paths, more_schemas) in all().into_iter().filter_map(|d| d.doc) {
            paths.merge(more_paths);
            schemas.extend(more_schemas);
        }
        (paths, schemas)
    });
    DOC.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_allocated_once() {
        assert!(std::ptr::eq(static_path("/api/x"), static_path(&String::from("/api/x"))));
    }

    #[test]
    fn every_route_has_a_handler_and_appears_once() {
        for (i, route) in ROUTES.iter().enumerate() {
            assert!(
                !ROUTES[..i].iter().any(|r| r.method == route.method && r.path == route.path),
                "{} {} twice",
                route.method,
                route.path
            );
        }
    }
}
