//! The wire protocols the generator speaks: rollcall v1, Pusher 7 (presence channels),
//! Socket.IO 4 (Engine.IO v4 over WebSocket) to the online-users server in `peers/`,
//! and the floor's one-word protocol. Each turns a text frame into [`Event`]s.
//!
//! Parsing is deliberately shallow: a 10,000-member snapshot or member list is scanned
//! for its count, never decoded into values, so the generator's cost per frame stays
//! small and the same for every server.

use crate::auth;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Rollcall,
    Pusher,
    Socketio,
    Floor,
}

/// Shared secrets of a benchmark run (the servers are started with the same ones).
pub const ROLLCALL_SECRET: &str = "bench-secret-0123456789abcdef";
pub const PUSHER_APP_ID: &str = "bench";
pub const PUSHER_KEY: &str = "bench-key";
pub const PUSHER_SECRET: &str = "bench-secret";

/// What one frame meant.
#[derive(Debug, PartialEq)]
pub enum Event {
    /// The connection handshake is done: the client may join.
    Ready,
    /// This client is in the channel.
    Admitted,
    /// The channel now has this many members.
    Count(i64),
    /// The count moved by this much.
    Delta(i64),
    Joined(String),
    Left(String),
    /// Text to send back (pongs).
    Reply(String),
    Refused(String),
}

/// The per-connection state a protocol needs.
#[derive(Default)]
pub struct Session {
    socket_id: String,
}

impl Proto {
    pub fn path(self, user: &str) -> String {
        let _ = user;
        match self {
            Proto::Rollcall => "/v1/ws".into(),
            Proto::Pusher => format!("/app/{PUSHER_KEY}?protocol=7&client=rollcall-bench&version=0.1"),
            Proto::Socketio => "/socket.io/?EIO=4&transport=websocket".into(),
            Proto::Floor => "/".into(),
        }
    }

    /// Frames to send right after the WebSocket opens. `resume`: this client had a
    /// connection before (as the SDK says after a drop or a restart).
    pub fn opening(self, user: &str, resume: bool) -> Vec<String> {
        match self {
            Proto::Rollcall => vec![json!({
                "type": "hello",
                "v": [1],
                "token": auth::rollcall_token(ROLLCALL_SECRET, user),
                "client": format!("c{user}"),
                "resume": resume,
            })
            .to_string()],
            _ => Vec::new(),
        }
    }

    /// Whether the connection is ready as soon as it opens.
    pub fn ready_on_open(self) -> bool {
        self == Proto::Floor
    }

    /// Frames that enter `channel` and watch it.
    pub fn join(self, s: &Session, user: &str, channel: &str) -> Vec<String> {
        match self {
            Proto::Rollcall => vec![
                json!({"type": "subscribe", "ch": channel, "ref": 1}).to_string(),
                json!({"type": "enter", "ch": channel, "ref": 2}).to_string(),
            ],
            Proto::Pusher => {
                let channel = pusher_channel(channel);
                let data = json!({"user_id": user, "user_info": {"name": user}}).to_string();
                let auth = auth::pusher_auth(PUSHER_KEY, PUSHER_SECRET, &s.socket_id, &channel, &data);
                vec![json!({
                    "event": "pusher:subscribe",
                    "data": {"channel": channel, "auth": auth, "channel_data": data}
                })
                .to_string()]
            }
            Proto::Socketio => vec![format!(
                "42{}",
                json!(["register", {"id": user, "name": user, "room": channel}])
            )],
            Proto::Floor => vec!["join".into()],
        }
    }

    /// Frames that leave `channel` (the connection stays open).
    pub fn leave(self, channel: &str) -> Vec<String> {
        match self {
            Proto::Rollcall => vec![json!({"type": "leave", "ch": channel, "ref": 3}).to_string()],
            Proto::Pusher => vec![json!({
                "event": "pusher:unsubscribe",
                "data": {"channel": pusher_channel(channel)}
            })
            .to_string()],
            Proto::Socketio => vec![format!("42{}", json!(["unregister"]))],
            Proto::Floor => Vec::new(),
        }
    }

    pub fn on_text(self, s: &mut Session, text: &str, out: &mut Vec<Event>) {
        match self {
            Proto::Rollcall => rollcall(text, out),
            Proto::Pusher => pusher(s, text, out),
            Proto::Socketio => socketio(text, out),
            Proto::Floor => {
                if text == "ok" {
                    out.push(Event::Admitted);
                }
            }
        }
    }
}

