//! Fuzzing the decoders of core that read a peer's bytes: protocol v1 frames
//! (`ClientMsg::decode`, and `ServerMsg::decode`, which the SDK runs on the relay's
//! frames) and channel names and patterns.
//!
//! Every run replays the corpus of ugly inputs in `tests/corpus/` first, then random
//! cases. `ROLLCALL_FUZZ_CASES` raises the number of random cases for a long run;
//! `PROPTEST_RNG_SEED` replays one run. A failure prints the smallest input that fails
//! and records its seed in `tests/decoders.proptest-regressions`. See docs/fuzzing.md.

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use rollcall_core::channel::{matches, validate_name, validate_pattern, MAX_CHANNEL_NAME_BYTES};
use rollcall_core::protocol::{ClientMsg, DecodeError, ErrorCode, Meta, ServerMsg, Status};
use serde_json::{json, Value};
use std::path::PathBuf;

/// Random cases per property: a few hundred by default (the whole file runs in about
/// a second), more with `ROLLCALL_FUZZ_CASES`.
fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("ROLLCALL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        max_shrink_time: 30_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    }
}

/// Every file of `tests/corpus/<decoder>/`, as (file name, bytes).
fn corpus(decoder: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(decoder);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the corpus {} is empty", dir.display());
    files
}

/// What the decoder must say about a text, judged without it: the same three-way split
/// `docs/protocol.md` promises (not an object / unknown type / bad fields).
fn expected_class(text: &str) -> &'static str {
    const TYPES: &[&str] = &[
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
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => match map.get("type") {
            Some(Value::String(t)) if TYPES.contains(&t.as_str()) => "known",
            Some(Value::String(_)) => "unknown",
            _ => "malformed",
        },
        _ => "malformed",
    }
}

fn class_of(result: &Result<ClientMsg, DecodeError>) -> &'static str {
    match result {
        Ok(_) | Err(DecodeError::BadFields { .. }) => "known",
        Err(DecodeError::UnknownType(_)) => "unknown",
        Err(DecodeError::Malformed(_)) => "malformed",
    }
}

/// The checks every decoded frame passes, whatever produced the text.
fn check_client_frame(text: &str) -> Result<(), TestCaseError> {
    let decoded = ClientMsg::decode(text);
    prop_assert_eq!(class_of(&decoded), expected_class(text), "{:?} -> {:?}", text, decoded);
    if let Err(e) = &decoded {
        // The error a peer is told is one of the two frame-level codes.
        prop_assert!(matches!(e.code(), ErrorCode::BadFrame | ErrorCode::UnknownType));
        prop_assert!(!e.to_string().is_empty());
    }
    if let Ok(msg) = decoded {
        // What the relay decoded, it can say again, and it means the same.
        prop_assert_eq!(ClientMsg::decode(&msg.encode()), Ok(msg.clone()));
        let _ = (msg.reference(), msg.channel());
    }
    let _ = ServerMsg::decode(text);
    Ok(())
}

#[test]
fn the_frame_corpus_decodes_to_a_result_of_the_right_kind() {
    for (name, bytes) in corpus("frame") {
        // A WebSocket text frame is UTF-8 by the time it is decoded; invalid bytes are
        // replaced as a lossy reader would, and must still only give an error.
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = check_client_frame(&text) {
            panic!("corpus/frame/{name}: {e}");
        }
    }
}

