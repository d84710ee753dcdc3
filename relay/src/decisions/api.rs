//! The server API of decisions, behind the API key:
//!
//! - `DELETE /v1/channels/{ch}/users/{id}` (the channel URL-encoded, `%2Ftopic%2F1`):
//!   take the user out of the channel now, on every relay, and forget the site's answer
//!   so that their next try asks again.
//! - `DELETE /v1/decisions?channel=CH&user=ID` (either or both): forget the site's
//!   answers, on every relay; a user still in the channel is asked about again at once.

use crate::decisions::shared::Op;
use crate::http::{authorize, ApiError};
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use rollcall_core::channel::validate_name;
use serde_json::{json, Value};

fn check_channel(ch: &str) -> Result<(), ApiError> {
    validate_name(ch).map_err(|_| {
        ApiError::BadRequest(
            "bad_channel",
            format!("{ch:?} is not a channel name like /prefix/rest (URL-encode it in the path: %2Ftopic%2F1)"),
        )
    })
}

fn check_user(user: &str) -> Result<(), ApiError> {
    if user.is_empty() || user.len() > crate::auth::MAX_SUB_BYTES {
        return Err(ApiError::BadRequest("bad_user", "a user id is 1 to 128 bytes".into()));
    }
    Ok(())
}

/// `DELETE /v1/channels/{ch}/users/{id}`: `{"left": clients taken out, "unwatched":
/// connections that stopped watching}` on this relay (the others do the same).
pub async fn remove_user(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((ch, user)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    authorize(&app, &headers)?;
    check_channel(&ch)?;
    check_user(&user)?;
    let decisions = &app.decisions;
    // Redis first: the user's next try, on any relay, must ask the site.
    if let Some(shared) = decisions.shared() {
        if let Err(e) = shared.forget(Some(&ch), Some(&user)).await {
            tracing::warn!("decisions: cannot delete the answer in redis: {e}");
        }
    }
    let (left, unwatched) = decisions.evict(&ch, &user);
    if let Some(shared) = decisions.shared() {
        if let Err(e) = shared.publish(Op::Evict, Some(&ch), Some(&user)).await {
            tracing::warn!("decisions: cannot tell the other relays to remove {user} from {ch}: {e}");
        }
    }
    Ok(Json(json!({ "left": left, "unwatched": unwatched })))
}

/// `DELETE /v1/decisions?channel=CH&user=ID`: `{"forgotten": answers on this relay}`.
pub async fn forget(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    authorize(&app, &headers)?;
    let (mut ch, mut user) = (None, None);
    for (key, value) in form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        match &*key {
            "channel" => ch = Some(value.into_owned()),
            "user" => user = Some(value.into_owned()),
            _ => {}
        }
    }
    if ch.is_none() && user.is_none() {
        return Err(ApiError::BadRequest(
            "no_channel",
            "name a channel, a user or both: ?channel=/topic/1&user=7".into(),
        ));
    }
    if let Some(ch) = &ch {
        check_channel(ch)?;
    }
    if let Some(user) = &user {
        check_user(user)?;
    }
    let decisions = &app.decisions;
    // Redis first: a relay asking again after the notice must not find the old answer.
    if let Some(shared) = decisions.shared() {
        if let Err(e) = shared.forget(ch.as_deref(), user.as_deref()).await {
            tracing::warn!("decisions: cannot delete answers in redis: {e}");
        }
    }
    let forgotten = decisions.forget(ch.as_deref(), user.as_deref());
    if let Some(shared) = decisions.shared() {
        if let Err(e) = shared.publish(Op::Forget, ch.as_deref(), user.as_deref()).await {
            tracing::warn!("decisions: cannot tell the other relays to forget answers: {e}");
        }
    }
    Ok(Json(json!({ "forgotten": forgotten })))
}
