//! Fuzzing every decoder of the relay that reads bytes from outside: browser tokens
//! (JWT), beacon bodies, the server API's query strings, Pusher's signed HTTP API,
//! webhook signatures as a site verifies them, and the config file.
//!
//! Each decoder has a corpus of ugly inputs in `tests/corpus/<decoder>/`, replayed on
//! every run, whose file names say the expected outcome; then random cases, a few
//! hundred by default and more with `ROLLCALL_FUZZ_CASES`. HTTP requests go through the
//! relay's router in process (`oneshot`), without a socket. See docs/fuzzing.md.

mod fuzzing;

use fuzzing::*;
use proptest::prelude::*;
use rollcall_core::channel::validate_pattern;
use rollcall_core::policy::Claims;
use rollcall_core::protocol::{Beacon, ErrorCode};
use rollcall_relay::auth::{sign, Verifier, MAX_PROFILE_BYTES, MAX_SUB_BYTES};
use rollcall_relay::clock::unix_now;
use rollcall_relay::config::{Config, Overrides};
use rollcall_relay::pusher::signature;
use rollcall_relay::{webhooks, AppState, Relay};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const SECRET: &str = "test-secret-0123456789abcdef";
const API_KEY: &str = "fuzz-api-key";
const APP_ID: &str = "3";
const APP_KEY: &str = "app-key";
const APP_SECRET: &str = "app-secret-0123456789";

/// A relay in process, driven through its router on a runtime of the test's own.
struct Harness {
    rt: tokio::runtime::Runtime,
    state: AppState,
    _relay: Relay,
}

impl Harness {
    fn new() -> Harness {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let toml = format!("[[pusher_app]]\nid = \"{APP_ID}\"\nkey = \"{APP_KEY}\"\nsecret = \"{APP_SECRET}\"\n");
        let mut config = Config::from_toml(&toml).unwrap();
        config.secrets = vec![SECRET.into()];
        config.api_key = Some(API_KEY.into());
        let relay = {
            let _inside = rt.enter();
            Relay::start(config)
        };
        Harness {
            state: relay.state().clone(),
            _relay: relay,
            rt,
        }
    }

    fn call(&self, method: &str, uri: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
        self.rt.block_on(call_bytes(&self.state, method, uri, headers, body))
    }

    fn get_with_key(&self, uri: &str) -> (u16, String) {
        let auth = format!("Bearer {API_KEY}");
        self.call("GET", uri, &[("authorization", &auth)], Vec::new())
    }
}

thread_local! {
    static HARNESS: std::rc::Rc<Harness> = std::rc::Rc::new(Harness::new());
}

/// The relay of this test thread: one per test, shared by its cases.
fn harness() -> std::rc::Rc<Harness> {
    HARNESS.with(|h| h.clone())
}

/// The `error` code of a JSON error body.
fn error_code(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("an error body is JSON with a code: {body:?}"))
}

// ---------------------------------------------------------------------------------
// Browser tokens.

fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// A token with any header and payload bytes, HMAC-SHA256-signed with `key`.
fn hand_made_token(header: &[u8], payload: &[u8], key: &str) -> String {
    use hmac::{Hmac, Mac};
    let signing = format!("{}.{}", b64url(header), b64url(payload));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(signing.as_bytes());
    format!("{signing}.{}", b64url(&mac.finalize().into_bytes()))
}

#[test]
fn the_jwt_corpus_is_judged_as_its_file_names_say() {
    let v = Verifier::new(&[SECRET.into()]);
    for (name, bytes) in corpus("jwt") {
        let token = String::from_utf8_lossy(&bytes);
        let got = v.verify(&token);
        match name.split('-').next().unwrap() {
            "ok" => assert!(got.is_ok(), "corpus/jwt/{name}: {got:?}"),
            "expired" => assert_eq!(got, Err(ErrorCode::TokenExpired), "corpus/jwt/{name}"),
            "bad" => assert_eq!(got, Err(ErrorCode::BadToken), "corpus/jwt/{name}"),
            // Accepted or not, as long as it is a `Result`: a `crit` header is ignored
            // (jsonwebtoken reads no `crit`), harmless with HS256 since the signature is
            // checked over the bytes as sent.
            "either" => {}
            other => panic!("corpus/jwt/{name}: no outcome {other:?}"),
        }
    }
}

