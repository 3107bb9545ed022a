//! Async TLS streams over native-tls's non-blocking API.
//!
//! async-native-tls rebuilds its connector (and reloads the system trust store, tens of
//! milliseconds) on every connect; driving native-tls directly lets one prebuilt connector
//! or acceptor serve every connection.

use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use smol::io::{AsyncRead, AsyncWrite};

/// Presents an async stream to native-tls as a non-blocking std stream: `Pending` becomes
/// `WouldBlock`, after registering the waker of the task that is driving it.
#[derive(Debug)]
pub struct Adapter<S> {
    inner: S,
    waker: Option<Waker>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Adapter<S> {
    fn with_context<T>(
        &mut self,
        op: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> io::Result<T> {
        let waker = self.waker.clone().unwrap_or_else(|| Waker::noop().clone());
        let mut cx = Context::from_waker(&waker);
        match op(Pin::new(&mut self.inner), &mut cx) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Read for Adapter<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.with_context(|s, cx| s.poll_read(cx, buf))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Write for Adapter<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.with_context(|s, cx| s.poll_write(cx, buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.with_context(|s, cx| s.poll_flush(cx))
    }
}

/// A TLS connection (either side) usable as an async stream.
pub struct TlsStream<S> {
    tls: native_tls::TlsStream<Adapter<S>>,
}

type Start<S> = Result<native_tls::TlsStream<Adapter<S>>, native_tls::HandshakeError<Adapter<S>>>;

/// Completes a TLS handshake that `start` begins on `stream` (a connect or an accept).
pub async fn handshake<S>(
    stream: S,
    start: impl FnOnce(Adapter<S>) -> Start<S>,
) -> Result<TlsStream<S>, native_tls::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug,
{
    let mut first = Some((stream, start));
    let mut mid: Option<native_tls::MidHandshakeTlsStream<Adapter<S>>> = None;
    poll_fn(|cx| {
        let attempt = match (first.take(), mid.take()) {
            (Some((inner, start)), _) => start(Adapter {
                inner,
                waker: Some(cx.waker().clone()),
            }),
            (None, Some(mut pending)) => {
                pending.get_mut().waker = Some(cx.waker().clone());
                pending.handshake()
            }
            (None, None) => unreachable!("polled after completion"),
        };
        match attempt {
            Ok(tls) => Poll::Ready(Ok(TlsStream { tls })),
            Err(native_tls::HandshakeError::WouldBlock(pending)) => {
                mid = Some(pending);
                Poll::Pending
            }
            Err(native_tls::HandshakeError::Failure(err)) => Poll::Ready(Err(err)),
        }
    })
    .await
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream<S> {
    fn drive<T>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(&mut native_tls::TlsStream<Adapter<S>>) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        self.tls.get_mut().waker = Some(cx.waker().clone());
        match op(&mut self.tls) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
            other => Poll::Ready(other),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().drive(cx, |tls| tls.read(buf))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().drive(cx, |tls| tls.write(buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().drive(cx, |tls| tls.flush())
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.drive(cx, |tls| tls.shutdown()) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.tls.get_mut().inner).poll_close(cx),
            other => other,
        }
    }
}
