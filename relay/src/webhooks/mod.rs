//! Webhooks: presence events POSTed to the site, batched, signed, retried.
//!
//! - The events come from the session ledger's book, which sees the roster's events
//!   only after the graces decided: a refresh or a tab handover sends nothing. The book
//!   writes [`event::Notice`]s; [`Webhooks::fan_out`] makes one queued event per
//!   endpoint that wants each, and the ledger stores them in the same transaction that
//!   records them. An event leaves the queue only when the endpoint answered 2xx (at
//!   least once; receivers dedupe by event id).
//! - [`lane`] decides when a batch goes and how long to back off; [`run`] is the task
//!   that sends them, from the [`Queue`] lib.rs hands it (the ledger): this module never
//!   reaches into the ledger itself.
//!
//! A request:
//!
//! ```text
//! POST <url>
//! Content-Type: application/json
//! Rollcall-Signature: t=1795400000,v1=<hex HMAC-SHA256(secret, "1795400000.<body>")>
//!
//! {"events":[{"id":"evt_…","type":"user.online","at":"2026-11-24T02:03:04.567Z",
//!             "at_ms":1795400584567,"user":{"id":"7","name":"ann"}}]}
//! ```

pub mod event;
pub mod lane;

use crate::clock::{now_ms as unix_ms, Ms};
use event::{Kind, Notice};
use hmac::{Hmac, Mac};
use lane::{Lane, Pacing};
use rollcall_core::policy::Policy;
use serde::Deserialize;
use sha2::Sha256;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Rollcall-Signature";
/// Shortest webhook secret accepted.
pub const MIN_SECRET_BYTES: usize = 16;
/// Retries go on for at least this long.
pub const MIN_GIVE_UP_S: u64 = 3_600;
/// Events one endpoint may have waiting by default (`webhooks.max_pending`).
pub const MAX_PENDING: usize = 100_000;

/// A secret that never shows in logs or `Debug` output.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
}

/// `[webhooks]` in the config file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Signs every request (an endpoint may have its own).
    pub secret: Option<Secret>,
    /// How long an event waits for others to go in the same request.
    pub batch_ms: u64,
    /// Most events in one request.
    pub max_batch: usize,
    /// A request not answered in this time counts as failed.
    pub timeout_ms: u64,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// Retries stop (and the event is dropped, with a warning) after this long.
    pub give_up_after_s: u64,
    /// Events waiting for one endpoint; past this the oldest are dropped, with an error
    /// in the log, so an endpoint that is down cannot grow the queue without bound.
    pub max_pending: usize,
    #[serde(rename = "endpoint")]
    pub endpoints: Vec<Endpoint>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            secret: None,
            batch_ms: 1_000,
            max_batch: 100,
            timeout_ms: 10_000,
            backoff_base_ms: 1_000,
            backoff_max_ms: 300_000,
            give_up_after_s: 86_400,
            max_pending: MAX_PENDING,
            endpoints: Vec::new(),
        }
    }
}

/// One `[[webhooks.endpoint]]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub url: String,
    /// Event types sent here; empty means all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Channel patterns whose `channel.*` events are sent here; empty means all.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Overrides `[webhooks] secret` for this endpoint.
    pub secret: Option<Secret>,
    /// Set on the endpoint a `[[pusher_app]]` `webhook_url` adds: Pusher's body and
    /// signature instead of rollcall's (see `crate::pusher::webhooks`).
    #[serde(skip)]
    pub pusher: Option<crate::pusher::app::PusherApp>,
}

impl Endpoint {
    pub fn wants(&self, notice: &Notice) -> bool {
        let kind = notice.kind.as_str();
        if !self.events.is_empty() && !self.events.iter().any(|e| e == kind) {
            return false;
        }
        match &notice.channel {
            Some(ch) if !self.channels.is_empty() => {
                self.channels.iter().any(|p| rollcall_core::channel::matches(p, ch))
            }
            _ => true,
        }
    }
}