/// Claims of every shape the relay must sort out: short, long, empty and unicode
/// subjects and profiles, valid and invalid channel patterns, past and future expiry.
fn claims() -> impl Strategy<Value = Claims> {
    let text = |max: usize| {
        prop_oneof![
            ".{0,12}".boxed(),
            (0..max * 2).prop_map(|n| "x".repeat(n)).boxed(),
            (0..max).prop_map(|n| "é".repeat(n)).boxed(),
        ]
    };
    let pattern = prop_oneof!["(/[a-z*]{1,4}){1,3}", "/a/\\*\\*\\*", "[a-z/ *]{0,8}"];
    let exp = prop_oneof![
        Just(None),
        (60u64..1_000_000).prop_map(|s| Some(unix_now() + s)),
        (60u64..1_000_000).prop_map(|s| Some(unix_now() - s)),
        Just(Some(u64::MAX)),
        Just(Some(0)),
    ];
    (
        text(MAX_SUB_BYTES),
        prop::option::of(text(MAX_PROFILE_BYTES)),
        prop::option::of(text(MAX_PROFILE_BYTES)),
        prop::collection::vec(".{0,6}", 0..4),
        prop::collection::vec(pattern, 0..3),
        prop::collection::vec(".{0,6}", 0..3),
        exp,
    )
        .prop_map(|(sub, name, avatar, groups, channels, friends, exp)| Claims {
            sub,
            name,
            avatar,
            groups,
            channels,
            friends,
            exp,
        })
}

/// What the relay must answer for a correctly signed token with these claims, decided
/// from the documented limits.
fn verdict_by_the_book(c: &Claims) -> Result<(), ErrorCode> {
    if c.exp.is_some_and(|e| e < unix_now()) {
        return Err(ErrorCode::TokenExpired);
    }
    let profile_ok = |v: &Option<String>| v.as_ref().is_none_or(|s| s.len() <= MAX_PROFILE_BYTES);
    let ok = !c.sub.is_empty()
        && c.sub.len() <= MAX_SUB_BYTES
        && profile_ok(&c.name)
        && profile_ok(&c.avatar)
        && c.channels.iter().all(|p| validate_pattern(p).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ErrorCode::BadToken)
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn a_signed_token_is_accepted_exactly_when_its_claims_are_within_the_limits(c in claims()) {
        let v = Verifier::new(&["another-secret-0123456789".into(), SECRET.into()]);
        let got = v.verify(&sign(SECRET, &c));
        match verdict_by_the_book(&c) {
            Ok(()) => prop_assert_eq!(got, Ok(c)),
            Err(code) => prop_assert_eq!(got, Err(code)),
        }
    }

    #[test]
    fn any_change_to_a_valid_token_makes_it_refused(
        c in claims(),
        at in any::<prop::sample::Index>(),
        byte in prop::sample::select(b"AZaz09-_.=+/ \0%".to_vec()),
        cut in any::<prop::sample::Index>(),
    ) {
        let v = Verifier::new(&[SECRET.into()]);
        let token = sign(SECRET, &c);
        let mut bytes = token.clone().into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let changed = String::from_utf8(bytes).unwrap();
        if changed != token {
            prop_assert!(v.verify(&changed).is_err(), "{} accepted", changed);
        }
        let truncated = &token[..cut.index(token.len())];
        prop_assert!(v.verify(truncated).is_err(), "{} accepted", truncated);
    }

    #[test]
    fn only_hs256_is_accepted_whatever_the_header_says(
        alg in prop_oneof![
            Just(json!("HS256")),
            prop::sample::select(vec!["none", "None", "NONE", "HS384", "HS512", "RS256", "ES256", "hs256", "HS256 ", ""]).prop_map(|a| json!(a)),
            ".{0,8}".prop_map(|a| json!(a)),
            Just(json!(null)),
            Just(json!(256)),
            Just(json!(["HS256"])),
        ],
        extra in prop::collection::btree_map("[a-z]{1,4}", ".{0,6}", 0..3),
        sub in "[a-z0-9]{1,8}",
    ) {
        let mut header = json!({"typ": "JWT", "alg": alg});
        for (k, val) in extra {
            if k != "alg" && k != "crit" && k != "typ" {
                header[k] = json!(val);
            }
        }
        let payload = json!({"sub": sub});
        let token = hand_made_token(header.to_string().as_bytes(), payload.to_string().as_bytes(), SECRET);
        let got = Verifier::new(&[SECRET.into()]).verify(&token);
        if alg == json!("HS256") {
            prop_assert!(got.is_ok(), "{}: {:?}", header, got);
        } else {
            prop_assert_eq!(got, Err(ErrorCode::BadToken), "{}", header);
        }
    }

    #[test]
    fn a_signed_payload_of_any_json_never_crashes_the_verifier(
        payload in prop_oneof![
            ".{0,64}".boxed(),
            prop::collection::btree_map(
                prop::sample::select(vec!["sub", "name", "avatar", "groups", "channels", "friends", "exp", "x"]),
                prop_oneof![
                    Just(json!(null)), any::<i64>().prop_map(|n| json!(n)), any::<u64>().prop_map(|n| json!(n)),
                    ".{0,8}".prop_map(|s| json!(s)), Just(json!([1, "a"])), Just(json!({"a": 1})), Just(json!(1.5)),
                ],
                0..6,
            ).prop_map(|m| json!(m).to_string()).boxed(),
        ],
    ) {
        let token = hand_made_token(br#"{"alg":"HS256"}"#, payload.as_bytes(), SECRET);
        let got = Verifier::new(&[SECRET.into()]).verify(&token);
        if let Ok(c) = got {
            // Accepted only what the limits allow, with `sub` a real string.
            prop_assert!(verdict_by_the_book(&c).is_ok());
            let sent: Value = serde_json::from_str(&payload).unwrap();
            prop_assert_eq!(sent["sub"].as_str(), Some(c.sub.as_str()));
        }
    }

    #[test]
    fn random_text_is_never_a_token(text in prop_oneof![".{0,300}", "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,50}"]) {
        prop_assert_eq!(Verifier::new(&[SECRET.into()]).verify(&text), Err(ErrorCode::BadToken));
    }
}

// ---------------------------------------------------------------------------------
// Beacon bodies.

/// The status `POST /v1/beacon` must give a body naming no live session.
fn beacon_status_by_the_book(body: &[u8]) -> u16 {
    if body.len() > rollcall_relay::http::MAX_BEACON_BYTES || serde_json::from_slice::<Beacon>(body).is_err() {
        400
    } else {
        404
    }
}

fn check_beacon(h: &Harness, body: &[u8], content_type: &str) -> Result<(), TestCaseError> {
    let (status, text) = h.call("POST", "/v1/beacon", &[("content-type", content_type)], body.to_vec());
    prop_assert_eq!(
        status,
        beacon_status_by_the_book(body),
        "body {:?}: {}",
        String::from_utf8_lossy(body),
        text
    );
    let code = error_code(&text);
    prop_assert_eq!(
        code.as_str(),
        if status == 400 { "bad_beacon" } else { "unknown_session" }
    );
    Ok(())
}

#[test]
fn the_beacon_corpus_gets_the_status_its_file_names_say() {
    let h = &harness();
    for (name, body) in corpus("beacon") {
        let want: u16 = name[..3].parse().unwrap();
        assert_eq!(
            beacon_status_by_the_book(&body),
            want,
            "corpus/beacon/{name} (the model)"
        );
        for content_type in [
            "text/plain;charset=UTF-8",
            "application/json",
            "application/x-www-form-urlencoded",
        ] {
            if let Err(e) = check_beacon(&h, &body, content_type) {
                panic!("corpus/beacon/{name}: {e}");
            }
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_beacon_body_is_refused_or_looked_up_never_a_crash(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..1100),
            ".{0,80}".prop_map(|s| json!({ "session": s }).to_string().into_bytes()),
            (".{0,8}", ".{0,8}").prop_map(|(k, s)| format!("{{\"{k}\":\"{s}\"}}").into_bytes()),
            (1000usize..1100).prop_map(|n| json!({ "session": "s".repeat(n) }).to_string().into_bytes()),
        ],
    ) {
        let h = &harness();
        check_beacon(&h, &body, "text/plain")?;
    }
}

// ---------------------------------------------------------------------------------
// Server-API query strings.

/// What `GET /v1/presence` must answer (status, error code or the channels asked)
/// for a query, from the documented rules.
fn presence_by_the_book(query: &str) -> (u16, Result<BTreeSet<String>, &'static str>) {
    let channels: Vec<String> = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "channel")
        .map(|(_, v)| v.into_owned())
        .collect();
    if channels.is_empty() {
        return (400, Err("no_channel"));
    }
    if channels.len() > rollcall_relay::http::MAX_PRESENCE_CHANNELS {
        return (400, Err("too_many_channels"));
    }
    if channels
        .iter()
        .any(|c| rollcall_core::channel::validate_name(c).is_err())
    {
        return (400, Err("bad_channel"));
    }
    (200, Ok(channels.into_iter().collect()))
}

