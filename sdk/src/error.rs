//! The errors the page sees: real JS `Error`s with a machine-readable `code`.

use js_sys::{Error, Reflect};
use wasm_bindgen::JsValue;

/// `new Error(message)` with `name = "RollcallError"` and `code` set.
pub fn js_error(code: &str, message: &str) -> JsValue {
    let err = Error::new(message);
    err.set_name("RollcallError");
    let _ = Reflect::set(&err, &"code".into(), &code.into());
    err.into()
}
