//! The HTTP side: the unload beacon, the server API, health, metrics, and the demo's
//! token endpoint. Errors are one enum that renders as JSON with a stable code; the
//! detail goes to the log.

use crate::auth::{api_key_matches, sign};
use crate::clock::unix_now;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rollcall_core::channel::validate_name;
use rollcall_core::policy::Claims;
use rollcall_core::protocol::Beacon;
use serde_json::{json, Map, Value};

/// Most channels one `GET /v1/presence` may ask about.
pub const MAX_PRESENCE_CHANNELS: usize = 50;
/// Largest beacon body read.
pub const MAX_BEACON_BYTES: usize = 1024;
/// Lifetime of a demo token.
pub const DEMO_TOKEN_SECONDS: u64 = 24 * 3600;

#[derive(Debug)]
pub enum ApiError {
    /// Missing or wrong bearer key.
    Unauthorized(&'static str),
    /// The request itself is wrong; the sentence says how.
    BadRequest(&'static str, String),
    /// The beacon names no live connection.
    UnknownSession,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            ApiError::Unauthorized(why) => (StatusCode::UNAUTHORIZED, "unauthorized", why.to_string()),
            ApiError::BadRequest(code, message) => (StatusCode::BAD_REQUEST, code, message),
            ApiError::UnknownSession => (
                StatusCode::NOT_FOUND,
                "unknown_session",
                "no live connection has this session id".to_string(),
            ),
        };
        (status, Json(json!({ "error": code, "message": message }))).into_response()
    }
}

/// `POST /v1/beacon`: the page of this session is going away. Accepts any content type,
/// since `navigator.sendBeacon` sends text/plain to avoid a CORS preflight.
pub async fn beacon(State(app): State<AppState>, body: axum::body::Bytes) -> Result<StatusCode, ApiError> {
    if body.len() > MAX_BEACON_BYTES {
        return Err(ApiError::BadRequest(
            "bad_beacon",
            format!("the beacon body is over {MAX_BEACON_BYTES} bytes"),
        ));
    }
    let beacon: Beacon = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest("bad_beacon", format!("the body must be {{\"session\": \"...\"}}: {e}")))?;
    if !app.hub.beacon(&beacon.session) {
        return Err(ApiError::UnknownSession);
    }
    app.hub.metrics.beacons.inc();
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/presence?channel=A&channel=B` with the API key.
pub async fn presence(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    authorize(&app, &headers)?;
    Ok(Json(presence_of(&app, query.as_deref())?))
}

/// The server API's bearer check: `Authorization: Bearer <ROLLCALL_API_KEY>`.
pub fn authorize(app: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = app.config.api_key.as_deref() else {
        return Err(ApiError::Unauthorized(
            "the server API is off: set ROLLCALL_API_KEY on the relay",
        ));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !presented.is_some_and(|p| api_key_matches(expected, p)) {
        return Err(ApiError::Unauthorized("send Authorization: Bearer <ROLLCALL_API_KEY>"));
    }
    Ok(())
}

/// `GET /demo/presence`: what the server API says, without the key (demo mode only).
pub async fn demo_presence(State(app): State<AppState>, RawQuery(query): RawQuery) -> Result<Json<Value>, ApiError> {
    Ok(Json(presence_of(&app, query.as_deref())?))
}

fn presence_of(app: &AppState, query: Option<&str>) -> Result<Value, ApiError> {
    let channels: Vec<String> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "channel")
        .map(|(_, v)| v.into_owned())
        .collect();
    if channels.is_empty() {
        return Err(ApiError::BadRequest(
            "no_channel",
            "name at least one channel: ?channel=/site/online".into(),
        ));
    }
    if channels.len() > MAX_PRESENCE_CHANNELS {
        return Err(ApiError::BadRequest(
            "too_many_channels",
            format!("ask about at most {MAX_PRESENCE_CHANNELS} channels at once"),
        ));
    }
    let mut out = Map::new();
    for ch in channels {
        if validate_name(&ch).is_err() {
            return Err(ApiError::BadRequest(
                "bad_channel",
                format!("{ch:?} is not a channel name like /prefix/rest"),
            ));
        }
        let entry = match app.hub.presence(&ch) {
            // Explicit fields for backends: status and meta even when they are defaults.
            Some(users) => json!({
                "count": users.len(),
                "users": users.iter().map(|u| {
                    let mut user = json!({ "id": u.id, "status": u.status.as_str(), "meta": u.meta });
                    if let Some(name) = &u.name { user["name"] = json!(name); }
                    if let Some(avatar) = &u.avatar { user["avatar"] = json!(avatar); }
                    user
                }).collect::<Vec<_>>(),
            }),
            None => Value::Null,
        };
        out.insert(ch, entry);
    }
    Ok(Value::Object(out))
}

pub async fn healthz(State(app): State<AppState>) -> Json<Value> {
    let (store, up) = app.hub.store_status();
    let status = if up { "ok" } else { "degraded" };
    // With Redis, one relay of several records the ledger and sends the webhooks.
    let recording = app.ledger.blocking(|s| s.recording).await;
    Json(json!({
        "status": status,
        "store": store,
        "store_up": up,
        "connections": app.hub.connections(),
        "recording": recording,
    }))
}

pub async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    let mut text = app
        .hub
        .metrics
        .render(&app.hub.stats(), app.hub.connections(), app.hub.store_status());
    // On the blocking pool: a Redis call of the ledger may hold its lock.
    let ledger = app.ledger.clone();
    text.push_str(
        &tokio::task::spawn_blocking(move || ledger.render_metrics())
            .await
            .unwrap_or_default(),
    );
    text.push_str(&app.decisions.render_metrics());
    text.push_str(&app.console.render_metrics());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// `GET /demo/token?user=ID&name=NAME[&groups=a,b]`: a token for anyone. Demo only.
pub async fn demo_token(State(app): State<AppState>, RawQuery(query): RawQuery) -> Result<Json<Value>, ApiError> {
    let mut claims = Claims {
        exp: Some(unix_now() + DEMO_TOKEN_SECONDS),
        ..Claims::default()
    };
    for (key, value) in form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        match &*key {
            "user" => claims.sub = value.into_owned(),
            "name" => claims.name = Some(value.into_owned()),
            "avatar" => claims.avatar = Some(value.into_owned()),
            "groups" => claims.groups = value.split(',').filter(|g| !g.is_empty()).map(str::to_string).collect(),
            _ => {}
        }
    }
    if claims.sub.is_empty() || claims.sub.len() > crate::auth::MAX_SUB_BYTES {
        return Err(ApiError::BadRequest(
            "bad_user",
            "give ?user=ID (1 to 128 bytes)".into(),
        ));
    }
    let secret = app.config.secrets.first().expect("demo mode always has a secret");
    Ok(Json(json!({ "token": sign(secret, &claims) })))
}
