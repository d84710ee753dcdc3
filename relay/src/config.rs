//! The relay's configuration: defaults, then the TOML file, then the environment, then
//! flags. A wrong value stops the start with a message that names the key.

use crate::limits::Limits;
use crate::pusher::app::PusherApp;
use rollcall_core::policy::{ChannelRule, Policy};
use rollcall_core::roster::RosterConfig;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7400";

/// The file, as written by an operator. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    redis_url: Option<String>,
    redis_cluster: Option<bool>,
    #[serde(default)]
    allowed_origins: Vec<String>,
    #[serde(default)]
    auth: AuthSection,
    #[serde(default)]
    presence: PresenceSection,
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default, rename = "channel")]
    channels: Vec<ChannelRule>,
    #[serde(default)]
    webhooks: crate::webhooks::WebhookConfig,
    #[serde(default)]
    ledger: crate::ledger::LedgerConfig,
    #[serde(default, rename = "pusher_app")]
    pusher_apps: Vec<PusherApp>,
    #[serde(default)]
    decisions: crate::decisions::DecisionConfig,
    #[serde(default)]
    console: crate::console::ConsoleConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthSection {
    #[serde(default)]
    secrets: Vec<String>,
    api_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PresenceSection {
    checkin_interval_ms: Option<u64>,
    lease_timeout_ms: Option<u64>,
    unload_grace_ms: Option<u64>,
    reconnect_grace_ms: Option<u64>,
    flush_interval_ms: Option<u64>,
    fanout_per_second: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    max_frame_bytes: Option<usize>,
    max_channels: Option<usize>,
    max_meta_bytes: Option<usize>,
    frames_per_second: Option<u32>,
    frame_burst: Option<u32>,
    send_queue: Option<usize>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    upgrades_per_ip_per_second: Option<u32>,
    trusted_proxies: Option<Vec<String>>,
}

/// Everything the relay runs with.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub config_file: Option<PathBuf>,
    /// One URL, or for a Redis Cluster the URLs of some of its nodes, comma-separated.
    pub redis_url: Option<String>,
    /// `redis_cluster`: `redis_url` names a Redis Cluster (see `crate::redis_conn`).
    pub redis_cluster: bool,
    /// HS256 secrets; a token signed with any of them is accepted (rotation).
    pub secrets: Vec<String>,
    pub api_key: Option<String>,
    /// Origins allowed for CORS and WebSocket upgrades; empty means any.
    pub allowed_origins: Vec<String>,
    pub presence: RosterConfig,
    pub limits: Limits,
    pub policy: Policy,
    pub demo: bool,
    /// `[webhooks]`: where presence events are POSTed; see `crate::webhooks`.
    pub webhooks: crate::webhooks::WebhookConfig,
    /// `[ledger]`: the session ledger's file and retention; see `crate::ledger`.
    pub ledger: crate::ledger::LedgerConfig,
    /// `[decisions]`: where the site decides channels; see `crate::decisions`.
    pub decisions: crate::decisions::DecisionConfig,
    /// Apps served over the Pusher protocol (`[[pusher_app]]`); see `crate::pusher`.
    pub pusher_apps: Vec<PusherApp>,
    /// `[console]`: the operator console at `/console`; see `crate::console`.
    pub console: crate::console::ConsoleConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN.parse().expect("valid default"),
            config_file: None,
            redis_url: None,
            redis_cluster: false,
            secrets: Vec::new(),
            api_key: None,
            allowed_origins: Vec::new(),
            presence: RosterConfig::default(),
            limits: Limits::default(),
            policy: Policy::default(),
            webhooks: Default::default(),
            ledger: Default::default(),
            decisions: Default::default(),
            demo: false,
            pusher_apps: Vec::new(),
            console: Default::default(),
        }
    }
}

/// Values from the environment and the command line, which win over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub secret: Option<String>,
    pub api_key: Option<String>,
    pub redis_url: Option<String>,
    pub redis_cluster: Option<bool>,
    pub demo: bool,
}

impl Config {
    /// Read `file` (if any) and apply `overrides`.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Config, String> {
        let parsed = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
                Self::parse_file(&text).map_err(|e| format!("config file {}: {e}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let mut config = Self::from_file(parsed)?;
        config.config_file = file.map(Path::to_path_buf);
        if let Some(listen) = overrides.listen {
            config.listen = parse_listen(&listen)?;
        }
        if let Some(secret) = overrides.secret.filter(|s| !s.is_empty()) {
            config.secrets.insert(0, secret);
        }
        if let Some(key) = overrides.api_key.filter(|s| !s.is_empty()) {
            config.api_key = Some(key);
        }
        if let Some(url) = overrides.redis_url.filter(|s| !s.is_empty()) {
            config.redis_url = Some(url);
        }
        if let Some(cluster) = overrides.redis_cluster {
            config.redis_cluster = cluster;
        }
        config.demo = overrides.demo;
        config.validate()?;
        Ok(config)
    }

    /// Parse the text of a config file (no environment, no validation of secrets).
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let config = Self::from_file(Self::parse_file(text)?)?;
        config.validate_timings()?;
        Ok(config)
    }

