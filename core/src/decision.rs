//! Channels the site decides: what the site's answer means, and the bounded cache of
//! answers per (user, channel) with their expiry.
//!
//! The relay asks the site about a (user, channel) the first time it needs to, keeps the
//! answer for a TTL (120 s by default, as Discourse keeps its channel configs), and asks
//! again when the answer expires while the user is still there: that is how a site takes
//! a right back. An answer dropped early (the cache is full, or the site asked the relay
//! to forget it) is due at once, like an expired one, so no right outlives its answer.
//!
//! No I/O and no clock: the shell passes `now`, arms one timer at
//! [`DecisionCache::poll_timeout`] and drains [`DecisionCache::due`].

use crate::policy::{Access, MAX_LIST_CAP};
use crate::time::Instant;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// The site's answer about one user in one channel, as it sends it:
/// `{"view": true, "enter": true, "count_only": false, "max_members": 50, "list_cap": 100}`
/// or `{"exists": false}`. Absent rights are refused; absent settings are the rule's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// `false`: there is no such channel (every right refused).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub exists: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<bool>,
    #[serde(default)]
    pub enter: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_members: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_cap: Option<usize>,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

impl Answer {
    /// "No such channel".
    pub const NO_SUCH_CHANNEL: Answer = Answer {
        exists: false,
        view: None,
        enter: false,
        count_only: None,
        max_members: None,
        list_cap: None,
    };

    /// Read the body of the site's answer; `Err` says what is wrong with it.
    pub fn parse(body: &[u8]) -> Result<Answer, String> {
        let answer: Answer = serde_json::from_slice(body).map_err(|e| format!("not a decision: {e}"))?;
        if answer.max_members == Some(0) {
            return Err("max_members must be at least 1".into());
        }
        if let Some(cap) = answer.list_cap {
            if cap == 0 || cap > MAX_LIST_CAP {
                return Err(format!("list_cap must be between 1 and {MAX_LIST_CAP} (got {cap})"));
            }
        }
        Ok(answer)
    }

    /// The rights this answer gives, over `defaults` (the settings of the rule that
    /// sent the channel to the site). Whoever may enter may also watch, as with rules.
    pub fn access(&self, defaults: Access) -> Access {
        if !self.exists {
            return Access {
                view: false,
                enter: false,
                ..defaults
            };
        }
        Access {
            view: self.enter || self.view.unwrap_or(false),
            enter: self.enter,
            count_only: self.count_only.unwrap_or(defaults.count_only),
            max_members: self.max_members.or(defaults.max_members),
            list_cap: self.list_cap.or(defaults.list_cap),
        }
    }
}

/// An answer whose time is up (expired, evicted or dropped): the shell checks whether
/// the user still holds the channel and, if so, asks the site again.
#[derive(Clone, Debug, PartialEq)]
pub struct Due<C> {
    pub user: String,
    pub channel: String,
    pub answer: Answer,
    /// What the shell stored with the answer (the claims to ask with).
    pub context: C,
}

#[derive(Clone, Debug)]
struct Entry<C> {
    answer: Answer,
    expires: Instant,
    context: C,
}

type Key = (String, String);

/// How many of the answers closest to expiry a full cache looks through for one that
/// is not in use, before dropping the closest.
pub const EVICTION_SCAN: usize = 32;

/// The answers of the site, per (user, channel), at most `cap` of them.
#[derive(Debug)]
pub struct DecisionCache<C> {
    cap: usize,
    entries: HashMap<Key, Entry<C>>,
    /// Every entry by expiry, soonest first: the next due, and the first to evict.
    by_expiry: BTreeSet<(Instant, String, String)>,
    /// Dropped before their time (evicted or forgotten), waiting for [`Self::due`].
    early: Vec<Due<C>>,
    evicted: u64,
    /// The site failed: until then, asking it again is pointless.
    down_until: Option<Instant>,
}

