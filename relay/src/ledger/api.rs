//! The ledger's server API, behind the same bearer key as `/v1/presence`:
//! `GET /v1/users/{id}` and `GET /v1/sessions`. The handlers read the clock once and
//! hand `now` to pure functions that shape the answer.

use super::book::{by_day, Presence, Session, Split};
use super::rows::{SessionQuery, UserRow};
use crate::clock::{day_of, day_text, parse_time, rfc3339, Ms};
use crate::http::{authorize, ApiError};
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rollcall_core::protocol::Identity;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Sessions per page unless `limit` says otherwise.
pub const DEFAULT_PAGE: usize = 100;
/// Most sessions one page may hold.
pub const MAX_PAGE: usize = 1_000;
/// Days listed by `GET /v1/users/{id}` unless `days` says otherwise.
pub const DEFAULT_DAYS: u64 = 7;
/// Most days `GET /v1/users/{id}` lists.
pub const MAX_DAYS: u64 = 366;

#[derive(Debug)]
pub enum LedgerError {
    Api(ApiError),
    /// The database failed; the detail is in the log.
    Storage,
}

impl From<ApiError> for LedgerError {
    fn from(e: ApiError) -> Self {
        LedgerError::Api(e)
    }
}

impl IntoResponse for LedgerError {
    fn into_response(self) -> Response {
        match self {
            LedgerError::Api(e) => e.into_response(),
            LedgerError::Storage => (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "error": "ledger_unavailable",
                    "message": "the session ledger cannot be read right now; the relay's log says why",
                })),
            )
                .into_response(),
        }
    }
}

fn storage(e: super::rows::Error) -> LedgerError {
    tracing::error!("ledger: {e}");
    LedgerError::Storage
}

fn split_json(split: Split) -> Value {
    json!({
        "online_ms": split.online_ms(),
        "active_ms": split.active_ms,
        "idle_ms": split.idle_ms,
        "hidden_ms": split.hidden_ms,
    })
}

/// What `GET /v1/users/{id}` answers, from what the book and the database know at `now`.
/// `days` holds the accounted time of the last `n_days` days; the running segment of
/// an open session is added here.
pub fn user_report(
    now: Ms,
    id: &str,
    presence: Option<&Presence>,
    row: Option<&UserRow>,
    mut days: BTreeMap<i64, Split>,
    n_days: u64,
) -> Value {
    let mut total = row.map(|r| r.total).unwrap_or_default();
    if let Some(p) = presence {
        let s = &p.session;
        for (day, ms) in by_day(s.since, now.max(s.since)) {
            days.entry(day).or_default().add(s.status, ms);
            total.add(s.status, ms);
        }
    }
    let identity = presence.map(|p| &p.identity).or(row.map(|r| &r.identity));
    let today = day_of(now);
    let listed: Vec<Value> = (0..n_days as i64)
        .map(|back| {
            let day = today - back;
            let mut entry = split_json(days.get(&day).copied().unwrap_or_default());
            entry["day"] = json!(day_text(day));
            entry
        })
        .collect();
    let mut today_json = split_json(days.get(&today).copied().unwrap_or_default());
    today_json["day"] = json!(day_text(today));
    json!({
        "id": id,
        "name": identity.and_then(|i| i.name.clone()),
        "avatar": identity.and_then(|i| i.avatar.clone()),
        "online": presence.is_some(),
        "status": presence.map(|p| p.session.status.as_str()),
        "channels": presence.map(|p| p.channels.clone()).unwrap_or_default(),
        "online_since": presence.map(|p| rfc3339(p.session.started)),
        "last_seen": if presence.is_some() { Some(rfc3339(now)) } else { row.map(|r| rfc3339(r.last_seen)) },
        "first_seen": row.map(|r| rfc3339(r.first_seen)),
        "today": today_json,
        "total": split_json(total),
        "days": listed,
    })
}

/// One session as the API shows it at `now`.
pub fn session_json(s: &Session, now: Ms) -> Value {
    let mut out = split_json(s.split_at(now));
    let fields = json!({
        "id": s.id,
        "user": s.user,
        "channel": s.channel,
        "started": rfc3339(s.started),
        "ended": s.ended.map(rfc3339),
        "open": s.ended.is_none(),
        "duration_ms": s.duration_at(now),
        "end_cause": s.cause,
    });
    for (k, v) in fields.as_object().expect("an object") {
        out[k] = v.clone();
    }
    out
}

