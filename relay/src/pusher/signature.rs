//! Pusher's signatures, all HMAC-SHA256 with the app's secret, hex-encoded:
//!
//! - channel auth: `key:hex(HMAC(secret, "socket_id:channel:channel_data"))`, over the
//!   exact `channel_data` string the browser got from the site's auth endpoint;
//! - user authentication (`pusher:signin`): the same over `"socket_id::user::user_data"`;
//! - the HTTP API: `auth_signature = hex(HMAC(secret, "METHOD\nPATH\nQUERY"))`, QUERY
//!   being every parameter but `auth_signature`, keys lowercased, sorted, `k=v` joined
//!   with `&`.
//!
//! Comparisons go through `Mac::verify_slice`, which takes the same time whatever the
//! first differing byte is.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Hex HMAC-SHA256 of `message`: what a Pusher server library computes.
pub fn sign(secret: &str, message: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(message.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// Is `signature` (hex, either case) the HMAC of `message`?
pub fn verify(secret: &str, message: &str, signature: &str) -> bool {
    let Some(bytes) = unhex(signature) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(message.as_bytes());
    mac.verify_slice(&bytes).is_ok()
}

/// The `auth` value a site's auth endpoint returns for a presence (or private) channel.
pub fn channel_auth(key: &str, secret: &str, socket_id: &str, channel: &str, channel_data: Option<&str>) -> String {
    format!(
        "{key}:{}",
        sign(secret, &channel_message(socket_id, channel, channel_data))
    )
}

/// The `auth` value a site's user-authentication endpoint returns for `pusher:signin`.
pub fn user_auth(key: &str, secret: &str, socket_id: &str, user_data: &str) -> String {
    format!("{key}:{}", sign(secret, &user_message(socket_id, user_data)))
}

/// Check an `auth` value `key:signature` for a channel subscription.
pub fn check_channel_auth(
    key: &str,
    secret: &str,
    auth: &str,
    socket_id: &str,
    channel: &str,
    channel_data: Option<&str>,
) -> bool {
    check(key, secret, auth, &channel_message(socket_id, channel, channel_data))
}

/// Check an `auth` value `key:signature` for a sign-in.
pub fn check_user_auth(key: &str, secret: &str, auth: &str, socket_id: &str, user_data: &str) -> bool {
    check(key, secret, auth, &user_message(socket_id, user_data))
}

fn check(key: &str, secret: &str, auth: &str, message: &str) -> bool {
    match auth.split_once(':') {
        Some((k, signature)) => k == key && verify(secret, message, signature),
        None => false,
    }
}

fn channel_message(socket_id: &str, channel: &str, channel_data: Option<&str>) -> String {
    match channel_data {
        Some(data) => format!("{socket_id}:{channel}:{data}"),
        None => format!("{socket_id}:{channel}"),
    }
}

fn user_message(socket_id: &str, user_data: &str) -> String {
    format!("{socket_id}::user::{user_data}")
}

/// The string an HTTP API request signs: `METHOD\nPATH\nQUERY`. `params` are the query's
/// pairs as they appeared (any order); `auth_signature` is left out.
pub fn api_message(method: &str, path: &str, params: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, &str)> = params
        .iter()
        .filter(|(k, _)| k != "auth_signature")
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
        .collect();
    pairs.sort();
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{}\n{path}\n{}", method.to_ascii_uppercase(), query.join("&"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    // Hex digits only: `from_str_radix` would also take a sign ("+a").
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of Pusher's own authentication documentation.
    const KEY: &str = "278d425bdf160c739803";
    const SECRET: &str = "7ad3773142a6692b25b8";

    #[test]
    fn a_presence_auth_matches_pushers_documented_example() {
        let data = r#"{"user_id":10,"user_info":{"name":"Mr. Channels"}}"#;
        let auth = channel_auth(KEY, SECRET, "1234.1234", "presence-foobar", Some(data));
        assert_eq!(
            auth,
            "278d425bdf160c739803:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"
        );
        assert!(check_channel_auth(
            KEY,
            SECRET,
            &auth,
            "1234.1234",
            "presence-foobar",
            Some(data)
        ));
    }

    #[test]
    fn a_private_auth_matches_pushers_documented_example() {
        let auth = channel_auth(KEY, SECRET, "1234.1234", "private-foobar", None);
        assert_eq!(
            auth,
            "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        );
    }

    #[test]
    fn any_change_to_the_signed_fields_fails_the_check() {
        let data = r#"{"user_id":"7"}"#;
        let auth = channel_auth(KEY, SECRET, "1.2", "presence-x", Some(data));
        assert!(!check_channel_auth(KEY, SECRET, &auth, "1.3", "presence-x", Some(data)));
        assert!(!check_channel_auth(KEY, SECRET, &auth, "1.2", "presence-y", Some(data)));
        // The exact string: the same JSON with a space is another message.
        assert!(!check_channel_auth(
            KEY,
            SECRET,
            &auth,
            "1.2",
            "presence-x",
            Some(r#"{"user_id": "7"}"#)
        ));
        assert!(!check_channel_auth(
            "other",
            SECRET,
            &auth,
            "1.2",
            "presence-x",
            Some(data)
        ));
        assert!(!check_channel_auth(
            KEY,
            "wrong",
            &auth,
            "1.2",
            "presence-x",
            Some(data)
        ));
        assert!(!check_channel_auth(
            KEY,
            SECRET,
            "no-colon",
            "1.2",
            "presence-x",
            Some(data)
        ));
        assert!(!check_channel_auth(
            KEY,
            SECRET,
            &format!("{KEY}:zz"),
            "1.2",
            "presence-x",
            Some(data)
        ));
    }

    #[test]
    fn user_auth_signs_the_user_form() {
        let auth = user_auth(KEY, SECRET, "1.2", r#"{"id":"7"}"#);
        assert!(check_user_auth(KEY, SECRET, &auth, "1.2", r#"{"id":"7"}"#));
        assert!(!check_channel_auth(
            KEY,
            SECRET,
            &auth,
            "1.2",
            "user",
            Some(r#"{"id":"7"}"#)
        ));
    }

    #[test]
    fn the_api_message_sorts_lowercased_keys_and_drops_the_signature() {
        let params = vec![
            ("info".to_string(), "user_count".to_string()),
            ("auth_version".to_string(), "1.0".to_string()),
            ("auth_signature".to_string(), "abc".to_string()),
            ("AUTH_KEY".to_string(), "k".to_string()),
            ("auth_timestamp".to_string(), "1353088179".to_string()),
        ];
        assert_eq!(
            api_message("get", "/apps/3/channels/presence-x", &params),
            "GET\n/apps/3/channels/presence-x\nauth_key=k&auth_timestamp=1353088179&auth_version=1.0&info=user_count"
        );
    }
}
