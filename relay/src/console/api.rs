//! What the console page reads, as JSON. Each handler reads the clock once and works
//! only when asked: nothing here runs while no console is open.

use super::feed::item_json;
use crate::clock::{day_of, day_text, now_ms, rfc3339, Ms, DAY_MS};
use crate::http::ApiError;
use crate::ledger::book::{Session, Split};
use crate::ledger::rows::SessionQuery;
use crate::ledger::{api::LedgerError, Ledger};
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rollcall_core::roster::Event;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Most channels `now` lists (the busiest first).
pub const MAX_CHANNELS_LISTED: usize = 500;
/// Most members one channel view lists.
pub const MAX_MEMBERS_LISTED: usize = 1_000;
/// Most sessions read for one chart; a busier ledger is charted from its newest ones
/// and the answer says `truncated`.
pub const MAX_CHART_SESSIONS: usize = 100_000;
/// Most users whose days are summed for the time-by-status chart.
pub const MAX_CHART_USERS: usize = 2_000;
/// Most days the time-by-status chart covers.
pub const MAX_CHART_DAYS: i64 = 90;
/// Most sessions shown on one user's timeline.
pub const MAX_USER_SESSIONS: usize = 2_000;
/// Bytes of a webhook endpoint's answer kept to show.
const PAGE: usize = 1_000;

fn query_param(query: &Option<String>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn storage(e: crate::ledger::rows::Error) -> LedgerError {
    tracing::error!("console: cannot read the ledger: {e}");
    LedgerError::Storage
}

/// `POST /console/api/login`: the key is right (the guard checked it).
pub async fn login(State(app): State<AppState>) -> Json<Value> {
    Json(json!({ "ok": true, "demo": app.config.demo }))
}

/// `GET /console/api/now[?q=search]`: this relay (and with Redis every relay), the
/// users online and the channels by members.
pub async fn now(State(app): State<AppState>, RawQuery(query): RawQuery) -> Json<Value> {
    let search = query_param(&query, "q").unwrap_or_default().to_lowercase();
    // The roster's whole truth (every relay's users, when they share): read only when
    // a console asks.
    let truth = app.hub.act(|roster, _| roster.truth());
    let stats = app.hub.stats();
    let mut users = 0usize;
    let mut channels: HashMap<String, usize> = HashMap::new();
    for event in truth {
        match event {
            Event::UserOnline { .. } => users += 1,
            Event::Join { ch, .. } => *channels.entry(ch).or_default() += 1,
            _ => {}
        }
    }
    let total_channels = channels.len();
    let mut listed: Vec<(String, usize)> = channels
        .into_iter()
        .filter(|(ch, _)| search.is_empty() || ch.to_lowercase().contains(&search))
        .collect();
    listed.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let matching = listed.len();
    listed.truncate(MAX_CHANNELS_LISTED);
    let (store, store_up) = app.hub.store_status();
    let connections = app.hub.connections();
    // On the blocking pool, as every wait for the ledger's lock in a handler: a Redis
    // call of the ledger may hold it (up to its timeout).
    let recording = app.ledger.blocking(|s| s.recording).await;
    let mut out = json!({
        "demo": app.config.demo,
        "relay": {
            "connections": connections,
            "clients": stats.clients,
            "store": store,
            "store_up": store_up,
            "recording": recording,
        },
        "users": users,
        "members": stats.members,
        "channels_total": total_channels,
        "channels_matching": matching,
        "channels": listed.iter().map(|(ch, n)| json!({ "name": ch, "members": n })).collect::<Vec<_>>(),
    });
    if let Some(relays) = &app.console.relays {
        let now = now_ms();
        let lease = app.config.presence.lease_timeout_ms;
        match relays.list().await {
            Ok(rows) => {
                let mut total_connections = 0u64;
                let list: Vec<Value> = rows
                    .iter()
                    .map(|r| {
                        let alive = r.beat_ms.is_some_and(|b| now.saturating_sub(b) <= lease);
                        let mine = r.id == relays.id;
                        let connections = if mine {
                            connections as u64
                        } else {
                            r.counts["connections"].as_u64().unwrap_or(0)
                        };
                        if alive || mine {
                            total_connections += connections;
                        }
                        json!({
                            "id": r.id,
                            "this": mine,
                            "alive": alive || mine,
                            "beat_ms": r.beat_ms,
                            "connections": connections,
                            "clients": if mine { json!(stats.clients) } else { r.counts["clients"].clone() },
                            "reported_ms": r.counts["at_ms"].clone(),
                        })
                    })
                    .collect();
                out["relays"] = json!(list);
                out["total"] = json!({ "connections": total_connections, "users": users });
            }
            Err(e) => out["relays_error"] = json!(format!("cannot read the other relays from redis: {e}")),
        }
    }
    Json(out)
}

/// `GET /console/api/channel?name=/site/online`: its members with status, meta and how
/// many of their browser profiles are connected to this relay, and how many of this
/// relay's connections watch it.
pub async fn channel(State(app): State<AppState>, RawQuery(query): RawQuery) -> Result<Json<Value>, ApiError> {
    let name = query_param(&query, "name").unwrap_or_default();
    if rollcall_core::channel::validate_name(&name).is_err() {
        return Err(ApiError::BadRequest(
            "bad_channel",
            format!("{name:?} is not a channel name like /prefix/rest"),
        ));
    }
    let members = app.hub.presence(&name).unwrap_or_default();
    let clients = app.hub.clients_by_user();
    let count = members.len();
    let listed: Vec<Value> = members
        .iter()
        .take(MAX_MEMBERS_LISTED)
        .map(|m| {
            json!({
                "id": m.id,
                "name": m.name,
                "avatar": m.avatar,
                "status": m.status.as_str(),
                "meta": m.meta,
                "clients_here": clients.get(&m.id).copied().unwrap_or(0),
            })
        })
        .collect();
    Ok(Json(json!({
        "name": name,
        "count": count,
        "watchers": app.hub.watchers(&name),
        "members": listed,
        "truncated": count > MAX_MEMBERS_LISTED,
    })))
}

/// `GET /console/api/webhooks`: each endpoint's queue and last outcomes.
pub async fn webhooks(State(app): State<AppState>) -> Json<Value> {
    let config = app.ledger.webhooks();
    let (recording, lanes) = app
        .ledger
        .blocking(|s| {
            let lanes: Vec<Value> = s
                .lanes
                .iter()
                .map(|lane| {
                    json!({
                        "pending": lane.len(),
                        "failures_in_a_row": lane.failures(),
                        "retry_at_ms": lane.retry_at(),
                        "last_ok_ms": lane.last_ok,
                        "last_error": lane.last_error.as_ref().map(|(at, answer)| json!({ "at_ms": at, "answer": answer })),
                    })
                })
                .collect();
            (s.recording, lanes)
        })
        .await;
    let endpoints: Vec<Value> = config
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, endpoint)| {
            let mut row = lanes.get(i).cloned().unwrap_or_else(|| json!({}));
            row["index"] = json!(i);
            row["url"] = json!(endpoint.url);
            row["events"] = json!(endpoint.events);
            row["channels"] = json!(endpoint.channels);
            row["pusher"] = json!(endpoint.pusher.is_some());
            row
        })
        .collect();
    Json(json!({
        "recording": recording,
        "endpoints": endpoints,
    }))
}

