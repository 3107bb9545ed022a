//! TLS for `wss://` through native-tls (system OpenSSL on Linux, SChannel on Windows,
//! Security.framework on macOS).

use std::path::PathBuf;

use crate::error::{Error, LunaResult, Result};

/// How a client checks the server it connects to.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// Verify the certificate chain and the host name. Default true.
    pub verify: bool,
    /// Extra trusted CA certificates (PEM), besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) and its key (PEM, PKCS#8), for servers that ask for one.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

impl Default for ClientTls {
    fn default() -> Self {
        ClientTls {
            verify: true,
            ca_file: None,
            cert_file: None,
            key_file: None,
        }
    }
}

fn read(path: &PathBuf, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Error::new(
            LunaResult::Tls,
            format!("cannot read {what} '{}': {e}", path.display()),
        )
    })
}

#[cfg(feature = "tls")]
pub use enabled::*;

#[cfg(feature = "tls")]
mod enabled {
    use super::*;
    use crate::client::Failure;
    use smol::net::TcpStream;

    /// A configured client TLS connector.
    pub struct Connector(async_native_tls::TlsConnector);

    pub type ClientStream = async_native_tls::TlsStream<TcpStream>;

    pub fn connector(options: &ClientTls) -> Result<Connector> {
        let mut builder = async_native_tls::TlsConnector::new();
        if let Some(path) = &options.ca_file {
            let pem = read(path, "CA file")?;
            let certs = native_tls::Certificate::stack_from_pem(&pem).map_err(|e| {
                Error::new(
                    LunaResult::Tls,
                    format!("invalid CA file '{}': {e}", path.display()),
                )
            })?;
            if certs.is_empty() {
                let message = format!("CA file '{}' holds no certificate", path.display());
                return Err(Error::new(LunaResult::Tls, message));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        match (&options.cert_file, &options.key_file) {
            (Some(cert), Some(key)) => {
                let identity = native_tls::Identity::from_pkcs8(
                    &read(cert, "client certificate")?,
                    &read(key, "client key")?,
                )
                .map_err(|e| {
                    Error::new(
                        LunaResult::Tls,
                        format!("invalid client certificate or key: {e}"),
                    )
                })?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            _ => {
                return Err(Error::invalid(
                    "a client certificate needs both cert and key",
                ))
            }
        }
        if !options.verify {
            builder = builder
                .danger_accept_invalid_certs(true)
                .danger_accept_invalid_hostnames(true);
        }
        Ok(Connector(builder))
    }

    impl Connector {
        pub(crate) async fn connect(
            &self,
            host: &str,
            socket: TcpStream,
        ) -> std::result::Result<ClientStream, Failure> {
            self.0.connect(host, socket).await.map_err(|e| {
                Failure::new(
                    LunaResult::Tls,
                    format!("TLS handshake with '{host}' failed: {}", describe(&e)),
                )
            })
        }
    }

    /// Native-tls errors as one readable line (OpenSSL's include the verification reason).
    fn describe(err: &async_native_tls::Error) -> String {
        let text = err.to_string();
        let text = text.trim();
        if text.is_empty() {
            format!("{err:?}")
        } else {
            text.to_owned()
        }
    }
}

#[cfg(not(feature = "tls"))]
pub use disabled::*;

#[cfg(not(feature = "tls"))]
mod disabled {
    use super::*;
    use crate::client::Failure;
    use smol::net::TcpStream;

    /// Never built: `Client::connect` refuses `wss://` without TLS support.
    pub struct Connector;

    pub type ClientStream = TcpStream;

    pub fn connector(_: &ClientTls) -> Result<Connector> {
        Err(Error::new(
            LunaResult::Unsupported,
            "this build of luna has no TLS support",
        ))
    }

    impl Connector {
        pub(crate) async fn connect(
            &self,
            _: &str,
            _: TcpStream,
        ) -> std::result::Result<ClientStream, Failure> {
            Err(Failure::new(
                LunaResult::Unsupported,
                "this build of luna has no TLS support".into(),
            ))
        }
    }
}
