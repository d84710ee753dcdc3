//! Who may see and who may enter a channel: the operator's rules and the token's claims.
//!
//! Without any rule every channel is open to every valid token. With rules, the first
//! rule whose pattern matches decides. Entering requires being named by the rule
//! (`allowed_users`, `allowed_groups`; both empty means everyone); viewing is granted to
//! those who may enter, to everyone on a `public` channel, and to `view_users` /
//! `view_groups`. A token's `channels` claim adds patterns it may enter and view.
//!
//! A rule with `ask_site` (or, with `[decisions] ask_unmatched`, a channel no rule
//! matches) is decided by the site instead: see [`crate::decision`]. Its static access is
//! closed, so nothing that forgets to ask is ever open.

use crate::channel::{matches, validate_pattern};
use serde::{Deserialize, Serialize};

/// The claims of a browser token that the rules look at. Identity comes only from here.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// People this user knows: in a channel whose list is capped, they are shown to this
    /// user whether or not they are in the shared list (the first
    /// [`MAX_FRIENDS`](crate::protocol::MAX_FRIENDS) are used).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub friends: Vec<String>,
    /// Expiry, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
}

/// One `[[channel]]` rule of the config file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelRule {
    pub pattern: String,
    /// Anyone with a valid token may watch (but not necessarily enter).
    #[serde(default)]
    pub public: bool,
    /// Browsers see counts only, never identities.
    #[serde(default)]
    pub count_only: bool,
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    #[serde(default)]
    pub allowed_users: Vec<String>,
    /// Groups that may watch without entering.
    #[serde(default)]
    pub view_groups: Vec<String>,
    /// Users that may watch without entering.
    #[serde(default)]
    pub view_users: Vec<String>,
    /// Most users present at once; further enters get `channel_full`.
    #[serde(default)]
    pub max_members: Option<usize>,
    /// Most members a subscriber is sent (besides itself and the people it follows):
    /// the count stays exact, the list is the first `list_cap` to arrive. At most
    /// [`MAX_LIST_CAP`].
    #[serde(default)]
    pub list_cap: Option<usize>,
    /// `false`: no `channel.join` / `channel.leave` webhooks for these channels (a
    /// site-wide "who is online" channel, where `user.online` says it all). Default on.
    #[serde(default)]
    pub webhooks: Option<bool>,
    /// The site decides who may view and enter these channels (asked per user and
    /// channel, answers cached); `count_only`, `max_members` and `list_cap` are the
    /// defaults of its answers.
    #[serde(default)]
    pub ask_site: bool,
}

impl ChannelRule {
    /// Are `channel.join` and `channel.leave` sent for channels of this rule?
    pub fn join_leave_webhooks(&self) -> bool {
        self.webhooks != Some(false)
    }
}

/// What one user may do in one channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub view: bool,
    pub enter: bool,
    pub count_only: bool,
    pub max_members: Option<usize>,
    /// Members of the shared list a subscriber is sent; `None`: all of them.
    pub list_cap: Option<usize>,
}

impl Access {
    pub const OPEN: Access = Access {
        view: true,
        enter: true,
        count_only: false,
        max_members: None,
        list_cap: None,
    };
}

/// The largest `list_cap` a rule may set: a capped list exists so that a newcomer's
/// snapshot stays small.
pub const MAX_LIST_CAP: usize = 10_000;

/// The ordered rules of a relay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    rules: Vec<ChannelRule>,
}

impl Policy {
    /// Build from config rules; `Err` names the rule that is wrong.
    pub fn new(rules: Vec<ChannelRule>) -> Result<Policy, String> {
        for (i, rule) in rules.iter().enumerate() {
            validate_pattern(&rule.pattern).map_err(|e| format!("channel rule {}: {e}", i + 1))?;
            if rule.max_members == Some(0) {
                return Err(format!(
                    "channel rule {} ({}): max_members must be at least 1",
                    i + 1,
                    rule.pattern
                ));
            }
            if rule.ask_site {
                let rights = [
                    ("public", rule.public),
                    ("allowed_groups", !rule.allowed_groups.is_empty()),
                    ("allowed_users", !rule.allowed_users.is_empty()),
                    ("view_groups", !rule.view_groups.is_empty()),
                    ("view_users", !rule.view_users.is_empty()),
                ];
                if let Some((key, _)) = rights.iter().find(|(_, set)| *set) {
                    return Err(format!(
                        "channel rule {} ({}): {key} cannot be set with ask_site: the site's answer decides who may view and enter",
                        i + 1,
                        rule.pattern
                    ));
                }
            }
            if let Some(cap) = rule.list_cap {
                if cap == 0 || cap > MAX_LIST_CAP {
                    return Err(format!(
                        "channel rule {} ({}): list_cap must be between 1 and {MAX_LIST_CAP} (got {cap})",
                        i + 1,
                        rule.pattern
                    ));
                }
            }
        }
        Ok(Policy { rules })
    }

