//! Channels the site decides: the signed question to the site, the cache of its answers,
//! their expiry and what happens when the site takes a right back.
//!
//! Map:
//! - [`Decisions::access`] is what a connection calls before `enter`, `subscribe` and
//!   `members`: the rules' answer at once for a channel the site does not decide, else a
//!   cached answer, else one call to the site shared by every request for the same
//!   (user, channel) ([`Decisions::answer`]).
//! - The refresher task sleeps until the next answer is due (expired, evicted,
//!   forgotten). For a user still in the channel on this relay it asks again and applies
//!   the new answer: a right taken back takes the user out ([`Roster::revoke`]) and
//!   subscribers see `leave`. A site that cannot answer then takes the right back too:
//!   never open by default.
//! - [`shared`]: with Redis, the answers live there too, with their TTL, so every relay
//!   uses the same answer for the same (user, channel); the server API's revocations
//!   reach every relay through it.
//!
//! The rules of it (what an answer means, the cache, the backoff after a failure) are in
//! `rollcall_core::decision`; this module adds the network and the clock.
//!
//! [`Roster::revoke`]: rollcall_core::roster::Roster::revoke

pub mod api;
pub mod shared;

use crate::hub::Hub;
use crate::metrics::Counter;
use crate::redis_conn::Target;
use crate::webhooks::{Secret, MIN_SECRET_BYTES, SIGNATURE_HEADER};
use futures_util::future::{BoxFuture, FutureExt, Shared};
use rollcall_core::channel::validate_name;
use rollcall_core::decision::{Answer, DecisionCache, Due};
use rollcall_core::policy::{Access, Claims, Policy};
use rollcall_core::protocol::{ErrorCode, ServerMsg};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// The `type` of the body the site receives.
pub const DECIDE_TYPE: &str = "channel.decide";
/// Largest answer read from the site.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Rechecks of expired answers running at once, so a wave of expiries does not become a
/// wave of calls.
pub const MAX_RECHECKS: usize = 16;

/// `[decisions]` in the config file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionConfig {
    /// Where the relay POSTs its questions; unset: the site decides nothing.
    pub url: Option<String>,
    /// Signs the questions; unset: `webhooks.secret`.
    pub secret: Option<Secret>,
    /// How long an answer is used before the site is asked again.
    pub ttl_ms: u64,
    /// A question not answered in this time counts as the site being down.
    pub timeout_ms: u64,
    /// Most answers kept; past this the ones closest to expiry are dropped first.
    pub max_entries: usize,
    /// After the site failed: how long browsers are told to wait, and how long the relay
    /// refuses new questions without asking.
    pub retry_after_ms: u64,
    /// A channel that no `[[channel]]` rule matches is decided by the site.
    pub ask_unmatched: bool,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        DecisionConfig {
            url: None,
            secret: None,
            ttl_ms: 120_000,
            timeout_ms: 2_000,
            max_entries: 100_000,
            retry_after_ms: 5_000,
            ask_unmatched: false,
        }
    }
}

