//! The wasm half of the package in headless Chromium: its errors, its codec against
//! the relay's and the bus's shapes, and the rules' outputs as the JS entry reads them.
//! `wasm-pack test --headless --chrome sdk`. The shell around it (sockets, the bus, Web
//! Locks, storage) is tested through the package in tests/browser/shell.test.mjs.

#![cfg(target_arch = "wasm32")]

use js_sys::Reflect;
use rollcall_core::client::{Link, Page};
use rollcall_core::protocol::{meta_from_text, meta_text, ClientMsg, Identity, Member, ServerMsg, Status, Terms};
use rollcall_core::tabs::{BusMsg, ErrorBody, Intent, TabWants};
use rollcall_sdk::{codec, js};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn code_of(err: &JsValue) -> Option<String> {
    Reflect::get(err, &"code".into()).ok()?.as_string()
}

fn prop(o: &JsValue, key: &str) -> JsValue {
    Reflect::get(o, &key.into()).unwrap()
}

async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

/// A refusal reaches the entry as `{code, message}` (the entry makes the page's Error of
/// it; tests/browser checks the Errors the page gets).
#[wasm_bindgen_test]
fn refusals_reach_the_entry_with_their_code_and_message() {
    let err = rollcall_sdk::err(&ErrorBody::new(
        "forbidden_enter",
        "This user may not enter this channel.",
    ));
    assert_eq!(code_of(&err).as_deref(), Some("forbidden_enter"));
    assert_eq!(
        prop(&err, "message").as_string().as_deref(),
        Some("This user may not enter this channel.")
    );
}

#[wasm_bindgen_test]
async fn bus_messages_reach_other_instances_of_the_channel() {
    let name = format!("rollcall-test-{}", js_sys::Math::random());
    let a = web_sys::BroadcastChannel::new(&name).unwrap();
    let b = web_sys::BroadcastChannel::new(&name).unwrap();
    let got: Rc<RefCell<Vec<BusMsg>>> = Rc::default();
    let sink = got.clone();
    let on = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        if let Some(m) = codec::bus_from_js(&js::get(&e, "data")) {
            sink.borrow_mut().push(m);
        }
    });
    b.set_onmessage(Some(on.as_ref().unchecked_ref()));
    let sent = BusMsg::Intent {
        tab: "t1".into(),
        req: 3,
        intent: Intent::Subscribe {
            ch: "/a/b".into(),
            friends: vec!["40".into()],
        },
    };
    a.post_message(&codec::bus_to_js(&sent)).unwrap();
    for _ in 0..50 {
        if !got.borrow().is_empty() {
            break;
        }
        sleep(10).await;
    }
    assert_eq!(got.borrow().as_slice(), &[sent]);
    a.close();
    b.close();
}

fn someone(id: &str) -> Member {
    Member {
        id: id.into(),
        name: Some(format!("user {id}")),
        avatar: None,
        status: Status::Idle,
        meta: Default::default(),
    }
}

