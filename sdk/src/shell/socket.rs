//! The leader's WebSocket: getting a token, opening the socket, feeding its events to the
//! tab (only the newest socket's), closing it, and the beacon a leaving page sends.

use super::{jitter, Shell, State};
use crate::codec;
use crate::js::{callback, cat, fetch_token, get, set, then, trim_slashes, ws_url, Callback};
use js_sys::Reflect;
use rollcall_core::protocol::close;
use rollcall_core::time::Instant;
use wasm_bindgen::prelude::*;
use web_sys::WebSocket;

pub(super) struct Socket {
    ws: WebSocket,
    _on_open: Callback,
    _on_message: Callback,
    _on_close: Callback,
}

impl Socket {
    pub(super) fn send(&self, text: &str) {
        let _ = self.ws.send_with_str(text);
    }

    /// Close and forget: handlers are detached so its close event is not reported.
    pub(super) fn shut(self, code: u16, reason: &str) {
        for handler in ["onopen", "onmessage", "onclose"] {
            set(&self.ws, handler, &JsValue::NULL);
        }
        let _ = self.ws.close_with_code_and_reason(code, reason);
    }
}

impl Shell {
    pub(super) fn connect_socket(&'static self, fresh_token: bool) {
        let (token_fn, have_token) = self.read(|st| (st.token_fn.clone(), st.token.is_some()));
        match token_fn {
            Some(f) if fresh_token || !have_token => {
                let (ok, failed) = (self, self);
                let _ = then(
                    &fetch_token(&f),
                    move |token| {
                        ok.with(|st, _| st.token = token.as_string());
                        ok.open_socket();
                        JsValue::UNDEFINED
                    },
                    move |e| {
                        web_sys::console::error_2(&"rollcall: the token function failed".into(), &e);
                        failed.with(|st, t| st.socket_closed(t, None, 1006));
                        JsValue::UNDEFINED
                    },
                );
            }
            _ => self.open_socket(),
        }
    }

    fn open_socket(&'static self) {
        let url = self.read(|st| ws_url(&st.url));
        let gen = {
            let mut st = self.state_mut();
            if !st.tab.is_leader() {
                return;
            }
            st.gen += 1;
            st.gen
        };
        let ws = match WebSocket::new(&url) {
            Ok(ws) => ws,
            Err(e) => {
                web_sys::console::error_2(&"rollcall: cannot open a WebSocket".into(), &e);
                self.with(|st, t| st.socket_closed(t, Some(gen), 1006));
                return;
            }
        };
        let shell = self;
        let on_open = callback(Box::new(move |_| {
            shell.with(|st, t| {
                if st.current(Some(gen)) {
                    let token = st.token.clone().unwrap_or_default();
                    st.tab.socket_opened(t, token);
                }
            });
        }));
        let shell = self;
        let on_message = callback(Box::new(move |e: JsValue| {
            if let Some(text) = get(&e, "data").as_string() {
                shell.with(|st, t| {
                    let msg = codec::parse(&text).and_then(|v| codec::server_msg_from_js(&v));
                    if let (true, Some(msg)) = (st.current(Some(gen)), msg) {
                        st.tab.socket_frame(t, msg);
                    }
                });
            }
        }));
        let shell = self;
        let on_close = callback(Box::new(move |e: JsValue| {
            let code = get(&e, "code").as_f64().unwrap_or(1006.0) as u16;
            shell.with(|st, t| st.socket_closed(t, Some(gen), code));
        }));
        set(&ws, "onopen", on_open.as_ref());
        set(&ws, "onmessage", on_message.as_ref());
        set(&ws, "onclose", on_close.as_ref());
        let socket = Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        };
        let mut st = self.state_mut();
        if st.current(Some(gen)) {
            if let Some(old) = st.socket.replace(socket) {
                old.shut(close::UNLOADING, "replaced");
            }
        } else {
            socket.shut(1000, "not leading");
        }
    }

    pub(super) fn refresh_token(&'static self) {
        let Some(f) = self.read(|st| st.token_fn.clone()) else {
            return;
        };
        let shell = self;
        let _ = then(
            &fetch_token(&f),
            move |token| {
                let Some(token) = token.as_string() else {
                    return JsValue::UNDEFINED;
                };
                shell.with(|st, t| {
                    st.token = Some(token.clone());
                    st.tab.token_refreshed(t, token);
                });
                JsValue::UNDEFINED
            },
            |e| {
                web_sys::console::error_2(&"rollcall: the token function failed".into(), &e);
                JsValue::UNDEFINED
            },
        );
    }
}

impl State {
    pub(super) fn socket_closed(&mut self, now: Instant, gen: Option<u64>, code: u16) {
        if self.current(gen) {
            self.socket = None;
            self.tab.socket_closed(now, code, jitter());
        }
    }
}

pub(super) fn send_beacon(base: &str, session: &str) {
    let Some(window) = web_sys::window() else { return };
    let url = cat(&[trim_slashes(base), "/v1/beacon"]);
    let body = js_sys::Object::new();
    let _ = Reflect::set(&body, &"session".into(), &session.into());
    let body = codec::stringify(&body);
    // A string body goes as text/plain: no CORS preflight, so it leaves even as the page dies.
    let _ = window.navigator().send_beacon_with_opt_str(&url, Some(&body));
}