impl DecisionConfig {
    /// Check every value against the rules and the webhooks' secret; the message names
    /// the key. The secret in use is filled in.
    pub fn checked(mut self, policy: &Policy, webhook_secret: Option<&Secret>) -> Result<DecisionConfig, String> {
        for (key, value) in [
            ("decisions.ttl_ms", self.ttl_ms),
            ("decisions.timeout_ms", self.timeout_ms),
            ("decisions.max_entries", self.max_entries as u64),
            ("decisions.retry_after_ms", self.retry_after_ms),
        ] {
            if value == 0 {
                return Err(format!("{key} must be greater than 0"));
            }
        }
        let Some(url) = &self.url else {
            if let Some(rule) = policy.rules().iter().find(|r| r.ask_site) {
                return Err(format!(
                    "channel rule {} has ask_site but decisions.url is not set: where should the relay ask?",
                    rule.pattern
                ));
            }
            if self.ask_unmatched {
                return Err("decisions.ask_unmatched needs decisions.url".into());
            }
            return Ok(self);
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("decisions.url {url:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("decisions.url {url:?} must be an http:// or https:// URL"));
        }
        match self.secret.clone().or_else(|| webhook_secret.cloned()) {
            None => return Err("decisions.secret: set it (or webhooks.secret) to sign the relay's questions".into()),
            Some(s) if s.0.len() < MIN_SECRET_BYTES => {
                return Err(format!("decisions.secret must be at least {MIN_SECRET_BYTES} bytes"))
            }
            Some(s) => self.secret = Some(s),
        }
        if !policy.asks_site(self.ask_unmatched) {
            tracing::warn!(
                "decisions.url is set but no [[channel]] rule has ask_site and decisions.ask_unmatched is false: the site is never asked"
            );
        }
        Ok(self)
    }
}

/// What the connection wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Enter,
    /// `subscribe` or `members`.
    View,
    /// The answer expired while the user is still in the channel.
    Recheck,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Enter => "enter",
            Action::View => "view",
            Action::Recheck => "recheck",
        }
    }
}

/// Why the relay refuses, as the browser is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after_ms: Option<u64>,
}

impl Refusal {
    pub fn to_msg(&self, reference: Option<u64>, ch: &str) -> ServerMsg {
        ServerMsg::Error {
            reference,
            code: self.code,
            message: self.message.clone(),
            ch: Some(ch.to_string()),
            retry_after_ms: self.retry_after_ms,
        }
    }

