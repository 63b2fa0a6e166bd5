//! Serving a router on a TCP listener with limits a half-open client cannot exhaust: a header
//! read timeout, a body read timeout, an idle timeout and a cap on open connections, with the
//! idlest connection given up when a new one arrives at the cap.
//!
//! `axum::serve` has none of these: a client that sends half a request header and stops keeps
//! its socket (and a file descriptor) forever, and enough of them exhaust the open-file limit so
//! that even `/api/v1/health` stops answering. Here every connection runs on hyper's HTTP/1
//! connection directly:
//!
//! - **Header timeout**: hyper's `header_read_timeout`, which runs from the moment a connection
//!   waits for a request head (a new connection, or a kept-alive one after its last response)
//!   until the whole head arrived; it closes half-sent headers and quiet keep-alive
//!   connections alike.
//! - **Body timeout**: the longest gap between two frames of a request body
//!   (`tower_http::timeout::RequestBodyTimeoutLayer`); the handler reading it gets an error
//!   (answered 400) and the connection closes.
//! - **Idle timeout**: no byte read or written for this long while no handler runs (a client
//!   that stops reading its response) closes the connection.
//! - **Connection cap**: at the cap, a new connection makes room by closing the open connection
//!   that moved a byte least recently and has no handler running. A flood of idle connections
//!   therefore cycles through the slots while a real client, which sends its request at once,
//!   gets served; only when every slot runs a handler is the newcomer turned away.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tower::ServiceExt;

/// The limits of one service's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Longest wait for a complete request head (`server.header_timeout_secs`).
    pub header_timeout: Duration,
    /// Longest gap between two frames of a request body (`server.body_timeout_secs`).
    pub body_timeout: Duration,
    /// Longest time without a byte in or out while no handler runs (`server.idle_timeout_secs`).
    pub idle_timeout: Duration,
    /// Most connections open at once (`server.max_connections`).
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

impl ConnectionLimits {
    /// These limits with the connection cap lowered, when needed, so that `services` services
    /// at their cap stay under this process's open-file limit (with room for the databases,
    /// the candle files and outgoing connections). Returns the limits and the file limit when
    /// it lowered the cap.
    #[must_use]
    pub fn within_file_limit(self, services: usize) -> (Self, Option<u64>) {
        let Some(files) = open_file_limit() else { return (self, None) };
        let reserve = 256;
        let budget = usize::try_from(files.saturating_sub(reserve) / u64::try_from(services.max(1)).unwrap_or(1)).unwrap_or(usize::MAX);
        if budget < self.max_connections {
            (Self { max_connections: budget.max(16), ..self }, Some(files))
        } else {
            (self, None)
        }
    }
}

/// The soft limit on open files of this process (Linux: `/proc/self/limits`).
fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// One open connection as the registry sees it.
#[derive(Debug)]
struct ConnState {
    /// Milliseconds since the registry's start at the last byte read or written.
    last_io: AtomicU64,
    /// Handlers running on it now.
    active: AtomicUsize,
    /// Set to close the connection now.
    evict: Notify,
}

/// The open connections of one listener.
#[derive(Debug)]
struct Registry {
    start: Instant,
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<ConnState>>>,
}

