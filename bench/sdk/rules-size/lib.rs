//! Every entry point of the SDK's rules (`rollcall_core::tabs::Tab`), exported as the
//! shell calls them, with inputs the compiler cannot see through: so the module holds
//! all the rules' code and nothing else. The exports read their inputs from addresses
//! the optimizer cannot know; this module is built only to be weighed, never run.

use rollcall_core::protocol::ServerMsg;
use rollcall_core::tabs::{Ask, BusMsg, Output, Tab, TabSetup};
use rollcall_core::time::Instant;
use std::hint::black_box;

#[global_allocator]
// SAFETY: the SDK's allocator, as in sdk/src/lib.rs; one thread.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

/// A value the optimizer cannot know. Never called: the module is only weighed.
fn unknown<T>(at: usize) -> T {
    // SAFETY: none; see the module's comment.
    unsafe { std::ptr::read(black_box(at) as *const T) }
}

static mut TAB: Option<Tab> = None;

#[allow(static_mut_refs)]
fn tab() -> &'static mut Tab {
    // SAFETY: none needed beyond the module's comment; one thread.
    unsafe { TAB.as_mut().unwrap_or_else(|| std::process::abort()) }
}

fn at(ms: u64) -> Instant {
    Instant(ms)
}

#[no_mangle]
pub extern "C" fn new_tab(setup: usize, now: u64) {
    unsafe { TAB = Some(Tab::new(at(now), unknown::<TabSetup>(setup))) }
}
#[no_mangle]
pub extern "C" fn bus(msg: usize, now: u64, jitter: f64) {
    tab().handle_bus(at(now), unknown::<BusMsg>(msg), jitter)
}
#[no_mangle]
pub extern "C" fn frame(msg: usize, now: u64) {
    tab().socket_frame(at(now), unknown::<ServerMsg>(msg))
}
#[no_mangle]
pub extern "C" fn ask(a: usize, now: u64) -> u64 {
    tab().ask(at(now), unknown::<Ask>(a)).unwrap_or(0)
}
#[no_mangle]
pub extern "C" fn listen(args: usize, now: u64, first: bool) {
    let (ch, friends): (String, Vec<String>) = unknown(args);
    tab().listen(at(now), &ch, &friends, first)
}
#[no_mangle]
pub extern "C" fn unlisten(ch: usize, now: u64) {
    tab().unlisten(at(now), &unknown::<String>(ch))
}
#[no_mangle]
pub extern "C" fn timeout(now: u64, jitter: f64) {
    tab().handle_timeout(at(now), jitter)
}
#[no_mangle]
pub extern "C" fn opened(token: usize, now: u64) {
    tab().socket_opened(at(now), unknown(token))
}
#[no_mangle]
pub extern "C" fn closed(now: u64, code: u16, jitter: f64) {
    tab().socket_closed(at(now), code, jitter)
}
#[no_mangle]
pub extern "C" fn refreshed(token: usize, now: u64) {
    tab().token_refreshed(at(now), unknown(token))
}
#[no_mangle]
pub extern "C" fn lead(now: u64) {
    tab().become_leader(at(now))
}
#[no_mangle]
pub extern "C" fn elect(now: u64, jitter: f64) {
    tab().start_election(at(now), jitter)
}
#[no_mangle]
pub extern "C" fn online(now: u64, online: bool) {
    tab().set_online(at(now), online)
}
#[no_mangle]
pub extern "C" fn input(now: u64) {
    tab().input(at(now))
}
#[no_mangle]
pub extern "C" fn visibility(now: u64, hidden: bool) {
    tab().visibility(at(now), hidden)
}
#[no_mangle]
pub extern "C" fn revive(now: u64) -> bool {
    tab().revive(at(now))
}
#[no_mangle]
pub extern "C" fn page_hidden(now: u64) {
    tab().page_hidden(at(now))
}
#[no_mangle]
pub extern "C" fn close(now: u64) {
    tab().close(at(now))
}
#[no_mangle]
pub extern "C" fn after_input(now: u64) {
    tab().after_input(at(now))
}
#[no_mangle]
pub extern "C" fn deadline() -> u64 {
    tab().poll_timeout().map_or(0, |t| t.0)
}
#[no_mangle]
pub extern "C" fn poll(out: usize) -> bool {
    match tab().poll_output() {
        // SAFETY: none; see the module's comment.
        Some(o) => unsafe {
            std::ptr::write(black_box(out) as *mut Output, o);
            true
        },
        None => false,
    }
}
#[no_mangle]
pub extern "C" fn query(ch: usize) -> usize {
    let ch: String = unknown(ch);
    let t = tab();
    black_box((
        t.is_leader(),
        t.is_closed(),
        t.connected(),
        t.link(),
    ));
    t.view(&ch).map_or(0, |v| {
        v.count() + v.users().count() + v.cap().unwrap_or(0) + v.has_snapshot() as usize + v.is_known() as usize
    })
}