    fn denied(action: Action, answer: &Answer) -> Refusal {
        let code = match action {
            Action::Enter => ErrorCode::ForbiddenEnter,
            _ => ErrorCode::ForbiddenView,
        };
        let message = match (answer.exists, code) {
            (false, _) => "The site says this channel does not exist.",
            (true, ErrorCode::ForbiddenEnter) => "The site does not let this user enter this channel.",
            (true, _) => "The site does not let this user see this channel.",
        };
        Refusal {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    fn unavailable(retry_after_ms: u64) -> Refusal {
        Refusal {
            code: ErrorCode::Unavailable,
            message: "The site that decides this channel did not answer; retry after retry_after_ms.".into(),
            retry_after_ms: Some(retry_after_ms.max(1)),
        }
    }
}

/// The site could not answer; the detail goes to the log.
#[derive(Clone, Debug)]
pub struct Failure {
    pub why: String,
    pub retry_after_ms: u64,
}

type Flight = Shared<BoxFuture<'static, Result<Answer, Failure>>>;
type Key = (String, String);

/// Counters for `/metrics`.
#[derive(Default, Debug)]
pub struct Counts {
    /// Questions sent to the site, by outcome.
    pub allowed: Counter,
    pub denied: Counter,
    pub no_channel: Counter,
    pub failed: Counter,
    /// Answers taken from this relay's cache, and from Redis.
    pub hits: Counter,
    pub shared_hits: Counter,
    /// Refused at once while the site was considered down.
    pub skipped: Counter,
    /// Users taken out of a channel (expired answer, or the server API).
    pub revoked: Counter,
}

/// The site's decisions on one relay.
pub struct Decisions {
    config: DecisionConfig,
    policy: Policy,
    hub: Arc<Hub>,
    /// A plain mutex: each critical section is a few map operations, never an `.await`.
    cache: Mutex<DecisionCache<Arc<Claims>>>,
    flights: Mutex<HashMap<Key, Flight>>,
    http: Option<reqwest::Client>,
    shared: Option<Arc<shared::Shared>>,
    /// The refresher sleeps until the next answer is due, or until this.
    wake: Notify,
    rechecks: Arc<tokio::sync::Semaphore>,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    pub counts: Counts,
}

impl Decisions {
    /// Build from `[decisions]` and the channel rules, and start the refresher (and,
    /// with Redis at `redis`, the listener for other relays' revocations). Needs a
    /// Tokio runtime.
    pub fn start(config: &DecisionConfig, policy: &Policy, redis: Option<Target>, hub: Arc<Hub>) -> Arc<Decisions> {
        let dc = config.clone();
        let http = dc.url.as_ref().and_then(|_| {
            reqwest::Client::builder()
                .timeout(Duration::from_millis(dc.timeout_ms))
                .user_agent(concat!("rollcall-relay/", env!("CARGO_PKG_VERSION")))
                .build()
                .inspect_err(|e| tracing::error!("decisions: cannot build the HTTP client: {e}"))
                .ok()
        });
        let shared = match (&dc.url, redis) {
            (Some(_), Some(target)) => shared::Shared::new(target)
                .inspect_err(|e| tracing::error!("decisions: {e}"))
                .ok()
                .map(Arc::new),
            _ => None,
        };
        let decisions = Arc::new(Decisions {
            cache: Mutex::new(DecisionCache::new(dc.max_entries)),
            config: dc,
            policy: policy.clone(),
            hub,
            flights: Mutex::new(HashMap::new()),
            http,
            shared,
            wake: Notify::new(),
            rechecks: Arc::new(tokio::sync::Semaphore::new(MAX_RECHECKS)),
            tasks: Mutex::new(Vec::new()),
            counts: Counts::default(),
        });
        if decisions.enabled() {
            let mut tasks = decisions.tasks.lock().unwrap_or_else(|p| p.into_inner());
            tasks.push(tokio::spawn(decisions.clone().refresh()).abort_handle());
            if let Some(shared) = &decisions.shared {
                let listener = decisions.clone();
                let apply = move |notice: &shared::Notice| listener.apply_notice(notice);
                tasks.push(tokio::spawn(shared.clone().listen(apply)).abort_handle());
            }
        }
        decisions
    }

    /// Does the site decide any channel?
    pub fn enabled(&self) -> bool {
        self.http.is_some()
    }

    pub fn config(&self) -> &DecisionConfig {
        &self.config
    }

    /// Stop the refresher and the listener (the relay is stopping).
    pub fn stop(&self) {
        for task in self.lock_tasks().drain(..) {
            task.abort();
        }
    }

    /// The answers in Redis, when the relays share them.
    pub fn shared(&self) -> Option<&Arc<shared::Shared>> {
        self.shared.as_ref()
    }

    /// With Redis: is this relay listening to the others' revocations?
    pub fn shared_up(&self) -> bool {
        self.shared.as_ref().is_some_and(|s| s.up())
    }

    fn lock_tasks(&self) -> std::sync::MutexGuard<'_, Vec<tokio::task::AbortHandle>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DecisionCache<Arc<Claims>>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_flights(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Flight>> {
        self.flights.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The settings a site's answer for `ch` falls back to, if the site decides `ch`.
    fn defaults(&self, ch: &str) -> Option<Access> {
        if !self.enabled() {
            return None;
        }
        self.policy.site_decides(ch, self.config.ask_unmatched)
    }

    /// What `claims`' user may do in `ch`: the rules' answer, or the site's (cached, or
    /// asked now). `Err` is what the browser is told: refused by the site, or the site
    /// did not answer (`unavailable` with `retry_after_ms`).
    pub async fn access(self: &Arc<Self>, claims: &Claims, ch: &str, action: Action) -> Result<Access, Refusal> {
        let Some(defaults) = self.defaults(ch) else {
            return Ok(self.policy.access(claims, ch));
        };
        if validate_name(ch).is_err() {
            // The roster says `bad_channel`; the site is not asked about a bad name.
            return Ok(defaults);
        }
        let answer = self
            .answer(Arc::new(claims.clone()), ch, action)
            .await
            .map_err(|f| Refusal::unavailable(f.retry_after_ms))?;
        let access = answer.access(defaults);
        let allowed = match action {
            Action::Enter => access.enter,
            Action::View | Action::Recheck => access.view,
        };
        if !allowed {
            return Err(Refusal::denied(action, &answer));
        }
        Ok(access)
    }

    /// The site's answer for the user of `claims` in `ch`: from the cache, or from the
    /// one call in flight for this (user, channel), started here if there is none.
    pub async fn answer(self: &Arc<Self>, claims: Arc<Claims>, ch: &str, action: Action) -> Result<Answer, Failure> {
        let key = (claims.sub.clone(), ch.to_string());
        let flight = {
            if let Some(answer) = self.lock().get(self.hub.now(), &key.0, &key.1) {
                self.counts.hits.inc();
                return Ok(answer.clone());
            }
            let mut flights = self.lock_flights();
            match flights.get(&key) {
                Some(flight) => flight.clone(),
                None => {
                    // Spawned, so the call completes (and is cached) even if every
                    // connection waiting for it goes away.
                    let task = tokio::spawn(self.clone().fetch(key.clone(), claims, action));
                    let flight = async move {
                        task.await.unwrap_or_else(|e| {
                            Err(Failure {
                                why: format!("the question was dropped: {e}"),
                                retry_after_ms: 1,
                            })
                        })
                    }
                    .boxed()
                    .shared();
                    flights.insert(key, flight.clone());
                    flight
                }
            }
        };
        flight.await
    }

    /// One question: Redis first (another relay may have the answer), then the site.
    async fn fetch(self: Arc<Self>, key: Key, claims: Arc<Claims>, action: Action) -> Result<Answer, Failure> {
        let result = self.fetch_inner(&key, &claims, action).await;
        if let Ok((answer, ttl)) = &result {
            // A full cache drops an answer nobody here relies on before one in use (which
            // would have to be asked about again). Rights unchanged: a pure question.
            let hub = &self.hub;
            let in_use =
                |user: &str, ch: &str| hub.act(|r, now| !r.revoke(now, ch, user, Access::OPEN).held.is_empty());
            let mut cache = self.lock();
            cache.insert_keeping(hub.now(), &key.0, &key.1, answer.clone(), *ttl, claims.clone(), in_use);
        }
        // Cached before the flight ends: a newcomer joins the flight or finds the answer.
        self.lock_flights().remove(&key);
        self.wake.notify_one();
        result.map(|(answer, _)| answer)
    }

    async fn fetch_inner(&self, key: &Key, claims: &Claims, action: Action) -> Result<(Answer, u64), Failure> {
        let (user, ch) = (&key.0, &key.1);
        if let Some(shared) = &self.shared {
            match shared.get(user, ch).await {
                Ok(Some(found)) => {
                    self.counts.shared_hits.inc();
                    return Ok(found);
                }
                Ok(None) => {}
                Err(e) => tracing::debug!("decisions: redis unreachable, asking the site alone: {e}"),
            }
        }
        if let Some(left) = self.lock().site_down_for(self.hub.now()) {
            self.counts.skipped.inc();
            return Err(Failure {
                why: "the site failed recently".into(),
                retry_after_ms: left,
            });
        }
        match self.ask_site(claims, ch, action).await {
            Ok(answer) => {
                self.lock().site_answered();
                let counter = match (&answer.exists, answer.enter || answer.view == Some(true)) {
                    (false, _) => &self.counts.no_channel,
                    (true, true) => &self.counts.allowed,
                    (true, false) => &self.counts.denied,
                };
                counter.inc();
                let ttl = self.config.ttl_ms;
                match &self.shared {
                    // Whoever stored first wins: every relay uses the same answer.
                    Some(shared) => Ok(shared.put(user, ch, &answer, ttl).await.unwrap_or((answer, ttl))),
                    None => Ok((answer, ttl)),
                }
            }
            Err(why) => {
                self.counts.failed.inc();
                let retry = self.config.retry_after_ms;
                self.lock().site_failed(self.hub.now(), retry);
                tracing::warn!(
                    "decisions: the site did not answer for {ch} ({why}); refusing with unavailable for {retry} ms"
                );
                Err(Failure {
                    why,
                    retry_after_ms: retry,
                })
            }
        }
    }

    /// POST the signed question and read the answer.
    async fn ask_site(&self, claims: &Claims, ch: &str, action: Action) -> Result<Answer, String> {
        let (Some(http), Some(url), Some(secret)) = (&self.http, &self.config.url, &self.config.secret) else {
            return Err("no decisions.url".into());
        };
        let body = question(claims, ch, action);
        let signature = crate::webhooks::sign(&secret.0, crate::clock::unix_now(), body.as_bytes());
        let res = http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    "timed out".to_string()
                } else {
                    e.to_string()
                }
            })?;
        if !res.status().is_success() {
            return Err(format!("answered {}", res.status()));
        }
        if res.content_length().is_some_and(|n| n as usize > MAX_ANSWER_BYTES) {
            return Err(format!("the answer is over {MAX_ANSWER_BYTES} bytes"));
        }
        let bytes = res.bytes().await.map_err(|e| {
            if e.is_timeout() {
                "timed out".to_string()
            } else {
                e.to_string()
            }
        })?;
        if bytes.len() > MAX_ANSWER_BYTES {
            return Err(format!("the answer is over {MAX_ANSWER_BYTES} bytes"));
        }
        Answer::parse(&bytes)
    }

    /// Apply another relay's notice (a revocation it published).
    fn apply_notice(&self, notice: &shared::Notice) {
        match (notice.op, notice.c.as_deref(), notice.u.as_deref()) {
            (shared::Op::Evict, Some(ch), Some(user)) => {
                self.evict(ch, user);
            }
            (shared::Op::Forget, ch, user) if ch.is_some() || user.is_some() => {
                self.forget(ch, user);
            }
            _ => tracing::warn!("decisions: ignored a notice without channel or user: {notice:?}"),
        }
    }

    /// Forget this relay's answers for `ch` and/or `user`: those still in use are asked
    /// about again at once. Returns how many were forgotten.
    pub fn forget(&self, ch: Option<&str>, user: Option<&str>) -> usize {
        let n = self.lock().forget(ch, user);
        self.wake.notify_one();
        n
    }

    /// Take `user` out of `ch` on this relay, now, and forget the answer so that their
    /// next try asks the site. Returns (clients taken out, connections that stopped
    /// watching).
    pub fn evict(&self, ch: &str, user: &str) -> (usize, usize) {
        let closed = Access {
            view: false,
            enter: false,
            count_only: false,
            max_members: None,
            list_cap: None,
        };
        let removed = |code| Refusal {
            code,
            message: "The site removed this user from this channel.".into(),
            retry_after_ms: None,
        };
        let done = self.apply(
            ch,
            user,
            closed,
            &removed(ErrorCode::ForbiddenEnter),
            &removed(ErrorCode::ForbiddenView),
        );
        self.forget(Some(ch), Some(user));
        done
    }

    /// `user`'s rights in `ch` are now `access`: take back what it no longer allows and
    /// tell the connections concerned why: `left` those taken out, `unwatched` those
    /// that stopped watching.
    fn apply(&self, ch: &str, user: &str, access: Access, left: &Refusal, unwatched: &Refusal) -> (usize, usize) {
        let revoked = self.hub.act(|r, now| r.revoke(now, ch, user, access));
        for &conn in &revoked.left {
            self.hub.send(conn, &left.to_msg(None, ch));
        }
        for &conn in &revoked.unwatched {
            self.hub.send(conn, &unwatched.to_msg(None, ch));
        }
        let n = revoked.left.len() + revoked.unwatched.len();
        if n > 0 {
            self.counts.revoked.inc();
            tracing::info!(
                "decisions: {user} taken out of {ch} ({} clients, {} watching)",
                revoked.left.len(),
                revoked.unwatched.len()
            );
        }
        (revoked.left.len(), revoked.unwatched.len())
    }

    /// The refresher: the only place decisions read the clock. It sleeps until an answer
    /// is due and rechecks those whose user still holds the channel here.
    async fn refresh(self: Arc<Self>) {
        loop {
            let next = self.lock().poll_timeout();
            match next {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(self.hub.instant_of(at)) => {}
                        _ = self.wake.notified() => continue,
                    }
                }
                None => {
                    self.wake.notified().await;
                    continue;
                }
            }
            let due = self.lock().due(self.hub.now());
            for d in due {
                let Some(defaults) = self.defaults(&d.channel) else {
                    continue;
                };
                // Rights unchanged: nothing moves, and the answer says who is still here.
                let held = self
                    .hub
                    .act(|r, now| r.revoke(now, &d.channel, &d.user, d.answer.access(defaults)));
                if held.held.is_empty() {
                    continue;
                }
                let Ok(permit) = self.rechecks.clone().acquire_owned().await else {
                    return;
                };
                let me = self.clone();
                tokio::spawn(async move {
                    me.recheck(d, defaults).await;
                    drop(permit);
                });
            }
        }
    }

    /// Ask again about a user still in the channel and apply the answer. A site that
    /// does not answer takes the right back too: the browser is told `unavailable` and
    /// tries again after `retry_after_ms`.
    async fn recheck(self: Arc<Self>, due: Due<Arc<Claims>>, defaults: Access) {
        let (access, left, unwatched) = match self.answer(due.context.clone(), &due.channel, Action::Recheck).await {
            Ok(answer) => (
                answer.access(defaults),
                Refusal::denied(Action::Enter, &answer),
                Refusal::denied(Action::View, &answer),
            ),
            Err(f) => {
                let closed = Access {
                    view: false,
                    enter: false,
                    ..defaults
                };
                let told = Refusal::unavailable(f.retry_after_ms);
                (closed, told.clone(), told)
            }
        };
        self.apply(&due.channel, &due.user, access, &left, &unwatched);
    }

    /// Prometheus text for `/metrics`.
    pub fn render_metrics(&self) -> String {
        if !self.enabled() {
            return String::new();
        }
        let (cached, evicted, cap) = {
            let cache = self.lock();
            (cache.len(), cache.evicted(), cache.cap())
        };
        let c = &self.counts;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP rollcall_decisions_cached Answers of the site kept by this relay."
        );
        let _ = writeln!(out, "# TYPE rollcall_decisions_cached gauge");
        let _ = writeln!(out, "rollcall_decisions_cached {cached}");
        let _ = writeln!(out, "# HELP rollcall_decisions_max_entries decisions.max_entries.");
        let _ = writeln!(out, "# TYPE rollcall_decisions_max_entries gauge");
        let _ = writeln!(out, "rollcall_decisions_max_entries {cap}");
        let _ = writeln!(
            out,
            "# HELP rollcall_decisions_evicted_total Answers dropped because the cache was full."
        );
        let _ = writeln!(out, "# TYPE rollcall_decisions_evicted_total counter");
        let _ = writeln!(out, "rollcall_decisions_evicted_total {evicted}");
        let _ = writeln!(
            out,
            "# HELP rollcall_decisions_requests_total Questions sent to the site, by answer."
        );
        let _ = writeln!(out, "# TYPE rollcall_decisions_requests_total counter");
        for (result, n) in [
            ("allowed", c.allowed.get()),
            ("denied", c.denied.get()),
            ("no_channel", c.no_channel.get()),
            ("failed", c.failed.get()),
        ] {
            let _ = writeln!(out, "rollcall_decisions_requests_total{{result=\"{result}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP rollcall_decisions_hits_total Answers found without asking the site."
        );
        let _ = writeln!(out, "# TYPE rollcall_decisions_hits_total counter");
        let _ = writeln!(out, "rollcall_decisions_hits_total{{from=\"relay\"}} {}", c.hits.get());
        let _ = writeln!(
            out,
            "rollcall_decisions_hits_total{{from=\"redis\"}} {}",
            c.shared_hits.get()
        );
        let _ = writeln!(
            out,
            "# HELP rollcall_decisions_skipped_total Questions refused at once while the site was down."
        );
        let _ = writeln!(out, "# TYPE rollcall_decisions_skipped_total counter");
        let _ = writeln!(out, "rollcall_decisions_skipped_total {}", c.skipped.get());
        let _ = writeln!(
            out,
            "# HELP rollcall_decisions_revoked_total Users taken out of a channel whose right was taken back."
        );
        let _ = writeln!(out, "# TYPE rollcall_decisions_revoked_total counter");
        let _ = writeln!(out, "rollcall_decisions_revoked_total {}", c.revoked.get());
        out
    }
}