/// `POST /console/api/webhooks/{index}/test`: send one signed `test` event to the
/// endpoint now, outside its queue, and say what it answered.
pub async fn test_webhook(
    State(app): State<AppState>,
    Path(index): Path<usize>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let config = app.ledger.webhooks();
    let Some(endpoint) = config.endpoints.get(index) else {
        return Err(ApiError::BadRequest(
            "no_endpoint",
            format!("there is no webhook endpoint {index}"),
        ));
    };
    if endpoint.pusher.is_some() {
        return Err(ApiError::BadRequest(
            "pusher_endpoint",
            "test events go to rollcall endpoints; this one receives Pusher's webhooks".into(),
        ));
    }
    let at = now_ms();
    let id = format!("evt_test_{}", crate::ids::random_id());
    let event = json!({ "id": id, "type": "test", "at": rfc3339(at), "at_ms": at }).to_string();
    let body = crate::webhooks::batch_body(&[event]);
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(config.timeout_ms))
        .user_agent(concat!("rollcall-relay/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ApiError::BadRequest("no_http_client", e.to_string()))?;
    let outcome = crate::webhooks::post_signed(&client, &endpoint.url, &config.secret_of(endpoint), body).await;
    let done = now_ms();
    let booked = outcome.clone();
    app.ledger
        .blocking(move |s| {
            if let Some(lane) = s.lanes.get_mut(index) {
                lane.outcome(done, &booked);
            }
        })
        .await;
    Ok((
        StatusCode::OK,
        Json(match outcome {
            Ok(()) => json!({ "ok": true, "id": id, "answer": "accepted" }),
            Err(answer) => json!({ "ok": false, "id": id, "answer": answer }),
        }),
    ))
}

/// Every session of `q` (newest first) up to `max`, page by page, each page under the
/// ledger's lock on its own so the recorder is never held up for long.
async fn all_sessions(
    ledger: &Arc<Ledger>,
    mut q: SessionQuery,
    max: usize,
) -> Result<(Vec<Session>, bool), LedgerError> {
    let mut out: Vec<Session> = Vec::new();
    loop {
        q.limit = PAGE.min(max - out.len()) + 1;
        let page_q = q.clone();
        let mut page = ledger
            .blocking(move |s| s.db.sessions(&page_q))
            .await
            .map_err(storage)?;
        let more = page.len() >= q.limit;
        page.truncate(q.limit - 1);
        q.before = page.last().map(|s| s.id);
        out.extend(page);
        if !more {
            return Ok((out, false));
        }
        if out.len() >= max {
            return Ok((out, true));
        }
    }
}

/// Users online from `from` to `to` in `buckets` steps: each bucket counts the user
/// sessions that overlap it.
pub fn online_series(sessions: &[Session], from: Ms, to: Ms, buckets: usize, now: Ms) -> Vec<u64> {
    let step = (to - from).div_ceil(buckets as u64).max(1);
    let mut diff = vec![0i64; buckets + 1];
    for s in sessions {
        let start = s.started.max(from);
        let end = s.ended.unwrap_or(now).min(to);
        if end < start || (end == start && s.ended.is_some()) {
            continue;
        }
        let first = ((start - from) / step) as usize;
        let last = (((end.saturating_sub(1).max(start)) - from) / step) as usize;
        diff[first.min(buckets - 1)] += 1;
        diff[last.min(buckets - 1) + 1] -= 1;
    }
    let mut running = 0i64;
    diff[..buckets]
        .iter()
        .map(|d| {
            running += d;
            running.max(0) as u64
        })
        .collect()
}

/// `GET /console/api/ledger/online?range=24h|30d`: users online over time, in 5-minute
/// buckets over a day or hourly ones over 30 days.
pub async fn ledger_online(State(app): State<AppState>, RawQuery(query): RawQuery) -> Result<Json<Value>, LedgerError> {
    let range = query_param(&query, "range").unwrap_or_else(|| "24h".into());
    let (span, buckets) = match range.as_str() {
        "24h" => (DAY_MS, 288usize),
        "30d" => (30 * DAY_MS, 720usize),
        _ => {
            return Err(ApiError::BadRequest("bad_range", "range must be 24h or 30d".into()).into());
        }
    };
    let now = now_ms();
    let from = now - span;
    let q = SessionQuery {
        since: Some(from),
        until: Some(now),
        now,
        ..SessionQuery::default()
    };
    let (sessions, truncated) = all_sessions(&app.ledger, q, MAX_CHART_SESSIONS).await?;
    let series = online_series(&sessions, from, now, buckets, now);
    Ok(Json(json!({
        "range": range,
        "from_ms": from,
        "step_ms": span / buckets as u64,
        "users": series,
        "sessions": sessions.len(),
        "truncated": truncated,
    })))
}

/// `GET /console/api/ledger/status?days=30`: time online by status per UTC day, summed
/// over the users seen in those days.
pub async fn ledger_status(State(app): State<AppState>, RawQuery(query): RawQuery) -> Result<Json<Value>, LedgerError> {
    let days = match query_param(&query, "days") {
        None => 30,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_CHART_DAYS).contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest("bad_days", format!("days must be a number from 1 to {MAX_CHART_DAYS}"))
            })?,
    };
    let now = now_ms();
    let today = day_of(now);
    let first = today - days + 1;
    let q = SessionQuery {
        since: Some(first as u64 * DAY_MS),
        until: Some(now),
        now,
        ..SessionQuery::default()
    };
    let (sessions, mut truncated) = all_sessions(&app.ledger, q, MAX_CHART_SESSIONS).await?;
    let mut users: BTreeSet<String> = sessions.into_iter().map(|s| s.user).collect();
    if users.len() > MAX_CHART_USERS {
        truncated = true;
        users = users.into_iter().take(MAX_CHART_USERS).collect();
    }
    let mut total: BTreeMap<i64, Split> = (first..=today).map(|d| (d, Split::default())).collect();
    for user in users {
        let ledger = app.ledger.clone();
        let days = ledger
            .blocking(move |s| s.db.days(&user, first, today))
            .await
            .map_err(storage)?;
        for (day, split) in days {
            if let Some(sum) = total.get_mut(&day) {
                *sum = sum.plus(split);
            }
        }
    }
    Ok(Json(json!({
        "days": total.iter().map(|(day, s)| json!({
            "day": day_text(*day),
            "active_ms": s.active_ms,
            "idle_ms": s.idle_ms,
            "hidden_ms": s.hidden_ms,
        })).collect::<Vec<_>>(),
        "truncated": truncated,
    })))
}

