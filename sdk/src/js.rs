//! Reading and setting JS properties.
//!
//! Through `Reflect` rather than web-sys's typed accessors: each accessor is one more
//! import, with its glue, in the package.

use js_sys::Reflect;
use wasm_bindgen::prelude::*;

pub fn set(target: &JsValue, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

/// Read a property, treating a throwing getter (or a target that is not an object) as
/// missing.
pub fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}
