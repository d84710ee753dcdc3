//! Redis over TLS (`rediss://`), as managed services offer it: a `redis-server` that
//! only speaks TLS, with a certificate of a private authority the relays trust through
//! `SSL_CERT_FILE`, and two relays sharing presence through it. Skipped, with a
//! message, where `redis-server` or `openssl` is missing, or the server has no TLS.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[presence]
flush_interval_ms = 10
"#;

fn run(cmd: &mut Command) -> bool {
    cmd.output().map(|o| o.status.success()).unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_share_presence_through_redis_over_tls() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("rollcall-redis-tls-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    // A private authority, and a certificate for 127.0.0.1 signed by it.
    let made = run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"])
        .args([
            "-subj",
            "/CN=rollcall test CA",
            "-keyout",
            &path("ca.key"),
            "-out",
            &path("ca.pem"),
        ]))
        && run(Command::new("openssl")
            .args(["req", "-newkey", "rsa:2048", "-nodes"])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                &path("redis.key"),
                "-out",
                &path("redis.csr"),
            ]))
        && {
            std::fs::write(path("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
            run(Command::new("openssl").args(["x509", "-req", "-days", "1"]).args([
                "-in",
                &path("redis.csr"),
                "-CA",
                &path("ca.pem"),
                "-CAkey",
                &path("ca.key"),
                "-CAcreateserial",
                "-extfile",
                &path("ext.cnf"),
                "-out",
                &path("redis.pem"),
            ]))
        };
    if !made {
        eprintln!("skipped: openssl is not installed or failed");
        return;
    }
    let started = Command::new("redis-server")
        .args(["--daemonize", "yes", "--bind", "127.0.0.1", "--port", "0"])
        .args(["--tls-port", &port.to_string(), "--tls-auth-clients", "no"])
        .args([
            "--tls-cert-file",
            &path("redis.pem"),
            "--tls-key-file",
            &path("redis.key"),
        ])
        .args(["--tls-ca-cert-file", &path("ca.pem")])
        .args(["--save", "", "--appendonly", "no", "--dir", &path("")])
        .args(["--pidfile", &path("redis.pid"), "--logfile", &path("redis.log")])
        .status();
    if !started.is_ok_and(|s| s.success()) {
        eprintln!("skipped: redis-server is not installed, or was built without TLS");
        return;
    }
    let stop = || {
        if let Ok(pid) = std::fs::read_to_string(path("redis.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    };
    // The relays trust the private authority as they would a system one.
    std::env::set_var("SSL_CERT_FILE", path("ca.pem"));
    let url = format!("rediss://127.0.0.1:{port}/");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::exists(path("redis.pid")).unwrap_or(false) {
        assert!(Instant::now() < deadline, "redis-server with TLS did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let a = RelayProcess::start(CONFIG, &url);
    let b = RelayProcess::start(CONFIG, &url);
    let ann = hold(a.client("ann", "a1").await);
    ann.enter("/site/tls").await.unwrap();
    let truth: BTreeMap<String, Vec<String>> = [("/site/tls".to_string(), vec!["ann".to_string()])].into();
    converge(&[&a, &b], &truth, Duration::from_secs(10)).await;
    assert_eq!(b.health().await["store_up"], true);
    stop();
    let _ = std::fs::remove_dir_all(&dir);
}
