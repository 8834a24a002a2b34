//! Opening PostgreSQL connections, over TLS as the URL's `sslmode` and `sslrootcert` ask
//! (rustls with the ring provider; see [`crate::url::PgTls`]).
//!
//! Every PostgreSQL connection the store opens (the pool's, migrations', the change
//! listener's, the original's import source) goes through [`PgConnector::open`], which
//! also picks the host that takes writes when the URL names several (a primary and its
//! standbys, `target_session_attrs=read-write`).

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use diesel_async::AsyncPgConnection;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};
use tokio_postgres::Socket;

use crate::error::StoreError;
use crate::url::{PostgresUrl, RootCerts, SslMode, Verify};

/// Opens connections to one PostgreSQL database with its TLS settings. The CA
/// certificates are read once, when it is made.
#[derive(Clone)]
pub struct PgConnector {
    config: tokio_postgres::Config,
    /// With several hosts, each one's own configuration, in the URL's order: tried one
    /// at a time, each within its share of the time (see [`PgConnector::open`]).
    hosts: Arc<[(String, tokio_postgres::Config)]>,
    /// The host that took the last connection: tried first next time, so that after a
    /// failover new connections do not wait on the old primary first.
    preferred: Arc<AtomicUsize>,
    tls: MakeRustls,
    /// Where the trusted CAs come from, for error messages.
    roots: Option<String>,
}

/// The least time one host of several gets to take a connection (TCP, TLS,
/// authentication and the read-write check), when the whole timeout allows it.
const MIN_HOST_SHARE: Duration = Duration::from_secs(1);

impl std::fmt::Debug for PgConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConnector")
            .field("ssl_mode", &self.config.get_ssl_mode())
            .field("roots", &self.roots)
            .finish_non_exhaustive()
    }
}

impl PgConnector {
    /// Reads the URL's TLS settings and CA certificates. A CA file that is missing,
    /// unreadable or holds no certificate is an error naming the file.
    pub fn new(url: &PostgresUrl) -> Result<Self, StoreError> {
        let ssl_mode = match url.tls().mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        };
        let configure = |driver_url: &str| {
            let mut config: tokio_postgres::Config = driver_url.parse().map_err(|e| {
                StoreError::InvalidUrl(format!(
                    "{e} in {}",
                    federation_domain::redact::url(url.as_str())
                ))
            })?;
            config.ssl_mode(ssl_mode);
            Ok::<_, StoreError>(config)
        };
        let config = configure(url.driver_url())?;
        let hosts = url
            .driver_url_per_host()
            .into_iter()
            .map(|(host, driver_url)| Ok((host, configure(&driver_url)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (verifier, roots): (Arc<dyn ServerCertVerifier>, _) = match url.tls().verify() {
            Verify::Nothing => (Arc::new(EncryptOnly(provider.clone())), None),
            Verify::Chain(roots) => {
                let webpki = webpki_verifier(&roots, &provider)?;
                (Arc::new(ChainOnly(webpki)), Some(describe_roots(&roots)))
            }
            Verify::ChainAndName(roots) => (
                webpki_verifier(&roots, &provider)? as Arc<dyn ServerCertVerifier>,
                Some(describe_roots(&roots)),
            ),
        };
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Connect(format!("TLS set-up: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        // What PostgreSQL 17+ expects; older servers ignore it.
        tls.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(PgConnector {
            config,
            hosts: hosts.into(),
            preferred: Arc::default(),
            tls: MakeRustls(Arc::new(tls)),
            roots,
        })
    }

    /// Opens a connection: TCP, TLS and authentication within `timeout` together.
    /// Notifications (`LISTEN`) reach the connection's `notifications_stream`.
    ///
    /// With several hosts, they are tried one at a time, the one that took the last
    /// connection first, then the others in the URL's order, each within an equal share
    /// of `timeout` (at least [`MIN_HOST_SHARE`] while time is left): a host that
    /// hangs (a frozen or unreachable old primary) cannot use up the time of the
    /// others, as it would with the driver's own loop, whose `connect_timeout` bounds
    /// only the TCP connect. `target_session_attrs=read-write` makes each attempt
    /// refuse a server that does not take writes (a standby).
    pub async fn open(&self, timeout: Duration) -> Result<AsyncPgConnection, StoreError> {
        if self.hosts.is_empty() {
            return tokio::time::timeout(timeout, self.open_with(&self.config))
                .await
                .map_err(|_| StoreError::Timeout(timeout))?;
        }
        let started = tokio::time::Instant::now();
        let n = self.hosts.len();
        let share = (timeout / u32::try_from(n).unwrap_or(u32::MAX)).max(MIN_HOST_SHARE);
        let first = self.preferred.load(Ordering::Relaxed) % n;
        let mut failures = Vec::with_capacity(n);
        for i in (first..n).chain(0..first) {
            let Some((host, config)) = self.hosts.get(i) else {
                continue;
            };
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                failures.push(format!("{host}: not tried, no time left"));
                continue;
            }
            let within = share.min(left);
            match tokio::time::timeout(within, self.open_with(config)).await {
                Ok(Ok(conn)) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(conn);
                }
                Ok(Err(StoreError::Connect(why))) => failures.push(format!("{host}: {why}")),
                Ok(Err(e)) => failures.push(format!("{host}: {e}")),
                Err(_) => failures.push(format!("{host}: no answer within {within:?}")),
            }
        }
        Err(StoreError::Connect(format!(
            "no host took a read-write connection ({})",
            failures.join("; ")
        )))
    }

    async fn open_with(
        &self,
        config: &tokio_postgres::Config,
    ) -> Result<AsyncPgConnection, StoreError> {
        let (client, connection) = config
            .connect(self.tls.clone())
            .await
            .map_err(|e| StoreError::Connect(self.describe(&e)))?;
        AsyncPgConnection::try_from_client_and_connection(client, connection)
            .await
            .map_err(|e| StoreError::Connect(e.to_string()))
    }

    /// A connection error with its causes, the TLS ones said plainly.
    fn describe(&self, e: &tokio_postgres::Error) -> String {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            if let Some(tls) = as_rustls(cause) {
                let roots = self.roots.as_deref().unwrap_or("the trusted CAs");
                let plain = match tls {
                    rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                        format!(
                            "the server's certificate is not trusted: no CA in {roots} signed it"
                        )
                    }
                    rustls::Error::InvalidCertificate(
                        c @ (CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }),
                    ) => format!(
                        "name mismatch: the server's certificate does not name the host \
                         connected to ({c}); connect by a name it carries, or use \
                         sslmode=verify-ca to check the chain only"
                    ),
                    other => format!("TLS: {other}"),
                };
                text.push_str(": ");
                text.push_str(&plain);
                return text;
            }
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}

/// The rustls error behind `e`, directly or inside an I/O error.
fn as_rustls<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    e.downcast_ref::<rustls::Error>().or_else(|| {
        e.downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    })
}

