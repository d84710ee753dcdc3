//! Wire protocol v1 (with its additive 1.1 and 1.2): the JSON text frames that pass
//! between a browser and the relay.
//!
//! Every frame is one JSON object with a `type`. Peer bytes are decoded into a
//! `Result`; nothing a peer sends can panic the decoder. `docs/protocol.md` is the
//! reference for people; this file is the reference for the compiler, and the two are
//! kept together.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// The protocol versions this build speaks, newest last.
pub const SUPPORTED_VERSIONS: &[u32] = &[1];
/// The version this build prefers.
pub const PROTOCOL_VERSION: u32 = 1;

/// WebSocket close codes (4000-4999 are the application's range).
pub mod close {
    /// Sent by a browser page that is going away (pagehide). Starts the unload grace.
    pub const UNLOADING: u16 = 4001;
    /// A browser's own "going away" (also sent when its process dies): not an unload
    /// notice; it gets the reconnect grace like any dropped connection.
    pub const GOING_AWAY: u16 = 1001;
    /// The relay is shutting down: reconnect (to this or another relay) at once.
    pub const RELAY_RESTART: u16 = 1012;
    /// The hello was refused (bad token, bad version). Do not retry with the same input.
    pub const REFUSED: u16 = 4003;
    /// Another connection of the same client took over.
    pub const REPLACED: u16 = 4009;
    /// Nothing arrived for `lease_timeout`.
    pub const LEASE_EXPIRED: u16 = 4010;
    /// The client read too slowly and its queue filled.
    pub const SLOW_CONSUMER: u16 = 4011;
    /// The token expired and no new one came in time.
    pub const TOKEN_EXPIRED: u16 = 4012;
    /// Too many protocol errors or frames over the rate limit. Do not reconnect at once.
    pub const POLICY: u16 = 1008;
    /// A frame larger than the relay accepts (`frame_too_large`). Reconnecting with the
    /// same frame fails the same way.
    pub const TOO_LARGE: u16 = 1009;
}

/// A presence's activity as the browser reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Tab hidden (another tab or app in front).
    Hidden,
    /// Visible but no input for a while.
    Idle,
    /// Visible and in use.
    #[default]
    Active,
}

impl Status {
    pub fn is_active(&self) -> bool {
        *self == Status::Active
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Idle => "idle",
            Status::Hidden => "hidden",
        }
    }
}

/// A small JSON object carried with a presence, e.g. `{"typing": true}`.
#[cfg(not(feature = "opaque-meta"))]
pub type Meta = serde_json::Map<String, Value>;
#[cfg(feature = "opaque-meta")]
pub use opaque::Meta;

/// Meta as JSON text, for the SDK's wasm (the feature `opaque-meta`): the rules only
/// store, compare and pass meta on, and the browser's own `JSON.parse`/`JSON.stringify`
/// read and write it, so the wasm needs no JSON tree (serde_json's `Map` and `Value`
/// with their B-tree code). Same wire form: the serde impls go through `Map`.
#[cfg(feature = "opaque-meta")]
mod opaque {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::{Map, Value};

    /// A JSON object's text, e.g. `{"typing":true}`; empty means `{}`.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct Meta(String);

    impl Meta {
        pub fn is_empty(&self) -> bool {
            self.0.is_empty() || self.0 == "{}"
        }
    }

    impl Serialize for Meta {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            serde_json::from_str::<Map<String, Value>>(text(self))
                .map_err(serde::ser::Error::custom)?
                .serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for Meta {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let map = Map::<String, Value>::deserialize(d)?;
            Ok(Meta(if map.is_empty() {
                String::new()
            } else {
                Value::Object(map).to_string()
            }))
        }
    }

    pub(super) fn from_text(text: String) -> Meta {
        Meta(text)
    }

    pub(super) fn text(meta: &Meta) -> &str {
        if meta.0.is_empty() {
            "{}"
        } else {
            &meta.0
        }
    }
}

/// Meta from a JSON object's text (`None`: not an object). With `opaque-meta` the text is
/// kept as it is: the caller (the browser's `JSON.stringify`) vouches for it.
pub fn meta_from_text(text: &str) -> Option<Meta> {
    #[cfg(feature = "opaque-meta")]
    return text
        .starts_with('{')
        .then(|| opaque::from_text(if text == "{}" { String::new() } else { text.to_string() }));
    #[cfg(not(feature = "opaque-meta"))]
    serde_json::from_str(text).ok()
}