/// Pusher presence channels are named `presence-...` and allow no `/`.
pub fn pusher_channel(channel: &str) -> String {
    let tail: String = channel
        .trim_start_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("presence-{tail}")
}

/// The string value of `"key":"..."` in `text` (the first one; frames here are
/// written compactly, without spaces).
pub fn str_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":\"");
    let start = text.find(&pat)? + pat.len();
    let end = text[start..].find('"')? + start;
    Some(&text[start..end])
}

/// The integer after `key` followed by up to three characters of `":\` (escaped or not).
fn num_after(text: &str, at: usize) -> Option<i64> {
    let digits: String = text[at..]
        .chars()
        .skip_while(|c| matches!(c, '"' | ':' | '\\' | ' '))
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

fn first_count(text: &str) -> Option<i64> {
    num_after(text, text.find("\"count\"")? + 7)
}

fn last_count(text: &str) -> Option<i64> {
    let at = text.rfind("count")? + 5;
    num_after(text, at)
}

#[derive(Deserialize)]
struct Diff {
    count: i64,
    #[serde(default)]
    join: Vec<IdOnly>,
    #[serde(default)]
    leave: Vec<String>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

fn rollcall(text: &str, out: &mut Vec<Event>) {
    // The relay writes `type` first; look no further than the head of a big snapshot.
    let head = &text[..text.len().min(64)];
    match str_field(head, "type") {
        Some("welcome") => out.push(Event::Ready),
        Some("ok") if text.contains("\"ref\":2") => out.push(Event::Admitted),
        Some("snapshot") => {
            if let Some(n) = first_count(text) {
                out.push(Event::Count(n));
            }
        }
        Some("diff") => {
            // Only probe members (`p<n>`) are timed: decode the member lists only when
            // one is there; otherwise the count, which comes before them, is enough.
            if !text.contains("\"p") {
                if let Some(n) = first_count(text) {
                    out.push(Event::Count(n));
                }
            } else if let Ok(d) = serde_json::from_str::<Diff>(text) {
                out.extend(d.join.into_iter().map(|m| Event::Joined(m.id)));
                out.extend(d.leave.into_iter().map(Event::Left));
                out.push(Event::Count(d.count));
            }
        }
        Some("error") => out.push(Event::Refused(text.chars().take(200).collect())),
        _ => {}
    }
}

fn pusher(s: &mut Session, text: &str, out: &mut Vec<Event>) {
    let Some(event) = str_field(text, "event") else { return };
    match event {
        "pusher:connection_established" => {
            if let Ok(v) = serde_json::from_str::<Value>(text) {
                let data = v["data"].as_str().unwrap_or("{}");
                let data: Value = serde_json::from_str(data).unwrap_or(Value::Null);
                s.socket_id = data["socket_id"].as_str().unwrap_or("").to_string();
                out.push(Event::Ready);
            }
        }
        "pusher_internal:subscription_succeeded" => {
            out.push(Event::Admitted);
            if let Some(n) = last_count(text) {
                out.push(Event::Count(n));
            }
        }
        "pusher_internal:member_added" | "pusher_internal:member_removed" => {
            let added = event.ends_with("added");
            out.push(Event::Delta(if added { 1 } else { -1 }));
            // Only probe members (`p<n>`) are timed: decode the frame only for them.
            if !text.contains("user_id\\\":\\\"p") && !text.contains("user_id\":\"p") {
                return;
            }
            if let Ok(v) = serde_json::from_str::<Value>(text) {
                let data = match &v["data"] {
                    Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
                    other => other.clone(),
                };
                let id = match &data["user_id"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.push(if added { Event::Joined(id) } else { Event::Left(id) });
            }
        }
        "pusher:ping" => out.push(Event::Reply(json!({"event": "pusher:pong", "data": {}}).to_string())),
        "pusher:error" | "pusher:subscription_error" | "pusher_internal:subscription_error" => {
            out.push(Event::Refused(text.chars().take(200).collect()))
        }
        _ => {}
    }
}

fn socketio(text: &str, out: &mut Vec<Event>) {
    match text.as_bytes().first() {
        Some(b'0') => out.push(Event::Reply("40".into())),
        Some(b'2') => out.push(Event::Reply("3".into())),
        Some(b'4') => {
            let body = &text[1..];
            if body.starts_with("0") {
                out.push(Event::Ready);
            } else if let Some(ev) = body.strip_prefix('2') {
                // 42["name",{...}]: the server puts the count first in every payload.
                let head = &ev[..ev.len().min(48)];
                if head.starts_with("[\"users\"") {
                    out.push(Event::Admitted);
                    if let Some(n) = first_count(ev) {
                        out.push(Event::Count(n));
                    }
                } else if head.starts_with("[\"join\"") || head.starts_with("[\"leave\"") {
                    let joined = head.starts_with("[\"join\"");
                    if let Some(n) = first_count(ev) {
                        out.push(Event::Count(n));
                    }
                    if let Some(id) = str_field(ev, "id") {
                        out.push(if joined {
                            Event::Joined(id.to_string())
                        } else {
                            Event::Left(id.to_string())
                        });
                    }
                } else if head.starts_with("[\"refused\"") {
                    out.push(Event::Refused(ev.chars().take(200).collect()));
                }
            } else if body.starts_with("4") {
                out.push(Event::Refused(text.chars().take(200).collect()));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(p: Proto, text: &str) -> Vec<Event> {
        let mut s = Session::default();
        let mut out = Vec::new();
        p.on_text(&mut s, text, &mut out);
        out
    }

    #[test]
    fn a_rollcall_snapshot_is_read_for_its_count_only() {
        let snap = r#"{"type":"snapshot","ch":"/b/x","seq":3,"count":2,"users":[{"id":"a","status":"active","meta":{"count":9}}]}"#;
        assert_eq!(events(Proto::Rollcall, snap), vec![Event::Count(2)]);
    }

    #[test]
    fn a_rollcall_diff_names_who_came_and_went() {
        let diff = r#"{"type":"diff","ch":"/b/x","seq":4,"count":1,"join":[{"id":"p1","status":"active","meta":{}}],"leave":["m2"]}"#;
        assert_eq!(
            events(Proto::Rollcall, diff),
            vec![Event::Joined("p1".into()), Event::Left("m2".into()), Event::Count(1)]
        );
        assert_eq!(
            events(Proto::Rollcall, r#"{"type":"ok","ref":2}"#),
            vec![Event::Admitted]
        );
        assert_eq!(events(Proto::Rollcall, r#"{"type":"ok","ref":1}"#), vec![]);
    }

    #[test]
    fn a_diff_without_probes_is_read_for_its_count_only() {
        let diff = r#"{"type":"diff","ch":"/b/x","seq":4,"count":7,"join":[{"id":"m1","name":"m1","status":"active","meta":{}}]}"#;
        assert_eq!(events(Proto::Rollcall, diff), vec![Event::Count(7)]);
        let added = r#"{"event":"pusher_internal:member_added","channel":"presence-b","data":"{\"user_id\":\"m3\",\"user_info\":{}}"}"#;
        assert_eq!(events(Proto::Pusher, added), vec![Event::Delta(1)]);
    }

    #[test]
    fn pusher_frames_carry_socket_id_count_and_members() {
        let mut s = Session::default();
        let mut out = Vec::new();
        Proto::Pusher.on_text(
            &mut s,
            r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"12.34\",\"activity_timeout\":30}"}"#,
            &mut out,
        );
        assert_eq!(s.socket_id, "12.34");
        let ok = r#"{"event":"pusher_internal:subscription_succeeded","channel":"presence-b","data":"{\"presence\":{\"ids\":[\"a\"],\"hash\":{\"a\":{}},\"count\":17}}"}"#;
        assert_eq!(events(Proto::Pusher, ok), vec![Event::Admitted, Event::Count(17)]);
        let added = r#"{"event":"pusher_internal:member_added","channel":"presence-b","data":"{\"user_id\":\"p3\",\"user_info\":{}}"}"#;
        assert_eq!(
            events(Proto::Pusher, added),
            vec![Event::Delta(1), Event::Joined("p3".into())]
        );
    }

    #[test]
    fn socketio_frames_open_connect_and_count() {
        assert_eq!(
            events(Proto::Socketio, r#"0{"sid":"x","pingInterval":25000}"#),
            vec![Event::Reply("40".into())]
        );
        assert_eq!(events(Proto::Socketio, r#"40{"sid":"y"}"#), vec![Event::Ready]);
        assert_eq!(events(Proto::Socketio, "2"), vec![Event::Reply("3".into())]);
        assert_eq!(
            events(Proto::Socketio, r#"42["users",{"count":3,"users":[]}]"#),
            vec![Event::Admitted, Event::Count(3)]
        );
        assert_eq!(
            events(Proto::Socketio, r#"42["leave",{"count":2,"id":"p9"}]"#),
            vec![Event::Count(2), Event::Left("p9".into())]
        );
    }

    #[test]
    fn pusher_channel_names_are_valid() {
        assert_eq!(pusher_channel("/bench/w1"), "presence-bench-w1");
    }
}
