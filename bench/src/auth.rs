//! Credentials the generator makes for itself: rollcall's HS256 browser tokens and the
//! Pusher protocol's presence-channel signatures, both HMAC-SHA256.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn hmac(secret: &str, message: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// A rollcall browser token for user `sub`, valid for an hour.
pub fn rollcall_token(secret: &str, sub: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        + 3_600;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = serde_json::json!({ "sub": sub, "name": sub, "exp": exp });
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{body}");
    let sig = URL_SAFE_NO_PAD.encode(hmac(secret, signing_input.as_bytes()));
    format!("{signing_input}.{sig}")
}

/// The `auth` field of a Pusher presence subscription:
/// `key:hex(HMAC-SHA256(secret, "socket_id:channel:channel_data"))`.
pub fn pusher_auth(key: &str, secret: &str, socket_id: &str, channel: &str, channel_data: &str) -> String {
    let sig = hmac(secret, format!("{socket_id}:{channel}:{channel_data}").as_bytes());
    let hex: String = sig.iter().map(|b| format!("{b:02x}")).collect();
    format!("{key}:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pusher_signature_matches_the_protocol_documentation_example() {
        // Checked against Node's crypto.createHmac for the same input.
        let auth = pusher_auth(
            "278d425bdf160c739803",
            "7ad3773142a6692b25b8",
            "1234.1234",
            "presence-foobar",
            r#"{"user_id":10,"user_info":{"name":"Mr. Channels"}}"#,
        );
        assert_eq!(
            auth,
            "278d425bdf160c739803:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"
        );
    }

    #[test]
    fn a_token_has_three_parts_and_names_its_user() {
        let token = rollcall_token("0123456789abcdef", "m7");
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
        assert!(String::from_utf8(claims).unwrap().contains(r#""sub":"m7""#));
    }
}
