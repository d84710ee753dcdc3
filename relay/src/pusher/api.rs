//! Pusher's HTTP API for presence channels, so a Pusher server library (pusher-http-node,
//! pusher-http-ruby, pusher-http-php, ...) asks rollcall who is there unchanged:
//!
//! - `GET /apps/{id}/channels/{channel}/users` -> `{"users": [{"id": "7"}]}`
//! - `GET /apps/{id}/channels/{channel}?info=user_count` -> `{"occupied": true,
//!   "user_count": 1}`
//! - `POST /apps/{id}/events`, `/batch_events` -> 400: rollcall publishes no events.
//!
//! Every request is signed as Pusher signs it: `auth_key`, `auth_timestamp` (within
//! [`MAX_CLOCK_SKEW_SECS`] of the relay's clock), `auth_version=1.0` and
//! `auth_signature`. A missing or wrong signature gets 401 and says which part is wrong.

use super::app::{app_by_id, PusherApp};
use super::protocol::rollcall_channel;
use super::signature;
use crate::clock::unix_now;
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// How far `auth_timestamp` may be from the relay's clock, as Pusher allows.
pub const MAX_CLOCK_SKEW_SECS: u64 = 600;

#[derive(Debug)]
pub enum ApiError {
    /// No `[[pusher_app]]` has this id.
    UnknownApp,
    /// Unsigned, wrongly signed or stale; the sentence says which.
    Unauthorized(String),
    /// Not a presence channel, or an attribute this relay does not serve.
    BadRequest(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Pusher answers errors in plain text; its server libraries show the body.
        match self {
            ApiError::UnknownApp => (
                StatusCode::NOT_FOUND,
                "Unknown app id: add it as a [[pusher_app]] on the relay".to_string(),
            ),
            ApiError::Unauthorized(why) => (StatusCode::UNAUTHORIZED, why),
            ApiError::BadRequest(why) => (StatusCode::BAD_REQUEST, why),
        }
        .into_response()
    }
}

/// `GET /apps/{id}/channels/{channel}/users`
pub async fn users(
    State(app): State<AppState>,
    Path((id, channel)): Path<(String, String)>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    authenticate(&app, &id, uri.path(), query.as_deref())?;
    let ch = presence_channel(&channel)?;
    let users: Vec<Value> = app
        .hub
        .presence(&ch)
        .unwrap_or_default()
        .into_iter()
        .map(|m| json!({ "id": m.id }))
        .collect();
    Ok(Json(json!({ "users": users })))
}

/// `GET /apps/{id}/channels/{channel}[?info=user_count]`
pub async fn channel(
    State(app): State<AppState>,
    Path((id, channel)): Path<(String, String)>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = authenticate(&app, &id, uri.path(), query.as_deref())?;
    let ch = presence_channel(&channel)?;
    let count = app.hub.presence(&ch).map_or(0, |m| m.len());
    let mut body = json!({ "occupied": count > 0 });
    let info = params.iter().find(|(k, _)| k == "info").map(|(_, v)| v.as_str());
    for attribute in info.unwrap_or_default().split(',').filter(|a| !a.is_empty()) {
        match attribute {
            "user_count" => body["user_count"] = json!(count),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "info={other} is not served by rollcall: only user_count"
                )))
            }
        }
    }
    Ok(Json(body))
}

/// `POST /apps/{id}/events` and `/batch_events`: publishing is Pusher's, not rollcall's.
/// A server library pointed here by mistake is told so instead of getting a bare 404.
pub async fn events() -> ApiError {
    ApiError::BadRequest(
        "rollcall serves presence only and publishes no events: trigger events through Pusher (or your own server) and keep presence-* channels on rollcall".to_string(),
    )
}

fn presence_channel(channel: &str) -> Result<String, ApiError> {
    rollcall_channel(channel).map_err(|(_, message)| ApiError::BadRequest(message))
}