    pub fn rules(&self) -> &[ChannelRule] {
        &self.rules
    }

    pub fn rule_for(&self, channel: &str) -> Option<&ChannelRule> {
        self.rules.iter().find(|r| matches(&r.pattern, channel))
    }

    /// Does the site decide `channel`? `Some` holds the settings its answers default to
    /// (from the rule with `ask_site`; none for an unmatched channel when
    /// `ask_unmatched`).
    pub fn site_decides(&self, channel: &str, ask_unmatched: bool) -> Option<Access> {
        let defaults = |rule: Option<&ChannelRule>| Access {
            view: false,
            enter: false,
            count_only: rule.is_some_and(|r| r.count_only),
            max_members: rule.and_then(|r| r.max_members),
            list_cap: rule.and_then(|r| r.list_cap),
        };
        match self.rule_for(channel) {
            Some(rule) => rule.ask_site.then(|| defaults(Some(rule))),
            None => ask_unmatched.then(|| defaults(None)),
        }
    }

    /// Is any channel decided by the site, with these rules and `ask_unmatched`?
    pub fn asks_site(&self, ask_unmatched: bool) -> bool {
        ask_unmatched || self.rules.iter().any(|r| r.ask_site)
    }

    /// The rights of `claims` in `channel` (a name already validated). Closed on a
    /// channel whose rule asks the site: only the site's answer opens it.
    pub fn access(&self, claims: &Claims, channel: &str) -> Access {
        let granted = claims.channels.iter().any(|p| matches(p, channel));
        if self.rules.is_empty() {
            return Access::OPEN;
        }
        let Some(rule) = self.rule_for(channel) else {
            return Access {
                view: granted,
                enter: granted,
                count_only: false,
                max_members: None,
                list_cap: None,
            };
        };
        if rule.ask_site {
            return Access {
                view: false,
                enter: false,
                count_only: rule.count_only,
                max_members: rule.max_members,
                list_cap: rule.list_cap,
            };
        }
        let named = |users: &[String], groups: &[String]| {
            users.contains(&claims.sub) || groups.iter().any(|g| claims.groups.contains(g))
        };
        let enter = granted
            || (rule.allowed_users.is_empty() && rule.allowed_groups.is_empty())
            || named(&rule.allowed_users, &rule.allowed_groups);
        let view = enter || rule.public || named(&rule.view_users, &rule.view_groups);
        Access {
            view,
            enter,
            count_only: rule.count_only,
            max_members: rule.max_members,
            list_cap: rule.list_cap,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_cap_is_carried_to_access_and_one_out_of_bounds_is_refused_by_name() {
        let rule = |cap| ChannelRule {
            pattern: "/site/*".into(),
            list_cap: Some(cap),
            ..ChannelRule::default()
        };
        let policy = Policy::new(vec![rule(50)]).unwrap();
        assert_eq!(policy.access(&Claims::default(), "/site/online").list_cap, Some(50));
        for cap in [0, MAX_LIST_CAP + 1] {
            let err = Policy::new(vec![rule(cap)]).unwrap_err();
            assert!(err.contains("list_cap") && err.contains("channel rule 1"), "{err}");
        }
    }

    #[test]
    fn a_rule_that_asks_the_site_is_closed_until_asked_and_gives_its_settings_as_defaults() {
        let policy = Policy::new(vec![
            ChannelRule {
                ask_site: true,
                count_only: true,
                max_members: Some(4),
                ..rule("/topic/*")
            },
            rule("/site/*"),
        ])
        .unwrap();
        let mut c = claims("1", &["staff"]);
        c.channels = vec!["/topic/1".into()];
        let a = policy.access(&c, "/topic/1");
        assert!(!a.view && !a.enter, "not even the token's channels open it");
        let d = policy.site_decides("/topic/1", false).unwrap();
        assert!(d.count_only && !d.view && !d.enter);
        assert_eq!(d.max_members, Some(4));
        assert_eq!(policy.site_decides("/site/online", true), None, "a static rule decides");
        assert_eq!(policy.site_decides("/other/x", false), None);
        assert!(policy
            .site_decides("/other/x", true)
            .is_some_and(|d| !d.view && !d.count_only));
        assert!(policy.asks_site(false));
        assert!(!Policy::new(vec![rule("/a/*")]).unwrap().asks_site(false));

        let err = Policy::new(vec![ChannelRule {
            ask_site: true,
            allowed_groups: vec!["staff".into()],
            ..rule("/topic/*")
        }])
        .unwrap_err();
        assert!(
            err.contains("channel rule 1") && err.contains("allowed_groups"),
            "{err}"
        );
    }

    fn claims(sub: &str, groups: &[&str]) -> Claims {
        Claims {
            sub: sub.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Claims::default()
        }
    }

    fn rule(pattern: &str) -> ChannelRule {
        ChannelRule {
            pattern: pattern.into(),
            ..ChannelRule::default()
        }
    }

    #[test]
    fn without_rules_everything_is_open() {
        let policy = Policy::new(vec![]).unwrap();
        assert_eq!(policy.access(&claims("1", &[]), "/any/thing"), Access::OPEN);
    }

    #[test]
    fn unmatched_channels_are_closed_once_rules_exist() {
        let policy = Policy::new(vec![rule("/site/*")]).unwrap();
        let a = policy.access(&claims("1", &[]), "/secret/x");
        assert!(!a.view && !a.enter);
        assert!(policy.access(&claims("1", &[]), "/site/online").enter);
    }

    #[test]
    fn view_and_enter_are_separate_rights() {
        let policy = Policy::new(vec![ChannelRule {
            public: true,
            allowed_groups: vec!["staff".into()],
            view_users: vec!["9".into()],
            ..rule("/staff/**")
        }])
        .unwrap();
        let outsider = policy.access(&claims("1", &["users"]), "/staff/room");
        assert!(outsider.view && !outsider.enter);
        let staff = policy.access(&claims("2", &["staff"]), "/staff/room");
        assert!(staff.view && staff.enter);

        let private = Policy::new(vec![ChannelRule {
            allowed_users: vec!["2".into()],
            view_groups: vec!["mods".into()],
            ..rule("/dm/*")
        }])
        .unwrap();
        assert!(!private.access(&claims("1", &[]), "/dm/x").view);
        let moderator = private.access(&claims("3", &["mods"]), "/dm/x");
        assert!(moderator.view && !moderator.enter);
    }

    #[test]
    fn token_channels_grant_view_and_enter_but_keep_the_rule_limits() {
        let policy = Policy::new(vec![ChannelRule {
            allowed_users: vec!["x".into()],
            count_only: true,
            max_members: Some(5),
            ..rule("/doc/*")
        }])
        .unwrap();
        let mut c = claims("1", &[]);
        assert!(!policy.access(&c, "/doc/7").enter);
        c.channels = vec!["/doc/7".into()];
        let a = policy.access(&c, "/doc/7");
        assert!(a.enter && a.view && a.count_only);
        assert_eq!(a.max_members, Some(5));
        assert!(!policy.access(&c, "/doc/8").enter);
    }

    #[test]
    fn first_matching_rule_wins() {
        let policy = Policy::new(vec![
            ChannelRule {
                count_only: true,
                ..rule("/site/online")
            },
            rule("/site/*"),
        ])
        .unwrap();
        assert!(policy.access(&claims("1", &[]), "/site/online").count_only);
        assert!(!policy.access(&claims("1", &[]), "/site/other").count_only);
    }

    #[test]
    fn bad_rules_are_named() {
        let err = Policy::new(vec![rule("/ok/*"), rule("bad")]).unwrap_err();
        assert!(err.contains("channel rule 2"), "{err}");
        let err = Policy::new(vec![ChannelRule {
            max_members: Some(0),
            ..rule("/a/*")
        }])
        .unwrap_err();
        assert!(err.contains("max_members"), "{err}");
    }
}