/// `GET /console/api/ledger/user?id=7`: one user's sessions over 30 days (online and
/// per channel, for a timeline) and their time per channel.
pub async fn ledger_user(State(app): State<AppState>, RawQuery(query): RawQuery) -> Result<Json<Value>, LedgerError> {
    let Some(id) = query_param(&query, "id").filter(|id| !id.is_empty()) else {
        return Err(ApiError::BadRequest("no_user", "give ?id=USER".into()).into());
    };
    let now = now_ms();
    let from = now - 30 * DAY_MS;
    let base = SessionQuery {
        user: Some(id.clone()),
        since: Some(from),
        until: Some(now),
        now,
        ..SessionQuery::default()
    };
    let (online, t1) = all_sessions(&app.ledger, base.clone(), MAX_USER_SESSIONS).await?;
    let channels_q = SessionQuery {
        channel: Some(None),
        ..base
    };
    let (in_channels, t2) = all_sessions(&app.ledger, channels_q, MAX_USER_SESSIONS).await?;
    let lookup = id.clone();
    let row = app
        .ledger
        .blocking(move |s| s.db.user(&lookup))
        .await
        .map_err(storage)?;
    let mut per_channel: BTreeMap<String, u64> = BTreeMap::new();
    for s in &in_channels {
        let start = s.started.max(from);
        let end = s.ended.unwrap_or(now);
        *per_channel.entry(s.channel.clone().unwrap_or_default()).or_default() += end.saturating_sub(start);
    }
    let mut per_channel: Vec<(String, u64)> = per_channel.into_iter().collect();
    per_channel.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let session = |s: &Session| {
        json!({
            "channel": s.channel,
            "started_ms": s.started,
            "ended_ms": s.ended,
            "cause": s.cause,
        })
    };
    Ok(Json(json!({
        "id": id,
        "name": row.as_ref().and_then(|r| r.identity.name.clone()),
        "known": row.is_some(),
        "from_ms": from,
        "now_ms": now,
        "online": online.iter().map(session).collect::<Vec<_>>(),
        "sessions": in_channels.iter().map(session).collect::<Vec<_>>(),
        "per_channel": per_channel.iter().map(|(ch, ms)| json!({ "channel": ch, "ms": ms })).collect::<Vec<_>>(),
        "truncated": t1 || t2,
    })))
}