/// Check a request's Pusher signature; its decoded query parameters if good.
fn authenticate(app: &AppState, id: &str, path: &str, query: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let pusher = app_by_id(&app.config.pusher_apps, id).ok_or(ApiError::UnknownApp)?;
    let query = query.unwrap_or_default();
    let decoded: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    check(pusher, "GET", path, query, &decoded, unix_now())?;
    Ok(decoded)
}

fn check(
    pusher: &PusherApp,
    method: &str,
    path: &str,
    raw_query: &str,
    decoded: &[(String, String)],
    now: u64,
) -> Result<(), ApiError> {
    let get = |key: &str| decoded.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let unauthorized = |why: &str| Err(ApiError::Unauthorized(why.to_string()));
    let Some(given) = get("auth_signature") else {
        return unauthorized("Unsigned request: add auth_key, auth_timestamp, auth_version=1.0 and auth_signature as a Pusher server library does");
    };
    if get("auth_key") != Some(pusher.key.as_str()) {
        return unauthorized("auth_key is not this app's key");
    }
    if get("auth_version") != Some("1.0") {
        return unauthorized("auth_version must be 1.0");
    }
    let Some(at) = get("auth_timestamp").and_then(|t| t.parse::<u64>().ok()) else {
        return unauthorized("auth_timestamp must be the request's time in seconds since the Unix epoch");
    };
    if at.abs_diff(now) > MAX_CLOCK_SKEW_SECS {
        return unauthorized(
            "auth_timestamp is more than 600 seconds away from the relay's clock: check the server's clock",
        );
    }
    // Pusher's libraries sign the query as they put it in the URL, without encoding;
    // a client that encodes signs the decoded values. Either form is accepted.
    let raw: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect();
    let good = [raw.as_slice(), decoded]
        .iter()
        .any(|params| signature::verify(&pusher.secret, &signature::api_message(method, path, params), given));
    if !good {
        return unauthorized(
            "auth_signature is wrong: HMAC-SHA256 of \"GET\\nPATH\\nSORTED_QUERY\" with the app's secret",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> PusherApp {
        PusherApp {
            id: "3".into(),
            key: "3e4d5a6f".into(),
            secret: "7ad3773142a6692b25b8".into(),
            webhook_url: None,
        }
    }

    fn signed(path: &str, extra: &str, at: u64) -> String {
        let query = format!("auth_key=3e4d5a6f&auth_timestamp={at}&auth_version=1.0{extra}");
        let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let sig = signature::sign("7ad3773142a6692b25b8", &signature::api_message("GET", path, &params));
        format!("{query}&auth_signature={sig}")
    }

    fn run(path: &str, query: &str, now: u64) -> Result<(), ApiError> {
        let decoded: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        check(&app(), "GET", path, query, &decoded, now)
    }

    #[test]
    fn a_signed_request_passes_and_every_tampering_fails() {
        let path = "/apps/3/channels/presence-x";
        let q = signed(path, "&info=user_count", 1_000_000);
        assert!(run(path, &q, 1_000_000).is_ok());
        assert!(run(path, &q, 1_000_000 + 600).is_ok());
        assert!(matches!(run(path, &q, 1_000_000 + 601), Err(ApiError::Unauthorized(_))));
        assert!(matches!(
            run("/apps/3/channels/presence-y", &q, 1_000_000),
            Err(ApiError::Unauthorized(_))
        ));
        let tampered = q.replace("info=user_count", "info=subscription_count");
        assert!(matches!(
            run(path, &tampered, 1_000_000),
            Err(ApiError::Unauthorized(_))
        ));
        assert!(matches!(
            run(path, "info=user_count", 1_000_000),
            Err(ApiError::Unauthorized(_))
        ));
        let other_key = q.replace("auth_key=3e4d5a6f", "auth_key=nope");
        assert!(matches!(
            run(path, &other_key, 1_000_000),
            Err(ApiError::Unauthorized(_))
        ));
    }
}
