//! Webhooks over real sockets: a real relay with graces of a few hundred milliseconds
//! POSTs to a real HTTP receiver in the test. The receiver verifies every signature
//! and deduplicates by event id, as a site does.

mod common;
mod hooks;

use hooks::*;
use std::time::{Duration, Instant};

const CH: &str = "/site/online";

fn count(lines: &[String], line: &str) -> usize {
    lines.iter().filter(|l| *l == line).count()
}

#[tokio::test]
async fn a_refresh_sends_nothing_and_a_close_sends_leave_and_offline_once_after_the_grace() {
    let receiver = Receiver::start().await;
    let relay = TestRelay::start(&config(&receiver.url, None)).await;
    let mut tab = relay.tab("ann", "a1").await;
    tab.enter(CH).await;
    let arrived = receiver
        .wait_for(&[
            "user.online ann",
            "channel.occupied /site/online",
            "channel.join ann /site/online",
        ])
        .await;
    assert_eq!(arrived.len(), 3, "{arrived:?}");

    // Refresh: the page goes, the same client is back at once.
    tab.close_page().await;
    let mut again = relay.tab("ann", "a1").await;
    again.enter(CH).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        receiver.lines().len(),
        3,
        "a refresh sends nothing: {:?}",
        receiver.lines()
    );

    // Close: leave, vacated and offline, after the unload grace (300 ms) and once.
    let closed = Instant::now();
    again.close_page().await;
    let lines = receiver
        .wait_for(&[
            "channel.leave ann /site/online",
            "channel.vacated /site/online",
            "user.offline ann",
        ])
        .await;
    assert!(closed.elapsed() >= Duration::from_millis(290), "{:?}", closed.elapsed());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lines_after = receiver.lines();
    assert_eq!(lines_after, lines);
    assert_eq!(
        lines,
        [
            "user.online ann",
            "channel.occupied /site/online",
            "channel.join ann /site/online",
            "channel.leave ann /site/online",
            "channel.vacated /site/online",
            "user.offline ann",
        ]
    );
    let events = receiver.events();
    assert_eq!(events[3]["cause"], "unload_grace");
    assert_eq!(events[3]["user"]["name"], "User ann");
    // Each event has its own id and its time, in order.
    let mut ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6);
    let times: Vec<u64> = events.iter().map(|e| e["at_ms"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert!(events[0]["at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn two_tabs_and_a_phone_give_one_user_online_and_a_tab_handover_sends_nothing() {
    let receiver = Receiver::start().await;
    let relay = TestRelay::start(&config(&receiver.url, None)).await;
    // The laptop's leader tab holds the connection for both of its tabs.
    let mut leader = relay.tab("ann", "laptop").await;
    leader.enter(CH).await;
    let mut phone = relay.tab("ann", "phone").await;
    phone.enter(CH).await;
    receiver.wait_for(&["channel.join ann /site/online"]).await;

    // The leader tab closes; the other laptop tab takes over as the same client.
    leader.drop_tcp();
    let mut follower = relay.tab("ann", "laptop").await;
    follower.enter(CH).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    let lines = receiver.lines();
    assert_eq!(count(&lines, "user.online ann"), 1, "{lines:?}");
    assert_eq!(count(&lines, "channel.join ann /site/online"), 1, "{lines:?}");
    assert_eq!(lines.len(), 3, "nothing but online, occupied, join: {lines:?}");

    // The phone leaves: ann is still here on the laptop.
    phone.leave(CH).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.lines().len(), 3, "{:?}", receiver.lines());
    drop(phone);
    follower.close_page().await;
    let lines = receiver.wait_for(&["user.offline ann"]).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    let lines_after = receiver.lines();
    assert_eq!(lines_after, lines);
    assert_eq!(count(&lines, "user.offline ann"), 1, "{lines:?}");
    assert_eq!(count(&lines, "channel.leave ann /site/online"), 1, "{lines:?}");
}

#[tokio::test]
async fn a_receiver_that_fails_five_times_then_succeeds_gets_every_event_exactly_once_by_id() {
    let receiver = Receiver::start().await;
    receiver.fail_next(5);
    let relay = TestRelay::start(&config(&receiver.url, None)).await;
    let mut ann = relay.tab("ann", "a1").await;
    ann.enter(CH).await;
    let mut bob = relay.tab("bob", "b1").await;
    bob.enter(CH).await;
    bob.leave(CH).await;
    let want = [
        "user.online ann",
        "channel.occupied /site/online",
        "channel.join ann /site/online",
        "user.online bob",
        "channel.join bob /site/online",
        "channel.leave bob /site/online",
    ];
    let lines = receiver.wait_for(&want).await;
    assert!(
        receiver.attempts() >= 6,
        "five failures, then success: {}",
        receiver.attempts()
    );
    assert_eq!(lines.len(), want.len(), "{lines:?}");
    for w in want {
        assert_eq!(count(&lines, w), 1, "{w} in {lines:?}");
    }
    // Retried batches carry the same ids: a receiver that dedupes sees each once.
    assert!(receiver.raw_events().len() >= lines.len());
    assert_eq!(receiver.bad_signatures(), 0);
    // The receiver has the events a moment before the relay hears its answer.
    let deadline = std::time::Instant::now() + PATIENCE;
    let mut metrics = relay.state.ledger.render_metrics();
    while !metrics.contains("\nrollcall_webhook_events_pending 0\n") && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        metrics = relay.state.ledger.render_metrics();
    }
    assert!(
        metrics.contains("\nrollcall_webhook_requests_failed_total 5\n"),
        "{metrics}"
    );
    assert!(metrics.contains("\nrollcall_webhook_events_pending 0\n"), "{metrics}");
    assert!(metrics.contains("\nrollcall_ledger_open_sessions 3\n"), "{metrics}");
}

#[tokio::test]
async fn signatures_verify_and_a_tampered_body_does_not() {
    let receiver = Receiver::start().await;
    let relay = TestRelay::start(&config(&receiver.url, None)).await;
    let mut tab = relay.tab("ann", "a1").await;
    tab.enter(CH).await;
    receiver.wait_for(&["channel.join ann /site/online"]).await;
    let requests = receiver.requests();
    assert!(!requests.is_empty());
    let now = rollcall_relay::clock::unix_now();
    for (signature, body) in &requests {
        assert!(signature.starts_with("t=") && signature.contains(",v1="), "{signature}");
        assert!(rollcall_relay::webhooks::verify(
            HOOK_SECRET,
            signature,
            body.as_bytes(),
            now,
            300
        ));
        let tampered = body.replace("ann", "eve");
        assert!(!rollcall_relay::webhooks::verify(
            HOOK_SECRET,
            signature,
            tampered.as_bytes(),
            now,
            300
        ));
        assert!(!rollcall_relay::webhooks::verify(
            "not-the-secret-0123",
            signature,
            body.as_bytes(),
            now,
            300
        ));
    }
    assert_eq!(receiver.bad_signatures(), 0);
}

#[tokio::test]
async fn a_relay_killed_and_restarted_delivers_what_was_pending_and_closes_open_sessions() {
    let db = temp_db();
    let receiver = Receiver::start().await;
    receiver.fail_next(usize::MAX);
    let first = TestRelay::start(&config(&receiver.url, Some(&db))).await;
    let entered_at = rollcall_relay::clock::wall_ms(std::time::SystemTime::now());
    let mut tab = first.tab("ann", "a1").await;
    tab.enter(CH).await;
    // The receiver is down: nothing is delivered, everything stays queued.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(receiver.attempts() >= 1);
    assert!(receiver.lines().is_empty());
    tab.drop_tcp();
    first.kill().await;
    let killed_at = rollcall_relay::clock::wall_ms(std::time::SystemTime::now());

    receiver.fail_next(0);
    let second = TestRelay::start(&config(&receiver.url, Some(&db))).await;
    let lines = receiver
        .wait_for(&[
            "user.online ann",
            "channel.occupied /site/online",
            "channel.join ann /site/online",
            "channel.leave ann /site/online",
            "channel.vacated /site/online",
            "user.offline ann",
        ])
        .await;
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert_eq!(lines[0], "user.online ann", "pending events first: {lines:?}");
    let events = receiver.events();
    let offline = events.iter().find(|e| e["type"] == "user.offline").unwrap();
    let leave = events.iter().find(|e| e["type"] == "channel.leave").unwrap();
    assert_eq!(leave["cause"], "relay_restart");
    // Closed at the last moment the first relay was known alive: its last heartbeat
    // (every 100 ms), not the restart.
    let ended = offline["at_ms"].as_u64().unwrap();
    assert!(
        entered_at <= ended && ended <= killed_at && ended + 2_000 >= killed_at,
        "entered {entered_at}, ended {ended}, killed {killed_at}"
    );

    let (status, page) = second.get("/v1/sessions?user=ann").await;
    assert_eq!(status, 200, "{page}");
    let sessions = page["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{page}");
    assert_eq!(sessions[0]["open"], false);
    assert_eq!(sessions[0]["end_cause"], "relay_restart");
    assert_eq!(sessions[0]["ended"], offline["at"]);
    let (_, user) = second.get("/v1/users/ann").await;
    assert_eq!(user["online"], false, "{user}");
    let _ = std::fs::remove_dir_all(db.parent().unwrap());
}

#[tokio::test]
async fn a_user_back_within_the_grace_after_a_restart_keeps_the_session_and_nothing_is_sent() {
    let db = temp_db();
    let receiver = Receiver::start().await;
    let first = TestRelay::start(&config(&receiver.url, Some(&db))).await;
    let mut tab = first.tab("ann", "a1").await;
    tab.enter(CH).await;
    receiver.wait_for(&["channel.join ann /site/online"]).await;
    let (_, before) = first.get("/v1/sessions?user=ann").await;
    tab.drop_tcp();
    first.kill().await;

    let second = TestRelay::start(&config(&receiver.url, Some(&db))).await;
    let mut back = second.tab("ann", "a1").await;
    back.enter(CH).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(receiver.lines().len(), 3, "{:?}", receiver.lines());
    let (_, after) = second.get("/v1/sessions?user=ann").await;
    assert_eq!(after["sessions"].as_array().unwrap().len(), 1, "{after}");
    assert_eq!(after["sessions"][0]["id"], before["sessions"][0]["id"]);
    assert_eq!(after["sessions"][0]["open"], true);
    let (_, user) = second.get("/v1/users/ann").await;
    assert_eq!(user["online"], true);
    assert_eq!(user["channels"], serde_json::json!([CH]));
    let _ = std::fs::remove_dir_all(db.parent().unwrap());
}

/// The Python, Node and Ruby snippets of the README, run as a site would run them
/// (each interpreter that is installed), accept a real signature and refuse a tampered
/// body.
#[test]
fn the_readme_snippets_verify_a_real_signature_and_refuse_a_tampered_body() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let doc = &readme[readme.find("### Verifying a webhook").expect("the README's section")..];
    let block = |lang: &str| -> String {
        let start = doc
            .find(&format!("```{lang}\n"))
            .unwrap_or_else(|| panic!("a {lang} block"))
            + lang.len()
            + 4;
        let end = start + doc[start..].find("```").unwrap();
        doc[start..end].to_string()
    };
    let body = r#"{"events":[{"id":"evt_1","type":"user.online","user":{"id":"ann"}}]}"#;
    let header = rollcall_relay::webhooks::sign(HOOK_SECRET, rollcall_relay::clock::unix_now(), body.as_bytes());
    let dir = std::env::temp_dir().join(format!("rollcall-doc-{}", rollcall_relay::ids::random_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scripts = [
        (
            "python3",
            "check.py",
            format!(
                "{}\nimport os\ns, h, b = os.environ['SECRET'], os.environ['HEADER'], os.environ['BODY'].encode()\nprint(rollcall_verify(s, h, b), rollcall_verify(s, h, b + b' '))\n",
                block("python")
            ),
        ),
        (
            "node",
            "check.mjs",
            format!(
                "{}\nconst {{ SECRET: s, HEADER: h, BODY: b }} = process.env;\nconsole.log(rollcallVerify(s, h, Buffer.from(b)), rollcallVerify(s, h, Buffer.from(b + ' ')));\n",
                block("js")
            ),
        ),
        (
            "ruby",
            "check.rb",
            format!(
                "{}\ns, h, b = ENV['SECRET'], ENV['HEADER'], ENV['BODY']\nputs [rollcall_verify(s, h, b), rollcall_verify(s, h, b + ' ')].join(' ')\n",
                block("ruby")
            ),
        ),
    ];
    let mut ran = 0;
    for (interpreter, file, script) in scripts {
        let path = dir.join(file);
        std::fs::write(&path, script).unwrap();
        let out = match std::process::Command::new(interpreter)
            .arg(&path)
            .env("SECRET", HOOK_SECRET)
            .env("HEADER", &header)
            .env("BODY", body)
            .output()
        {
            Ok(out) => out,
            Err(_) => {
                eprintln!("{interpreter} is not installed: its snippet is not checked here");
                continue;
            }
        };
        let said = String::from_utf8_lossy(&out.stdout).trim().to_lowercase();
        assert_eq!(
            said,
            "true false",
            "{interpreter}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ran += 1;
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ran >= 1, "no interpreter to check the snippets with");
}

#[tokio::test]
async fn each_endpoint_gets_only_the_types_and_channels_it_asks_for() {
    let everything = Receiver::start().await;
    let docs_only = Receiver::start().await;
    let toml = config(&everything.url, None)
        + &format!(
            "[[webhooks.endpoint]]\nurl = \"{}\"\nevents = [\"channel.join\", \"user.offline\"]\nchannels = [\"/doc/**\"]\n",
            docs_only.url
        );
    let relay = TestRelay::start(&toml).await;
    let mut tab = relay.tab("ann", "a1").await;
    tab.enter(CH).await;
    tab.enter("/doc/42").await;
    tab.close_page().await;
    everything.wait_for(&["user.offline ann"]).await;
    let lines = docs_only
        .wait_for(&["channel.join ann /doc/42", "user.offline ann"])
        .await;
    assert_eq!(lines, ["channel.join ann /doc/42", "user.offline ann"]);
    assert_eq!(everything.lines().len(), 10, "{:?}", everything.lines());
}

#[tokio::test]
async fn a_channel_rule_can_turn_off_join_and_leave_webhooks_for_its_channels() {
    let receiver = Receiver::start().await;
    let rules = r#"
[[channel]]
pattern = "/site/*"
webhooks = false

[[channel]]
pattern = "/**"
"#;
    let relay = TestRelay::start(&format!("{}{rules}", config(&receiver.url, None))).await;
    let mut tab = relay.tab("ann", "a1").await;
    tab.enter("/site/online").await;
    tab.enter("/doc/1").await;
    receiver.wait_for(&["channel.join ann /doc/1"]).await;
    tab.leave("/site/online").await;
    tab.leave("/doc/1").await;
    let lines = receiver
        .wait_for(&["channel.leave ann /doc/1", "channel.vacated /site/online"])
        .await;
    let site: Vec<&String> = lines.iter().filter(|l| l.ends_with("/site/online")).collect();
    assert_eq!(
        site,
        ["channel.occupied /site/online", "channel.vacated /site/online"],
        "no join or leave for /site/*: {lines:?}"
    );
}