/// Meta's JSON text.
pub fn meta_text(meta: &Meta) -> std::borrow::Cow<'_, str> {
    #[cfg(feature = "opaque-meta")]
    return std::borrow::Cow::Borrowed(opaque::text(meta));
    #[cfg(not(feature = "opaque-meta"))]
    std::borrow::Cow::Owned(serde_json::to_string(meta).unwrap_or_default())
}

/// Frames a browser sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// First frame of every connection.
    Hello {
        /// Versions the client speaks; the relay picks the highest it shares.
        v: Vec<u32>,
        token: String,
        /// The browser profile's random id (kept in localStorage, shared by its tabs).
        client: String,
        /// Since 1.1: this client had a connection before this one (it is coming back
        /// after a drop or a relay restart). A relay that has just started holds such a
        /// client's snapshots until the storm of returning clients settles.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        resume: bool,
    },
    Enter {
        ch: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        meta: Option<Meta>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<Status>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<u64>,
    },
    Leave {
        ch: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<u64>,
    },
    Update {
        ch: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        meta: Option<Meta>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<Status>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<u64>,
    },
    Subscribe {
        ch: String,
        /// People to show in a capped list whether or not they are in the shared part
        /// (with the token's `friends`; the first [`MAX_FRIENDS`] together).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        friends: Vec<String>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<u64>,
    },
    Unsubscribe {
        ch: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<u64>,
    },
    /// Periodic proof of life with the activity status for every entered channel.
    Checkin {
        status: Status,
        /// Since 1.2: answered with `ok`, so the client learns that its link still
        /// carries frames both ways (a browser cannot see the relay's pings).
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<u64>,
    },
    /// A fresh token for the same user, e.g. after `token_expired`.
    Token {
        token: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<u64>,
    },
    /// One page of a channel's members, in id order after `after` (a listing at the
    /// time asked, not kept up to date). Answered with [`ServerMsg::Members`].
    Members {
        ch: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        /// Clamped to `1..=`[`MAX_PAGE`]; [`DEFAULT_PAGE`] when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<u64>,
    },
}

/// People one subscriber follows in a capped list: the first this many of the token's
/// `friends` and the subscribe's `friends` together; the rest are ignored.
pub const MAX_FRIENDS: usize = 100;
/// Most members in one page of `members`.
pub const MAX_PAGE: usize = 1_000;
/// Members in a page when the request does not say.
pub const DEFAULT_PAGE: usize = 100;

impl ClientMsg {
    /// The request id the client attached, echoed in `ok` or `error`.
    pub fn reference(&self) -> Option<u64> {
        match self {
            ClientMsg::Enter { reference, .. }
            | ClientMsg::Leave { reference, .. }
            | ClientMsg::Update { reference, .. }
            | ClientMsg::Subscribe { reference, .. }
            | ClientMsg::Unsubscribe { reference, .. }
            | ClientMsg::Members { reference, .. }
            | ClientMsg::Checkin { reference, .. }
            | ClientMsg::Token { reference, .. } => *reference,
            ClientMsg::Hello { .. } => None,
        }
    }

    pub fn channel(&self) -> Option<&str> {
        match self {
            ClientMsg::Enter { ch, .. }
            | ClientMsg::Leave { ch, .. }
            | ClientMsg::Update { ch, .. }
            | ClientMsg::Subscribe { ch, .. }
            | ClientMsg::Unsubscribe { ch, .. }
            | ClientMsg::Members { ch, .. } => Some(ch),
            _ => None,
        }
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("client messages always serialize")
    }

    /// Decode one text frame. Distinguishes "not JSON", "no such type" and "bad fields"
    /// so the peer is told which.
    pub fn decode(text: &str) -> Result<ClientMsg, DecodeError> {
        decode_tagged(text, CLIENT_TYPES)
    }
}

const CLIENT_TYPES: &[&str] = &[
    "hello",
    "enter",
    "leave",
    "update",
    "subscribe",
    "unsubscribe",
    "checkin",
    "token",
    "members",
];

/// One user as others see them.
#[derive(Clone, Debug, PartialEq, Hash, Serialize, Deserialize)]
pub struct Member {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// Absent on the wire when `active`, the common case: a snapshot of 10,000 members
    /// is a third of the size.
    #[serde(default, skip_serializing_if = "Status::is_active")]
    pub status: Status,
    /// Absent on the wire when empty.
    #[serde(default, skip_serializing_if = "Meta::is_empty")]
    pub meta: Meta,
}

/// Who the relay says you are (from the token only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
}