    fn parse_file(text: &str) -> Result<FileConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())
    }

    fn from_file(file: FileConfig) -> Result<Config, String> {
        let d = RosterConfig::default();
        let p = file.presence;
        let l = file.limits;
        let dl = Limits::default();
        let pusher_apps = crate::pusher::app::checked(file.pusher_apps)?;
        let policy = Policy::new(file.channels)?;
        let decisions = file.decisions.checked(&policy, file.webhooks.secret.as_ref())?;
        Ok(Config {
            listen: parse_listen(file.listen.as_deref().unwrap_or(DEFAULT_LISTEN))?,
            config_file: None,
            redis_url: file.redis_url.filter(|u| !u.is_empty()),
            redis_cluster: file.redis_cluster.unwrap_or(false),
            secrets: file.auth.secrets,
            api_key: file.auth.api_key.filter(|k| !k.is_empty()),
            allowed_origins: file.allowed_origins,
            presence: RosterConfig {
                checkin_interval_ms: p.checkin_interval_ms.unwrap_or(d.checkin_interval_ms),
                lease_timeout_ms: p.lease_timeout_ms.unwrap_or(d.lease_timeout_ms),
                unload_grace_ms: p.unload_grace_ms.unwrap_or(d.unload_grace_ms),
                reconnect_grace_ms: p.reconnect_grace_ms.unwrap_or(d.reconnect_grace_ms),
                flush_interval_ms: p.flush_interval_ms.unwrap_or(d.flush_interval_ms),
                fanout_per_second: p.fanout_per_second.unwrap_or(d.fanout_per_second),
                max_channels: l.max_channels.unwrap_or(d.max_channels),
                max_meta_bytes: l.max_meta_bytes.unwrap_or(d.max_meta_bytes),
            },
            limits: Limits {
                max_frame_bytes: l.max_frame_bytes.unwrap_or(dl.max_frame_bytes),
                frames_per_second: l.frames_per_second.unwrap_or(dl.frames_per_second),
                frame_burst: l.frame_burst.unwrap_or(dl.frame_burst),
                send_queue: l.send_queue.unwrap_or(dl.send_queue),
                max_connections: l.max_connections.unwrap_or(dl.max_connections),
                max_connections_per_ip: l.max_connections_per_ip.unwrap_or(dl.max_connections_per_ip),
                upgrades_per_ip_per_second: l.upgrades_per_ip_per_second.unwrap_or(dl.upgrades_per_ip_per_second),
                trusted_proxies: parse_proxies(l.trusted_proxies.unwrap_or_default())?,
            },
            policy,
            webhooks: with_pusher_webhooks(file.webhooks.checked()?, &pusher_apps)?,
            ledger: file.ledger.checked()?,
            decisions,
            demo: false,
            pusher_apps,
            console: file.console.checked()?,
        })
    }

    fn validate_timings(&self) -> Result<(), String> {
        let p = &self.presence;
        let positive = [
            ("presence.checkin_interval_ms", p.checkin_interval_ms),
            ("presence.lease_timeout_ms", p.lease_timeout_ms),
            ("presence.flush_interval_ms", p.flush_interval_ms),
            ("presence.fanout_per_second", p.fanout_per_second),
            ("limits.max_frame_bytes", self.limits.max_frame_bytes as u64),
            ("limits.max_channels", p.max_channels as u64),
            ("limits.max_meta_bytes", p.max_meta_bytes as u64),
            ("limits.frames_per_second", self.limits.frames_per_second as u64),
            ("limits.frame_burst", self.limits.frame_burst as u64),
            ("limits.send_queue", self.limits.send_queue as u64),
            ("limits.max_connections", self.limits.max_connections as u64),
            (
                "limits.max_connections_per_ip",
                self.limits.max_connections_per_ip as u64,
            ),
            (
                "limits.upgrades_per_ip_per_second",
                self.limits.upgrades_per_ip_per_second as u64,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(format!("{key} must be greater than 0"));
            }
        }
        if p.lease_timeout_ms <= p.checkin_interval_ms {
            return Err(format!(
                "presence.lease_timeout_ms ({}) must be greater than presence.checkin_interval_ms ({}), or every idle client would time out",
                p.lease_timeout_ms, p.checkin_interval_ms
            ));
        }
        if p.flush_interval_ms > 1_000 {
            return Err(format!(
                "presence.flush_interval_ms ({}) must be at most 1000",
                p.flush_interval_ms
            ));
        }
        if self.limits.max_frame_bytes < self.presence.max_meta_bytes + 256 {
            return Err(format!(
                "limits.max_frame_bytes ({}) must leave room for limits.max_meta_bytes ({}) plus 256 bytes",
                self.limits.max_frame_bytes, self.presence.max_meta_bytes
            ));
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), String> {
        self.validate_timings()?;
        // A relay that serves only Pusher apps authenticates with their secrets instead.
        if self.secrets.is_empty() && !self.demo && self.pusher_apps.is_empty() {
            return Err("no token secret: set ROLLCALL_SECRET (or auth.secrets in the config file)".into());
        }
        if let Some(short) = self.secrets.iter().find(|s| s.len() < 16) {
            let _ = short;
            return Err("auth.secrets / ROLLCALL_SECRET: every secret must be at least 16 bytes".into());
        }
        if let Some(target) = self.redis() {
            target?;
        }
        Ok(())
    }

    /// Where Redis is, when state is shared there: `redis_url` and `redis_cluster`.
    pub fn redis(&self) -> Option<Result<crate::redis_conn::Target, String>> {
        let url = self.redis_url.as_deref()?;
        let answer = crate::redis_conn::answer_timeout(self.presence.lease_timeout_ms);
        Some(crate::redis_conn::Target::open(url, self.redis_cluster).map(|t| t.answering_within(answer)))
    }

    /// The store in use, as the start line and `/healthz` name it.
    pub fn store_name(&self) -> &'static str {
        if self.redis_url.is_some() {
            "redis"
        } else {
            "memory"
        }
    }
}