impl WebhookConfig {
    /// Check every value; the message names the key.
    pub fn checked(self) -> Result<WebhookConfig, String> {
        for (key, value) in [
            ("webhooks.max_batch", self.max_batch as u64),
            ("webhooks.timeout_ms", self.timeout_ms),
            ("webhooks.backoff_base_ms", self.backoff_base_ms),
            ("webhooks.max_pending", self.max_pending as u64),
        ] {
            if value == 0 {
                return Err(format!("{key} must be greater than 0"));
            }
        }
        if self.backoff_max_ms < self.backoff_base_ms {
            return Err("webhooks.backoff_max_ms must be at least webhooks.backoff_base_ms".into());
        }
        if self.give_up_after_s < MIN_GIVE_UP_S {
            return Err(format!(
                "webhooks.give_up_after_s must be at least {MIN_GIVE_UP_S} (retries go on for an hour at least)"
            ));
        }
        for (i, ep) in self.endpoints.iter().enumerate() {
            let n = i + 1;
            let url =
                reqwest::Url::parse(&ep.url).map_err(|e| format!("webhooks.endpoint {n}: url {:?}: {e}", ep.url))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(format!("webhooks.endpoint {n}: url must be http:// or https://"));
            }
            if let Some(bad) = ep.events.iter().find(|e| Kind::parse(e).is_none()) {
                let known: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                return Err(format!(
                    "webhooks.endpoint {n}: unknown event {bad:?} (known: {})",
                    known.join(", ")
                ));
            }
            for pattern in &ep.channels {
                rollcall_core::channel::validate_pattern(pattern)
                    .map_err(|e| format!("webhooks.endpoint {n}: channels: {e}"))?;
            }
            match ep.secret.as_ref().or(self.secret.as_ref()) {
                None => {
                    return Err(format!(
                        "webhooks.endpoint {n}: no secret: set webhooks.secret (or secret in the endpoint)"
                    ))
                }
                Some(s) if s.0.len() < MIN_SECRET_BYTES => {
                    return Err(format!(
                        "webhooks: every secret must be at least {MIN_SECRET_BYTES} bytes"
                    ))
                }
                Some(_) => {}
            }
            if self.endpoints[..i].iter().any(|e| e.url == ep.url) {
                return Err(format!("webhooks.endpoint {n}: url {:?} is listed twice", ep.url));
            }
        }
        Ok(self)
    }

    pub fn pacing(&self) -> Pacing {
        Pacing {
            batch_ms: self.batch_ms,
            max_batch: self.max_batch,
            backoff_base_ms: self.backoff_base_ms,
            backoff_max_ms: self.backoff_max_ms,
            give_up_ms: self.give_up_after_s.saturating_mul(1000),
        }
    }

    pub fn secret_of(&self, endpoint: &Endpoint) -> String {
        endpoint
            .secret
            .as_ref()
            .or(self.secret.as_ref())
            .map(|s| s.0.clone())
            .unwrap_or_default()
    }
}

/// The webhooks as the relay runs them: the config, the channel rules (one may turn off
/// join and leave webhooks), the counts, and the wake-up of the sender. Shared by the
/// recorder, which fans events out into the queue, and the sender.
pub struct Webhooks {
    pub config: WebhookConfig,
    policy: Policy,
    /// Wakes the sender when events were queued or a send ended.
    pub queued: Notify,
    pub counts: Counts,
}

/// Webhook deliveries since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counts {
    /// Events an endpoint accepted (a retried event counts once per acceptance).
    pub delivered: AtomicU64,
    /// Requests that failed (error status, timeout, no connection).
    pub failed: AtomicU64,
    /// Events given up on after `give_up_after_s`.
    pub dropped: AtomicU64,
    /// Events dropped, oldest first, to stay within `webhooks.max_pending`.
    pub overflowed: AtomicU64,
}