#[test]
fn ugly_frames_of_the_corpus_are_refused_and_valid_ones_accepted() {
    for (name, bytes) in corpus("frame") {
        let text = String::from_utf8_lossy(&bytes);
        let decoded = ClientMsg::decode(&text);
        // The file name says what the frame must give: ok-*, malformed-*, unknown-*,
        // bad-* (a known type with bad fields).
        let want = name.split('-').next().unwrap();
        let got = match &decoded {
            Ok(_) => "ok",
            Err(DecodeError::Malformed(_)) => "malformed",
            Err(DecodeError::UnknownType(_)) => "unknown",
            Err(DecodeError::BadFields { .. }) => "bad",
        };
        assert_eq!(got, want, "corpus/frame/{name}: {decoded:?}");
    }
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        // Floats that print and parse back to themselves (serde_json reads the last
        // digit of others a hair differently, which is not the decoder's business).
        any::<i16>().prop_map(|n| json!(n as f64 / 4.0)),
        ".{0,12}".prop_map(Value::String),
        Just(Value::String("\u{0}\u{7f}\u{fffd}\u{10ffff}".into())),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn meta() -> impl Strategy<Value = Meta> {
    prop::collection::btree_map(".{0,8}", json_value(), 0..5).prop_map(|m| m.into_iter().collect())
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![Just(Status::Active), Just(Status::Idle), Just(Status::Hidden)]
}

fn client_msg() -> impl Strategy<Value = ClientMsg> {
    let ch = ".{0,24}";
    let reference = prop::option::of(any::<u64>());
    prop_oneof![
        (prop::collection::vec(any::<u32>(), 0..4), ".{0,40}", ".{0,16}").prop_map(|(v, token, client)| {
            ClientMsg::Hello {
                v,
                token,
                client,
                resume: false,
            }
        }),
        (
            ch,
            prop::option::of(meta()),
            prop::option::of(status()),
            reference.clone()
        )
            .prop_map(|(ch, meta, status, reference)| ClientMsg::Enter {
                ch,
                meta,
                status,
                reference
            }),
        (ch, reference.clone()).prop_map(|(ch, reference)| ClientMsg::Leave { ch, reference }),
        (
            ch,
            prop::option::of(meta()),
            prop::option::of(status()),
            reference.clone()
        )
            .prop_map(|(ch, meta, status, reference)| ClientMsg::Update {
                ch,
                meta,
                status,
                reference
            }),
        (ch, prop::collection::vec("[a-z0-9]{1,8}", 0..3), reference.clone())
            .prop_map(|(ch, friends, reference)| { ClientMsg::Subscribe { ch, friends, reference } }),
        (
            ch,
            prop::option::of("[a-z0-9]{0,8}"),
            prop::option::of(0usize..5_000),
            reference.clone()
        )
            .prop_map(|(ch, after, limit, reference)| ClientMsg::Members {
                ch,
                after,
                limit,
                reference
            }),
        (ch, reference.clone()).prop_map(|(ch, reference)| ClientMsg::Unsubscribe { ch, reference }),
        (status(), reference.clone()).prop_map(|(status, reference)| ClientMsg::Checkin { status, reference }),
        (".{0,40}", reference).prop_map(|(token, reference)| ClientMsg::Token { token, reference }),
    ]
}

/// A frame as a hostile or buggy client writes it: a valid one with a field dropped,
/// retyped, duplicated or added, or a random JSON value with a known `type`.
fn mangled_frame() -> impl Strategy<Value = String> {
    let fields = prop::sample::select(vec![
        "type", "v", "token", "client", "ch", "meta", "status", "ref", "friends", "after", "limit",
    ]);
    prop_oneof![
        (client_msg(), fields.clone(), json_value()).prop_map(|(msg, field, value)| {
            let mut v = serde_json::to_value(&msg).unwrap();
            v[field] = value;
            v.to_string()
        }),
        (client_msg(), fields.clone()).prop_map(|(msg, field)| {
            let mut v = serde_json::to_value(&msg).unwrap();
            v.as_object_mut().unwrap().remove(field);
            v.to_string()
        }),
        (client_msg(), fields, json_value()).prop_map(|(msg, field, value)| {
            // A duplicate key: serde_json keeps the last; whatever it keeps, no panic.
            let text = msg.encode();
            format!("{},\"{field}\":{value}}}", &text[..text.len() - 1])
        }),
        (
            prop::sample::select(vec![
                "hello", "enter", "checkin", "token", "update", "HELLO", "", "ping"
            ]),
            prop::collection::btree_map(".{0,6}", json_value(), 0..5)
        )
            .prop_map(|(kind, fields)| {
                let mut map: serde_json::Map<String, Value> = fields.into_iter().collect();
                map.insert("type".into(), json!(kind));
                Value::Object(map).to_string()
            }),
        (client_msg(), 0usize..200).prop_map(|(msg, cut)| {
            // Truncated on a byte that may fall inside a character: cut on the char
            // boundary at or before it, as a text frame cannot hold half a character.
            let text = msg.encode();
            let mut at = cut.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text[..at].to_string()
        }),
    ]
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn every_client_message_survives_encode_and_decode(msg in client_msg()) {
        prop_assert_eq!(ClientMsg::decode(&msg.encode()), Ok(msg));
    }

    #[test]
    fn a_mangled_frame_is_an_error_of_the_right_kind_or_a_frame_that_reencodes(text in mangled_frame()) {
        check_client_frame(&text)?;
    }

    #[test]
    fn any_text_at_all_decodes_to_a_result(text in ".{0,200}") {
        check_client_frame(&text)?;
    }

    #[test]
    fn any_json_value_decodes_to_a_result(value in json_value()) {
        check_client_frame(&value.to_string())?;
    }
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn deep_nesting_and_long_strings_in_a_frame_are_refused_without_a_crash(
        depth in 1usize..100_000,
        open in prop::sample::select(vec!["[", "{\"a\":"]),
        long in 0usize..200_000,
    ) {
        let nested = format!("{{\"type\":\"enter\",\"ch\":\"/a/b\",\"meta\":{{\"x\":{}}}}}", open.repeat(depth));
        prop_assert!(ClientMsg::decode(&nested).is_err());
        let big = json!({"type": "hello", "v": [1], "token": "x".repeat(long), "client": "c"}).to_string();
        prop_assert!(ClientMsg::decode(&big).is_ok());
    }
}

/// Channel names as the protocol defines them, written without the implementation.
fn valid_name_by_the_book(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_-.:@~=+,!$".contains(c);
    let Some(rest) = name.strip_prefix('/') else {
        return false;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    name.len() <= MAX_CHANNEL_NAME_BYTES
        && segments.len() >= 2
        && segments.iter().all(|s| !s.is_empty() && s.chars().all(allowed))
}

/// Glob matching by its definition, by brute force: `**` takes any run, `*` any run
/// without a `/`, anything else itself.
fn matches_by_the_book(p: &[u8], n: &[u8]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some(b'*') => {
            let double = p.get(1) == Some(&b'*');
            let rest = if double { &p[2..] } else { &p[1..] };
            for k in 0..=n.len() {
                if !double && k > 0 && n[k - 1] == b'/' {
                    break;
                }
                if matches_by_the_book(rest, &n[k..]) {
                    return true;
                }
            }
            false
        }
        Some(c) => n.first() == Some(c) && matches_by_the_book(&p[1..], &n[1..]),
    }
}

fn name_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "(/[a-z0-9_.:@~=+,!$-]{1,6}){1,5}",
        "[/a-zA-Z0-9 *.ü\u{0}\u{7f}-]{0,24}",
        (1usize..260).prop_map(|n| format!("/a/{}", "x".repeat(n))),
        ".{0,40}",
    ]
}

