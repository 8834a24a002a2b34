//! Certificates for TLS tests, made on the spot with `rcgen`: a CA, server certificates
//! it signs, and an unrelated second CA.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A server certificate and its private key, as PEM files.
#[derive(Debug, Clone)]
pub struct ServerCert {
    /// The certificate (PEM).
    pub cert_file: PathBuf,
    /// Its private key (PEM, PKCS#8).
    pub key_file: PathBuf,
    /// The certificate's PEM text.
    pub cert_pem: String,
    /// The key's PEM text.
    pub key_pem: String,
}

/// A small public-key infrastructure in a temporary folder (removed on drop):
///
/// * `ca_file`: the CA that signs both server certificates;
/// * `other_ca_file`: an unrelated CA that signs nothing here;
/// * `localhost`: a server certificate for the name `localhost` only (so a client that
///   connects to `127.0.0.1` and checks the name refuses it);
/// * `loopback`: a server certificate for `localhost` and `127.0.0.1`.
#[derive(Debug)]
pub struct TestPki {
    dir: PathBuf,
    /// The signing CA's certificate (PEM).
    pub ca_file: PathBuf,
    /// An unrelated CA's certificate (PEM).
    pub other_ca_file: PathBuf,
    /// Server certificate for `localhost` only.
    pub localhost: ServerCert,
    /// Server certificate for `localhost` and `127.0.0.1`.
    pub loopback: ServerCert,
}

impl TestPki {
    /// Makes the certificates and writes them into a new temporary folder.
    pub fn new() -> Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        Self::new_in(std::env::temp_dir().join(format!(
            "fed-pki-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )))
    }

    /// Makes the certificates and writes them into `dir` (created; removed on drop).
    pub fn new_in(dir: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let (ca_pem, issuer) = make_ca("federation test CA")?;
        let (other_pem, _) = make_ca("unrelated test CA")?;
        let ca_file = write(&dir, "ca.pem", &ca_pem)?;
        let other_ca_file = write(&dir, "other-ca.pem", &other_pem)?;
        let localhost = make_server(&dir, "localhost", &["localhost"], &issuer)?;
        let loopback = make_server(&dir, "loopback", &["localhost", "127.0.0.1"], &issuer)?;
        Ok(TestPki {
            dir,
            ca_file,
            other_ca_file,
            localhost,
            loopback,
        })
    }

    /// The folder holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn make_ca(name: &str) -> Result<(String, Issuer<'static, KeyPair>)> {
    let mut params = CertificateParams::new(Vec::<String>::new()).context("CA parameters")?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().context("CA key")?;
    let cert = params.self_signed(&key).context("signing the CA")?;
    Ok((cert.pem(), Issuer::new(params, key)))
}

fn make_server(
    dir: &Path,
    stem: &str,
    names: &[&str],
    issuer: &Issuer<'static, KeyPair>,
) -> Result<ServerCert> {
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .context("server certificate parameters")?;
    params
        .distinguished_name
        .push(DnType::CommonName, names.first().copied().unwrap_or(stem));
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().context("server key")?;
    let cert = params
        .signed_by(&key, issuer)
        .context("signing the server certificate")?;
    let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
    Ok(ServerCert {
        cert_file: write(dir, &format!("{stem}.crt"), &cert_pem)?,
        key_file: write(dir, &format!("{stem}.key"), &key_pem)?,
        cert_pem,
        key_pem,
    })
}

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
