//! The JS glue every part of the SDK uses: reading and setting properties, promises and
//! callbacks with Rust closures, the token function, URLs, and what the page says about
//! itself (visibility, network).

use crate::error::js_error;
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// A promise with its resolve and reject functions.
pub fn deferred() -> (Promise, Function, Function) {
    // The executor runs synchronously, so both are set before `new` returns.
    let mut resolve: Function = JsValue::UNDEFINED.unchecked_into();
    let mut reject: Function = JsValue::UNDEFINED.unchecked_into();
    let promise = Promise::new(&mut |res, rej| {
        resolve = res;
        reject = rej;
    });
    (promise, resolve, reject)
}

/// Strings end to end. Not `format!` nor `concat()`: both bring in more of the
/// formatting and slice machinery than the wasm otherwise needs.
pub fn cat(parts: &[&str]) -> String {
    let mut s = String::new();
    for part in parts {
        s.push_str(part);
    }
    s
}

/// `s` without trailing slashes (by bytes: `trim_end_matches` brings a pattern searcher).
pub fn trim_slashes(s: &str) -> &str {
    let mut end = s.len();
    while end > 0 && s.as_bytes().get(end - 1) == Some(&b'/') {
        end -= 1;
    }
    s.get(..end).unwrap_or(s)
}

/// `http(s)://host` -> `ws(s)://host/v1/ws`.
pub fn ws_url(base: &str) -> String {
    let (scheme, rest) = match (base.strip_prefix("https://"), base.strip_prefix("http://")) {
        (Some(r), _) => ("wss://", r),
        (None, Some(r)) => ("ws://", r),
        (None, None) => ("", base),
    };
    cat(&[scheme, trim_slashes(rest), "/v1/ws"])
}

/// Event handlers and fields are set and read through `Reflect` rather than web-sys's
/// typed accessors: each accessor is one more import, with its glue, in the package.
pub fn is_hidden() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|d| get(&d, "visibilityState").as_string().as_deref() == Some("hidden"))
}

/// `navigator.onLine`; a browser without it is taken as online.
pub fn is_online() -> bool {
    web_sys::window().is_none_or(|w| get(&get(&w, "navigator"), "onLine").as_bool() != Some(false))
}

pub fn set(target: &JsValue, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

/// `promise.then(on_ok, on_err)` with Rust closures. Plain callbacks rather than an
/// async executor: the executor would weigh more in the wasm than the SDK's rules.
pub fn then(
    promise: &Promise,
    on_ok: impl FnOnce(JsValue) -> JsValue + 'static,
    on_err: impl FnOnce(JsValue) -> JsValue + 'static,
) -> Promise {
    then_boxed(promise, Box::new(on_ok), Box::new(on_err))
}

/// A Rust callback for JS, called at most once.
pub type Once = Box<dyn FnOnce(JsValue) -> JsValue>;

/// One JS function type for every one-shot callback: wasm-bindgen emits its shims per
/// closure type, so boxing them first keeps one copy instead of one per call site.
pub fn once(f: Once) -> JsValue {
    Closure::once_into_js(move |v: JsValue| f(v))
}

/// A Rust callback for JS, called any number of times; one closure type for all, as
/// for [`once`].
pub type Callback = Closure<dyn FnMut(JsValue)>;

pub fn callback(f: Box<dyn FnMut(JsValue)>) -> Callback {
    Closure::wrap(f)
}

fn then_boxed(promise: &Promise, on_ok: Once, on_err: Once) -> Promise {
    let ok = once(on_ok);
    let err = once(on_err);
    get(promise, "then")
        .unchecked_into::<Function>()
        .call2(promise, &ok, &err)
        .map_or_else(|e| Promise::reject(&e), JsCast::unchecked_into)
}

/// The page's token function, called now: a promise of the token string.
pub fn fetch_token(f: &Function) -> Promise {
    let value = match f.call0(&JsValue::UNDEFINED) {
        Ok(v) => v,
        Err(e) => return Promise::reject(&e),
    };
    then(
        &Promise::resolve(&value),
        |v| {
            if v.is_string() {
                v
            } else {
                Promise::reject(&js_error(
                    "bad_token",
                    "The token function must return (a promise of) a string.",
                ))
                .into()
            }
        },
        |e| Promise::reject(&e).into(),
    )
}

/// Read a property, treating a throwing getter as missing.
pub fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}
