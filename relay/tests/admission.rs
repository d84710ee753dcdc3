//! Admission on a real socket: per-address limits behind a trusted proxy, the overall
//! cap counting sockets that never said hello, and the refusals' bodies and metrics.

mod common;

use common::{TestRelay, API_KEY};
use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Open `/v1/ws` as a proxy forwarding `client` would; `Err` holds the refusal's status
/// and body.
async fn open(relay: &TestRelay, forwarded_for: Option<&str>) -> Result<Ws, (u16, String)> {
    let mut req = format!("ws://{}/v1/ws", relay.addr).into_client_request().unwrap();
    if let Some(client) = forwarded_for {
        req.headers_mut().insert("x-forwarded-for", client.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(WsError::Http(res)) => Err((
            res.status().as_u16(),
            String::from_utf8_lossy(res.body().as_deref().unwrap_or_default()).into_owned(),
        )),
        Err(e) => panic!("unexpected {e}"),
    }
}

/// Say a hello the relay refuses, and read until it has closed the connection.
async fn refused_and_gone(mut ws: Ws) {
    use futures_util::SinkExt;
    let hello = json!({"type": "hello", "v": [1], "token": "not-a-token", "client": "c"});
    ws.send(tokio_tungstenite::tungstenite::Message::text(hello.to_string()))
        .await
        .unwrap();
    let ended = async { while let Some(Ok(_)) = ws.next().await {} };
    tokio::time::timeout(common::PATIENCE, ended)
        .await
        .expect("the relay closes it");
}

async fn metrics(relay: &TestRelay) -> String {
    common::call(
        &relay.state,
        "GET",
        "/metrics",
        &[("authorization", &format!("Bearer {API_KEY}"))],
        "",
    )
    .await
    .2
}

#[tokio::test]
async fn behind_a_trusted_proxy_one_client_gets_its_connections_and_no_more() {
    let relay = TestRelay::start("[limits]\nmax_connections_per_ip = 2\ntrusted_proxies = [\"127.0.0.1\"]\n").await;
    let first = open(&relay, Some("198.51.100.7")).await.expect("first");
    let _second = open(&relay, Some("198.51.100.7")).await.expect("second");
    let (status, body) = open(&relay, Some("198.51.100.7")).await.map(|_| ()).unwrap_err();
    assert_eq!(status, 429);
    assert!(body.contains("limits.max_connections_per_ip"), "{body}");
    // Other clients of the same proxy are not affected.
    let _other = open(&relay, Some("198.51.100.8")).await.expect("another client");
    assert!(metrics(&relay)
        .await
        .contains("rollcall_admission_refused_total{reason=\"address_connections\"} 1"));
    // When one of its sockets ends, the client has room again.
    refused_and_gone(first).await;
    open(&relay, Some("198.51.100.7")).await.expect("room again");
}

#[tokio::test]
async fn a_client_that_upgrades_too_fast_is_told_when_to_retry() {
    let relay = TestRelay::start("[limits]\nupgrades_per_ip_per_second = 1\ntrusted_proxies = [\"127.0.0.1\"]\n").await;
    let mut open_sockets = Vec::new();
    for _ in 0..rollcall_relay::admission::UPGRADE_BURST_SECONDS {
        open_sockets.push(open(&relay, Some("203.0.113.9")).await.expect("within the burst"));
    }
    let (status, body) = open(&relay, Some("203.0.113.9")).await.map(|_| ()).unwrap_err();
    assert_eq!(status, 429);
    assert!(body.contains("limits.upgrades_per_ip_per_second"), "{body}");
    assert!(body.contains("retry in 1 s"), "{body}");
}

#[tokio::test]
async fn forwarded_for_from_a_proxy_not_trusted_changes_nothing() {
    // 127.0.0.1 is not listed: its connections are not limited per address (they may be
    // everyone behind a proxy), and the header does not make them count as another.
    let relay = TestRelay::start("[limits]\nmax_connections_per_ip = 1\n").await;
    let mut open_sockets = Vec::new();
    for _ in 0..3 {
        open_sockets.push(open(&relay, Some("198.51.100.7")).await.expect("admitted"));
    }
    assert_eq!(relay.state.admission.addresses(), 0);
}

#[tokio::test]
async fn sockets_that_never_say_hello_count_against_the_connection_limit() {
    let relay = TestRelay::start("[limits]\nmax_connections = 2\n").await;
    let silent = open(&relay, None).await.expect("one");
    let _silent_too = open(&relay, None).await.expect("two");
    assert_eq!(relay.state.hub.connections(), 0, "neither said hello");
    let (status, body) = open(&relay, None).await.map(|_| ()).unwrap_err();
    assert_eq!(status, 503);
    assert!(body.contains("limits.max_connections"), "{body}");
    assert!(metrics(&relay)
        .await
        .contains("rollcall_admission_refused_total{reason=\"capacity\"} 1"));
    refused_and_gone(silent).await;
    relay.connect("ann", "a1").await;
}

#[tokio::test(start_paused = true)]
async fn a_request_head_that_never_ends_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let relay = TestRelay::start("").await;
    let mut slow = tokio::net::TcpStream::connect(&relay.addr).await.unwrap();
    let started = tokio::time::Instant::now();
    // A slowloris: a request line and one header, and then nothing.
    slow.write_all(b"GET /v1/ws HTTP/1.1\r\nHost: relay\r\n").await.unwrap();
    let head_timeout = rollcall_relay::server::HEAD_TIMEOUT;
    let mut rest = Vec::new();
    tokio::time::timeout(head_timeout * 2, slow.read_to_end(&mut rest))
        .await
        .expect("the relay closes the connection")
        .ok();
    assert!(
        started.elapsed() >= head_timeout,
        "closed after {:?}",
        started.elapsed()
    );
    // A client that says what it wants in time is served as ever.
    relay.connect("ann", "a1").await;
}