fn check_presence_query(h: &Harness, query: &str) -> Result<(), TestCaseError> {
    let (status, body) = h.get_with_key(&format!("/v1/presence?{query}"));
    let (want, outcome) = presence_by_the_book(query);
    prop_assert_eq!(status, want, "query {:?}: {}", query, body);
    match outcome {
        Err(code) => prop_assert_eq!(error_code(&body), code),
        Ok(asked) => {
            let v: Value = serde_json::from_str(&body).unwrap();
            let keys: BTreeSet<String> = v.as_object().unwrap().keys().cloned().collect();
            prop_assert_eq!(&keys, &asked);
            for (ch, entry) in v.as_object().unwrap() {
                // Nobody is in any channel of this relay.
                prop_assert!(entry.is_null(), "{}: {}", ch, entry);
            }
        }
    }
    // Without the key, or with a wrong one, nothing is said about the query.
    let (status, _) = h.call("GET", &format!("/v1/presence?{query}"), &[], Vec::new());
    prop_assert_eq!(status, 401);
    Ok(())
}

#[test]
fn the_query_corpus_gets_the_status_its_file_names_say() {
    let h = &harness();
    for (name, bytes) in corpus("query") {
        let query = String::from_utf8(bytes).unwrap();
        let want: u16 = name[..3].parse().unwrap();
        let (status, body) = h.get_with_key(&format!("/v1/presence?{}", query.trim_end()));
        assert_eq!(status, want, "corpus/query/{name}: {body}");
        if let Err(e) = check_presence_query(&h, query.trim_end()) {
            panic!("corpus/query/{name}: {e}");
        }
    }
}