/// How often an idle stream sends a comment, so proxies keep it open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `GET /console/api/events`: the live stream as Server-Sent Events. Each event is
/// `data: {json}`; a console that fell behind gets `event: lagged` with
/// `{"dropped": n}`.
pub async fn stream(State(app): State<AppState>) -> Response {
    let feed = app.console.feed.clone();
    if feed.listeners() >= app.console.config.max_listeners {
        return crate::http::ApiError::BadRequest(
            "too_many_consoles",
            format!(
                "{} consoles are streaming already (console.max_listeners)",
                app.console.config.max_listeners
            ),
        )
        .into_response();
    }
    let rx = feed.subscribe();
    let hub = app.hub.clone();
    let events = futures_util::stream::unfold((rx, feed, hub), |(mut rx, feed, hub)| async move {
        let event = match rx.recv().await {
            Ok(item) => SseEvent::default().data(item_json(&hub, &item).to_string()),
            Err(RecvError::Lagged(n)) => {
                feed.dropped.fetch_add(n, Relaxed);
                SseEvent::default()
                    .event("lagged")
                    .data(json!({ "dropped": n }).to_string())
            }
            Err(RecvError::Closed) => return None,
        };
        Some((Ok::<_, Infallible>(event), (rx, feed, hub)))
    });
    // The first frame tells the page it is connected before any event happens.
    let hello =
        futures_util::stream::once(async { Ok::<_, Infallible>(SseEvent::default().event("hello").data("{}")) });
    let mut res = Sse::new(futures_util::StreamExt::chain(hello, events))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    // Tell proxies such as nginx not to buffer the stream.
    res.headers_mut()
        .insert("x-accel-buffering", axum::http::HeaderValue::from_static("no"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_core::protocol::Status;

    fn session(started: Ms, ended: Option<Ms>) -> Session {
        Session {
            id: 1,
            user: "u".into(),
            channel: None,
            started,
            ended,
            cause: None,
            status: Status::Active,
            since: started,
            split: Split::default(),
        }
    }

    #[test]
    fn the_online_series_counts_each_session_in_every_bucket_it_overlaps() {
        // Ten buckets of 10 ms from 0 to 100.
        let sessions = [
            session(5, Some(25)),  // buckets 0..=2
            session(40, None),     // 4.. to now (95): 4..=9
            session(0, Some(0)),   // empty: nowhere
            session(50, Some(51)), // bucket 5
        ];
        assert_eq!(
            online_series(&sessions, 0, 100, 10, 95),
            vec![1, 1, 1, 0, 1, 2, 1, 1, 1, 1]
        );
    }
}