/// A user's presence from their open sessions: online while their user session is.
fn presence_of(id: &str, open: Vec<Session>, row: Option<&UserRow>) -> Option<Presence> {
    let (users, channels): (Vec<Session>, Vec<Session>) = open.into_iter().partition(|s| s.channel.is_none());
    let session = users.into_iter().next()?;
    Some(Presence {
        identity: row.map(|r| r.identity.clone()).unwrap_or_else(|| Identity {
            id: id.to_string(),
            name: None,
            avatar: None,
        }),
        session,
        channels: channels.into_iter().filter_map(|s| s.channel).collect(),
    })
}

/// `GET /v1/users/{id}[?days=7]`.
pub async fn user(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, LedgerError> {
    authorize(&app, &headers)?;
    let mut n_days = DEFAULT_DAYS;
    for (key, value) in form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        if key == "days" {
            n_days = value
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=MAX_DAYS).contains(n))
                .ok_or_else(|| {
                    ApiError::BadRequest("bad_days", format!("days must be a number from 1 to {MAX_DAYS}"))
                })?;
        }
    }
    let now = crate::clock::now_ms();
    let today = day_of(now);
    let ledger = app.ledger.clone();
    let report = ledger
        .blocking(move |state| -> Result<Value, super::rows::Error> {
            // From the storage, not this relay's book: with Redis, another relay may be
            // the one recording.
            let row = state.db.user(&id)?;
            let presence = presence_of(&id, state.db.open_sessions_of(&id)?, row.as_ref());
            let days = state.db.days(&id, today - n_days as i64 + 1, today)?;
            Ok(user_report(now, &id, presence.as_ref(), row.as_ref(), days, n_days))
        })
        .await
        .map_err(storage)?;
    Ok(Json(report))
}

/// Read the query of `GET /v1/sessions`.
pub fn session_query(query: Option<&str>) -> Result<SessionQuery, ApiError> {
    let mut q = SessionQuery {
        limit: DEFAULT_PAGE,
        ..SessionQuery::default()
    };
    let time = |key: &str, value: &str| {
        parse_time(value).ok_or_else(|| {
            ApiError::BadRequest(
                "bad_time",
                format!("{key} must be a time like 2026-11-24T02:00:00Z, a date, or unix seconds"),
            )
        })
    };
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*key {
            "user" => q.user = Some(value.into_owned()),
            "channel" if value == "*" => q.channel = Some(None),
            "channel" => {
                rollcall_core::channel::validate_name(&value).map_err(|_| {
                    ApiError::BadRequest(
                        "bad_channel",
                        format!("{value:?} is not a channel name like /prefix/rest (or * for every channel)"),
                    )
                })?;
                q.channel = Some(Some(value.into_owned()));
            }
            "since" => q.since = Some(time("since", &value)?),
            "until" => q.until = Some(time("until", &value)?),
            "cursor" => {
                q.before = Some(value.parse().map_err(|_| {
                    ApiError::BadRequest("bad_cursor", "cursor must be the next_cursor of a previous page".into())
                })?)
            }
            "limit" => {
                q.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        ApiError::BadRequest("bad_limit", format!("limit must be a number from 1 to {MAX_PAGE}"))
                    })?
            }
            _ => {}
        }
    }
    Ok(q)
}

/// `GET /v1/sessions?user=&channel=&since=&until=&limit=&cursor=`: newest first.
pub async fn sessions(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, LedgerError> {
    authorize(&app, &headers)?;
    let mut q = session_query(query.as_deref())?;
    let limit = q.limit;
    q.limit = limit + 1;
    let now = crate::clock::now_ms();
    q.now = now;
    let mut found = app
        .ledger
        .blocking(move |state| state.db.sessions(&q))
        .await
        .map_err(storage)?;
    let more = found.len() > limit;
    found.truncate(limit);
    let next = more.then(|| found.last().map(|s| s.id.to_string())).flatten();
    Ok(Json(json!({
        "sessions": found.iter().map(|s| session_json(s, now)).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}
