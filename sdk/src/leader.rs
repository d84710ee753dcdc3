//! Who holds the browser's one connection: the tab holding the Web Lock named after the
//! relay and the user, or - where Web Locks are missing - the winner of the election
//! over BroadcastChannel (`rollcall_core::tabs::Election`).
//!
//! `navigator.locks` is reached through `Reflect`: web-sys gates it behind an unstable
//! cfg. The lock is held by a promise that only settles when this tab lets go (close,
//! pagehide) or dies, which is exactly when another tab's waiting request is granted.

use crate::js::{deferred, get, once, then};
use crate::shell::Shell;
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Decide this tab's role before `connect()` resolves: leader if the lock is free,
/// else follower (queued to take over when the lock passes). The promise resolves once
/// the role is known.
pub fn elect(shell: &'static Shell, name: &str) -> Promise {
    let Some((locks, request)) = web_locks() else {
        shell.with(|st, now| st.start_election(now));
        return Promise::resolve(&JsValue::UNDEFINED);
    };
    let (decided, decide, _) = deferred();
    let s = shell;
    let try_now = once(Box::new(move |lock: JsValue| -> JsValue {
        if lock.is_null() {
            let _ = decide.call1(&JsValue::UNDEFINED, &JsValue::FALSE);
            return JsValue::UNDEFINED;
        }
        let held = hold(s);
        let _ = decide.call1(&JsValue::UNDEFINED, &JsValue::TRUE);
        held.into()
    }));
    let opts = Object::new();
    let _ = Reflect::set(&opts, &"ifAvailable".into(), &JsValue::TRUE);
    if request.call3(&locks, &name.into(), &opts, &try_now).is_err() {
        shell.with(|st, now| st.start_election(now));
        return Promise::resolve(&JsValue::UNDEFINED);
    }
    let s = shell;
    let name = name.to_string();
    then(
        &decided,
        move |leads| {
            if !leads.is_truthy() {
                // Wait in line: granted when the leader tab closes, navigates or dies.
                let take_over = once(Box::new(move |_lock: JsValue| -> JsValue {
                    if s.read(|st| st.is_closed()) {
                        return JsValue::UNDEFINED;
                    }
                    hold(s).into()
                }));
                let _ = request.call2(&locks, &name.into(), &take_over);
            }
            JsValue::UNDEFINED
        },
        |_| JsValue::UNDEFINED,
    )
}

/// Become the leader; the returned promise holds the lock until the shell resolves it.
fn hold(shell: &'static Shell) -> Promise {
    let (held, release, _) = deferred();
    shell.with(|st, now| {
        st.set_lock_release(release);
        st.tab.become_leader(now);
    });
    held
}

fn web_locks() -> Option<(JsValue, Function)> {
    let navigator: JsValue = web_sys::window()?.navigator().into();
    let locks = get(&navigator, "locks");
    if !locks.is_object() {
        return None;
    }
    let request = get(&locks, "request").dyn_into::<Function>().ok()?;
    Some((locks, request))
}
