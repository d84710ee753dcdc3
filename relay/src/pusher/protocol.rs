//! The Pusher protocol's names and frames: versions, prefixes, error codes, the mapping
//! between Pusher presence channels and rollcall channels, and events as Pusher sends
//! them.

use rollcall_core::channel::validate_name;
use serde_json::{json, Value};

/// The Pusher protocol version this endpoint speaks.
pub const PROTOCOL: u32 = 7;
/// Oldest protocol version a client may ask for; 5 to 7 differ in nothing used here.
pub const MIN_PROTOCOL: u32 = 5;
/// The Pusher channel prefix served.
pub const PRESENCE_PREFIX: &str = "presence-";
/// Where presence channels live among rollcall's channels.
pub const ROLLCALL_PREFIX: &str = "/pusher/";
/// Longest `user_id`, as Pusher limits it.
pub const MAX_USER_ID_BYTES: usize = 128;

/// `pusher:error` codes and WebSocket close codes, with Pusher's meanings; pusher-js
/// decides from the range whether to reconnect (4000s: never, 4100s: with backoff,
/// 4200s: at once).
pub mod code {
    /// No `[[pusher_app]]` has this key.
    pub const APP_NOT_FOUND: u16 = 4001;
    /// The client asked for no protocol version.
    pub const NO_PROTOCOL: u16 = 4008;
    /// The client asked for a protocol version this relay does not speak.
    pub const UNSUPPORTED_PROTOCOL: u16 = 4007;
    /// A wrong signature (subscription or sign-in), or a socket switching users.
    pub const UNAUTHORIZED: u16 = 4009;
    /// The relay or the channel is full, or the client sends too fast: back off.
    pub const OVER_CAPACITY: u16 = 4100;
    /// The relay is restarting, or dropped this socket: reconnect at once.
    pub const RECONNECT: u16 = 4200;
    /// Nothing (not even a pong) arrived for the lease timeout.
    pub const PONG_NOT_RECEIVED: u16 = 4201;
    /// Something this endpoint does not do: public or private channels, client events,
    /// unknown events, malformed frames.
    pub const UNSUPPORTED: u16 = 4300;
    /// The member (`user_id` or `user_info`) is larger than the relay accepts.
    pub const MEMBER_TOO_LARGE: u16 = 4301;
}

/// The rollcall channel a Pusher presence channel maps to.
pub fn rollcall_channel(pusher: &str) -> Result<String, (u16, String)> {
    let Some(rest) = pusher.strip_prefix(PRESENCE_PREFIX) else {
        return Err((
            code::UNSUPPORTED,
            format!(
                "rollcall serves Pusher presence channels only; '{pusher}' is a public or private channel: keep those on Pusher or another server"
            ),
        ));
    };
    let ch = format!("{ROLLCALL_PREFIX}{rest}");
    validate_name(&ch).map_err(|_| {
        (
            code::UNSUPPORTED,
            format!(
                "'{pusher}' maps to no rollcall channel: after 'presence-' use 1 to {} ASCII letters, digits and _ - . : @ = , ! $",
                200 - ROLLCALL_PREFIX.len()
            ),
        )
    })?;
    Ok(ch)
}

/// The Pusher presence channel a rollcall channel is seen as, if it has one.
pub fn pusher_channel(rollcall: &str) -> Option<String> {
    let rest = rollcall.strip_prefix(ROLLCALL_PREFIX)?;
    (!rest.is_empty() && !rest.contains('/')).then(|| format!("{PRESENCE_PREFIX}{rest}"))
}

/// One event as Pusher servers send it: `data` is a JSON-encoded string.
pub fn event(name: &str, channel: Option<&str>, data: &Value) -> String {
    let data = data.to_string();
    match channel {
        Some(channel) => json!({"event": name, "channel": channel, "data": data}),
        None => json!({"event": name, "data": data}),
    }
    .to_string()
}

/// A `pusher:error`, naming the channel when there is one (pusher-js then also emits it
/// on that channel).
pub fn error(code: u16, message: &str, channel: Option<&str>) -> String {
    event("pusher:error", channel, &json!({"code": code, "message": message}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_channels_map_both_ways() {
        assert_eq!(rollcall_channel("presence-site-online").unwrap(), "/pusher/site-online");
        assert_eq!(pusher_channel("/pusher/site-online").unwrap(), "presence-site-online");
        assert_eq!(rollcall_channel("presence-doc.42@x").unwrap(), "/pusher/doc.42@x");
        assert_eq!(pusher_channel("/site/online"), None);
        assert_eq!(pusher_channel("/pusher/a/b"), None);
    }

    #[test]
    fn public_private_and_unmappable_channels_are_refused_with_a_reason() {
        for name in ["my-channel", "private-chat", "private-encrypted-x"] {
            let (code, message) = rollcall_channel(name).unwrap_err();
            assert_eq!(code, code::UNSUPPORTED);
            assert!(message.contains("presence channels only"), "{message}");
        }
        for name in ["presence-", "presence-a;b"] {
            let (code, message) = rollcall_channel(name).unwrap_err();
            assert_eq!(code, code::UNSUPPORTED);
            assert!(message.contains("maps to no rollcall channel"), "{message}");
        }
    }

    #[test]
    fn events_carry_their_data_as_a_json_string() {
        let text = event("pusher:pong", None, &json!({}));
        assert_eq!(text, r#"{"data":"{}","event":"pusher:pong"}"#);
        let v: Value = serde_json::from_str(&error(4009, "no", Some("presence-x"))).unwrap();
        assert_eq!(v["channel"], "presence-x");
        let data: Value = serde_json::from_str(v["data"].as_str().unwrap()).unwrap();
        assert_eq!(data, json!({"code": 4009, "message": "no"}));
    }
}
