//! Listening: plain HTTP and HTTPS (rustls) listeners whose connections are bounded in time
//! (TLS handshake, request head, keep-alive idle, response writes) and in number (in all, and per
//! client address), each request handed to the router with what its connection says about the
//! client ([`Client`]). Request bodies are bounded per request (`request_body.rs`).
//!
//! HTTP/1.1 only: sensors, scripts and dashboards need nothing more, and hyper's HTTP/1 server
//! is the one whose head-read timer also covers an idle keep-alive connection.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// What a request's connection says about its client, for the handlers (trusted addresses,
/// `Secure` cookies).
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub addr: SocketAddr,
    /// The connection is HTTPS.
    pub tls: bool,
}

/// One listening socket, with its TLS configuration (HTTPS) or none (plain HTTP), and what it
/// serves.
pub struct Listener {
    pub socket: TcpListener,
    pub tls: Option<TlsAcceptor>,
    pub router: Router,
}

/// Bounds on every connection.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// To receive a request's head; also how long a keep-alive connection may sit idle.
    pub header_timeout: Duration,
    pub handshake_timeout: Duration,
    /// How long a response write may make no progress (a client that stopped reading).
    pub write_timeout: Duration,
    pub max_connections: usize,
    /// Connections from one address at most (0: no limit).
    pub max_per_address: usize,
    /// How long shutdown waits for requests in flight.
    pub drain_timeout: Duration,
}

/// Largest request head (request line and headers), bytes (hyper takes 8 KiB at least).
const MAX_HEAD_BYTES: usize = 32 * 1024;
const MAX_HEADERS: usize = 64;

/// Serves every listener until `shutdown` completes, then stops accepting, lets requests in
/// flight finish (at most `drain_timeout`) and closes idle connections.
pub async fn run(listeners: Vec<Listener>, limits: ConnectionLimits, shutdown: impl Future<Output = ()>) {
    let (stop, stopped) = watch::channel(false);
    let slots = Arc::new(Slots::new(limits.max_connections, limits.max_per_address));
    let mut loops = tokio::task::JoinSet::new();
    for listener in listeners {
        loops.spawn(accept_loop(listener, limits.clone(), slots.clone(), stopped.clone()));
    }
    shutdown.await;
    let _ = stop.send(true);
    while loops.join_next().await.is_some() {}
}

async fn accept_loop(
    listener: Listener,
    limits: ConnectionLimits,
    slots: Arc<Slots>,
    mut stopped: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let listener = Arc::new(listener);
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.socket.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors (EMFILE) or the like: retrying at once would spin.
                    tracing::warn!(error = %e, "accepting a connection failed; retrying in 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopped.changed() => break,
        };
        let Some(slot) = slots.take(addr.ip()) else {
            tracing::debug!(%addr, "connection refused: too many connections");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let watcher = graceful.watcher();
        let (listener, limits) = (listener.clone(), limits.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let client = Client { addr, tls: listener.tls.is_some() };
            match &listener.tls {
                None => serve_connection(stream, client, &listener.router, &limits, watcher).await,
                Some(acceptor) => match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => serve_connection(tls, client, &listener.router, &limits, watcher).await,
                    Ok(Err(e)) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
                },
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after {:?}; closing them", limits.drain_timeout);
    }
}

async fn serve_connection<S>(
    stream: S,
    client: Client,
    router: &Router,
    limits: &ConnectionLimits,
    watcher: hyper_util::server::graceful::Watcher,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let router = router.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(client);
        router.clone().oneshot(request)
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true)
        .max_headers(MAX_HEADERS)
        .max_buf_size(MAX_HEAD_BYTES)
        .half_close(false);
    let io = TokioIo::new(WriteTimeout::new(stream, limits.write_timeout));
    let connection = http.serve_connection(io, service);
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!(addr = %client.addr, error = %e, "connection ended with an error");
    }
}

/// Connection slots: a number in all, and per client address.
struct Slots {
    total: Arc<Semaphore>,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    max_per_address: usize,
}

/// A connection's slot, given back when the connection ends.
struct Slot {
    slots: Arc<Slots>,
    address: IpAddr,
    _permit: OwnedSemaphorePermit,
}

impl Slots {
    fn new(max_connections: usize, max_per_address: usize) -> Slots {
        Slots {
            total: Arc::new(Semaphore::new(max_connections.max(1))),
            per_address: Mutex::new(HashMap::new()),
            max_per_address,
        }
    }

    fn take(self: &Arc<Self>, address: IpAddr) -> Option<Slot> {
        let permit = self.total.clone().try_acquire_owned().ok()?;
        let mut per_address = self.per_address.lock().unwrap_or_else(|e| e.into_inner());
        let count = per_address.entry(address).or_insert(0);
        if self.max_per_address > 0 && *count >= self.max_per_address {
            return None;
        }
        *count += 1;
        Some(Slot { slots: self.clone(), address, _permit: permit })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per_address = self.slots.per_address.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = per_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                per_address.remove(&self.address);
            }
        }
    }
}

/// A stream whose writes fail once they have made no progress for `timeout`: hyper has no
/// write timeout, and a client that stops reading its response would hold the connection.
struct WriteTimeout<S> {
    inner: S,
    timeout: Duration,
    stall: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteTimeout<S> {
    fn new(inner: S, timeout: Duration) -> Self {
        WriteTimeout { inner, timeout, stall: None }
    }

    /// Called when a write is pending: starts the stall timer, or fails once it has run out.
    fn stalled(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timeout = self.timeout;
        let stall = self.stall.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match stall.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, "response write stalled")),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progress<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match poll {
            Poll::Pending => self.stalled(cx).map(Err),
            ready => {
                self.stall = None;
                ready
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteTimeout<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.progress(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.progress(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.progress(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.progress(cx, poll)
    }
}

/// Binds a listener, with its TLS acceptor when it serves HTTPS.
pub async fn bind(addr: SocketAddr, tls: Option<TlsAcceptor>, router: Router) -> anyhow::Result<Listener> {
    let socket = TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("binding {addr}: {e}"))?;
    Ok(Listener { socket, tls, router })
}

/// Raises this process's open-file limit to its hard limit and returns it: each connection
/// costs a descriptor, and the default soft limit (often 1024) is far below what the hard limit
/// allows.
pub fn raise_file_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}
