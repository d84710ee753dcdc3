//! The console's routes: the page (shipped inside the binary), the API behind the key
//! check, and the headers every console response carries.

use super::api;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::sync::atomic::Ordering::Relaxed;

/// The page's Content-Security-Policy: its own script and style only, no inline code,
/// no frames, requests to this relay only.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("assets/index.html");
const CONSOLE_JS: &str = include_str!("assets/console.js");
const CONSOLE_CSS: &str = include_str!("assets/console.css");
const CHARTS_JS: &str = include_str!("assets/charts.js");

/// The console's routes, to merge into the relay's router (nothing when disabled).
pub fn routes(app: &AppState) -> Router<AppState> {
    if !app.console.config.enabled {
        return Router::new();
    }
    let api = Router::new()
        .route("/console/api/login", post(api::login))
        .route("/console/api/now", get(api::now))
        .route("/console/api/channel", get(api::channel))
        .route("/console/api/events", get(api::stream))
        .route("/console/api/webhooks", get(api::webhooks))
        .route("/console/api/webhooks/{index}/test", post(api::test_webhook))
        .route("/console/api/ledger/online", get(api::ledger_online))
        .route("/console/api/ledger/status", get(api::ledger_status))
        .route("/console/api/ledger/user", get(api::ledger_user))
        .route_layer(axum::middleware::from_fn_with_state(app.clone(), guard));
    Router::new()
        // Relative links from the page resolve under `/console/`, wherever the relay is
        // mounted.
        .route("/console", get(|| async { Redirect::permanent("console/") }))
        .route(
            "/console/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/console/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", CONSOLE_JS) }),
        )
        .route(
            "/console/charts.js",
            get(|| async { asset("text/javascript; charset=utf-8", CHARTS_JS) }),
        )
        .route(
            "/console/console.css",
            get(|| async { asset("text/css; charset=utf-8", CONSOLE_CSS) }),
        )
        .merge(api)
        .layer(axum::middleware::from_fn(headers))
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

/// Every console response: the strict policy, no sniffing, no referrer, no caching of
/// what the API says.
async fn headers(req: Request, next: Next) -> Response {
    let api = req.uri().path().contains("/console/api/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// The API key check (none in `--demo` mode), with wrong keys rate limited.
async fn guard(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if app.config.demo {
        return next.run(req).await;
    }
    let console = &app.console;
    if let Some(wait) = console.limited() {
        console.refused.fetch_add(1, Relaxed);
        let mut res = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({
                "error": "rate_limited",
                "message": format!("too many wrong keys; try again in {wait} s"),
            })),
        )
            .into_response();
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return res;
    }
    match crate::http::authorize(&app, req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            console.refused.fetch_add(1, Relaxed);
            // Only a presented key counts as an attempt: a page loading without one
            // must not lock the operator out.
            if req.headers().contains_key(header::AUTHORIZATION) {
                tracing::warn!("console: a wrong API key was presented");
                console.wrong_key();
            }
            e.into_response()
        }
    }
}
