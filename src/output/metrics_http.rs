//! The HTTP side of `--metrics`: `GET /metrics` answers the Prometheus text format, encoded
//! on the HTTP server's threads from what the pipeline last published (`output::metrics`);
//! nothing here runs on the capture path.
//!
//! oxhttp serves it: a listener thread, one thread per connection up to
//! [`MAX_CONNECTIONS`] (further connections wait in the kernel's backlog), and a read/write
//! timeout of [`TIMEOUT`] on each connection, so a client that connects and says nothing
//! holds a thread for at most that long.
//!
//! The listening socket is bound by [`serve`], before the monitor drops its privileges.
//! System calls of these threads (strace -f of `monitor --metrics` under four scrapes; for a
//! seccomp filter installed after the drop, which these threads outlive):
//! - the listener thread: accept4, getpeername, setsockopt (TCP_NODELAY), clone3 (a thread per
//!   connection), mmap, mprotect, munmap, rt_sigprocmask, prctl (PR_SET_NAME), gettid,
//!   sched_getaffinity, rseq, set_robust_list, sigaltstack;
//! - each connection's thread: recvfrom, sendto, setsockopt (SO_RCVTIMEO, SO_SNDTIMEO), fcntl
//!   (F_DUPFD_CLOEXEC: the stream's clone), close, futex (the published tally's lock), mmap,
//!   munmap, mprotect, madvise, rt_sigprocmask, prctl, gettid, sched_getaffinity, rseq,
//!   set_robust_list, sigaltstack, exit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use oxhttp::model::{Body, HeaderValue, Method, Request, Response, StatusCode};
use prometheus_client::registry::Registry;

use super::metrics::Exposition;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 8;
/// Read and write timeout of a connection.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Starts serving `registry` at `addr` (the socket is bound before this returns).
pub fn serve(addr: SocketAddr, registry: Registry) -> anyhow::Result<()> {
    let registry = Arc::new(registry);
    oxhttp::Server::new(move |req| respond(req, &registry))
        .bind(addr)
        .with_global_timeout(TIMEOUT)
        .with_max_concurrent_connections(MAX_CONNECTIONS)
        .spawn()
        .with_context(|| {
            format!("cannot serve metrics on {addr} (--metrics): is another program listening there, or is it an address of this machine? Pick another ADDR:PORT")
        })?;
    Ok(())
}

fn respond(req: &mut Request<Body>, registry: &Registry) -> Response<Body> {
    let text = |status: StatusCode, body: &'static str| {
        let mut r = Response::new(Body::from(body));
        *r.status_mut() = status;
        r.headers_mut().insert("content-type", HeaderValue::from_static("text/plain; charset=utf-8"));
        r
    };
    if req.uri().path() != "/metrics" {
        return text(StatusCode::NOT_FOUND, "dnsleak serves its metrics at /metrics\n");
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "GET /metrics\n");
        r.headers_mut().insert("allow", HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let mut r = Response::new(Body::from(Exposition::text(registry)));
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static(prometheus_client::encoding::prometheus_text::CONTENT_TYPE),
    );
    r
}
