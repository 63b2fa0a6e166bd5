//! Connection limits on a real socket: a flood of clients that send half a request header and
//! stop does not starve `/api/v1/health`, a half-sent header is closed after the header
//! timeout, and a stalled request body after the body timeout.
//!
//! The flood size is 2,000 connections here; `TRADAI_IDLE_FLOOD=10000` runs the same test with
//! 10,000 (see docs/BENCHMARKS.md; it needs `ulimit -n` above 20,000).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tradai_server::listener::{serve, ConnectionLimits};
use tradai_server::middleware::Limits;
use tradai_server::strategy_service::StrategyState;

/// strategy-service (it needs no data) on a loopback port with `limits`.
async fn service(limits: ConnectionLimits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let app = tradai_server::strategy_app(
        StrategyState {
            registry: Arc::new(tradai_engine::StrategyRegistry::builtin()),
            config_dir: std::env::temp_dir().join("tradai-limits-test-configs"),
            tracking: None,
            strategy_dir: None,
        },
        Limits::default(),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(serve(l, app, limits, async move {
        let _ = rx.await;
    }));
    (addr, tx)
}

/// One `GET /api/v1/health` on a fresh connection; the status line.
async fn health(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf).lines().next().unwrap_or_default().to_owned()
}

/// Opens `n` connections that each send half a request header and then nothing.
async fn half_open(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\nX-Slow: ").await.unwrap();
        conns.push(s);
    }
    conns
}

/// Reads until the server closes `s`; returns how long that took, or `None` after `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(within.saturating_sub(start.elapsed()), s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

fn flood_size() -> usize {
    std::env::var("TRADAI_IDLE_FLOOD").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_under_a_flood_of_half_open_connections() {
    // Timeouts long enough that no flood connection expires during the test: what keeps
    // health answering here is the cap and its eviction of the idlest connection.
    let n = flood_size();
    let limits = ConnectionLimits { header_timeout: Duration::from_secs(120), max_connections: 256, ..ConnectionLimits::default() };
    let (addr, _stop) = service(limits).await;
    let mut flood = half_open(addr, n).await;
    assert!(health(addr).await.contains("200"), "health must answer with {n} half-open connections");
    // The cap holds: most of the flood was closed to make room, the newest are still open.
    let mut closed = 0;
    for s in flood.iter_mut().take(64) {
        if closed_within(s, Duration::from_millis(200)).await.is_some() {
            closed += 1;
        }
    }
    assert_eq!(closed, 64, "the oldest idle connections are the ones given up");
    let newest = flood.last_mut().unwrap();
    assert!(closed_within(newest, Duration::from_millis(200)).await.is_none(), "the newest idle connection is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_under_the_flood_without_eviction() {
    // A cap above the flood: nothing is evicted, and the service still answers (a connection
    // costs a task and a socket, not a thread).
    let n = flood_size();
    let limits = ConnectionLimits { header_timeout: Duration::from_secs(120), max_connections: n + 100, ..ConnectionLimits::default() };
    let (addr, _stop) = service(limits).await;
    let _flood = half_open(addr, n).await;
    assert!(health(addr).await.contains("200"));
}

#[tokio::test]
async fn a_half_sent_header_is_closed_after_the_header_timeout() {
    let limits = ConnectionLimits { header_timeout: Duration::from_millis(500), ..ConnectionLimits::default() };
    let (addr, _stop) = service(limits).await;
    let mut s = half_open(addr, 1).await.pop().unwrap();
    let took = closed_within(&mut s, Duration::from_secs(10)).await.expect("a half-sent header must be closed");
    assert!(took >= Duration::from_millis(400), "closed after {took:?}, before the header timeout");
    // An idle kept-alive connection is closed by the same clock.
    let mut k = TcpStream::connect(addr).await.unwrap();
    k.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    assert!(closed_within(&mut k, Duration::from_secs(10)).await.is_some(), "an idle keep-alive connection must be closed");
}

#[tokio::test]
async fn a_stalled_body_is_cut_off_after_the_body_timeout() {
    let limits = ConnectionLimits { body_timeout: Duration::from_millis(300), ..ConnectionLimits::default() };
    let (addr, _stop) = service(limits).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /api/v1/strategies/EmaCross/validate HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"pa")
        .await
        .unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    assert!(r.is_ok(), "a stalled body must end the request");
    let head = String::from_utf8_lossy(&buf);
    assert!(head.starts_with("HTTP/1.1 400") || head.is_empty(), "{head}");
    assert!(start.elapsed() >= Duration::from_millis(250), "cut after {:?}", start.elapsed());
}