/// One event to queue: the endpoint's URL, the event id, when, and the body.
pub type Queued = (String, String, Ms, String);

/// The stored queue of events, as the sender and the fan-out need it.
pub trait Stored {
    /// The bodies of the queued events `seqs`, in that order.
    fn bodies(&mut self, seqs: &[i64]) -> Result<Vec<String>, String>;
    /// Forget the events `seqs` (delivered, given up on, or over the limit).
    fn dequeue(&mut self, seqs: &[i64]) -> Result<(), String>;
}

/// The durable queue the sender takes its batches from (the ledger, which records the
/// events and queues them in one transaction).
pub trait Queue: Send + Sync + 'static {
    /// Run `f` on the lanes (one per endpoint, in config order) and the stored queue,
    /// under the queue's lock. `f` does a few map operations or a few statements,
    /// never an `.await`.
    fn with_lanes<R>(&self, f: impl FnOnce(&mut [Lane], &mut dyn Stored) -> R) -> R;
}

impl Webhooks {
    pub fn new(config: WebhookConfig, policy: Policy) -> Webhooks {
        Webhooks {
            config,
            policy,
            queued: Notify::new(),
            counts: Counts::default(),
        }
    }

    /// One empty lane per endpoint, in config order.
    pub fn lanes(&self) -> Vec<Lane> {
        self.config.endpoints.iter().map(|_| Lane::default()).collect()
    }

    /// The events to queue for `notices` at `now`: one per endpoint that wants each,
    /// and the lane (endpoint index) of each.
    pub fn fan_out<'a>(&self, notices: impl IntoIterator<Item = &'a Notice>, now: Ms) -> (Vec<Queued>, Vec<usize>) {
        let mut queue = Vec::new();
        let mut lanes = Vec::new();
        for notice in notices {
            if !self.rule_wants(notice) {
                continue;
            }
            let id = format!("evt_{}", crate::ids::random_id());
            let body = event::event_json(&id, notice);
            for (i, endpoint) in self.config.endpoints.iter().enumerate() {
                if endpoint.wants(notice) {
                    queue.push((endpoint.url.clone(), id.clone(), now, body.clone()));
                    lanes.push(i);
                }
            }
        }
        (queue, lanes)
    }

    /// Does the channel's rule let its joins and leaves be told?
    fn rule_wants(&self, notice: &Notice) -> bool {
        match (notice.kind, &notice.channel) {
            (Kind::ChannelJoin | Kind::ChannelLeave, Some(ch)) => {
                self.policy.rule_for(ch).is_none_or(|r| r.join_leave_webhooks())
            }
            _ => true,
        }
    }

    /// Drop the oldest waiting events of every endpoint past `webhooks.max_pending`,
    /// from the lanes and from `stored`. Returns how many.
    pub fn overflow(&self, lanes: &mut [Lane], stored: &mut dyn Stored) -> u64 {
        let webhooks = &self.config;
        let mut dropped = Vec::new();
        for (lane, endpoint) in lanes.iter_mut().zip(&webhooks.endpoints) {
            let gone = lane.overflow(webhooks.max_pending);
            if !gone.is_empty() {
                tracing::error!(
                    "webhook to {}: dropped the {} oldest events waiting, over webhooks.max_pending ({}); is the endpoint down?",
                    endpoint.url,
                    gone.len(),
                    webhooks.max_pending
                );
                dropped.extend(gone);
            }
        }
        if !dropped.is_empty() {
            if let Err(e) = stored.dequeue(&dropped) {
                tracing::error!("webhooks: cannot update the queue: {e}");
            }
        }
        dropped.len() as u64
    }

    /// The lanes for the events still queued from before, `(endpoint url, seq, at)`,
    /// and the seqs of those for endpoints no longer configured.
    pub fn restore(&self, queued: impl IntoIterator<Item = (String, i64, Ms)>) -> (Vec<Lane>, Vec<i64>) {
        let mut lanes = self.lanes();
        let mut orphans = Vec::new();
        for (endpoint, seq, at) in queued {
            match self.config.endpoints.iter().position(|e| e.url == endpoint) {
                Some(i) => lanes[i].push(seq, at),
                None => orphans.push(seq),
            }
        }
        let pending: usize = lanes.iter().map(Lane::len).sum();
        if pending > 0 {
            tracing::info!("webhooks: {pending} events still to deliver from before");
        }
        if !orphans.is_empty() {
            tracing::warn!(
                "webhooks: dropping {} queued events for endpoints no longer configured",
                orphans.len()
            );
        }
        (lanes, orphans)
    }

    /// The webhooks' rows for `/metrics`, with `pending` events waiting over all lanes.
    pub fn metric_rows(&self, pending: usize) -> [(&'static str, &'static str, &'static str, u64); 5] {
        [
            (
                "rollcall_webhook_events_pending",
                "gauge",
                "Webhook events queued and not yet accepted, summed over endpoints.",
                pending as u64,
            ),
            (
                "rollcall_webhook_events_delivered_total",
                "counter",
                "Webhook events an endpoint accepted.",
                self.counts.delivered.load(Relaxed),
            ),
            (
                "rollcall_webhook_requests_failed_total",
                "counter",
                "Webhook requests that failed and will be retried.",
                self.counts.failed.load(Relaxed),
            ),
            (
                "rollcall_webhook_events_dropped_total",
                "counter",
                "Webhook events given up on after webhooks.give_up_after_s.",
                self.counts.dropped.load(Relaxed),
            ),
            (
                "rollcall_webhook_events_overflowed_total",
                "counter",
                "Webhook events dropped, oldest first, because an endpoint had webhooks.max_pending waiting.",
                self.counts.overflowed.load(Relaxed),
            ),
        ]
    }
}