/// Timings and limits the relay runs with, told to every client in `welcome` so the SDK
/// schedules its check-ins and sizes its requests to match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    pub checkin_interval_ms: u64,
    pub lease_timeout_ms: u64,
    pub unload_grace_ms: u64,
    pub reconnect_grace_ms: u64,
    pub max_meta_bytes: usize,
    pub max_channels: usize,
    /// Since 1.2: this relay answers a check-in that carries a `ref`, within this many
    /// ms on a working link; a client that has no answer by then takes its link for
    /// dead. Absent from an older relay, which answers no check-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkin_answer_ms: Option<u64>,
}

/// Frames the relay sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    Welcome {
        v: u32,
        /// This connection's secret id; the beacon names it.
        session: String,
        /// True when this client still held leases from an earlier connection.
        resumed: bool,
        user: Identity,
        terms: Terms,
    },
    Ok {
        #[serde(rename = "ref")]
        reference: u64,
    },
    Error {
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<u64>,
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ch: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    /// The full state of a channel at `seq`. `users` is absent on count-only channels.
    /// With `cap`, the channel's list is capped: `users` holds at most `cap` members
    /// shared by every subscriber, plus the subscriber itself and the people it follows;
    /// `count` stays exact.
    Snapshot {
        ch: String,
        seq: u64,
        count: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        users: Option<Vec<Member>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cap: Option<usize>,
    },
    /// What changed since `seq - 1`. Apply `join` and `update` as upserts and `leave` as
    /// removals: a diff may repeat what the snapshot before it already showed.
    Diff {
        ch: String,
        seq: u64,
        count: usize,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        join: Vec<Member>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        leave: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        update: Vec<Member>,
    },
    /// In a capped channel: changes about people this subscriber follows (itself, its
    /// friends) that are not in the shared list. No `seq`: it is applied on top of the
    /// state it follows on the same connection, like a diff.
    Focus {
        ch: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        join: Vec<Member>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        leave: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        update: Vec<Member>,
    },
    /// The answer to a `members` request: up to `limit` members after `after`, in id
    /// order; `next` is the `after` of the following page, absent on the last one.
    Members {
        ch: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<u64>,
        count: usize,
        users: Vec<Member>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
}

impl ServerMsg {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }

    pub fn decode(text: &str) -> Result<ServerMsg, DecodeError> {
        decode_tagged(text, SERVER_TYPES)
    }

    pub fn error(code: ErrorCode, reference: Option<u64>, ch: Option<&str>) -> ServerMsg {
        ServerMsg::Error {
            reference,
            code,
            message: code.sentence().to_string(),
            ch: ch.map(str::to_string),
            retry_after_ms: None,
        }
    }
}

const SERVER_TYPES: &[&str] = &["welcome", "ok", "error", "snapshot", "diff", "focus", "members"];

/// The body of `POST /v1/beacon`: "this connection's page is going away".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Beacon {
    pub session: String,
}

/// Stable, machine-readable error codes. Add, never rename.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not a JSON object with a known shape.
    BadFrame,
    /// The `type` is not one this version knows.
    UnknownType,
    /// The frame is larger than the relay accepts.
    FrameTooLarge,
    /// Anything other than `hello` before `welcome`, or a second `hello`.
    HelloFirst,
    /// No version in common.
    UnsupportedVersion,
    /// The token is malformed, unsigned, forged or lacks `sub`.
    BadToken,
    /// The token's `exp` has passed; send a new one with `token`.
    TokenExpired,
    /// A new token names a different user than the connection's.
    TokenMismatch,
    /// The client id is empty, too long or has characters outside `[A-Za-z0-9_-]`.
    BadClientId,
    /// The channel name is not `/prefix/rest`, too long or has forbidden characters.
    BadChannel,
    /// This user may not see (subscribe) this channel.
    ForbiddenView,
    /// This user may not appear (enter) in this channel.
    ForbiddenEnter,
    /// The channel holds `max_members` users already.
    ChannelFull,
    /// This connection has entered or subscribed to `max_channels` channels.
    TooManyChannels,
    /// `meta` is larger than `max_meta_bytes` once encoded.
    MetaTooLarge,
    /// `update` or `leave` on a channel this client has not entered.
    NotEntered,
    /// More frames per second than the relay allows; wait `retry_after_ms`.
    RateLimited,
    /// The relay could not do it now (shutting down, store unavailable).
    Unavailable,
}

impl ErrorCode {
    /// Every code of protocol v1, to read them back from text.
    pub const ALL: [ErrorCode; 18] = [
        ErrorCode::BadFrame,
        ErrorCode::UnknownType,
        ErrorCode::FrameTooLarge,
        ErrorCode::HelloFirst,
        ErrorCode::UnsupportedVersion,
        ErrorCode::BadToken,
        ErrorCode::TokenExpired,
        ErrorCode::TokenMismatch,
        ErrorCode::BadClientId,
        ErrorCode::BadChannel,
        ErrorCode::ForbiddenView,
        ErrorCode::ForbiddenEnter,
        ErrorCode::ChannelFull,
        ErrorCode::TooManyChannels,
        ErrorCode::MetaTooLarge,
        ErrorCode::NotEntered,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
    ];

