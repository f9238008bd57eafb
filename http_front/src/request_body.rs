//! Request bodies: every body must keep arriving (a first deadline, extended as bytes come at a
//! minimum rate, as Apache's mod_reqtimeout does), and ingest reads its body as a stream with a
//! byte limit on the wire and another after gzip, so memory never holds more than a buffer of
//! it whatever the client sends.

use std::future::Future;
use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::TryStreamExt;
use http_body::Frame;
use tokio::time::{Instant, Sleep};

/// How long a body may take: `first` for its start, one more second per `min_rate` bytes
/// received, never more than `max` in all.
#[derive(Debug, Clone, Copy)]
pub struct BodyPace {
    pub first: Duration,
    pub min_rate: u64,
    pub max: Duration,
}

/// Why reading a body stopped; carried inside the `io::Error` the readers return.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request body exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("decompressed body exceeds the limit of {limit} bytes")]
    InflatesTooLarge { limit: usize },
    #[error("the request body did not arrive in time (it must keep coming at {min_rate} bytes/s or more)")]
    TooSlow { min_rate: u64 },
    #[error("the request body broke off: {0}")]
    BrokeOff(String),
}

impl BodyError {
    /// The error inside an `io::Error` from these readers, if there is one.
    pub fn of(e: &io::Error) -> Option<&BodyError> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<BodyError>())
    }
}

fn io_error(e: BodyError) -> io::Error {
    let kind = match e {
        BodyError::TooSlow { .. } => io::ErrorKind::TimedOut,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

/// A body that fails once it stops arriving at its pace.
pub struct PacedBody {
    inner: Body,
    pace: BodyPace,
    started: Instant,
    received: u64,
    deadline: Pin<Box<Sleep>>,
}

impl PacedBody {
    pub fn new(inner: Body, pace: BodyPace) -> PacedBody {
        let started = Instant::now();
        PacedBody {
            inner,
            pace,
            started,
            received: 0,
            deadline: Box::pin(tokio::time::sleep_until(started + pace.first)),
        }
    }

    fn extend_deadline(&mut self) {
        let earned = Duration::from_secs_f64(self.received as f64 / self.pace.min_rate.max(1) as f64);
        let deadline = self.started + (self.pace.first + earned).min(self.pace.max);
        self.deadline.as_mut().reset(deadline);
    }
}

impl http_body::Body for PacedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.received += data.len() as u64;
                    self.extend_deadline();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => Poll::Ready(other.map(|r| r.map_err(Into::into))),
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    Poll::Ready(Some(Err(Box::new(BodyError::TooSlow { min_rate: self.pace.min_rate }))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Middleware: every request body that has one is paced.
pub async fn pace_bodies(State(pace): State<BodyPace>, request: Request, next: Next) -> Response {
    use http_body::Body as _;
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    next.run(request.map(|body| Body::new(PacedBody::new(body, pace)))).await
}

/// A blocking reader of a request body (for a blocking task), failing past `limit` bytes.
/// Made on the async runtime (it blocks on it to read).
pub fn blocking_reader(body: Body, limit: usize) -> impl Read + Send + 'static {
    let stream = body.into_data_stream().map_err(|e| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(error) = source {
            if let Some(BodyError::TooSlow { min_rate }) = error.downcast_ref::<BodyError>() {
                return io_error(BodyError::TooSlow { min_rate: *min_rate });
            }
            source = error.source();
        }
        io_error(BodyError::BrokeOff(e.to_string()))
    });
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    Limited { inner: reader, left: limit, limit, inflated: false }
}

/// At most `limit` bytes of what `inner` reads, decompressed (`inflated`) or not.
pub struct Limited<R> {
    inner: R,
    left: usize,
    limit: usize,
    inflated: bool,
}

impl<R: Read> Limited<R> {
    /// The decompressed side of a gzip body.
    pub fn inflated(inner: R, limit: usize) -> Self {
        Limited { inner, left: limit, limit, inflated: true }
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // One byte more than the limit tells a body at the limit from one past it.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io_error(if self.inflated {
                    BodyError::InflatesTooLarge { limit: self.limit }
                } else {
                    BodyError::TooLarge { limit: self.limit }
                })),
            };
        }
        let want = buf.len().min(self.left);
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_bytes_and_tell_at_the_limit_from_past_it() {
        let mut at = Limited { inner: &b"12345"[..], left: 5, limit: 5, inflated: false };
        let mut out = Vec::new();
        assert_eq!(at.read_to_end(&mut out).unwrap(), 5);
        let mut past = Limited::inflated(&b"123456"[..], 5);
        let error = past.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(matches!(BodyError::of(&error), Some(BodyError::InflatesTooLarge { limit: 5 })), "{error}");
    }
}
