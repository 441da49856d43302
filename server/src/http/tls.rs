//! TLS: rustls 0.23 with the `ring` provider (installed explicitly, so that rustls and
//! rcgen never disagree), TLS 1.3 and 1.2 only, ALPN for HTTP/2 and HTTP/1.1.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// A certificate chain and its key.
pub struct Identity {
    /// The chain, leaf first.
    pub certs: Vec<CertificateDer<'static>>,
    /// The private key.
    pub key: PrivateKeyDer<'static>,
    /// The leaf certificate as PEM (written by `--write-dev-cert`; never the key).
    pub cert_pem: String,
}

/// Installs the ring provider as the process default (idempotent).
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Reads a PEM certificate chain and key.
pub fn load_identity(cert: &Path, key: &Path) -> Result<Identity, String> {
    let cert_pem = std::fs::read_to_string(cert)
        .map_err(|e| format!("{}: cannot read certificate: {e}", cert.display()))?;
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: bad PEM certificate: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in the file", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("{}: bad PEM private key: {e}", key.display()))?;
    Ok(Identity {
        certs,
        key,
        cert_pem,
    })
}

/// An ephemeral self-signed certificate for `localhost` and `127.0.0.1`.
pub fn self_signed() -> Result<Identity, String> {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let certified = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("cannot generate a certificate: {e}"))?;
    let der = certified.cert.der().clone();
    let key = PrivateKeyDer::try_from(certified.signing_key.serialize_der())
        .map_err(|e| format!("cannot use the generated key: {e}"))?;
    Ok(Identity {
        certs: vec![der],
        key,
        cert_pem: certified.cert.pem(),
    })
}

/// The SHA-256 fingerprint of the leaf certificate, as `AB:CD:...`.
pub fn fingerprint(identity: &Identity) -> String {
    let digest = identity
        .certs
        .first()
        .map(|c| Sha256::digest(c.as_ref()))
        .unwrap_or_default();
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The rustls server configuration.
pub fn server_config(identity: Identity) -> Result<ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_no_client_auth()
        .with_single_cert(identity.certs, identity.key)
        .map_err(|e| format!("TLS certificate: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
