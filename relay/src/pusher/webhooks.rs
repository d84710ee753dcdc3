//! Pusher-format webhooks for the presence channels of a `[[pusher_app]]` with a
//! `webhook_url`, so a site's existing Pusher webhook handler (and a Pusher server
//! library's `webhook()` check) keeps working:
//!
//! ```text
//! POST <webhook_url>
//! Content-Type: application/json
//! X-Pusher-Key: <key>
//! X-Pusher-Signature: <hex HMAC-SHA256(secret, body)>
//!
//! {"time_ms":1795400584567,"events":[{"name":"member_added","channel":"presence-x","user_id":"7"}]}
//! ```
//!
//! Delivery (queue, batching, retries) is rollcall's own (`crate::webhooks`): the events
//! are the same ones, decided after the graces, so a refresh sends nothing. This module
//! only names the endpoint and turns a batch of rollcall events into Pusher's body.

use super::app::PusherApp;
use super::protocol::{pusher_channel, ROLLCALL_PREFIX};
use super::signature;
use serde_json::{json, Value};

/// The header naming the app's key.
pub const KEY_HEADER: &str = "X-Pusher-Key";
/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "X-Pusher-Signature";

/// The rollcall events a Pusher-format endpoint is sent: the channel events Pusher has.
pub const EVENTS: [&str; 4] = ["channel.join", "channel.leave", "channel.occupied", "channel.vacated"];

/// The channels whose events a Pusher-format endpoint is sent: the Pusher presence
/// channels, as rollcall channel patterns.
pub fn channels() -> Vec<String> {
    vec![format!("{ROLLCALL_PREFIX}*")]
}

/// One rollcall webhook event (as queued) as a Pusher event, if Pusher has one for it.
pub fn event(rollcall: &str) -> Option<Value> {
    let e: Value = serde_json::from_str(rollcall).ok()?;
    let channel = pusher_channel(e["channel"].as_str()?)?;
    let user = || e["user"]["id"].as_str().map(str::to_string);
    Some(match e["type"].as_str()? {
        "channel.join" => json!({"name": "member_added", "channel": channel, "user_id": user()?}),
        "channel.leave" => json!({"name": "member_removed", "channel": channel, "user_id": user()?}),
        "channel.occupied" => json!({"name": "channel_occupied", "channel": channel}),
        "channel.vacated" => json!({"name": "channel_vacated", "channel": channel}),
        _ => return None,
    })
}

/// The body and headers of one Pusher webhook request for a batch of queued rollcall
/// events; `None` when none of them means anything to Pusher.
pub fn request(app: &PusherApp, events: &[String], time_ms: u64) -> Option<(String, Vec<(&'static str, String)>)> {
    let events: Vec<Value> = events.iter().filter_map(|e| event(e)).collect();
    if events.is_empty() {
        return None;
    }
    let body = json!({"time_ms": time_ms, "events": events}).to_string();
    let headers = vec![
        (KEY_HEADER, app.key.clone()),
        (SIGNATURE_HEADER, signature::sign(&app.secret, &body)),
    ];
    Some((body, headers))
}

/// POST one batch to a Pusher-format endpoint; `Err` says why it failed (the caller
/// retries with backoff).
pub async fn deliver(client: &reqwest::Client, url: &str, app: &PusherApp, events: &[String]) -> Result<(), String> {
    let now_ms = crate::clock::now_ms();
    let Some((body, headers)) = request(app, events, now_ms) else {
        return Ok(());
    };
    let mut post = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        post = post.header(name, value);
    }
    match post.body(body).send().await {
        Ok(res) if res.status().is_success() => Ok(()),
        Ok(res) => Err(format!("answered {}", res.status())),
        Err(e) if e.is_timeout() => Err("timed out".to_string()),
        Err(e) => Err(format!("{e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> PusherApp {
        PusherApp {
            id: "1".into(),
            key: "k".into(),
            secret: "s3cret-s3cret-s3cret".into(),
            webhook_url: Some("http://127.0.0.1:9/hooks".into()),
        }
    }

    #[test]
    fn channel_events_of_pusher_channels_become_pusher_events_and_others_are_dropped() {
        let ev = |ty: &str, ch: &str| {
            json!({"id": "evt_1", "type": ty, "channel": ch, "user": {"id": "7", "name": "ann"}}).to_string()
        };
        assert_eq!(
            event(&ev("channel.join", "/pusher/site-online")),
            Some(json!({"name": "member_added", "channel": "presence-site-online", "user_id": "7"}))
        );
        assert_eq!(
            event(&ev("channel.leave", "/pusher/x")).unwrap()["name"],
            "member_removed"
        );
        assert_eq!(
            event(&ev("channel.occupied", "/pusher/x")),
            Some(json!({"name": "channel_occupied", "channel": "presence-x"}))
        );
        assert_eq!(
            event(&ev("channel.vacated", "/pusher/x")).unwrap()["name"],
            "channel_vacated"
        );
        assert_eq!(event(&ev("channel.join", "/site/online")), None);
        assert_eq!(
            event(&json!({"type": "user.online", "user": {"id": "7"}}).to_string()),
            None
        );
        assert_eq!(event("not json"), None);
    }

    #[test]
    fn a_request_is_signed_with_the_apps_secret_over_the_exact_body() {
        let events = vec![
            json!({"type": "user.online", "user": {"id": "7"}}).to_string(),
            json!({"type": "channel.occupied", "channel": "/pusher/x"}).to_string(),
        ];
        let (body, headers) = request(&app(), &events, 1_795_400_000_000).unwrap();
        assert_eq!(
            body,
            r#"{"events":[{"channel":"presence-x","name":"channel_occupied"}],"time_ms":1795400000000}"#
        );
        assert_eq!(headers[0], (KEY_HEADER, "k".to_string()));
        assert!(signature::verify("s3cret-s3cret-s3cret", &body, &headers[1].1));
        assert_eq!(request(&app(), &events[..1], 0), None);
    }
}
