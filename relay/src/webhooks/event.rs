//! One event as the site is told it: its type, and the notice the ledger's book writes
//! before it has an id.

use crate::clock::{rfc3339, Ms};
use rollcall_core::protocol::Identity;
use rollcall_core::roster::{event_name, Event, Subject};
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
            Kind::UserOnline => event_name::USER_ONLINE,
            Kind::UserOffline => event_name::USER_OFFLINE,
            Kind::ChannelJoin => event_name::CHANNEL_JOIN,
            Kind::ChannelLeave => event_name::CHANNEL_LEAVE,
            Kind::ChannelOccupied => event_name::CHANNEL_OCCUPIED,
            Kind::ChannelVacated => event_name::CHANNEL_VACATED,
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

/// A roster event as the console's live stream shows it: `type` (the event's name: the
/// webhook names, plus `channel.status`), and `channel`, `user`, `cause`, `status` where
/// they apply. Built from the event's parts, so a new event type needs nothing here.
pub fn presence_json(event: &Event) -> Value {
    let mut out = json!({ "type": event.name() });
    if let Some(ch) = event.channel() {
        out["channel"] = json!(ch);
    }
    match event.subject() {
        Some(Subject::User(user)) => out["user"] = who(user),
        Some(Subject::Id(id)) => out["user"] = json!({ "id": id }),
        None => {}
    }
    if let Some(cause) = event.cause() {
        out["cause"] = json!(cause.as_str());
    }
    if let Some(status) = event.status() {
        out["status"] = json!(status.as_str());
    }
    out
}

fn who(user: &Identity) -> Value {
    let mut out = json!({ "id": user.id });
    if let Some(name) = &user.name {
        out["name"] = json!(name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_core::protocol::Status;
    use rollcall_core::roster::EndCause;

    fn ann() -> Identity {
        Identity {
            id: "ann".into(),
            name: Some("Ann".into()),
            avatar: Some("https://example.com/ann.png".into()),
        }
    }

    #[test]
    fn the_console_shows_each_event_by_its_name_with_the_parts_it_has() {
        let leave = Event::Leave {
            ch: "/doc/1".into(),
            user: ann(),
            cause: EndCause::Unload,
        };
        assert_eq!(
            presence_json(&leave),
            json!({"type": "channel.leave", "channel": "/doc/1", "user": {"id": "ann", "name": "Ann"}, "cause": "unload_grace"})
        );
        let status = Event::Status {
            ch: "/doc/1".into(),
            user: "ann".into(),
            status: Status::Idle,
        };
        assert_eq!(
            presence_json(&status),
            json!({"type": "channel.status", "channel": "/doc/1", "user": {"id": "ann"}, "status": "idle"})
        );
        assert_eq!(
            presence_json(&Event::UserOnline { user: ann() }),
            json!({"type": "user.online", "user": {"id": "ann", "name": "Ann"}})
        );
        assert_eq!(
            presence_json(&Event::ChannelVacated { ch: "/doc/1".into() }),
            json!({"type": "channel.vacated", "channel": "/doc/1"})
        );
    }

    #[test]
    fn every_webhook_kind_is_named_as_its_event_is() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::UserOffline.as_str(), Event::UserOffline { user: ann() }.name());
        assert_eq!(
            Kind::ChannelJoin.as_str(),
            Event::Join {
                ch: "/x".into(),
                user: ann()
            }
            .name()
        );
    }
}
