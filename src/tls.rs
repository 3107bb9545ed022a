//! TLS for `wss://` through native-tls (system OpenSSL on Linux, SChannel on Windows,
//! Security.framework on macOS).

#[cfg(feature = "tls")]
use std::path::PathBuf;

use crate::config::{ClientTls, ServerIdentity};
use crate::error::{Error, ErrorKind, Result};

#[cfg(feature = "tls")]
pub(crate) use enabled::*;

#[cfg(feature = "tls")]
mod enabled {
    use std::collections::HashMap;
    use std::sync::LazyLock;

    use parking_lot::Mutex;
    use smol::net::TcpStream;

    use super::*;
    use crate::tls_stream::{handshake, TlsStream};

    fn tls_error(message: String) -> Error {
        Error::new(ErrorKind::Tls, message)
    }

    fn read(path: &PathBuf, what: &str) -> Result<Vec<u8>> {
        std::fs::read(path).map_err(|e| {
            Error::new(
                ErrorKind::Tls,
                format!("cannot read {what} '{}': {e}", path.display()),
            )
        })
    }

    /// A configured client TLS connector.
    pub(crate) struct Connector(native_tls::TlsConnector);

    pub(crate) type ClientStream = TlsStream<TcpStream>;

    /// A connector for `options`. Building one loads the system's trust store, which takes
    /// tens of milliseconds, so connectors are built once per set of options and file
    /// versions, on the calling thread, never on the I/O threads.
    pub(crate) fn connector(options: &ClientTls) -> Result<Connector> {
        static CACHE: LazyLock<Mutex<HashMap<String, native_tls::TlsConnector>>> =
            LazyLock::new(Default::default);
        let key = cache_key(options);
        if let Some(ready) = CACHE.lock().get(&key) {
            return Ok(Connector(ready.clone()));
        }
        let built = build_connector(options)?;
        CACHE.lock().insert(key, built.clone());
        Ok(Connector(built))
    }

    /// The options and the modification times of the files they name.
    fn cache_key(options: &ClientTls) -> String {
        let stamp = |p: &Option<PathBuf>| {
            p.as_ref().map(|p| {
                let modified = std::fs::metadata(p).and_then(|m| m.modified()).ok();
                format!("{}@{modified:?}", p.display())
            })
        };
        format!(
            "{}|{:?}|{:?}|{:?}",
            options.verify,
            stamp(&options.ca_file),
            stamp(&options.cert_file),
            stamp(&options.key_file)
        )
    }

    fn build_connector(options: &ClientTls) -> Result<native_tls::TlsConnector> {
        let mut builder = native_tls::TlsConnector::builder();
        if let Some(path) = &options.ca_file {
            let pem = read(path, "CA file")?;
            let certs = native_tls::Certificate::stack_from_pem(&pem)
                .map_err(|e| tls_error(format!("invalid CA file '{}': {e}", path.display())))?;
            if certs.is_empty() {
                let message = format!("CA file '{}' holds no certificate", path.display());
                return Err(tls_error(message));
            }
            for cert in certs {
                builder.add_root_certificate(cert);
            }
        }
        match (&options.cert_file, &options.key_file) {
            (Some(cert), Some(key)) => {
                let identity = native_tls::Identity::from_pkcs8(
                    &read(cert, "client certificate")?,
                    &read(key, "client key")?,
                )
                .map_err(|e| tls_error(format!("invalid client certificate or key: {e}")))?;
                builder.identity(identity);
            }
            (None, None) => {}
            _ => {
                return Err(Error::invalid(
                    "a client certificate needs both cert and key",
                ))
            }
        }
        if !options.verify {
            builder.danger_accept_invalid_certs(true);
            builder.danger_accept_invalid_hostnames(true);
        }
        builder
            .build()
            .map_err(|e| tls_error(format!("cannot set up TLS: {e}")))
    }

    impl Connector {
        pub(crate) async fn connect(&self, host: &str, socket: TcpStream) -> Result<ClientStream> {
            let connector = &self.0;
            let connected = handshake(socket, |s| connector.connect(host, s)).await;
            connected.map_err(|e| {
                Error::new(
                    ErrorKind::Tls,
                    format!("TLS handshake with '{host}' failed: {}", describe(&e)),
                )
            })
        }
    }

    /// A configured server TLS acceptor (cheap to clone: the context is shared).
    #[derive(Clone)]
    pub(crate) struct Acceptor(native_tls::TlsAcceptor);

    pub(crate) type ServerStream = TlsStream<TcpStream>;

