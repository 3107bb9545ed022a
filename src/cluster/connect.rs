//! One Redis connection: connecting (TCP, TLS, AUTH, SELECT, a PING) within one deadline,
//! writing commands and reading replies, each bounded by the Redis timeout.

use std::time::Duration;

use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use smol::net::TcpStream;
use smol::Timer;

use super::Shared;
use crate::error::{Error, ErrorKind, Result};
use crate::resp::{self, Value};

/// Redis left `what` unanswered for `timeout`.
pub(super) fn no_answer(timeout: Duration, what: &str) -> Error {
    let ms = timeout.as_millis();
    Error::new(
        ErrorKind::Timeout,
        format!("no answer {what} within {ms} ms"),
    )
}

/// Any byte stream to Redis: TCP, or TLS over TCP.
trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

/// One Redis connection: the stream and the replies read but not yet taken.
pub(super) struct Connection {
    stream: Box<dyn Duplex>,
    buf: Vec<u8>,
    /// Where the first reply not yet taken starts in `buf`.
    start: usize,
    /// Where reads land, so a read cancelled halfway leaves `buf` as it was.
    scratch: Box<[u8]>,
    /// How long a reply may take.
    timeout: Duration,
}

/// Connects, upgrades to TLS for `rediss://`, authenticates, selects the database and sees
/// a PING answered, all within the Redis timeout: a Redis that accepts TCP and then says
/// nothing fails here, and is tried again.
pub(super) async fn connect(shared: &Shared) -> Result<Connection> {
    let timeout = async {
        Timer::after(shared.timeout).await;
        Err(no_answer(shared.timeout, "while connecting"))
    };
    // A command's own timeout may fire first: it is the same silence.
    smol::future::or(connect_unbounded(shared), timeout)
        .await
        .map_err(|e| match e.kind {
            ErrorKind::Timeout => no_answer(shared.timeout, "while connecting"),
            _ => e,
        })
}

async fn connect_unbounded(shared: &Shared) -> Result<Connection> {
    let url = &shared.url;
    let tcp = TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| Error::io("cannot connect", e))?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Duplex> = match &shared.tls {
        Some(connector) => Box::new(connector.connect(&url.host, tcp).await?),
        None => Box::new(tcp),
    };
    let mut conn = Connection {
        stream,
        buf: Vec::new(),
        start: 0,
        scratch: vec![0; 64 << 10].into_boxed_slice(),
        timeout: shared.timeout,
    };
    let mut hello = Vec::new();
    if let Some(password) = &url.password {
        match &url.username {
            Some(user) => {
                resp::command(&mut hello, &[b"AUTH", user.as_bytes(), password.as_bytes()])
            }
            None => resp::command(&mut hello, &[b"AUTH", password.as_bytes()]),
        }
    }
    if url.db != 0 {
        resp::command(&mut hello, &[b"SELECT", url.db.to_string().as_bytes()]);
    }
    // Answered even without AUTH or SELECT: proof that Redis is there, not just its port.
    resp::command(&mut hello, &[b"PING"]);
    let replies = 1 + usize::from(url.password.is_some()) + usize::from(url.db != 0);
    conn.write(&hello).await?;
    for _ in 0..replies {
        if let Value::Error(text) = conn.next().await? {
            let text = String::from_utf8_lossy(&text);
            return Err(Error::new(
                ErrorKind::Io,
                format!("refused the login: {text}"),
            ));
        }
    }
    Ok(conn)
}

impl Connection {
    /// Writes `bytes`; an error when Redis has not taken them within the timeout (it stopped
    /// reading: the connection is given up, so a half-written command does not matter).
    pub(super) async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let timeout = self.timeout;
        let written = async {
            let done = async {
                self.stream.write_all(bytes).await?;
                self.stream.flush().await
            };
            done.await.map_err(|e| Error::io("lost the connection", e))
        };
        let silence = async {
            Timer::after(timeout).await;
            let ms = timeout.as_millis();
            Err(Error::new(
                ErrorKind::Timeout,
                format!("stopped reading: what was sent was not taken within {ms} ms"),
            ))
        };
        smol::future::or(written, silence).await
    }

    /// The next complete reply already read, if any.
    pub(super) fn take(&mut self) -> Result<Option<Value>> {
        match resp::parse(&self.buf[self.start..])? {
            Some((value, used)) => {
                self.start += used;
                if self.start == self.buf.len() {
                    self.buf.clear();
                    self.start = 0;
                }
                Ok(Some(value))
            }
            None => Ok(None),
        }
    }

    /// Reads more bytes; an error when the connection ended. Safe to cancel.
    pub(super) async fn fill(&mut self) -> Result<()> {
        let n = match self.stream.read(&mut self.scratch).await {
            Ok(0) => return Err(Error::new(ErrorKind::Io, "closed the connection")),
            Ok(n) => n,
            Err(e) => return Err(Error::io("lost the connection", e)),
        };
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(&self.scratch[..n]);
        Ok(())
    }

    /// The next reply, reading as needed; an error when Redis stays silent for the timeout.
    pub(super) async fn next(&mut self) -> Result<Value> {
        let timeout = self.timeout;
        let reply = async {
            loop {
                if let Some(value) = self.take()? {
                    return Ok(value);
                }
                self.fill().await?;
            }
        };
        let silence = async {
            Timer::after(timeout).await;
            Err(no_answer(timeout, "to a command"))
        };
        smol::future::or(reply, silence).await
    }

    /// Sends a PING (outside subscribe mode) and waits for its answer.
    pub(super) async fn ping(&mut self) -> Result<()> {
        let mut ping = Vec::new();
        resp::command(&mut ping, &[b"PING"]);
        self.write(&ping).await?;
        match self.next().await {
            Ok(_) => Ok(()),
            Err(e) if e.kind == ErrorKind::Timeout => Err(no_answer(self.timeout, "to a PING")),
            Err(e) => Err(e),
        }
    }
}