    /// The code named `text` (its [`ErrorCode::as_str`]), if protocol v1 has one.
    pub fn parse(text: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// A refusal that will not change by retrying: the SDK drops the want behind it
    /// rather than asserting it again on every reconnect.
    pub fn is_permanent(self) -> bool {
        matches!(
            self,
            ErrorCode::ForbiddenEnter
                | ErrorCode::ForbiddenView
                | ErrorCode::BadChannel
                | ErrorCode::ChannelFull
                | ErrorCode::TooManyChannels
                | ErrorCode::MetaTooLarge
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::HelloFirst => "hello_first",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::BadToken => "bad_token",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::TokenMismatch => "token_mismatch",
            ErrorCode::BadClientId => "bad_client_id",
            ErrorCode::BadChannel => "bad_channel",
            ErrorCode::ForbiddenView => "forbidden_view",
            ErrorCode::ForbiddenEnter => "forbidden_enter",
            ErrorCode::ChannelFull => "channel_full",
            ErrorCode::TooManyChannels => "too_many_channels",
            ErrorCode::MetaTooLarge => "meta_too_large",
            ErrorCode::NotEntered => "not_entered",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
        }
    }

    /// A sentence a developer can act on.
    pub fn sentence(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "The frame is not a JSON object of a known shape; see docs/protocol.md.",
            ErrorCode::UnknownType => "This message type is unknown to protocol v1.",
            ErrorCode::FrameTooLarge => "The frame is larger than the relay accepts.",
            ErrorCode::HelloFirst => "Send exactly one hello, first, and wait for welcome.",
            ErrorCode::UnsupportedVersion => "The relay speaks none of the protocol versions offered; upgrade the SDK or the relay.",
            ErrorCode::BadToken => "The token is malformed, not signed with a secret this relay knows, or has no sub; issue a new one from your backend.",
            ErrorCode::TokenExpired => "The token has expired; send a new one (the SDK does this when `token` is a function).",
            ErrorCode::TokenMismatch => "The new token is for another user; open a new connection to change user.",
            ErrorCode::BadClientId => "The client id must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'.",
            ErrorCode::BadChannel => "Channel names look like /prefix/rest: at most 200 bytes of printable ASCII, no empty segments.",
            ErrorCode::ForbiddenView => "This user may not see this channel; check the channel rules or the token's groups and channels.",
            ErrorCode::ForbiddenEnter => "This user may not enter this channel; check the channel rules or the token's groups and channels.",
            ErrorCode::ChannelFull => "The channel has reached its max_members.",
            ErrorCode::TooManyChannels => "This connection has reached the limit of channels; leave or unsubscribe from some first.",
            ErrorCode::MetaTooLarge => "meta is larger than the relay's max_meta_bytes once encoded as JSON.",
            ErrorCode::NotEntered => "This client has not entered that channel.",
            ErrorCode::RateLimited => "Too many frames per second; wait retry_after_ms before sending more.",
            ErrorCode::Unavailable => "The relay cannot do this right now; retry shortly.",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a frame could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a JSON object, or no string `type`.
    Malformed(String),
    /// A `type` this version does not know.
    UnknownType(String),
    /// A known type with missing or wrong fields.
    BadFields { kind: String, detail: String },
}

impl DecodeError {
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::UnknownType(_) => ErrorCode::UnknownType,
            _ => ErrorCode::BadFrame,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Malformed(d) => write!(f, "malformed frame: {d}"),
            DecodeError::UnknownType(t) => write!(f, "unknown message type {t:?}"),
            DecodeError::BadFields { kind, detail } => write!(f, "bad {kind} frame: {detail}"),
        }
    }
}

impl std::error::Error for DecodeError {}

fn decode_tagged<T: serde::de::DeserializeOwned>(text: &str, known: &[&str]) -> Result<T, DecodeError> {
    let value: Value = serde_json::from_str(text).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    let kind = match value.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        _ if value.is_object() => return Err(DecodeError::Malformed("no string field \"type\"".into())),
        _ => return Err(DecodeError::Malformed("not a JSON object".into())),
    };
    if !known.contains(&kind.as_str()) {
        return Err(DecodeError::UnknownType(kind));
    }
    serde_json::from_value(value).map_err(|e| DecodeError::BadFields {
        kind,
        detail: e.to_string(),
    })
}