impl Registry {
    fn new() -> Self {
        Self { start: Instant::now(), next_id: AtomicU64::new(0), conns: Mutex::new(HashMap::new()) }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<ConnState>>> {
        self.conns.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn insert(&self) -> (u64, Arc<ConnState>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnState { last_io: AtomicU64::new(self.now_ms()), active: AtomicUsize::new(0), evict: Notify::new() });
        self.lock().insert(id, Arc::clone(&state));
        (id, state)
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Closes the connection that moved a byte least recently and runs no handler; returns
    /// whether there was one.
    fn evict_idlest(&self) -> bool {
        let mut conns = self.lock();
        let victim = conns
            .iter()
            .filter(|(_, s)| s.active.load(Ordering::Relaxed) == 0)
            .min_by_key(|(_, s)| s.last_io.load(Ordering::Relaxed))
            .map(|(id, _)| *id);
        match victim.and_then(|id| conns.remove(&id)) {
            Some(s) => {
                // notify_one stores a permit, so the connection sees it even if it is not
                // waiting at this instant.
                s.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// A TCP stream that records when it last moved a byte.
struct Watched {
    inner: TcpStream,
    state: Arc<ConnState>,
    registry: Arc<Registry>,
}

impl Watched {
    fn touch(&self) {
        self.state.last_io.store(self.registry.now_ms(), Ordering::Relaxed);
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Decrements a connection's running-handler count when a handler ends (or is dropped).
struct ActiveGuard(Arc<ConnState>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves `router` on `listener` under `limits` until `shutdown` resolves; then stops
/// accepting, lets open requests finish (connections close after their current response) and
/// returns once every connection is closed. The caller bounds that wait.
///
/// # Errors
/// Never today; the `Result` keeps the signature of `axum::serve` for callers.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let router = router.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(limits.body_timeout));
    let registry = Arc::new(Registry::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let http = Arc::new(http);
    tokio::pin!(shutdown);
    let mut refused_logged = false;
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // A connection reset before accept is the client's business; running out
                    // of file descriptors is ours, and retrying at once would spin.
                    if !matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset) {
                        tracing::warn!(error = %e, open = registry.len(), "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
            },
        };
        if registry.len() >= limits.max_connections && !registry.evict_idlest() {
            // Every slot runs a handler: turn the newcomer away rather than exceed the cap.
            if !refused_logged {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "connection cap reached with every connection busy; refusing new ones"
                );
                refused_logged = true;
            }
            drop(stream);
            continue;
        }
        refused_logged = false;
        let _ = stream.set_nodelay(true);
        let (id, state) = registry.insert();
        let conn = Connection {
            stream,
            peer,
            id,
            state,
            registry: Arc::clone(&registry),
            router: router.clone(),
            http: Arc::clone(&http),
            idle_timeout: limits.idle_timeout,
            stop: stop_rx.clone(),
        };
        tokio::spawn(conn.run());
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while registry.len() > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// One accepted connection and what it needs to run.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    state: Arc<ConnState>,
    registry: Arc<Registry>,
    router: Router,
    http: Arc<hyper::server::conn::http1::Builder>,
    idle_timeout: Duration,
    stop: watch::Receiver<bool>,
}

impl Connection {
    async fn run(self) {
        let Self { stream, peer, id, state, registry, router, http, idle_timeout, mut stop } = self;
        let io = TokioIo::new(Watched { inner: stream, state: Arc::clone(&state), registry: Arc::clone(&registry) });
        let svc_state = Arc::clone(&state);
        let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            svc_state.active.fetch_add(1, Ordering::Relaxed);
            let guard = ActiveGuard(Arc::clone(&svc_state));
            req.extensions_mut().insert(ConnectInfo(peer));
            let router = router.clone();
            async move {
                let resp = router.oneshot(req).await;
                drop(guard);
                resp
            }
        });
        let conn = http.serve_connection(io, svc);
        tokio::pin!(conn);
        let mut tick = tokio::time::interval((idle_timeout / 4).max(Duration::from_millis(50)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut draining = false;
        loop {
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
                    }
                    break;
                }
                () = state.evict.notified() => {
                    tracing::debug!(peer = %peer, "connection closed to make room under the connection cap");
                    break;
                }
                _ = stop.changed(), if !draining => {
                    // Finish the request in flight, then close.
                    conn.as_mut().graceful_shutdown();
                    draining = true;
                }
                _ = tick.tick() => {
                    let quiet_ms = registry.now_ms().saturating_sub(state.last_io.load(Ordering::Relaxed));
                    if state.active.load(Ordering::Relaxed) == 0 && u128::from(quiet_ms) > idle_timeout.as_millis() {
                        tracing::debug!(peer = %peer, "idle connection closed");
                        break;
                    }
                }
            }
        }
        registry.remove(id);
    }
}