/// One `key=value` of a query, as a site's backend might write it, or worse.
fn query_part() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        "(/[a-z0-9]{1,5}){1,3}".prop_map(|v| v.to_string()),
        prop::collection::vec(any::<u8>(), 0..12).prop_map(|b| encode(&b)),
        "[/a-z%+*]{0,10}".prop_map(|v| v.to_string()),
        (190usize..210).prop_map(|n| format!("/a/{}", "b".repeat(n))),
    ];
    let key = prop::sample::select(vec!["channel", "channel", "channel", "Channel", "chan", "", "x%00"]);
    prop_oneof![
        8 => (key, value).prop_map(|(k, v)| format!("{k}={v}")),
        1 => Just(String::new()),
        1 => Just("channel".to_string()),
        1 => Just("=".to_string()),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_presence_query_is_answered_as_the_rules_say(
        parts in prop::collection::vec(query_part(), 0..8),
        many in prop_oneof![Just(0usize), 45usize..56],
    ) {
        let h = &harness();
        let mut parts = parts;
        parts.extend((0..many).map(|i| format!("channel=/m/{i}")));
        check_presence_query(&h, &parts.join("&"))?;
    }

    #[test]
    fn a_users_report_takes_any_id_and_only_a_days_number_from_1_to_366(
        id in prop::collection::vec(any::<u8>(), 1..20),
        days in prop_oneof!["[0-9]{1,4}", "-?[0-9]{1,25}", ".{0,6}"],
    ) {
        let h = &harness();
        let (status, body) = h.get_with_key(&format!("/v1/users/{}?days={}", encode(&id), encode(days.as_bytes())));
        let days_ok = days.parse::<u64>().is_ok_and(|d| (1..=366).contains(&d));
        if std::str::from_utf8(&id).is_err() {
            // The path does not decode to text: refused before the handler.
            prop_assert_eq!(status, 400, "{}", body);
        } else if days_ok {
            prop_assert_eq!(status, 200, "{}", body);
            let v: Value = serde_json::from_str(&body).unwrap();
            prop_assert_eq!(v["id"].as_str(), std::str::from_utf8(&id).ok());
            prop_assert_eq!(v["days"].as_array().map(Vec::len), days.parse::<usize>().ok());
        } else {
            prop_assert_eq!((status, error_code(&body)), (400, "bad_days".to_string()));
        }
    }

    #[test]
    fn a_sessions_query_is_answered_or_refused_never_a_crash(
        parts in prop::collection::vec(
            (
                prop::sample::select(vec!["user", "channel", "since", "until", "cursor", "limit", "other"]),
                prop_oneof![
                    "[0-9]{1,12}".prop_map(|v| v.to_string()),
                    "20[0-9]{2}-[0-9]{2}-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,4})?(Z|[+-][0-9]{2}:[0-9]{2})?)?".prop_map(|v| v.to_string()),
                    "[ -~]{0,24}".prop_map(|v| v.to_string()),
                    Just("*".to_string()),
                    "-?[0-9]{1,25}".prop_map(|v| v.to_string()),
                ],
            ),
            0..6,
        ),
    ) {
        let h = &harness();
        let query: Vec<String> = parts.iter().map(|(k, v)| format!("{k}={}", encode(v.as_bytes()))).collect();
        let (status, body) = h.get_with_key(&format!("/v1/sessions?{}", query.join("&")));
        prop_assert!(status == 200 || status == 400, "{}: {}", status, body);
        if status == 200 {
            let v: Value = serde_json::from_str(&body).unwrap();
            prop_assert!(v["sessions"].is_array());
        } else {
            prop_assert!(error_code(&body).starts_with("bad_"), "{}", body);
        }
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn a_sessions_time_with_any_characters_in_it_is_refused_never_a_crash(
        time in "2026-0[1-9]-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,3})?Z",
        at in any::<prop::sample::Index>(),
        odd in prop::sample::select(vec!["é", "€", "😀", "\u{0}", "\u{7f}", "١"]),
        key in prop::sample::select(vec!["since", "until"]),
    ) {
        // A character of several bytes anywhere in a time, as a site's backend might
        // pass along what a browser typed.
        let mut chars: Vec<char> = time.chars().collect();
        let i = at.index(chars.len());
        chars[i] = odd.chars().next().unwrap();
        let odd_time: String = chars.into_iter().collect();
        let h = &harness();
        let (status, body) = h.get_with_key(&format!("/v1/sessions?{key}={}", encode(odd_time.as_bytes())));
        prop_assert_eq!((status, error_code(&body)), (400, "bad_time".to_string()), "{}={:?}", key, odd_time);
    }
}

// ---------------------------------------------------------------------------------
// Pusher's signed HTTP API.

/// The query a Pusher server library sends: its own parameters, then the auth ones,
/// signed over the decoded values with keys lowercased and sorted.
fn pusher_signed_query(path: &str, params: &[(String, String)], at: u64) -> String {
    let mut all: Vec<(String, String)> = params.to_vec();
    all.push(("auth_key".into(), APP_KEY.into()));
    all.push(("auth_timestamp".into(), at.to_string()));
    all.push(("auth_version".into(), "1.0".into()));
    let mut sorted: Vec<(String, String)> = all.iter().map(|(k, v)| (k.to_lowercase(), v.clone())).collect();
    sorted.sort();
    let text: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let signed = signature::sign(APP_SECRET, &format!("GET\n{path}\n{}", text.join("&")));
    let query: Vec<String> = all
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k.as_bytes()), encode(v.as_bytes())))
        .collect();
    format!("{}&auth_signature={signed}", query.join("&"))
}