/// Bytes of `meta` once encoded, as the limit counts them.
pub fn meta_size(meta: &Meta) -> usize {
    serde_json::to_string(meta).map(|s| s.len()).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_message_round_trips() {
        let msgs = [
            r#"{"type":"hello","v":[1],"token":"t","client":"c1"}"#,
            r#"{"type":"enter","ch":"/a/b","meta":{"typing":false},"status":"idle","ref":1}"#,
            r#"{"type":"leave","ch":"/a/b","ref":2}"#,
            r#"{"type":"update","ch":"/a/b","meta":{"typing":true},"ref":3}"#,
            r#"{"type":"subscribe","ch":"/a/b","ref":4}"#,
            r#"{"type":"unsubscribe","ch":"/a/b","ref":5}"#,
            r#"{"type":"checkin","status":"hidden"}"#,
            r#"{"type":"checkin","status":"idle","ref":7}"#,
            r#"{"type":"token","token":"t2","ref":6}"#,
        ];
        for text in msgs {
            let msg = ClientMsg::decode(text).unwrap();
            assert_eq!(ClientMsg::decode(&msg.encode()).unwrap(), msg, "{text}");
        }
    }

    #[test]
    fn decode_tells_malformed_from_unknown_from_bad_fields() {
        assert!(matches!(ClientMsg::decode("{"), Err(DecodeError::Malformed(_))));
        assert!(matches!(ClientMsg::decode("[1]"), Err(DecodeError::Malformed(_))));
        assert!(matches!(
            ClientMsg::decode(r#"{"ch":"/a/b"}"#),
            Err(DecodeError::Malformed(_))
        ));
        assert_eq!(
            ClientMsg::decode(r#"{"type":"shout"}"#),
            Err(DecodeError::UnknownType("shout".into()))
        );
        let err = ClientMsg::decode(r#"{"type":"enter"}"#).unwrap_err();
        assert_eq!(err.code(), ErrorCode::BadFrame);
        assert!(err.to_string().contains("enter"), "{err}");
        assert!(ClientMsg::decode(r#"{"type":"enter","ch":"/a/b","meta":[1]}"#).is_err());
        assert!(ClientMsg::decode(r#"{"type":"checkin","status":"asleep"}"#).is_err());
    }

    #[test]
    fn server_diff_leaves_out_empty_lists() {
        let diff = ServerMsg::Diff {
            ch: "/a/b".into(),
            seq: 3,
            count: 0,
            join: vec![],
            leave: vec!["7".into()],
            update: vec![],
        };
        assert_eq!(
            diff.encode(),
            r#"{"type":"diff","ch":"/a/b","seq":3,"count":0,"leave":["7"]}"#
        );
        assert_eq!(ServerMsg::decode(&diff.encode()).unwrap(), diff);
    }

    #[test]
    fn members_leave_out_the_defaults_and_read_them_back() {
        let plain = Member {
            id: "7".into(),
            name: None,
            avatar: None,
            status: Status::Active,
            meta: Meta::new(),
        };
        let text = serde_json::to_string(&plain).unwrap();
        assert_eq!(text, r#"{"id":"7"}"#);
        assert_eq!(serde_json::from_str::<Member>(&text).unwrap(), plain);
        let idle: Member = serde_json::from_str(r#"{"id":"7","status":"idle","meta":{"typing":true}}"#).unwrap();
        assert_eq!(idle.status, Status::Idle);
        assert_eq!(
            serde_json::to_string(&idle).unwrap(),
            r#"{"id":"7","status":"idle","meta":{"typing":true}}"#
        );
    }

    #[test]
    fn error_codes_serialize_as_their_names() {
        for code in [
            ErrorCode::BadFrame,
            ErrorCode::ForbiddenEnter,
            ErrorCode::RateLimited,
            ErrorCode::Unavailable,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), Value::String(code.as_str().into()));
        }
    }

    #[test]
    fn every_error_code_reads_back_from_its_name_once() {
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            assert_eq!(
                serde_json::from_value::<ErrorCode>(Value::String(code.as_str().into())).unwrap(),
                code
            );
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        assert_eq!(ErrorCode::parse("relay_unreachable"), None);
    }

    #[test]
    fn only_refusals_that_retrying_cannot_change_are_permanent() {
        let permanent: Vec<&str> = ErrorCode::ALL
            .into_iter()
            .filter(|c| c.is_permanent())
            .map(ErrorCode::as_str)
            .collect();
        assert_eq!(
            permanent,
            [
                "bad_channel",
                "forbidden_view",
                "forbidden_enter",
                "channel_full",
                "too_many_channels",
                "meta_too_large"
            ]
        );
    }
}