/// The webhook endpoints of `[[pusher_app]]`s with a `webhook_url`, after the
/// `[[webhooks.endpoint]]`s (the queue tells endpoints apart by URL, so none may repeat).
fn with_pusher_webhooks(
    mut webhooks: crate::webhooks::WebhookConfig,
    apps: &[PusherApp],
) -> Result<crate::webhooks::WebhookConfig, String> {
    for endpoint in apps.iter().filter_map(pusher_endpoint) {
        if webhooks.endpoints.iter().any(|e| e.url == endpoint.url) {
            return Err(format!(
                "pusher_app webhook_url {:?} is also a webhooks.endpoint url; use another URL",
                endpoint.url
            ));
        }
        webhooks.endpoints.push(endpoint);
    }
    Ok(webhooks)
}

/// The webhook endpoint a `[[pusher_app]]` with a `webhook_url` adds: the channel events
/// of the Pusher presence channels, signed with the app's secret.
fn pusher_endpoint(app: &PusherApp) -> Option<crate::webhooks::Endpoint> {
    let url = app.webhook_url.clone()?;
    Some(crate::webhooks::Endpoint {
        url,
        events: crate::pusher::webhooks::EVENTS.map(str::to_string).to_vec(),
        channels: crate::pusher::webhooks::channels(),
        secret: Some(crate::webhooks::Secret(app.secret.clone())),
        pusher: Some(app.clone()),
    })
}

fn parse_proxies(texts: Vec<String>) -> Result<Vec<crate::limits::Net>, String> {
    texts
        .iter()
        .map(|t| {
            crate::limits::Net::parse(t).ok_or_else(|| {
                format!("limits.trusted_proxies: {t:?} is not an address like 127.0.0.1 or a block like 10.0.0.0/8")
            })
        })
        .collect()
}

fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("listen: {text:?} is not an address like 127.0.0.1:7400"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_design_values() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.presence.lease_timeout_ms, 60_000);
        assert_eq!(c.presence.unload_grace_ms, 3_000);
        assert_eq!(c.presence.reconnect_grace_ms, 15_000);
        assert_eq!(c.presence.checkin_interval_ms, 30_000);
        assert_eq!(c.presence.max_meta_bytes, 1024);
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    }

    #[test]
    fn a_full_file_parses() {
        let c = Config::from_toml(
            r#"
            listen = "127.0.0.1:9000"
            allowed_origins = ["https://example.com"]
            [auth]
            secrets = ["0123456789abcdef0123"]
            api_key = "k"
            [presence]
            unload_grace_ms = 500
            [limits]
            max_channels = 7
            [[channel]]
            pattern = "/site/*"
            count_only = true
            [[channel]]
            pattern = "/staff/**"
            allowed_groups = ["staff"]
            public = true
            max_members = 10
            "#,
        )
        .unwrap();
        assert_eq!(c.presence.unload_grace_ms, 500);
        assert_eq!(c.presence.max_channels, 7);
        assert_eq!(c.policy.rules().len(), 2);
        assert_eq!(c.api_key.as_deref(), Some("k"));
    }

    #[test]
    fn a_wrong_config_names_the_key() {
        let err = Config::from_toml("[presence]\nlease_timeout = 5").unwrap_err();
        assert!(err.contains("lease_timeout"), "{err}");
        let err = Config::from_toml("[presence]\nlease_timeout_ms = \"soon\"").unwrap_err();
        assert!(err.contains("lease_timeout_ms"), "{err}");
        let err = Config::from_toml("[presence]\nlease_timeout_ms = 1000").unwrap_err();
        assert!(err.contains("presence.lease_timeout_ms"), "{err}");
        let err = Config::from_toml("[[channel]]\npattern = \"nope\"").unwrap_err();
        assert!(err.contains("channel rule 1"), "{err}");
        let err = Config::from_toml("[limits]\nsend_queue = 0").unwrap_err();
        assert!(err.contains("limits.send_queue"), "{err}");
        let err = Config::from_toml("[limits]\ntrusted_proxies = [\"nginx\"]").unwrap_err();
        assert!(err.contains("limits.trusted_proxies"), "{err}");
        let err = Config::from_toml("[limits]\nupgrades_per_ip_per_second = 0").unwrap_err();
        assert!(err.contains("limits.upgrades_per_ip_per_second"), "{err}");
        let err = Config::from_toml("listen = \"here\"").unwrap_err();
        assert!(err.contains("listen"), "{err}");
    }

    #[test]
    fn pusher_apps_parse_and_a_wrong_one_is_named() {
        let c = Config::from_toml(
            "[[pusher_app]]\nid = \"1\"\nkey = \"k1\"\nsecret = \"s1\"\n[[pusher_app]]\nid = \"2\"\nkey = \"k2\"\nsecret = \"s2\"",
        )
        .unwrap();
        assert_eq!(c.pusher_apps.len(), 2);
        assert_eq!(c.pusher_apps[1].key, "k2");
        assert!(!format!("{c:?}").contains("s1"), "secrets stay out of debug output");
        let err = Config::from_toml("[[pusher_app]]\nid = \"1\"\nkey = \"\"\nsecret = \"s\"").unwrap_err();
        assert!(err.contains("pusher_app 1: key"), "{err}");
        let err = Config::from_toml(
            "[[pusher_app]]\nid = \"1\"\nkey = \"k\"\nsecret = \"s\"\n[[pusher_app]]\nid = \"1\"\nkey = \"j\"\nsecret = \"s\"",
        )
        .unwrap_err();
        assert!(err.contains("pusher_app 2"), "{err}");
    }

    #[test]
    fn a_relay_serving_only_pusher_apps_needs_no_token_secret_and_webhook_urls_are_checked() {
        let app = "[[pusher_app]]\nid = \"1\"\nkey = \"k\"\nsecret = \"s\"\n";
        assert!(Config::from_toml(app).unwrap().validate().is_ok());
        let c = Config::from_toml(&format!("{app}webhook_url = \"http://127.0.0.1:9/hooks\"")).unwrap();
        assert_eq!(c.webhooks.endpoints.len(), 1);
        assert!(c.webhooks.endpoints[0].pusher.is_some());
        let err = Config::from_toml(&format!("{app}webhook_url = \"ftp://example.com\"")).unwrap_err();
        assert!(err.contains("pusher_app 1: webhook_url"), "{err}");
    }

    #[test]
    fn a_secret_is_required_outside_demo_mode() {
        let err = Config::load(None, Overrides::default()).unwrap_err();
        assert!(err.contains("ROLLCALL_SECRET"), "{err}");
        assert!(Config::load(
            None,
            Overrides {
                demo: true,
                ..Overrides::default()
            }
        )
        .is_ok());
        let err = Config::load(
            None,
            Overrides {
                secret: Some("short".into()),
                ..Overrides::default()
            },
        )
        .unwrap_err();
        assert!(err.contains("16 bytes"), "{err}");
    }

    #[test]
    fn the_endpoint_wants_only_pusher_channel_events() {
        let app = || PusherApp {
            id: "1".into(),
            key: "k".into(),
            secret: "s3cret-s3cret-s3cret".into(),
            webhook_url: Some("http://127.0.0.1:9/hooks".into()),
        };
        let ep = pusher_endpoint(&app()).unwrap();
        assert_eq!(ep.url, "http://127.0.0.1:9/hooks");
        assert!(ep.pusher.is_some());
        let mut no_hook = app();
        no_hook.webhook_url = None;
        assert!(pusher_endpoint(&no_hook).is_none());
    }
}