fn pusher_params() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop::sample::select(vec!["info", "filter_by_prefix", "x", "Info", "q"]),
            prop_oneof![
                Just("user_count".to_string()),
                Just(String::new()),
                ".{0,8}".prop_map(|v| v.to_string())
            ],
        )
            .prop_map(|(k, v)| (k.to_string(), v)),
        0..4,
    )
}

fn pusher_path() -> impl Strategy<Value = String> {
    let channel = prop_oneof![
        "presence-[a-z0-9-]{1,12}".prop_map(|c| c.to_string()),
        "(private|public)-[a-z]{1,6}".prop_map(|c| c.to_string()),
        "presence-[a-z;<>]{0,6}".prop_map(|c| c.to_string()),
    ];
    (channel, any::<bool>()).prop_map(|(c, users)| {
        let c = encode(c.as_bytes());
        if users {
            format!("/apps/{APP_ID}/channels/{c}/users")
        } else {
            format!("/apps/{APP_ID}/channels/{c}")
        }
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn a_request_signed_as_pusher_libraries_sign_it_is_never_refused_as_unsigned(
        path in pusher_path(),
        params in pusher_params(),
        skew in -590i64..590,
    ) {
        let h = &harness();
        let at = (unix_now() as i64 + skew) as u64;
        // The path is signed as it stands in the URL, percent-encoding and all.
        let query = pusher_signed_query(&path, &params, at);
        let (status, body) = h.call("GET", &format!("{path}?{query}"), &[], Vec::new());
        prop_assert!(status == 200 || status == 400, "{} {}?{}: {}", status, path, query, body);
        if status == 200 {
            let v: Value = serde_json::from_str(&body).unwrap();
            prop_assert!(v.get("users").is_some() || v["occupied"] == json!(false), "{}", body);
        }
    }

    #[test]
    fn any_change_to_a_signed_request_is_refused_with_401(
        params in pusher_params(),
        at in any::<prop::sample::Index>(),
        byte in prop::sample::select(b"0aA=&%._-+zq".to_vec()),
    ) {
        let h = &harness();
        let path = format!("/apps/{APP_ID}/channels/presence-room");
        let query = pusher_signed_query(&path, &params, unix_now());
        let (status, body) = h.call("GET", &format!("{path}?{query}"), &[], Vec::new());
        prop_assert!(status == 200 || (status == 400 && body.contains("info=")), "{}", body);
        let mut bytes = query.clone().into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let changed = String::from_utf8(bytes).unwrap();
        let same = |q: &str| {
            // The signature is hex of either case.
            let mut p: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .map(|(k, v)| if k == "auth_signature" { (k, v.to_ascii_lowercase()) } else { (k, v) })
                .collect();
            p.sort();
            p
        };
        if same(&changed) != same(&query) {
            let (status, body) = h.call("GET", &format!("{path}?{changed}"), &[], Vec::new());
            prop_assert!(status == 401 || status == 400, "{}?{} -> {}: {}", path, changed, status, body);
            if status == 400 {
                // Only a change that still signs right may reach the info check.
                prop_assert!(body.contains("info="), "{}", body);
            }
        }
    }

    #[test]
    fn junk_queries_to_the_pusher_api_are_refused_never_a_crash(
        id in prop_oneof![Just(APP_ID.to_string()), "[a-z0-9]{0,4}".prop_map(|s| s.to_string())],
        query in prop::collection::vec(any::<u8>(), 0..300).prop_map(|b| encode(&b)),
        raw in "[a-z_=&0-9.%]{0,120}",
    ) {
        let h = &harness();
        for q in [query.as_str(), raw.as_str()] {
            let uri = format!("/apps/{}/channels/presence-x/users?{q}", if id.is_empty() { "0" } else { &id });
            let (status, body) = h.call("GET", &uri, &[], Vec::new());
            prop_assert!(status == 401 || status == 404, "{} -> {}: {}", uri, status, body);
        }
    }
}

// ---------------------------------------------------------------------------------
// Webhook signatures, as a site verifies them.

/// Does `header` sign `body`, judged as the README tells a site to: `t` is digits, at
/// most `tolerance` seconds from now, and a `v1` is the hex HMAC of `t.body`.
fn webhook_by_the_book(secret: &str, header: &str, body: &[u8], now: u64, tolerance: u64) -> bool {
    let mut t = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v),
            Some(("v1", v)) => tags.push(v.to_ascii_lowercase()),
            _ => {}
        }
    }
    let Some(t) = t.filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())) else {
        return false;
    };
    let Ok(t) = t.parse::<u64>() else { return false };
    if t.abs_diff(now) > tolerance {
        return false;
    }
    let expected = webhooks::sign(secret, t, body);
    let expected = expected.split("v1=").nth(1).unwrap();
    tags.iter().any(|tag| tag == expected)
}