proptest! {
    #![proptest_config(cases(1024))]

    #[test]
    fn channel_names_are_valid_exactly_as_the_protocol_says(name in name_like()) {
        let ok = validate_name(&name).is_ok();
        prop_assert_eq!(ok, valid_name_by_the_book(&name), "{:?}", name);
        if ok {
            // A valid name is a pattern that matches itself, and `/**` matches it.
            prop_assert!(validate_pattern(&name).is_ok());
            prop_assert!(matches(&name, &name));
            prop_assert!(matches("/**", &name));
        }
    }

    #[test]
    fn globs_match_exactly_as_the_definition_says(
        pattern in "[ab/*]{0,10}".prop_filter("a valid pattern has no ***", |p| !p.contains("***")),
        name in "[ab/]{0,12}",
    ) {
        prop_assert_eq!(
            matches(&pattern, &name),
            matches_by_the_book(pattern.as_bytes(), name.as_bytes()),
            "pattern {:?} name {:?}", pattern, name
        );
    }

    #[test]
    fn patterns_from_a_config_or_a_token_are_checked_without_a_crash(pattern in ".{0,60}") {
        if validate_pattern(&pattern).is_ok() {
            prop_assert!(pattern.starts_with('/') && !pattern.contains("***"));
        }
        let _ = matches(&pattern, "/a/b");
    }
}

proptest! {
    #![proptest_config(cases(32))]

    #[test]
    fn a_glob_takes_linear_time_on_long_names(stars in 1usize..30, len in 1usize..200) {
        // Many stars and a name that almost matches: the classic exponential case.
        let pattern = format!("/{}b", "a*".repeat(stars));
        let name = format!("/{}", "a".repeat(len));
        let started = std::time::Instant::now();
        prop_assert!(!matches(&pattern, &name));
        prop_assert!(started.elapsed() < std::time::Duration::from_millis(500));
    }
}

#[test]
fn the_channel_corpus_validates_as_the_protocol_says() {
    for (name, bytes) in corpus("channel") {
        let text = String::from_utf8_lossy(&bytes);
        for line in text.lines() {
            assert_eq!(
                validate_name(line).is_ok(),
                valid_name_by_the_book(line),
                "corpus/channel/{name}: {line:?}"
            );
            let _ = validate_pattern(line);
            let _ = matches(line, line);
            // The brute-force definition recurses once per byte: short lines only.
            if line.len() <= 64 {
                assert_eq!(
                    matches(line, "/a/b/c"),
                    matches_by_the_book(line.as_bytes(), b"/a/b/c"),
                    "corpus/channel/{name}: pattern {line:?}"
                );
            }
        }
    }
}