/// The body of a question: `{"type": "channel.decide", "action": "enter", "channel":
/// "/topic/1", "user": {"id": "7", "name": "ann", "groups": []}, "claims": {...}}`.
pub fn question(claims: &Claims, ch: &str, action: Action) -> String {
    json!({
        "type": DECIDE_TYPE,
        "action": action.as_str(),
        "channel": ch,
        "user": {"id": claims.sub, "name": claims.name, "groups": claims.groups},
        "claims": claims,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_core::policy::ChannelRule;

    fn policy(ask: bool) -> Policy {
        Policy::new(vec![ChannelRule {
            pattern: "/topic/*".into(),
            ask_site: ask,
            ..ChannelRule::default()
        }])
        .unwrap()
    }

    #[test]
    fn a_wrong_decisions_section_names_the_key() {
        let secret = Secret("0123456789abcdef".into());
        let with = |url: &str| DecisionConfig {
            url: Some(url.into()),
            ..DecisionConfig::default()
        };
        let ok = with("http://127.0.0.1:9/decide")
            .checked(&policy(true), Some(&secret))
            .unwrap();
        assert_eq!(ok.secret, Some(secret.clone()), "the webhooks' secret is reused");
        let err = DecisionConfig::default().checked(&policy(true), None).unwrap_err();
        assert!(err.contains("decisions.url") && err.contains("/topic/*"), "{err}");
        let err = with("ftp://x").checked(&policy(true), Some(&secret)).unwrap_err();
        assert!(err.contains("decisions.url"), "{err}");
        let err = with("http://x/").checked(&policy(true), None).unwrap_err();
        assert!(err.contains("decisions.secret"), "{err}");
        let short = DecisionConfig {
            secret: Some(Secret("short".into())),
            ..with("http://x/")
        };
        assert!(short
            .checked(&policy(true), None)
            .unwrap_err()
            .contains("decisions.secret"));
        let zero = DecisionConfig {
            ttl_ms: 0,
            ..with("http://x/")
        };
        assert!(zero
            .checked(&policy(true), Some(&secret))
            .unwrap_err()
            .contains("decisions.ttl_ms"));
        let unmatched = DecisionConfig {
            ask_unmatched: true,
            ..DecisionConfig::default()
        };
        assert!(unmatched
            .checked(&policy(false), None)
            .unwrap_err()
            .contains("decisions.ask_unmatched"));
        assert!(DecisionConfig::default().checked(&policy(false), None).is_ok());
    }

    #[test]
    fn the_question_carries_the_user_the_channel_and_the_action() {
        let claims = Claims {
            sub: "7".into(),
            groups: vec!["staff".into()],
            ..Claims::default()
        };
        let q: serde_json::Value = serde_json::from_str(&question(&claims, "/topic/1", Action::Enter)).unwrap();
        assert_eq!(q["type"], DECIDE_TYPE);
        assert_eq!(q["action"], "enter");
        assert_eq!(q["channel"], "/topic/1");
        assert_eq!(q["user"]["id"], "7");
        assert_eq!(q["user"]["groups"][0], "staff");
        assert_eq!(q["claims"]["sub"], "7");
    }
}
