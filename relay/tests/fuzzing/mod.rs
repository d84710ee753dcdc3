//! What the fuzz tests share: how many cases to run, the corpus of ugly inputs kept in
//! `tests/corpus/<decoder>/`, a seeded random source for the drivers, and one HTTP call
//! through the relay's router with a body of any bytes. See docs/fuzzing.md.

#![allow(dead_code)]

use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence};
use std::path::PathBuf;

/// `ROLLCALL_FUZZ_CASES`, or `default`: the default keeps a whole file within seconds,
/// a long run raises it.
pub fn cases(default: u32) -> u32 {
    std::env::var("ROLLCALL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// proptest's settings for one property. A failure is shrunk to its smallest input,
/// printed, and its seed saved next to the test in `*.proptest-regressions`, which is
/// replayed first on every later run; `PROPTEST_RNG_SEED` replays a whole run.
pub fn config(default_cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases(default_cases),
        max_shrink_time: 30_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    }
}

/// Every file of `tests/corpus/<decoder>/`, as (file name, bytes), in name order.
pub fn corpus(decoder: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(decoder);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the corpus {} is empty", dir.display());
    files
}

/// The seed of a driver run: `ROLLCALL_FUZZ_SEED` to replay one, else a fresh one.
/// The driver prints it with every failure.
pub fn seed() -> u64 {
    if let Some(seed) = std::env::var("ROLLCALL_FUZZ_SEED").ok().and_then(|v| v.parse().ok()) {
        return seed;
    }
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS provides randomness");
    u64::from_le_bytes(bytes)
}

/// SplitMix64: small, fast, and the same sequence for the same seed on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True once in `n` times.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// One HTTP request through the relay's router, without a socket, with a body of any
/// bytes: (status, body).
pub async fn call_bytes(
    state: &rollcall_relay::AppState,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut req = axum::http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = rollcall_relay::router(state.clone())
        .oneshot(req.body(axum::body::Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Percent-encode every byte outside the unreserved set, as a query value.
pub fn encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
