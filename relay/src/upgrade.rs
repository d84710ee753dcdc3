//! The WebSocket transport both endpoints share: the HTTP upgrade, the stream's limits,
//! and how a socket ends (tell why, close with a code, then linger).
//!
//! The stream is tokio-websockets': an outgoing message is a frame header plus a
//! `Bytes` payload, queued as is and written with one vectored write. A frame encoded
//! once per channel therefore reaches every subscriber without a copy per connection,
//! and once it has gone out the connection holds nothing of it: its memory does not
//! depend on the size of the channels it watches.
//!
//! The library answers pings and a peer's close frame by itself (RFC 6455 §5.5.1).
//! What it cannot know is when to stop reading: closing a socket with unread data makes
//! the kernel send a reset, which discards what was still on its way to the client (the
//! error frame that said why). So a socket the relay closes keeps being read, and the
//! frames thrown away, until the client answers the close or [`LINGER`] passes.

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::time::Duration;
use tokio_websockets::{CloseCode, Config, Limits, Message};

pub use tokio_websockets::WebSocketStream;

/// An accepted WebSocket.
pub type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// How long a closed socket is still read, for the client's answer to the close.
pub const LINGER: Duration = Duration::from_secs(2);

/// Largest frame the stream reads at all. Frames between the relay's `max_frame_bytes`
/// and this are read, answered with `frame_too_large` and a 1009 close; a larger one
/// gets the 1009 close alone (its bytes are never buffered).
pub const HARD_FRAME_BYTES: usize = 1024 * 1024;

/// Outgoing frames larger than this are split in continuation frames (browsers
/// reassemble them); the bytes are shared either way.
const OUT_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// Capacity a socket's read buffer starts with. A client's frames are a few hundred
/// bytes (a hello, an enter with its meta, a check-in), and most of the time a socket
/// reads nothing, so a small buffer that a larger frame grows is 7 KiB less per
/// connection than the library's 8 KiB (vendor/README.md).
const READ_BUFFER_BYTES: usize = 1024;

/// The GUID of RFC 6455 §1.3, hashed with the client's key into `Sec-WebSocket-Accept`.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Answer a WebSocket upgrade request: `run` is spawned with the socket once the
/// HTTP connection is switched. A request that is not a valid upgrade gets a 400 or a
/// 426 that says what is wrong.
pub fn accept<F, Fut>(mut req: Request, max_frame_bytes: usize, run: F) -> Response
where
    F: FnOnce(Socket) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let key = match check(req.headers()) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let limit = max_frame_bytes.max(HARD_FRAME_BYTES);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let socket = tokio_websockets::ServerBuilder::new()
                    .limits(Limits::default().max_payload_len(Some(limit)))
                    .config(
                        Config::default()
                            .frame_size(OUT_FRAME_BYTES)
                            .read_buffer_size(READ_BUFFER_BYTES),
                    )
                    .serve(TokioIo::new(upgraded));
                run(socket).await;
            }
            Err(e) => tracing::debug!("upgrade failed: {e}"),
        }
    });
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept_key(key.as_bytes())).expect("base64 is a valid header value"),
    );
    response
}

/// The client's `Sec-WebSocket-Key`, or the refusal for a request that is no upgrade.
fn check(headers: &HeaderMap) -> Result<String, Response> {
    let has = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case(token))
    };
    if !has(header::UPGRADE, "websocket") || !has(header::CONNECTION, "upgrade") {
        let mut refusal = (
            StatusCode::UPGRADE_REQUIRED,
            "this endpoint speaks WebSocket: send an upgrade request",
        )
            .into_response();
        refusal
            .headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        return Err(refusal);
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).and_then(|v| v.to_str().ok()) != Some("13") {
        let mut refusal = (StatusCode::BAD_REQUEST, "unsupported WebSocket version: use 13").into_response();
        refusal
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return Err(refusal);
    }
    match headers.get(header::SEC_WEBSOCKET_KEY).and_then(|v| v.to_str().ok()) {
        Some(key) if !key.is_empty() => Ok(key.to_string()),
        _ => Err((StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key").into_response()),
    }
}

fn accept_key(key: &[u8]) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key);
    sha.update(ACCEPT_GUID);
    base64::engine::general_purpose::STANDARD.encode(sha.digest().bytes())
}

/// A close frame; codes outside the ranges RFC 6455 allows on the wire become 1011.
pub fn close_frame(code: u16, reason: &str) -> Message {
    let code = CloseCode::try_from(code)
        .ok()
        .filter(|c| !c.is_reserved())
        .unwrap_or(CloseCode::INTERNAL_SERVER_ERROR);
    // A close frame's payload is at most 125 bytes: 2 for the code, the rest for the
    // reason, cut on a character boundary.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::close(Some(code), &reason[..end])
}

/// After a close was sent: read, throwing frames away, until the client answers the
/// close, the socket ends, or [`LINGER`] passes.
pub async fn linger<S>(stream: &mut S)
where
    S: futures_util::Stream<Item = Result<Message, tokio_websockets::Error>> + Unpin,
{
    let drain = async {
        while let Some(Ok(msg)) = stream.next().await {
            if msg.is_close() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_key_is_the_one_rfc_6455_gives() {
        // RFC 6455 §1.3's example.
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn a_long_reason_is_cut_to_fit_a_close_frame_on_a_character_boundary() {
        let reason = "é".repeat(100);
        let frame = close_frame(1008, &reason);
        let (code, told) = frame.as_close().expect("a close frame");
        assert_eq!(u16::from(code), 1008);
        assert!(told.len() <= 123 && told.chars().all(|c| c == 'é'));
    }

    #[test]
    fn a_code_that_may_not_travel_becomes_an_internal_error() {
        let (code, _) = close_frame(1006, "").as_close().unwrap();
        assert_eq!(u16::from(code), 1011);
    }
}