/// The body of one request: `{"events":[...]}`.
pub fn batch_body(events: &[String]) -> String {
    format!("{{\"events\":[{}]}}", events.join(","))
}

fn mac(secret: &str, t: u64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Rollcall-Signature` value for `body` sent at unix second `t`.
pub fn sign(secret: &str, t: u64, body: &[u8]) -> String {
    let tag = mac(secret, t, body).finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

/// Whether `header` signs `body` with `secret`, at most `tolerance_s` seconds from
/// `now_s` (what a receiver checks; the relay uses it in its tests).
pub fn verify(secret: &str, header: &str, body: &[u8], now_s: u64, tolerance_s: u64) -> bool {
    let mut t = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            // Digits only: `parse` would also take "+1", which no receiver does.
            Some(("t", v)) => {
                t = v
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| v.parse::<u64>().ok())
                    .flatten()
            }
            Some(("v1", v)) => tags.push(v.to_string()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if t.abs_diff(now_s) > tolerance_s {
        return false;
    }
    tags.iter().any(|hex| {
        let Some(bytes) = decode_hex(hex) else { return false };
        mac(secret, t, body).verify_slice(&bytes).is_ok()
    })
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    // Hex digits only: `from_str_radix` would also take a sign ("+a").
    if hex.len() & 1 == 1 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The delivery task: the only place webhooks touch the clock and the network. It
/// sleeps until a lane has a batch due (or the ledger queued something), sends each
/// due batch in its own task, and books the outcome.
pub async fn run<Q: Queue>(queue: Arc<Q>, webhooks: Arc<Webhooks>) {
    let config = webhooks.config.clone();
    let pacing = config.pacing();
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_millis(config.timeout_ms))
        .user_agent(concat!("rollcall-relay/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!("webhooks: cannot build the HTTP client, no webhook will be sent: {e}");
            return;
        }
    };
    // Dropped with this task, so a stopped relay stops sending.
    let mut sending = JoinSet::new();
    loop {
        let now = unix_ms();
        // On the blocking pool: a Redis call of the ledger may hold the queue's lock.
        let lanes_of = queue.clone();
        let (due, next) = tokio::task::spawn_blocking(move || {
            lanes_of.with_lanes(|lanes, _| {
                let mut due = Vec::new();
                let mut next: Option<Ms> = None;
                for (i, lane) in lanes.iter_mut().enumerate() {
                    if let Some(seqs) = lane.poll_batch(now, &pacing) {
                        due.push((i, seqs));
                    }
                    if let Some(at) = lane.poll_timeout(&pacing) {
                        next = Some(next.map_or(at, |n| n.min(at)));
                    }
                }
                (due, next)
            })
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        for (i, seqs) in due {
            let endpoint = config.endpoints[i].clone();
            let secret = config.secret_of(&endpoint);
            let pusher = endpoint.pusher.clone();
            sending.spawn(send(
                queue.clone(),
                webhooks.clone(),
                client.clone(),
                i,
                endpoint.url,
                secret,
                pusher,
                seqs,
                pacing,
            ));
        }
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep(Duration::from_millis(at.saturating_sub(unix_ms()))).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            _ = webhooks.queued.notified() => {}
            Some(_) = sending.join_next(), if !sending.is_empty() => {}
        }
    }
}

/// Most bytes of an endpoint's error answer kept for the log and the console.
pub const MAX_ANSWER_BYTES: usize = 300;

/// POST `body` to `url`, signed with `secret`. `Err` says what went wrong: the status
/// and the start of the body the endpoint answered, a time-out, or the network error.
pub async fn post_signed(client: &reqwest::Client, url: &str, secret: &str, body: String) -> Result<(), String> {
    let signature = sign(secret, unix_ms() / 1000, body.as_bytes());
    match client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await
    {
        Ok(res) if res.status().is_success() => Ok(()),
        Ok(res) => {
            let status = res.status();
            let text = res.text().await.unwrap_or_default();
            let mut end = text.len().min(MAX_ANSWER_BYTES);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let text = text[..end].trim();
            if text.is_empty() {
                Err(format!("answered {status}"))
            } else {
                Err(format!("answered {status}: {text}"))
            }
        }
        Err(e) if e.is_timeout() => Err("timed out".to_string()),
        Err(e) => Err(format!("{e}")),
    }
}

#[allow(clippy::too_many_arguments)]
async fn send<Q: Queue>(
    queue: Arc<Q>,
    webhooks: Arc<Webhooks>,
    client: reqwest::Client,
    lane: usize,
    url: String,
    secret: String,
    pusher: Option<crate::pusher::app::PusherApp>,
    seqs: Vec<i64>,
    pacing: Pacing,
) {
    let events = {
        let queue = queue.clone();
        let seqs = seqs.clone();
        tokio::task::spawn_blocking(move || queue.with_lanes(|_, stored| stored.bodies(&seqs)))
            .await
            .unwrap_or_else(|e| Err(format!("unreadable record: {e}")))
    };
    let outcome = match events {
        Err(e) => Err(format!("cannot read the queue: {e}")),
        Ok(events) if events.is_empty() => Ok(()),
        Ok(events) if pusher.is_some() => {
            let app = pusher.as_ref().expect("guarded");
            crate::pusher::webhooks::deliver(&client, &url, app, &events).await
        }
        Ok(events) => post_signed(&client, &url, &secret, batch_body(&events)).await,
    };
    let now = unix_ms();
    let counts = webhooks.clone();
    let _ = tokio::task::spawn_blocking(move || {
        queue.with_lanes(|lanes, stored| {
            lanes[lane].outcome(now, &outcome);
            let forget = match &outcome {
                Ok(()) => {
                    lanes[lane].delivered();
                    counts.counts.delivered.fetch_add(seqs.len() as u64, Relaxed);
                    seqs
                }
                Err(why) => {
                    let dropped = lanes[lane].failed(now, &pacing);
                    counts.counts.failed.fetch_add(1, Relaxed);
                    counts.counts.dropped.fetch_add(dropped.len() as u64, Relaxed);
                    tracing::warn!(
                        "webhook to {url} failed ({why}); attempt {} in a row, retrying with backoff",
                        lanes[lane].failures()
                    );
                    if !dropped.is_empty() {
                        tracing::error!(
                            "webhook to {url}: gave up on {} events after {} s of failures",
                            dropped.len(),
                            pacing.give_up_ms / 1000
                        );
                    }
                    dropped
                }
            };
            if !forget.is_empty() {
                if let Err(e) = stored.dequeue(&forget) {
                    tracing::error!("webhooks: cannot update the queue: {e}");
                }
            }
        })
    })
    .await;
    webhooks.queued.notify_one();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_a_tampered_body_or_old_timestamp_does_not() {
        let secret = "whsec-0123456789abcdef";
        let body = br#"{"events":[]}"#;
        let header = sign(secret, 1_795_400_000, body);
        assert!(header.starts_with("t=1795400000,v1="));
        assert!(verify(secret, &header, body, 1_795_400_010, 300));
        assert!(!verify(secret, &header, br#"{"events":[1]}"#, 1_795_400_010, 300));
        assert!(!verify("another-secret-0123456", &header, body, 1_795_400_010, 300));
        assert!(!verify(secret, &header, body, 1_795_401_000, 300));
        assert!(!verify(secret, "v1=00", body, 1_795_400_000, 300));
    }

    #[test]
    fn a_known_vector_matches_what_other_languages_compute() {
        // What `printf 1.body | openssl dgst -sha256 -hmac secret` prints, and what the
        // Ruby, Python and Node snippets of docs/webhooks.md compute.
        assert_eq!(
            sign("secret", 1, b"body"),
            "t=1,v1=842b24d9575dee4b6ec460b7e3af7d683501d84fe6279102340787c79d2e2bab"
        );
    }

    #[test]
    fn endpoints_filter_by_type_and_channel() {
        let ep = Endpoint {
            url: "http://127.0.0.1:1/".into(),
            events: vec!["channel.join".into(), "user.online".into()],
            channels: vec!["/docs/**".into()],
            secret: None,
            pusher: None,
        };
        let notice = |kind, channel: Option<&str>| Notice {
            kind,
            at: 0,
            user: None,
            channel: channel.map(str::to_string),
            cause: None,
        };
        assert!(ep.wants(&notice(Kind::UserOnline, None)));
        assert!(ep.wants(&notice(Kind::ChannelJoin, Some("/docs/a/b"))));
        assert!(!ep.wants(&notice(Kind::ChannelJoin, Some("/site/online"))));
        assert!(!ep.wants(&notice(Kind::UserOffline, None)));
    }

    #[test]
    fn a_wrong_webhook_config_names_the_key() {
        let base = || WebhookConfig {
            secret: Some(Secret("0123456789abcdef".into())),
            endpoints: vec![Endpoint {
                url: "https://example.com/hooks".into(),
                events: vec![],
                channels: vec![],
                secret: None,
                pusher: None,
            }],
            ..WebhookConfig::default()
        };
        assert!(base().checked().is_ok());
        let mut c = base();
        c.secret = None;
        assert!(c.checked().unwrap_err().contains("webhooks.secret"));
        let mut c = base();
        c.endpoints[0].events = vec!["user.away".into()];
        assert!(c.checked().unwrap_err().contains("user.away"));
        let mut c = base();
        c.endpoints[0].url = "ftp://example.com".into();
        assert!(c.checked().unwrap_err().contains("endpoint 1"));
        let mut c = base();
        c.give_up_after_s = 60;
        assert!(c.checked().unwrap_err().contains("give_up_after_s"));
    }
}