    /// Loads and checks the server's certificate and key.
    pub(crate) fn acceptor(identity: &ServerIdentity) -> Result<Acceptor> {
        let cert = read(&identity.cert_file, "certificate file")?;
        let key = read(&identity.key_file, "key file")?;
        let key = pkcs8_key(identity, &cert, &key)?;
        let id = native_tls::Identity::from_pkcs8(&cert, &key).map_err(|e| {
            tls_error(format!(
                "cannot use certificate '{}' with key '{}': {e}",
                identity.cert_file.display(),
                identity.key_file.display()
            ))
        })?;
        let acceptor = native_tls::TlsAcceptor::new(id)
            .map_err(|e| tls_error(format!("cannot set up TLS: {e}")))?;
        Ok(Acceptor(acceptor))
    }

    impl Acceptor {
        pub async fn accept(&self, socket: TcpStream) -> std::result::Result<ServerStream, String> {
            let acceptor = &self.0;
            handshake(socket, |s| acceptor.accept(s))
                .await
                .map_err(|e| describe(&e))
        }
    }

    /// Reads any PEM key form (PKCS#8, PKCS#1, SEC1, encrypted) and checks it against the
    /// certificate and the certificate's dates, returning the key as PKCS#8 PEM.
    #[cfg(not(any(target_os = "windows", target_vendor = "apple")))]
    fn pkcs8_key(identity: &ServerIdentity, cert_pem: &[u8], key_pem: &[u8]) -> Result<Vec<u8>> {
        use openssl::asn1::Asn1Time;
        use openssl::pkey::PKey;
        use openssl::x509::X509;
        let key_path = identity.key_file.display();
        let cert_path = identity.cert_file.display();
        let key = match &identity.password {
            Some(pw) => PKey::private_key_from_pem_passphrase(key_pem, pw.as_bytes())
                .map_err(|_| tls_error(format!("cannot decrypt key '{key_path}': wrong password or not a PEM private key")))?,
            // A callback that supplies no password keeps OpenSSL from prompting on the terminal.
            None => PKey::private_key_from_pem_callback(key_pem, |_| Ok(0)).map_err(|_| {
                tls_error(format!("cannot read key '{key_path}': not a PEM private key, or encrypted and no password given"))
            })?,
        };
        let leaf = X509::from_pem(cert_pem).map_err(|_| {
            tls_error(format!(
                "cannot read certificate '{cert_path}': not a PEM certificate"
            ))
        })?;
        let public = leaf
            .public_key()
            .map_err(|e| tls_error(format!("certificate '{cert_path}': {e}")))?;
        if !public.public_eq(&key) {
            return Err(tls_error(format!(
                "key '{key_path}' does not match certificate '{cert_path}'"
            )));
        }
        let now = Asn1Time::days_from_now(0).map_err(|e| tls_error(e.to_string()))?;
        if leaf.not_after() < now {
            return Err(tls_error(format!(
                "certificate '{cert_path}' expired on {}",
                leaf.not_after()
            )));
        }
        if leaf.not_before() > now {
            return Err(tls_error(format!(
                "certificate '{cert_path}' is not valid before {}",
                leaf.not_before()
            )));
        }
        key.private_key_to_pem_pkcs8()
            .map_err(|e| tls_error(format!("key '{key_path}': {e}")))
    }

    /// Elsewhere the platform's TLS library reads the key: unencrypted PKCS#8 only.
    #[cfg(any(target_os = "windows", target_vendor = "apple"))]
    fn pkcs8_key(identity: &ServerIdentity, _: &[u8], key_pem: &[u8]) -> Result<Vec<u8>> {
        if identity.password.is_some() {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "encrypted keys are supported where luna uses OpenSSL; decrypt the key to PKCS#8",
            ));
        }
        Ok(key_pem.to_vec())
    }

    /// Native-tls errors as one readable line (OpenSSL's include the verification reason).
    fn describe(err: &native_tls::Error) -> String {
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
pub(crate) use disabled::*;

#[cfg(not(feature = "tls"))]
mod disabled {
    use super::*;
    use smol::net::TcpStream;

    /// Never built: `Client::connect` refuses `wss://` without TLS support.
    pub(crate) struct Connector;

    /// Never built: `acceptor` fails, so a server asked for TLS does not start.
    #[derive(Clone)]
    pub(crate) struct Acceptor;

    pub(crate) fn acceptor(_: &ServerIdentity) -> Result<Acceptor> {
        Err(Error::new(
            ErrorKind::Unsupported,
            "this libluna was built without TLS support (no wss://)",
        ))
    }

    impl Acceptor {
        pub async fn accept(&self, socket: TcpStream) -> std::result::Result<TcpStream, String> {
            Ok(socket)
        }
    }

    pub(crate) type ClientStream = TcpStream;

    pub(crate) fn connector(_: &ClientTls) -> Result<Connector> {
        Err(Error::new(
            ErrorKind::Unsupported,
            "this libluna was built without TLS support (no wss://)",
        ))
    }

    impl Connector {
        pub(crate) async fn connect(&self, _: &str, _: TcpStream) -> Result<ClientStream> {
            Err(Error::new(
                ErrorKind::Unsupported,
                "this libluna was built without TLS support (no wss://)",
            ))
        }
    }
}