fn describe_roots(roots: &RootCerts) -> String {
    match roots {
        RootCerts::System => "the system's trust store".to_owned(),
        RootCerts::File(path) => format!("sslrootcert={}", path.display()),
    }
}

fn webpki_verifier(
    roots: &RootCerts,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, StoreError> {
    let mut store = RootCertStore::empty();
    match roots {
        RootCerts::File(path) => {
            for cert in read_pem_certs(path)? {
                store.add(cert).map_err(|e| {
                    StoreError::Connect(format!(
                        "sslrootcert {}: a certificate is not usable as a CA: {e}",
                        path.display()
                    ))
                })?;
            }
        }
        RootCerts::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(StoreError::Connect(format!(
                    "sslrootcert: no CA certificates found in the system's trust store{}; \
                     name a PEM file with sslrootcert=PATH",
                    found
                        .errors
                        .first()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                )));
            }
        }
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
        .build()
        .map_err(|e| StoreError::Connect(format!("TLS certificate verifier: {e}")))
}

/// The certificates of a PEM file; missing, unreadable or empty is an error naming it.
fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, StoreError> {
    let bytes = std::fs::read(path).map_err(|source| StoreError::Io {
        context: format!("reading sslrootcert {}", path.display()),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            StoreError::Connect(format!(
                "sslrootcert {}: not valid PEM: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(StoreError::Connect(format!(
            "sslrootcert {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// `require`/`prefer` without a CA: encrypt, accept any certificate, but still check that
/// the server holds the key of the certificate it showed.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted CA; the host name is not checked.
/// WebPKI checks the chain before the name, so a name mismatch means the chain passed.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// tokio-postgres' TLS hook, on tokio-rustls.
#[derive(Clone)]
struct MakeRustls(Arc<rustls::ClientConfig>);

impl MakeTlsConnect<Socket> for MakeRustls {
    type Stream = RustlsStream;
    type TlsConnect = RustlsConnect;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, Self::Error> {
        Ok(RustlsConnect {
            connector: tokio_rustls::TlsConnector::from(self.0.clone()),
            name: ServerName::try_from(domain.to_owned())?,
        })
    }
}

struct RustlsConnect {
    connector: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
}

impl TlsConnect<Socket> for RustlsConnect {
    type Stream = RustlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        Box::pin(async move {
            self.connector
                .connect(self.name, stream)
                .await
                .map(|s| RustlsStream(Box::new(s)))
        })
    }
}

/// An encrypted connection to the server.
struct RustlsStream(Box<tokio_rustls::client::TlsStream<Socket>>);

impl tokio_postgres::tls::TlsStream for RustlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM then runs without channel binding, as with libpq's
        // channel_binding=prefer against a server that does not offer it.
        ChannelBinding::none()
    }
}

impl AsyncRead for RustlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}
