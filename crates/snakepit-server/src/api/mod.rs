//! The HTTP routes: the `/v1` API, health, metrics, the OpenAPI document and the dashboard,
//! with the token guard, the body limit and (only when configured) CORS around them.

pub mod calls;
pub mod events;
pub mod pools;
pub mod sessions;

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Router, middleware};
use serde::de::DeserializeOwned;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth;
use crate::error::ApiError;
use crate::state::AppState;

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("../../assets/openapi.json");
const DASHBOARD_HTML: &str = include_str!("../../assets/dashboard/index.html");
const DASHBOARD_JS: &str = include_str!("../../assets/dashboard/app.js");
const DASHBOARD_CSS: &str = include_str!("../../assets/dashboard/style.css");

/// Path parameters, with a malformed path turned into a 400 JSON error.
#[derive(Debug)]
pub struct PathParams<T>(pub Result<T, ApiError>);

impl<S, T> FromRequestParts<S> for PathParams<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        let params = Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(params)| params)
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()));
        Ok(Self(params))
    }
}

/// A body that could not be read: 413 when it is too large, 400 otherwise.
pub fn body_error(rejection: &BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than the server accepts",
        )
    } else {
        ApiError::bad_request(rejection.body_text())
    }
}

/// How the router guards itself.
#[derive(Debug, Clone)]
pub struct RouterSettings {
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Origins allowed by CORS; empty: no CORS headers at all.
    pub cors_origins: Vec<String>,
}

/// The whole application.
pub fn router(state: &Arc<AppState>, settings: &RouterSettings) -> Router {
    let v1 = Router::new()
        .route("/pools", get(pools::list))
        .route("/pools/{pool}", get(pools::get))
        .route("/pools/{pool}/tools", get(pools::tools))
        .route("/pools/{pool}/stats", get(pools::stats))
        .route("/pools/{pool}/commands/{command}", post(calls::call))
        .route(
            "/pools/{pool}/commands/{command}/stream",
            post(calls::stream),
        )
        .route("/pools/{pool}/sessions", get(sessions::list))
        .route(
            "/pools/{pool}/sessions/{id}",
            put(sessions::create)
                .get(sessions::get)
                .delete(sessions::delete),
        )
        .route(
            "/pools/{pool}/sessions/{id}/variables",
            get(sessions::variables),
        )
        .route(
            "/pools/{pool}/sessions/{id}/variables/{name}",
            put(sessions::register_variable)
                .get(sessions::get_variable)
                .patch(sessions::update_variable)
                .delete(sessions::delete_variable),
        )
        .route("/events", get(events::events));
    let mut app = Router::new()
        .nest("/v1", v1)
        .route("/healthz", get(pools::healthz))
        .route("/readyz", get(pools::readyz))
        .route("/metrics", get(pools::metrics))
        .route("/openapi.json", get(openapi))
        .route("/", get(dashboard))
        .route("/assets/app.js", get(dashboard_js))
        .route("/assets/style.css", get(dashboard_css))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(Arc::clone(state))
        .merge(
            Router::new()
                .route("/login", post(auth::login))
                .with_state(state.token.clone()),
        )
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            state.token.clone(),
            auth::guard,
        ));
    if !settings.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = settings
            .cors_origins
            .iter()
            .filter_map(|origin| HeaderValue::from_str(origin).ok())
            .collect();
        app = app.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
        );
    }
    app
}

async fn fallback() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// Pages and scripts may come only from this server: the dashboard fetches nothing else.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

async fn dashboard() -> Response {
    (
        [(header::CONTENT_SECURITY_POLICY, CSP)],
        Html(DASHBOARD_HTML),
    )
        .into_response()
}

async fn dashboard_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        DASHBOARD_JS,
    )
        .into_response()
}

async fn dashboard_css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        DASHBOARD_CSS,
    )
        .into_response()
}