#[test]
fn the_webhook_corpus_is_judged_as_its_file_names_say() {
    for (name, bytes) in corpus("webhook") {
        let header = String::from_utf8_lossy(&bytes);
        let got = webhooks::verify("secret", &header, b"body", 1, 300);
        match name.split('-').next().unwrap() {
            "accept" => assert!(got, "corpus/webhook/{name}"),
            "refuse" => assert!(!got, "corpus/webhook/{name}"),
            "either" => {}
            other => panic!("corpus/webhook/{name}: no outcome {other:?}"),
        }
        assert_eq!(
            got,
            webhook_by_the_book("secret", &header, b"body", 1, 300),
            "corpus/webhook/{name}"
        );
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn a_webhook_verifies_exactly_when_signed_with_the_secret_within_the_tolerance(
        secret in ".{0,20}",
        body in prop::collection::vec(any::<u8>(), 0..200),
        t in 0u64..4_000_000_000,
        skew in -400i64..400,
    ) {
        let header = webhooks::sign(&secret, t, &body);
        let now = t.saturating_add_signed(skew);
        prop_assert_eq!(webhooks::verify(&secret, &header, &body, now, 300), t.abs_diff(now) <= 300);
        let mut other = body.clone();
        other.push(b' ');
        prop_assert!(!webhooks::verify(&secret, &header, &other, t, 300));
        let wrong = format!("{secret}x");
        prop_assert!(!webhooks::verify(&wrong, &header, &body, t, 300));
    }

    #[test]
    fn any_header_verifies_only_when_it_holds_the_right_signature(
        header in prop_oneof![
            ".{0,100}".boxed(),
            ("[t v1=,0-9a-fA-F+ -]{0,90}").boxed(),
            (any::<prop::sample::Index>(), prop::sample::select(b"0123456789abcdefABCDEF+- ,=xt\xc3".to_vec()))
                .prop_map(|(at, byte)| {
                    let mut h = webhooks::sign("secret", 1000, b"body").into_bytes();
                    let i = at.index(h.len());
                    h[i] = byte;
                    String::from_utf8_lossy(&h).into_owned()
                })
                .boxed(),
        ],
    ) {
        prop_assert_eq!(
            webhooks::verify("secret", &header, b"body", 1000, 300),
            webhook_by_the_book("secret", &header, b"body", 1000, 300),
            "header {:?}", header
        );
    }
}

// ---------------------------------------------------------------------------------
// The config file.

#[test]
fn the_config_corpus_loads_or_is_refused_as_its_file_names_say() {
    for (name, _) in corpus("config") {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/corpus/config")
            .join(&name);
        let overrides = Overrides {
            secret: Some(SECRET.into()),
            ..Overrides::default()
        };
        let got = Config::load(Some(&path), overrides);
        match name.split('-').next().unwrap() {
            "ok" => assert!(got.is_ok(), "corpus/config/{name}: {got:?}"),
            "err" => {
                let err = got.expect_err(&format!("corpus/config/{name} is refused"));
                assert!(
                    !err.is_empty() && !err.contains("panicked"),
                    "corpus/config/{name}: {err}"
                );
            }
            other => panic!("corpus/config/{name}: no outcome {other:?}"),
        }
    }
}

/// The `[presence]` and `[limits]` numbers of a config file; `None` leaves a key out.
#[derive(Debug, Clone)]
struct Numbers {
    checkin: Option<i64>,
    lease: Option<i64>,
    flush: Option<i64>,
    max_frame: Option<i64>,
    max_meta: Option<i64>,
    send_queue: Option<i64>,
}

fn number() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        Just(None),
        Just(Some(0)),
        (1i64..5_000).prop_map(Some),
        (1i64..200_000).prop_map(Some),
        prop::sample::select(vec![-1, i64::MAX, i64::MIN, 1_000, 1_001]).prop_map(Some),
    ]
}

