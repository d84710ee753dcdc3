//! The errors the page sees: real JS `Error`s with a machine-readable `code`.

use js_sys::{Error, Reflect};
use rollcall_core::client::Failure;
use wasm_bindgen::JsValue;

/// `new Error(message)` with `name = "RollcallError"` and `code` set.
pub fn js_error(code: &str, message: &str) -> JsValue {
    let err = Error::new(message);
    err.set_name("RollcallError");
    let _ = Reflect::set(&err, &"code".into(), &code.into());
    err.into()
}

pub fn from_failure(failure: &Failure) -> JsValue {
    js_error(failure.code(), failure.sentence())
}

pub fn bad_option(message: &str) -> JsValue {
    js_error("bad_option", message)
}
