//! One event as the site is told it: its type, and the notice the ledger's book writes
//! before it has an id.

use crate::clock::{rfc3339, Ms};
use rollcall_core::protocol::Identity;
use rollcall_core::roster::Event;
use serde_json::{json, Value};

/// The webhook event types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    UserOnline,
    UserOffline,
    ChannelJoin,
    ChannelLeave,
    ChannelOccupied,
    ChannelVacated,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::UserOnline,
        Kind::UserOffline,
        Kind::ChannelJoin,
        Kind::ChannelLeave,
        Kind::ChannelOccupied,
        Kind::ChannelVacated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::UserOnline => "user.online",
            Kind::UserOffline => "user.offline",
            Kind::ChannelJoin => "channel.join",
            Kind::ChannelLeave => "channel.leave",
            Kind::ChannelOccupied => "channel.occupied",
            Kind::ChannelVacated => "channel.vacated",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Something a site is told about (a webhook event, before it has an id).
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub kind: Kind,
    pub at: Ms,
    pub user: Option<Identity>,
    pub channel: Option<String>,
    pub cause: Option<String>,
}

/// One event as the site receives it.
pub fn event_json(id: &str, notice: &Notice) -> String {
    let mut event = json!({
        "id": id,
        "type": notice.kind.as_str(),
        "at": rfc3339(notice.at),
        "at_ms": notice.at,
    });
    if let Some(user) = &notice.user {
        event["user"] = json!(user);
    }
    if let Some(ch) = &notice.channel {
        event["channel"] = Value::String(ch.clone());
    }
    if let Some(cause) = &notice.cause {
        event["cause"] = Value::String(cause.clone());
    }
    event.to_string()
}

/// A roster event as the console's live stream shows it: `type` (the webhook names,
/// plus `channel.status`), and `channel`, `user`, `cause`, `status` where they apply.
pub fn presence_json(event: &Event) -> Value {
    match event {
        Event::UserOnline { user } => json!({ "type": Kind::UserOnline.as_str(), "user": who(user) }),
        Event::UserOffline { user } => json!({ "type": Kind::UserOffline.as_str(), "user": who(user) }),
        Event::ChannelOccupied { ch } => json!({ "type": Kind::ChannelOccupied.as_str(), "channel": ch }),
        Event::ChannelVacated { ch } => json!({ "type": Kind::ChannelVacated.as_str(), "channel": ch }),
        Event::Join { ch, user } => json!({ "type": Kind::ChannelJoin.as_str(), "channel": ch, "user": who(user) }),
        Event::Leave { ch, user, cause } => json!({
            "type": Kind::ChannelLeave.as_str(),
            "channel": ch,
            "user": who(user),
            "cause": cause.as_str(),
        }),
        Event::Status { ch, user, status } => json!({
            "type": "channel.status",
            "channel": ch,
            "user": { "id": user },
            "status": status.as_str(),
        }),
    }
}

fn who(user: &Identity) -> Value {
    let mut out = json!({ "id": user.id });
    if let Some(name) = &user.name {
        out["name"] = json!(name);
    }
    out
}
