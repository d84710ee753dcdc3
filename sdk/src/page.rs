//! The page around the SDK: lifecycle (`pagehide`, `visibilitychange`), input for idle
//! detection, `online`/`offline`, the bus's messages, and the client id kept in
//! `localStorage`.

use crate::codec;
use crate::js::{callback, get};
use crate::shell::Shell;
use js_sys::Math;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Where a browser profile keeps its client id, shared by its tabs.
pub const CLIENT_ID_KEY: &str = "rollcall.client";
/// Input events that mean "someone is using this page".
const INPUT_EVENTS: &[&str] = &["pointerdown", "pointermove", "keydown", "scroll", "focus"];

/// Wire the page's events to the shell. They live as long as the page.
pub fn listen(shell: &'static Shell) {
    let Some(window) = web_sys::window() else { return };
    let s = shell;
    let on_bus = callback(Box::new(move |e: JsValue| {
        if let Some(msg) = codec::bus_from_js(&get(&e, "data")) {
            s.with(|st, now| st.on_bus(now, msg));
        }
    }));
    shell.read(|st| st.set_bus_handler(on_bus.as_ref().unchecked_ref()));
    on_bus.forget();

    let s = shell;
    let on_pagehide = callback(Box::new(move |_| s.with(|st, now| st.tab.page_hidden(now))));
    let _ = window.add_event_listener_with_callback("pagehide", on_pagehide.as_ref().unchecked_ref());
    on_pagehide.forget();

    let s = shell;
    let on_pageshow = callback(Box::new(move |e: JsValue| {
        let restored = get(&e, "persisted").is_truthy();
        if restored && s.with(|st, now| st.tab.revive(now)) {
            let name = s.read(|st| st.lock_name().to_string());
            let _ = crate::leader::elect(s, &name);
        }
    }));
    let _ = window.add_event_listener_with_callback("pageshow", on_pageshow.as_ref().unchecked_ref());
    on_pageshow.forget();

    if let Some(document) = window.document() {
        let s = shell;
        let on_visibility = callback(Box::new(move |_| {
            let hidden = crate::js::is_hidden();
            s.with(|st, now| st.tab.visibility(now, hidden));
        }));
        let _ = document.add_event_listener_with_callback("visibilitychange", on_visibility.as_ref().unchecked_ref());
        on_visibility.forget();
    }

    // The status shows `offline` at once, and a connection waiting to retry tries again
    // as soon as the network is back.
    for (name, online) in [("online", true), ("offline", false)] {
        let s = shell;
        let on_change = callback(Box::new(move |_| s.with(|st, now| st.tab.set_online(now, online))));
        let _ = window.add_event_listener_with_callback(name, on_change.as_ref().unchecked_ref());
        on_change.forget();
    }

    let s = shell;
    let on_input = callback(Box::new(move |_| s.with(|st, now| st.tab.input(now))));
    for name in INPUT_EVENTS {
        let _ = window.add_event_listener_with_callback(name, on_input.as_ref().unchecked_ref());
    }
    on_input.forget();
}

/// A random id of `[A-Za-z0-9]`, 22 characters (about 130 bits).
pub fn random_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..22)
        .map(|_| ALPHABET[(Math::random() * ALPHABET.len() as f64) as usize % ALPHABET.len()] as char)
        .collect()
}

/// This browser profile's client id: kept in localStorage so tabs share it and a
/// refresh keeps it. Without storage (private modes, blocked), one per tab.
pub fn client_id() -> String {
    let storage = web_sys::window().and_then(|w| w.local_storage().ok().flatten());
    let Some(storage) = storage else { return random_id() };
    if let Ok(Some(id)) = storage.get_item(CLIENT_ID_KEY) {
        if is_client_id(&id) {
            return id;
        }
    }
    let id = random_id();
    let _ = storage.set_item(CLIENT_ID_KEY, &id);
    id
}

/// The relay's rule for client ids.
pub fn is_client_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The token's `sub`, read without verifying (the relay verifies): it only names the
/// lock and bus that tabs of one user share.
pub fn token_subject(token: &str) -> String {
    // The part between the first two dots, found by bytes (no `str` pattern search).
    let bytes = token.as_bytes();
    let start = bytes.iter().position(|b| *b == b'.').map_or(bytes.len(), |i| i + 1);
    let len = bytes
        .iter()
        .skip(start)
        .position(|b| *b == b'.')
        .unwrap_or(bytes.len() - start);
    let payload = token.get(start..start + len).unwrap_or_default();
    // The browser's base64 and JSON, not Rust's: each would add to the wasm. `atob`
    // gives one char per byte, so a non-ASCII `sub` comes out garbled, the same in
    // every tab, which is all a lock name needs.
    let mut base64: String = payload
        .bytes()
        .map(|b| match b {
            b'-' => '+',
            b'_' => '/',
            b => b as char,
        })
        .collect();
    while base64.len() & 3 != 0 {
        base64.push('=');
    }
    let claims = web_sys::window()
        .and_then(|w| w.atob(&base64).ok())
        .and_then(|json| crate::codec::parse(&json));
    let sub = claims.map(|c| crate::js::get(&c, "sub")).unwrap_or(JsValue::UNDEFINED);
    sub.as_string()
        // A numeric sub names the same user as its decimal text; floats are not ids.
        .or_else(|| {
            sub.as_f64()
                .map(|n| crate::codec::stringify(&JsValue::from_f64(n.trunc())))
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_follow_the_relays_rule() {
        assert!(is_client_id("abc-DEF_123"));
        assert!(!is_client_id(""));
        assert!(!is_client_id("a b"));
        assert!(!is_client_id(&"x".repeat(65)));
    }
}
