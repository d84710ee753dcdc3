//! One `[[pusher_app]]`: the credentials an app's clients and servers use, and where
//! its Pusher-format webhooks go.

use serde::Deserialize;

/// One `[[pusher_app]]`: the credentials pusher-js (`key`) and a Pusher server library
/// (`id`, `key`, `secret`) are configured with.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PusherApp {
    pub id: String,
    pub key: String,
    pub secret: String,
    /// Where Pusher-format webhooks for this app's presence channels go, if anywhere.
    #[serde(default)]
    pub webhook_url: Option<String>,
}

impl std::fmt::Debug for PusherApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PusherApp")
            .field("id", &self.id)
            .field("key", &self.key)
            .field("secret", &"<hidden>")
            .field("webhook_url", &self.webhook_url)
            .finish()
    }
}

/// Check every `[[pusher_app]]`; the message names the app and the key.
pub fn checked(apps: Vec<PusherApp>) -> Result<Vec<PusherApp>, String> {
    for (i, app) in apps.iter().enumerate() {
        let n = i + 1;
        for (field, value) in [("id", &app.id), ("key", &app.key), ("secret", &app.secret)] {
            if value.is_empty() {
                return Err(format!("pusher_app {n}: {field} must not be empty"));
            }
        }
        let url_safe = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !url_safe(&app.id) || !url_safe(&app.key) {
            return Err(format!(
                "pusher_app {n}: id and key may hold only A-Z, a-z, 0-9, '-' and '_' (they appear in URLs)"
            ));
        }
        if apps[..i].iter().any(|a| a.id == app.id || a.key == app.key) {
            return Err(format!(
                "pusher_app {n}: id {:?} or key {:?} is used twice",
                app.id, app.key
            ));
        }
        if let Some(url) = &app.webhook_url {
            let scheme = reqwest::Url::parse(url).map(|u| u.scheme().to_string());
            if !matches!(scheme.as_deref(), Ok("http" | "https")) {
                return Err(format!(
                    "pusher_app {n}: webhook_url {url:?} must be an http:// or https:// URL"
                ));
            }
        }
    }
    Ok(apps)
}

/// The app a key or an id names.
pub fn app_by_key<'a>(apps: &'a [PusherApp], key: &str) -> Option<&'a PusherApp> {
    apps.iter().find(|a| a.key == key)
}

pub fn app_by_id<'a>(apps: &'a [PusherApp], id: &str) -> Option<&'a PusherApp> {
    apps.iter().find(|a| a.id == id)
}