fn numbers() -> impl Strategy<Value = Numbers> {
    (number(), number(), number(), number(), number(), number()).prop_map(
        |(checkin, lease, flush, max_frame, max_meta, send_queue)| Numbers {
            checkin,
            lease,
            flush,
            max_frame,
            max_meta,
            send_queue,
        },
    )
}

impl Numbers {
    fn toml(&self) -> String {
        let line = |k: &str, v: Option<i64>| v.map(|v| format!("{k} = {v}\n")).unwrap_or_default();
        format!(
            "[presence]\n{}{}{}[limits]\n{}{}{}",
            line("checkin_interval_ms", self.checkin),
            line("lease_timeout_ms", self.lease),
            line("flush_interval_ms", self.flush),
            line("max_frame_bytes", self.max_frame),
            line("max_meta_bytes", self.max_meta),
            line("send_queue", self.send_queue),
        )
    }

    /// Whether the relay must accept these numbers, from the rules of the README.
    fn acceptable(&self) -> bool {
        let d = Config::default();
        let or = |v: Option<i64>, default: u64| v.map_or(default as i128, |v| v as i128);
        let checkin = or(self.checkin, d.presence.checkin_interval_ms);
        let lease = or(self.lease, d.presence.lease_timeout_ms);
        let flush = or(self.flush, d.presence.flush_interval_ms);
        let frame = or(self.max_frame, d.limits.max_frame_bytes as u64);
        let meta = or(self.max_meta, d.presence.max_meta_bytes as u64);
        let queue = or(self.send_queue, d.limits.send_queue as u64);
        [checkin, lease, flush, frame, meta, queue].iter().all(|v| *v > 0)
            && lease > checkin
            && flush <= 1_000
            && frame >= meta + 256
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn a_config_is_accepted_exactly_when_its_numbers_follow_the_rules(n in numbers()) {
        let got = Config::from_toml(&n.toml());
        prop_assert_eq!(got.is_ok(), n.acceptable(), "{}\n{:?}", n.toml(), got);
        if let Ok(c) = got {
            if let Some(lease) = n.lease {
                prop_assert_eq!(c.presence.lease_timeout_ms, lease as u64);
            }
            if let Some(frame) = n.max_frame {
                prop_assert_eq!(c.limits.max_frame_bytes, frame as usize);
            }
        } else if let Err(e) = got {
            // The message names a key or the line at fault.
            prop_assert!(e.contains('.') || e.contains("line"), "{}", e);
        }
    }

    #[test]
    fn a_channel_rule_is_accepted_exactly_when_its_pattern_is_valid(pattern in prop_oneof!["(/[a-z*]{1,4}){1,3}", ".{0,12}"]) {
        let toml = format!("[[channel]]\npattern = {}\n", toml_string(&pattern));
        let got = Config::from_toml(&toml);
        prop_assert_eq!(got.is_ok(), validate_pattern(&pattern).is_ok(), "{:?}: {:?}", pattern, got);
    }

    #[test]
    fn any_text_as_a_config_file_is_loaded_or_refused_never_a_crash(
        text in prop_oneof![
            ".{0,200}".boxed(),
            prop::collection::vec(
                (
                    prop::sample::select(vec!["[presence]", "[limits]", "[auth]", "[[channel]]", "[ledger]", "[webhooks]", "[[pusher_app]]", "[[webhooks.endpoint]]", ""]),
                    prop::sample::select(vec!["lease_timeout_ms", "pattern", "secrets", "path", "url", "id", "key", "secret", "retention_days", "max_members", "listen", "x"]),
                    prop_oneof![
                        Just("1".to_string()), Just("-1".to_string()), Just("\"/a/*\"".to_string()),
                        Just("[]".to_string()), Just("{}".to_string()), Just("true".to_string()),
                        Just("1e400".to_string()), Just("9223372036854775807".to_string()),
                        ".{0,10}".prop_map(|s| toml_string(&s)),
                    ],
                ).prop_map(|(section, key, value)| format!("{section}\n{key} = {value}\n")),
                0..6,
            ).prop_map(|lines| lines.concat()).boxed(),
        ],
    ) {
        let _ = Config::from_toml(&text);
    }
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------
// The README's webhook checks (Python and Node), run as written on ugly headers.

/// The fenced block of README.md in `lang` that contains `marker`.
fn readme_block(lang: &str, marker: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    readme
        .split(&format!("```{lang}\n"))
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .find(|block| block.contains(marker))
        .unwrap_or_else(|| panic!("README.md has a {lang} block with {marker}"))
        .to_string()
}

/// Headers a receiver may get at `now`: the relay's own signature, then that signature
/// with one character changed (to non-ASCII digits and letters too), then odd shapes.
fn webhook_cases(now: u64, count: usize) -> Vec<(String, String, Vec<u8>, bool)> {
    let seed = seed();
    // Shown with a failure; ROLLCALL_FUZZ_SEED=<seed> makes the same headers again.
    eprintln!("webhook headers from seed {seed}");
    let mut rng = fuzzing::Rng::new(seed);
    let odd = [
        "é", "¹", "１", "٣", "+", "-", " ", ",", "=", "A", "0", "\u{0}", "v", "t",
    ];
    let mut cases = Vec::new();
    for n in 0..count {
        let secret = format!("whsec-{}", rng.next() % 1000);
        let body: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
        let t = if rng.one_in(8) {
            now - 1000
        } else {
            now - rng.below(5) as u64
        };
        let header = webhooks::sign(&secret, t, &body);
        let untouched = n % 4 == 0;
        let header = match n % 4 {
            0 => header,
            1 | 2 => {
                let mut chars: Vec<String> = header.chars().map(String::from).collect();
                let i = rng.below(chars.len());
                chars[i] = rng.pick(&odd).to_string();
                chars.concat()
            }
            _ => {
                let hex = header.split("v1=").nth(1).unwrap().to_string();
                let shapes = [
                    format!("t={t},v1={}", "é".repeat(64)),
                    format!("t={t},v1={}", "é".repeat(32)),
                    format!("t=¹{t},v1={hex}"),
                    format!("t=,v1={hex}"),
                    format!("v1={hex},t={t}"),
                    format!("t={t},v1={},v1={hex}", "0".repeat(64)),
                    format!("t={t}"),
                    String::new(),
                    ",,,".to_string(),
                    format!("t={t},v1={hex},t=1"),
                ];
                rng.pick(&shapes).clone()
            }
        };
        cases.push((secret, header, body, untouched));
    }
    cases
}

/// Run a README snippet on every case: "true", "false" or "error: ..." per case.
fn run_snippet(
    program: &str,
    args: &[&str],
    code: &str,
    cases: &[(String, String, Vec<u8>, bool)],
) -> Option<Vec<String>> {
    use std::io::Write;
    let input: String = cases
        .iter()
        .map(|(secret, header, body, _)| {
            let hex: String = body.iter().map(|b| format!("{b:02x}")).collect();
            format!("{}\n", json!([secret, header, hex]))
        })
        .collect();
    let mut child = std::process::Command::new(program)
        .args(args)
        .arg(code)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

fn check_snippet(language: &str, answers: Option<Vec<String>>, cases: &[(String, String, Vec<u8>, bool)], now: u64) {
    let Some(answers) = answers else {
        eprintln!("{language} is not installed: its README snippet is not checked here");
        return;
    };
    assert_eq!(answers.len(), cases.len(), "{language}: {answers:?}");
    for ((secret, header, body, relay_made), answer) in cases.iter().zip(&answers) {
        let signed = webhook_by_the_book(secret, header, body, now, 300);
        match answer.as_str() {
            // Stricter than the Rust check is fine (an upper-case signature, spaces);
            // accepting what is not signed, or refusing what the relay sent, is not.
            "true" => assert!(signed, "{language} accepts {header:?} for body {body:?}"),
            "false" => assert!(
                !(*relay_made && signed),
                "{language} refuses the relay's own {header:?}"
            ),
            other => panic!("{language} fails on the header {header:?}: {other}"),
        }
    }
}

#[test]
fn the_readmes_webhook_checks_accept_the_relays_signatures_and_never_fail_on_ugly_headers() {
    let now = unix_now();
    let cases = webhook_cases(now, cases(400) as usize);
    let python = readme_block("python", "def rollcall_verify");
    let driver = r#"
import json, sys
for line in sys.stdin:
    secret, header, body = json.loads(line)
    try:
        print("true" if rollcall_verify(secret, header, bytes.fromhex(body)) else "false")
    except Exception as e:
        print("error: %r" % e)
"#;
    let answers = run_snippet("python3", &["-c"], &format!("{python}{driver}"), &cases);
    check_snippet("Python", answers, &cases, now);

    let node = readme_block("js", "export function rollcallVerify").replace("export function", "function");
    let driver = r#"
import { createInterface } from "node:readline";
for await (const line of createInterface({ input: process.stdin })) {
  const [secret, header, body] = JSON.parse(line);
  try {
    console.log(rollcallVerify(secret, header, Buffer.from(body, "hex")) ? "true" : "false");
  } catch (e) {
    console.log(`error: ${e}`);
  }
}
"#;
    let answers = run_snippet(
        "node",
        &["--input-type=module", "-e"],
        &format!("{node}{driver}"),
        &cases,
    );
    check_snippet("Node", answers, &cases, now);
}