impl<C: Clone> DecisionCache<C> {
    pub fn new(cap: usize) -> DecisionCache<C> {
        DecisionCache {
            cap: cap.max(1),
            entries: HashMap::new(),
            by_expiry: BTreeSet::new(),
            early: Vec::new(),
            evicted: 0,
            down_until: None,
        }
    }

    /// The answer for `user` in `channel`, if one is cached and still valid.
    pub fn get(&self, now: Instant, user: &str, channel: &str) -> Option<&Answer> {
        self.entries
            .get(&(user.to_string(), channel.to_string()))
            .filter(|e| e.expires > now)
            .map(|e| &e.answer)
    }

    /// Keep `answer` for `ttl_ms` from `now`. When the cache is full, the answer closest
    /// to its expiry is dropped and becomes due at once.
    pub fn insert(&mut self, now: Instant, user: &str, channel: &str, answer: Answer, ttl_ms: u64, context: C) {
        self.insert_keeping(now, user, channel, answer, ttl_ms, context, |_, _| false)
    }

    /// [`insert`](Self::insert), but a full cache drops, among the
    /// [`EVICTION_SCAN`] answers closest to expiry, the first that is not `in_use(user,
    /// channel)` (an answer nobody relies on any more costs nothing to drop; one in use
    /// would have to be asked about again). Only when all of them are in use is the
    /// closest dropped, and due at once.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_keeping(
        &mut self,
        now: Instant,
        user: &str,
        channel: &str,
        answer: Answer,
        ttl_ms: u64,
        context: C,
        mut in_use: impl FnMut(&str, &str) -> bool,
    ) {
        let key = (user.to_string(), channel.to_string());
        let expires = now + ttl_ms;
        if let Some(old) = self.entries.remove(&key) {
            self.by_expiry.remove(&(old.expires, key.0.clone(), key.1.clone()));
        }
        while self.entries.len() >= self.cap {
            let victim = self
                .by_expiry
                .iter()
                .take(EVICTION_SCAN)
                .find(|(_, u, c)| !in_use(u, c))
                .or_else(|| self.by_expiry.first())
                .cloned();
            let Some(victim) = victim else { break };
            self.by_expiry.remove(&victim);
            let (_, u, c) = victim;
            if let Some(gone) = self.entries.remove(&(u.clone(), c.clone())) {
                self.evicted += 1;
                self.early.push(Due {
                    user: u,
                    channel: c,
                    answer: gone.answer,
                    context: gone.context,
                });
            }
        }
        self.by_expiry.insert((expires, key.0.clone(), key.1.clone()));
        self.entries.insert(
            key,
            Entry {
                answer,
                expires,
                context,
            },
        );
    }

    /// Forget the answers for `channel` and/or `user` (`None`: any): they are due at
    /// once, so a user still there is asked about again. Returns how many.
    pub fn forget(&mut self, channel: Option<&str>, user: Option<&str>) -> usize {
        let keys: Vec<Key> = match (user, channel) {
            (Some(u), Some(c)) => vec![(u.to_string(), c.to_string())],
            _ => self
                .entries
                .keys()
                .filter(|(u, c)| user.is_none_or(|x| x == u) && channel.is_none_or(|x| x == c))
                .cloned()
                .collect(),
        };
        let mut n = 0;
        for key in keys {
            if let Some(gone) = self.entries.remove(&key) {
                self.by_expiry.remove(&(gone.expires, key.0.clone(), key.1.clone()));
                self.early.push(Due {
                    user: key.0,
                    channel: key.1,
                    answer: gone.answer,
                    context: gone.context,
                });
                n += 1;
            }
        }
        n
    }

    /// When [`Self::due`] has something: the next expiry, or now for answers dropped early.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.early.is_empty() {
            return Some(Instant::ZERO);
        }
        self.by_expiry.first().map(|(at, _, _)| *at)
    }

    /// Every answer whose time is up at `now`, removed from the cache.
    pub fn due(&mut self, now: Instant) -> Vec<Due<C>> {
        let mut out = std::mem::take(&mut self.early);
        while let Some((at, _, _)) = self.by_expiry.first() {
            if *at > now {
                break;
            }
            let (_, user, channel) = self.by_expiry.pop_first().expect("just seen");
            if let Some(gone) = self.entries.remove(&(user.clone(), channel.clone())) {
                out.push(Due {
                    user,
                    channel,
                    answer: gone.answer,
                    context: gone.context,
                });
            }
        }
        out
    }

    /// The site did not answer: for `for_ms` from `now`, new questions are refused at
    /// once instead of piling onto a site that is down.
    pub fn site_failed(&mut self, now: Instant, for_ms: u64) {
        self.down_until = Some(now + for_ms);
    }

    /// The site answered.
    pub fn site_answered(&mut self) {
        self.down_until = None;
    }

    /// Milliseconds until the site may be asked again, if it is considered down.
    pub fn site_down_for(&self, now: Instant) -> Option<u64> {
        self.down_until.filter(|at| *at > now).map(|at| at.since(now))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Answers dropped because the cache was full, since the start.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Instant = Instant(1_000);

    fn allow() -> Answer {
        Answer {
            enter: true,
            ..Answer::default()
        }
    }

    #[test]
    fn an_answer_means_its_rights_over_the_rules_settings_and_nothing_is_open_by_default() {
        let defaults = Access {
            view: true,
            enter: true,
            count_only: true,
            max_members: Some(9),
            list_cap: None,
        };
        let empty = Answer::parse(b"{}").unwrap().access(defaults);
        assert!(!empty.view && !empty.enter, "{{}} refuses everything");
        let viewer = Answer::parse(br#"{"view": true}"#).unwrap().access(defaults);
        assert!(viewer.view && !viewer.enter);
        let member = Answer::parse(br#"{"enter": true, "count_only": false, "list_cap": 5, "extra": 1}"#)
            .unwrap()
            .access(defaults);
        assert!(member.view && member.enter && !member.count_only);
        assert_eq!((member.max_members, member.list_cap), (Some(9), Some(5)));
        let gone = Answer::parse(br#"{"exists": false, "enter": true}"#).unwrap();
        assert_eq!(
            gone,
            Answer {
                enter: true,
                ..Answer::NO_SUCH_CHANNEL
            }
        );
        assert!(!gone.access(defaults).view && !gone.access(defaults).enter);
    }

    #[test]
    fn a_malformed_answer_is_refused_with_what_is_wrong() {
        for (body, says) in [
            (&b"yes"[..], "not a decision"),
            (br#"{"enter": "yes"}"#, "not a decision"),
            (br#"{"enter": true, "max_members": 0}"#, "max_members"),
            (br#"{"enter": true, "list_cap": 20000}"#, "list_cap"),
        ] {
            let err = Answer::parse(body).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn a_stored_answer_reads_back_the_same() {
        for answer in [
            allow(),
            Answer::NO_SUCH_CHANNEL,
            Answer {
                view: Some(true),
                max_members: Some(3),
                ..Answer::default()
            },
        ] {
            let text = serde_json::to_string(&answer).unwrap();
            assert_eq!(Answer::parse(text.as_bytes()).unwrap(), answer, "{text}");
        }
    }

    #[test]
    fn an_answer_holds_for_its_ttl_then_is_due_once() {
        let mut cache = DecisionCache::new(10);
        cache.insert(T0, "7", "/topic/1", allow(), 120_000, ());
        assert_eq!(cache.get(T0 + 119_999, "7", "/topic/1"), Some(&allow()));
        assert_eq!(cache.poll_timeout(), Some(T0 + 120_000));
        assert!(cache.due(T0 + 119_999).is_empty());
        assert_eq!(
            cache.get(T0 + 120_000, "7", "/topic/1"),
            None,
            "expired answers are not used"
        );
        let due = cache.due(T0 + 120_000);
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].user.as_str(), due[0].channel.as_str()), ("7", "/topic/1"));
        assert!(cache.due(T0 + 200_000).is_empty() && cache.is_empty());
        assert_eq!(cache.poll_timeout(), None);
    }

    #[test]
    fn a_new_answer_replaces_the_old_and_its_expiry() {
        let mut cache = DecisionCache::new(10);
        cache.insert(T0, "7", "/topic/1", allow(), 1_000, ());
        cache.insert(T0 + 500, "7", "/topic/1", Answer::NO_SUCH_CHANNEL, 1_000, ());
        assert!(cache.due(T0 + 1_000).is_empty(), "the first expiry is gone");
        assert_eq!(cache.get(T0 + 1_000, "7", "/topic/1"), Some(&Answer::NO_SUCH_CHANNEL));
        assert_eq!(cache.due(T0 + 1_500).len(), 1);
    }

    #[test]
    fn a_full_cache_drops_the_answer_closest_to_expiry_and_makes_it_due() {
        let mut cache = DecisionCache::new(3);
        for (i, ttl) in [(1, 5_000), (2, 1_000), (3, 9_000)] {
            cache.insert(T0, &i.to_string(), "/t/1", allow(), ttl, i);
        }
        cache.insert(T0, "4", "/t/1", allow(), 5_000, 4);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.evicted(), 1);
        assert_eq!(cache.get(T0, "2", "/t/1"), None);
        assert_eq!(
            cache.poll_timeout(),
            Some(Instant::ZERO),
            "an evicted answer is due at once"
        );
        let due = cache.due(T0);
        assert_eq!(due.iter().map(|d| d.context).collect::<Vec<_>>(), [2]);
        for i in 0..1_000 {
            cache.insert(T0, &format!("u{i}"), "/t/1", allow(), 5_000, i);
            assert!(cache.len() <= 3);
        }
        assert_eq!(cache.evicted(), 1_001);
    }

    #[test]
    fn a_full_cache_keeps_the_answers_in_use_and_drops_one_nobody_relies_on() {
        let mut cache = DecisionCache::new(3);
        for (i, ttl) in [(1, 1_000), (2, 2_000), (3, 9_000)] {
            cache.insert(T0, &i.to_string(), "/t/1", allow(), ttl, i);
        }
        let in_use = |u: &str, _: &str| u == "1" || u == "2";
        cache.insert_keeping(T0, "4", "/t/1", allow(), 5_000, 4, in_use);
        assert_eq!(cache.get(T0, "3", "/t/1"), None, "3 was not in use");
        assert!(cache.get(T0, "1", "/t/1").is_some() && cache.get(T0, "2", "/t/1").is_some());
        cache.insert_keeping(T0, "5", "/t/1", allow(), 5_000, 5, |_, _| true);
        assert_eq!(
            cache.get(T0, "1", "/t/1"),
            None,
            "all in use: the closest to expiry goes"
        );
        assert_eq!(cache.due(T0).iter().map(|d| d.context).collect::<Vec<_>>(), [3, 1]);
    }

    #[test]
    fn forgetting_by_channel_or_user_makes_those_answers_due_at_once() {
        let mut cache = DecisionCache::new(10);
        for (u, c) in [("7", "/t/1"), ("7", "/t/2"), ("8", "/t/1")] {
            cache.insert(T0, u, c, allow(), 60_000, ());
        }
        assert_eq!(cache.forget(Some("/t/9"), Some("7")), 0);
        assert_eq!(cache.forget(Some("/t/1"), None), 2);
        assert_eq!(cache.get(T0, "7", "/t/2"), Some(&allow()));
        assert_eq!(cache.forget(None, Some("7")), 1);
        assert!(cache.is_empty());
        assert_eq!(cache.due(T0).len(), 3);
    }

    #[test]
    fn a_failed_site_is_left_alone_for_a_while() {
        let mut cache: DecisionCache<()> = DecisionCache::new(10);
        assert_eq!(cache.site_down_for(T0), None);
        cache.site_failed(T0, 5_000);
        assert_eq!(cache.site_down_for(T0 + 1_000), Some(4_000));
        assert_eq!(cache.site_down_for(T0 + 5_000), None);
        cache.site_failed(T0, 5_000);
        cache.site_answered();
        assert_eq!(cache.site_down_for(T0), None);
    }
}