#[wasm_bindgen_test]
fn capped_list_frames_read_as_the_relay_writes_them_and_travel_between_tabs() {
    let frames = [
        ServerMsg::Snapshot {
            ch: "/site/online".into(),
            seq: 4,
            count: 20_000,
            users: Some(vec![someone("1"), someone("7")]),
            cap: Some(1),
        },
        ServerMsg::Focus {
            ch: "/site/online".into(),
            join: vec![someone("40")],
            leave: vec!["41".into()],
            update: vec![Member {
                // In the order the relay writes keys (sorted): meta is compared as text.
                meta: meta_from_text(r#"{"at":[1,2.5,null],"n":{"x":"y"},"typing":true}"#).unwrap(),
                ..someone("7")
            }],
        },
    ];
    for frame in frames {
        let read = codec::server_msg_from_js(&codec::parse(&frame.encode()).unwrap());
        assert_eq!(read.as_ref(), Some(&frame), "from the relay");
        let passed = codec::server_msg_from_js(&codec::channel_frame_to_js(&frame));
        assert_eq!(passed.as_ref(), Some(&frame), "to another tab");
    }
    let page = ServerMsg::Members {
        ch: "/site/online".into(),
        reference: Some(8),
        count: 20_000,
        users: vec![someone("70")],
        next: Some("70".into()),
    };
    assert_eq!(
        codec::server_msg_from_js(&codec::parse(&page.encode()).unwrap()),
        Some(page)
    );
}

#[wasm_bindgen_test]
fn meta_is_a_plain_object_read_and_written_by_the_browsers_json() {
    let from_page = js_sys::JSON::parse(r#"{"typing": true, "tags": ["a"], "n": 1.5}"#).unwrap();
    let meta = codec::meta_from_js(&from_page).expect("a plain object is meta");
    assert_eq!(meta_text(&meta), r#"{"typing":true,"tags":["a"],"n":1.5}"#);
    assert_eq!(
        js_sys::JSON::stringify(&codec::meta_to_js(&meta)).unwrap(),
        meta_text(&meta).as_ref()
    );
    for not_meta in [JsValue::from(3), "x".into(), js_sys::Array::new().into(), JsValue::NULL] {
        assert!(codec::meta_from_js(&not_meta).is_none(), "{not_meta:?}");
    }
    let empty = codec::meta_from_js(&js_sys::Object::new()).unwrap();
    assert!(empty.is_empty(), "{{}} is no meta on the wire");
    assert_eq!(empty, Default::default());
}

#[wasm_bindgen_test]
fn subscribe_and_members_requests_are_written_as_the_relay_reads_them() {
    let asks = [
        ClientMsg::Subscribe {
            ch: "/site/online".into(),
            friends: vec!["12".into(), "40".into()],
            reference: Some(5),
        },
        ClientMsg::Subscribe {
            ch: "/site/online".into(),
            friends: vec![],
            reference: Some(6),
        },
        ClientMsg::Members {
            ch: "/site/online".into(),
            after: Some("7".into()),
            limit: Some(50),
            reference: Some(8),
        },
        ClientMsg::Members {
            ch: "/site/online".into(),
            after: None,
            limit: None,
            reference: Some(9),
        },
    ];
    for ask in asks {
        let text = codec::client_msg_text(&ask);
        assert_eq!(ClientMsg::decode(&text).ok().as_ref(), Some(&ask), "{text}");
    }
}

/// Protocol 1.2: the welcome's `checkin_answer_ms` is read (absent from an older relay),
/// and a check-in carries its `ref` only when it has one.
#[wasm_bindgen_test]
fn checkins_and_the_welcome_that_says_they_are_answered_read_and_write_as_the_relay_does() {
    let welcome = |answer: Option<u64>| ServerMsg::Welcome {
        v: 1,
        session: "s1".into(),
        resumed: true,
        user: Identity {
            id: "7".into(),
            name: Some("ann".into()),
            avatar: None,
        },
        terms: Terms {
            checkin_interval_ms: 30_000,
            lease_timeout_ms: 60_000,
            unload_grace_ms: 3_000,
            reconnect_grace_ms: 15_000,
            max_meta_bytes: 1024,
            max_channels: 100,
            checkin_answer_ms: answer,
        },
    };
    for frame in [welcome(Some(10_000)), welcome(None)] {
        let read = codec::server_msg_from_js(&codec::parse(&frame.encode()).unwrap());
        assert_eq!(read.as_ref(), Some(&frame));
    }
    for checkin in [
        ClientMsg::Checkin {
            status: Status::Hidden,
            reference: Some(12),
        },
        ClientMsg::Checkin {
            status: Status::Active,
            reference: None,
        },
    ] {
        let text = codec::client_msg_text(&checkin);
        assert_eq!(ClientMsg::decode(&text).ok().as_ref(), Some(&checkin), "{text}");
        assert_eq!(text.contains("ref"), checkin.reference().is_some(), "{text}");
    }
}

#[wasm_bindgen_test]
fn pages_friends_and_their_answers_cross_the_bus_intact() {
    // A channel only watched, one entered and watched, one only entered.
    let mut wants = TabWants::default();
    for intent in [
        Intent::Subscribe {
            ch: "/site/online".into(),
            friends: vec!["40".into()],
        },
        Intent::Enter {
            ch: "/x/y".into(),
            meta: meta_from_text(r#"{"n":1}"#).unwrap(),
        },
        Intent::Subscribe {
            ch: "/x/y".into(),
            friends: Vec::new(),
        },
        Intent::Enter {
            ch: "/p/q".into(),
            meta: meta_from_text("{}").unwrap(),
        },
    ] {
        wants.apply(&intent);
    }
    let msgs = [
        BusMsg::Members {
            tab: "t2".into(),
            req: 4,
            ch: "/site/online".into(),
            after: Some("7".into()),
            limit: Some(20),
        },
        BusMsg::Reply {
            tab: "t2".into(),
            req: 4,
            error: None,
            page: Some(Page {
                count: 3,
                users: vec![someone("8")],
                next: None,
            }),
        },
        BusMsg::Reply {
            tab: "t2".into(),
            req: 5,
            error: Some(ErrorBody {
                code: "forbidden_view".into(),
                message: "no".into(),
            }),
            page: None,
        },
        BusMsg::Sync {
            tab: "t2".into(),
            wants,
        },
    ];
    for msg in &msgs {
        assert_eq!(codec::bus_from_js(&codec::bus_to_js(msg)).as_ref(), Some(msg));
    }
    // The wants keep the shape every version of the SDK reads: the channels watched as
    // a list, and the friends of those that follow any by channel.
    let wants = js::get(&codec::bus_to_js(&msgs[3]), "wants");
    assert_eq!(
        codec::stringify(&js::get(&wants, "subscribed")),
        r#"["/site/online","/x/y"]"#
    );
    assert_eq!(
        codec::stringify(&js::get(&wants, "friends")),
        r#"{"/site/online":["40"]}"#
    );
    assert_eq!(
        codec::stringify(&js::get(&wants, "entered")),
        r#"{"/x/y":{"n":1},"/p/q":{}}"#
    );
    let page = codec::page_to_js(&Page {
        count: 3,
        users: vec![],
        next: None,
    });
    assert!(prop(&page, "next").is_null(), "null, not undefined, on the last page");
}

#[wasm_bindgen_test]
fn the_connection_status_crosses_the_bus_intact() {
    let msgs = [
        BusMsg::Status {
            status: "reconnecting".into(),
            retry_in: Some(1_500),
        },
        BusMsg::Status {
            status: "connected".into(),
            retry_in: None,
        },
    ];
    for msg in msgs {
        assert_eq!(codec::bus_from_js(&codec::bus_to_js(&msg)).as_ref(), Some(&msg));
    }
    assert_eq!(Link::parse("gone", None), None, "a newer status is ignored");
}

/// Each key of `text` (a JSON object) taken out in turn, and then given the wrong type:
/// the message must stay readable exactly when the key is not one of `required`.
fn check_required(text: &str, required: &[&str], read: impl Fn(&JsValue) -> bool) {
    let whole = js_sys::JSON::parse(text).unwrap();
    assert!(read(&whole), "{text}");
    for key in js_sys::Object::keys(whole.unchecked_ref::<js_sys::Object>()).iter() {
        let key = key.as_string().unwrap();
        let needed = required.contains(&key.as_str());
        let without = js_sys::JSON::parse(text).unwrap();
        Reflect::delete_property(without.unchecked_ref::<js_sys::Object>(), &key.as_str().into()).unwrap();
        assert_eq!(read(&without), !needed, "{key} taken out of {text}");
        if needed {
            let wrong = js_sys::JSON::parse(text).unwrap();
            Reflect::set(&wrong, &key.as_str().into(), &JsValue::from_str("-")).unwrap();
            let wrong_type = key != "ch" && key != "tab" && key != "session" && key != "leader" && key != "status";
            if wrong_type {
                assert!(!read(&wrong), "{key} a string in {text}");
            }
        }
    }
}

/// The relay's frames of docs/protocol.md: a frame missing a field it must have, or with
/// a number that is not one, is not read (and so ignored); optional fields may be absent.
#[wasm_bindgen_test]
fn relay_frames_missing_a_required_field_are_not_read() {
    let read = |v: &JsValue| codec::server_msg_from_js(v).is_some();
    let frames: &[(&str, &[&str])] = &[
        (
            r#"{"type": "welcome", "v": 1, "session": "s_8f2c", "resumed": false,
                "user": {"id": "7", "name": "ann", "avatar": "https://example.com/ann.png"},
                "terms": {"checkin_interval_ms": 30000, "lease_timeout_ms": 60000, "unload_grace_ms": 3000,
                          "reconnect_grace_ms": 15000, "max_meta_bytes": 1024, "max_channels": 100,
                          "checkin_answer_ms": 10000}}"#,
            &["type", "v", "session", "user", "terms"],
        ),
        (r#"{"type": "ok", "ref": 2}"#, &["type", "ref"]),
        (
            r#"{"type": "error", "ref": 2, "code": "forbidden_enter", "message": "no", "ch": "/staff/room", "retry_after_ms": 350}"#,
            &["type"],
        ),
        (
            r#"{"type": "snapshot", "ch": "/doc/42", "seq": 7, "count": 2, "cap": 5,
                "users": [{"id": "7", "name": "ann", "meta": {"typing": false}}, {"id": "9", "status": "idle"}]}"#,
            &["type", "ch", "seq", "count"],
        ),
        (
            r#"{"type": "diff", "ch": "/doc/42", "seq": 8, "count": 2, "join": [{"id": "12", "name": "cy"}],
                "leave": ["9"], "update": [{"id": "7", "name": "ann", "meta": {"typing": true}}]}"#,
            &["type", "ch", "seq", "count"],
        ),
        (
            r#"{"type": "focus", "ch": "/site/online", "join": [{"id": "40", "name": "di"}], "leave": ["41"], "update": []}"#,
            &["type", "ch"],
        ),
        (
            r#"{"type": "members", "ch": "/site/online", "ref": 8, "count": 20000, "users": [{"id": "70", "name": "eve"}], "next": "70"}"#,
            &["type", "ch", "count"],
        ),
    ];
    for (text, required) in frames {
        check_required(text, required, read);
    }
    // Inside the welcome: the user's id and every term but the 1.2 one.
    let welcome = js_sys::JSON::parse(frames[0].0).unwrap();
    for (part, key) in [
        ("user", "id"),
        ("terms", "checkin_interval_ms"),
        ("terms", "lease_timeout_ms"),
        ("terms", "unload_grace_ms"),
        ("terms", "reconnect_grace_ms"),
        ("terms", "max_meta_bytes"),
        ("terms", "max_channels"),
    ] {
        let copy = js_sys::JSON::parse(&js_sys::JSON::stringify(&welcome).unwrap().as_string().unwrap()).unwrap();
        Reflect::delete_property(prop(&copy, part).unchecked_ref::<js_sys::Object>(), &key.into()).unwrap();
        assert!(!read(&copy), "welcome without {part}.{key}");
    }
    for (part, key) in [("user", "name"), ("user", "avatar"), ("terms", "checkin_answer_ms")] {
        let copy = js_sys::JSON::parse(&js_sys::JSON::stringify(&welcome).unwrap().as_string().unwrap()).unwrap();
        Reflect::delete_property(prop(&copy, part).unchecked_ref::<js_sys::Object>(), &key.into()).unwrap();
        assert!(read(&copy), "welcome without {part}.{key}");
    }
    assert!(!read(
        &js_sys::JSON::parse(r#"{"type": "shout", "ch": "/a/b"}"#).unwrap()
    ));
    assert!(!read(&JsValue::from_str("{}")));
}

/// Every kind of bus message, each of its fields taken out in turn: the message is read
/// exactly when the field is not one it must have.
#[wasm_bindgen_test]
fn bus_messages_missing_a_required_field_are_not_read() {
    let read = |v: &JsValue| codec::bus_from_js(v).is_some();
    let error = || ErrorBody {
        code: "forbidden_enter".into(),
        message: "no".into(),
    };
    let msgs: Vec<(BusMsg, &[&str])> = vec![
        (
            BusMsg::Intent {
                tab: "t1".into(),
                req: 1,
                intent: Intent::Enter {
                    ch: "/a/b".into(),
                    meta: meta_from_text(r#"{"typing":true}"#).unwrap(),
                },
            },
            &["t", "tab", "req", "intent"],
        ),
        (
            BusMsg::Reply {
                tab: "t2".into(),
                req: 4,
                error: Some(error()),
                page: Some(Page {
                    count: 3,
                    users: vec![someone("8")],
                    next: Some("8".into()),
                }),
            },
            &["t", "tab", "req"],
        ),
        (
            BusMsg::Members {
                tab: "t2".into(),
                req: 4,
                ch: "/a/b".into(),
                after: Some("7".into()),
                limit: Some(20),
            },
            &["t", "tab", "req", "ch"],
        ),
        (
            BusMsg::Frame {
                frame: ServerMsg::Focus {
                    ch: "/a/b".into(),
                    join: vec![someone("40")],
                    leave: vec!["41".into()],
                    update: vec![],
                },
            },
            &["t", "frame"],
        ),
        (
            BusMsg::Ping {
                leader: "t1".into(),
                connected: true,
            },
            &["t", "leader"],
        ),
        (
            BusMsg::Who {
                tab: "t2".into(),
                leader: "t1".into(),
                connected: true,
            },
            &["t", "tab", "leader"],
        ),
        (BusMsg::Pong { tab: "t2".into() }, &["t", "tab"]),
        (BusMsg::Heartbeat { tab: "t2".into() }, &["t", "tab"]),
        (
            BusMsg::Sync {
                tab: "t2".into(),
                wants: TabWants::default(),
            },
            &["t", "tab"],
        ),
        (
            BusMsg::Bye {
                tab: "t2".into(),
                unloading: true,
            },
            &["t", "tab"],
        ),
        (
            BusMsg::Resync {
                tab: "t2".into(),
                ch: "/a/b".into(),
            },
            &["t", "tab", "ch"],
        ),
        (
            BusMsg::Status {
                status: "reconnecting".into(),
                retry_in: Some(1_500),
            },
            &["t", "status"],
        ),
        (BusMsg::Stopped { error: error() }, &["t", "error"]),
        (
            BusMsg::Error {
                ch: Some("/a/b".into()),
                error: error(),
            },
            &["t", "error"],
        ),
        (BusMsg::Announce { tab: "t1".into() }, &["t", "tab"]),
        (BusMsg::Resign { tab: "t1".into() }, &["t", "tab"]),
    ];
    for (msg, required) in msgs {
        let text = js_sys::JSON::stringify(&codec::bus_to_js(&msg))
            .unwrap()
            .as_string()
            .unwrap();
        assert_eq!(
            codec::bus_from_js(&js_sys::JSON::parse(&text).unwrap()).as_ref(),
            Some(&msg)
        );
        check_required(&text, required, read);
    }
    // Intents: the channel (the status for "status"), and an op this version knows.
    let intent = |text: &str| {
        let msg = format!(r#"{{"t": "intent", "tab": "t1", "req": 1, "intent": {text}}}"#);
        read(&js_sys::JSON::parse(&msg).unwrap())
    };
    for op in ["enter", "update", "leave", "subscribe", "unsubscribe"] {
        assert!(intent(&format!(r#"{{"op": "{op}", "ch": "/a/b"}}"#)), "{op}");
        assert!(!intent(&format!(r#"{{"op": "{op}"}}"#)), "{op} without ch");
    }
    assert!(intent(r#"{"op": "status", "status": "idle"}"#));
    assert!(!intent(r#"{"op": "status", "status": "asleep"}"#));
    assert!(!intent(r#"{"op": "status"}"#));
    assert!(!intent(r#"{"op": "shout", "ch": "/a/b", "status": "idle"}"#));
    assert!(!intent(r#"{"ch": "/a/b"}"#));
    // An error must have its code.
    assert!(!read(
        &js_sys::JSON::parse(r#"{"t": "stopped", "error": {"message": "no"}}"#).unwrap()
    ));
}

/// The outputs' names, by the number `poll` gives them.
const OUTPUTS: [&str; 15] = [
    "bus", "send", "connect", "shut", "refresh", "beacon", "release", "ready", "failed", "resolve", "reject",
    "changed", "error", "stopped", "link",
];

/// Every output `poll` has now for tab `h`, as `(name, [t, a, b])`.
fn outputs(h: u32, now: f64) -> Vec<(String, js_sys::Array)> {
    rollcall_sdk::signal(h, now, 0, 0.0, 0.0);
    let mut all = Vec::new();
    loop {
        let out = rollcall_sdk::poll(h, now);
        if out.is_undefined() {
            return all;
        }
        let out = js_sys::Array::from(&out);
        assert_eq!(out.length(), 3, "[t, a, b]");
        let t = out.get(0).as_f64().expect("t is a number") as usize;
        all.push((OUTPUTS[t].to_string(), out));
    }
}

/// The first output named `kind`: its `a`.
fn find(outs: &[(String, js_sys::Array)], kind: &str) -> Option<JsValue> {
    outs.iter().find(|(t, _)| t == kind).map(|(_, o)| o.get(1))
}

/// The status a tab shows, from its flags.
fn status(h: u32) -> &'static str {
    ["connecting", "connected", "reconnecting", "offline", "closed"][(rollcall_sdk::flags(h) >> 3) as usize]
}

fn flag(h: u32, bit: u32) -> bool {
    rollcall_sdk::flags(h) & bit != 0
}

#[wasm_bindgen_test]
fn the_rules_give_the_entry_plain_objects_from_leading_to_reconnecting() {
    use rollcall_sdk::{ask, deadline, signal, text};
    // A visible, online tab with no token function and no initial state.
    let plain = |now: f64, name: &str| {
        rollcall_sdk::create(
            now,
            name.into(),
            "client-1".into(),
            false,
            None,
            JsValue::UNDEFINED,
            false,
            true,
        )
    };
    let h = plain(0.0, "tab-1");
    assert!(!flag(h, 1), "not the leader yet");
    assert_eq!(status(h), "connecting");
    signal(h, 1.0, 2, 0.0, 0.0);
    let outs = outputs(h, 1.0);
    let connect = find(&outs, "connect").expect("a leader opens the socket");
    assert_eq!(connect.as_bool(), Some(false), "without a fresh token");
    assert!(flag(h, 1), "the leader");

    text(h, 2.0, 1, "the-token".into());
    let outs = outputs(h, 2.0);
    let hello = find(&outs, "send").expect("the hello goes out");
    let sent = hello.as_string().unwrap();
    let frame = codec::parse(&sent).expect("JSON text");
    assert_eq!(prop(&frame, "type").as_string().as_deref(), Some("hello"));
    assert_eq!(prop(&frame, "token").as_string().as_deref(), Some("the-token"));

    // A request refused at once throws its error; one accepted is numbered.
    let refused = ask(h, 3.0, 0, "/a/b".into(), JsValue::from(5)).unwrap_err();
    assert_eq!(code_of(&refused).as_deref(), Some("bad_meta"));
    assert!(prop(&refused, "message").as_string().is_some(), "with its sentence");
    let req = ask(h, 3.0, 0, "/a/b".into(), js_sys::Object::new().into()).unwrap();
    assert!(req >= 1.0);
    let page = ask(h, 3.0, 3, "/a/b".into(), js_sys::Object::new().into()).unwrap();
    assert!(page > req, "{page} after {req}");

    signal(h, 4.0, 10, 1006.0, 0.5);
    let outs = outputs(h, 4.0);
    let (_, link) = outs.iter().find(|(t, _)| t == "link").expect("the status changes");
    assert_eq!(link.get(1).as_string().as_deref(), Some("reconnecting"));
    let retry_in = link.get(2).as_f64().expect("with the time to the next attempt");
    assert!((0.0..=60_000.0).contains(&retry_in), "{retry_in} ms");
    assert!(deadline(h) >= 0.0, "a timer is armed (the retry, or earlier)");
    assert!(!flag(h, 2), "not connected");

    signal(h, 5.0, 9, 0.0, 0.0);
    outputs(h, 5.0);
    assert!(flag(h, 4), "done");
    assert_eq!(status(h), "closed");
    // Let go once its outputs are taken: it refuses as a closed tab, shows nobody, and
    // its number is not given again.
    let refused = ask(h, 6.0, 0, "/a/b".into(), js_sys::Object::new().into()).unwrap_err();
    assert_eq!(code_of(&refused).as_deref(), Some("closed"));
    assert_eq!(deadline(h), -1.0);
    let next = plain(7.0, "tab-2");
    assert_ne!(next, h);
    assert!(!flag(h, 1) && !flag(next, 4));
}

#[wasm_bindgen_test]
fn the_rules_show_an_initial_state_until_the_relay_says() {
    use rollcall_sdk::{create, view};
    let initial = js_sys::JSON::parse(
        r#"{"/room/lobby": {"count": 5, "users": [
            {"id": "7", "name": "ann", "avatar": null, "status": "idle", "meta": {"typing": true}},
            {"id": "3", "name": "bob", "avatar": null, "status": "active", "meta": {}},
            {"name": "no id: not read"}]}}"#,
    )
    .unwrap();
    let h = create(
        0.0,
        "tab-1".into(),
        "client-1".into(),
        true,
        Some(5_000.0),
        initial,
        true,
        false,
    );
    assert_eq!(view(h, "/room/lobby", 1).as_bool(), Some(true), "known");
    assert_eq!(view(h, "/room/other", 1).as_bool(), Some(false));
    assert_eq!(view(h, "/room/lobby", 3).as_f64(), Some(5.0), "the count");
    assert!(view(h, "/room/lobby", 4).is_null(), "not capped");
    let users = js_sys::Array::from(&view(h, "/room/lobby", 2));
    let ids: Vec<String> = users.iter().map(|u| prop(&u, "id").as_string().unwrap()).collect();
    assert_eq!(ids, ["3", "7"], "in id order");
    let state = view(h, "/room/lobby", 0);
    assert_eq!(prop(&state, "live").as_bool(), Some(false));
    assert_eq!(prop(&state, "channel").as_string().as_deref(), Some("/room/lobby"));
    assert_eq!(status(h), "offline", "the browser said offline");
}
