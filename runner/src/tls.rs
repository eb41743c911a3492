//! TLS for SIP listeners and the connections TwoLeg opens (rustls with the ring provider, TLS
//! 1.2 and 1.3 only): the server side of a TLS listener (with optional client certificate
//! verification: mutual TLS), the client side of connections opened from it (presenting the
//! same certificate, verifying the server against the listener's CA or the web PKI), and the
//! file checks `twoleg check` reports.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use twoleg_core::config::TlsPlan;

/// The server and client configs of one TLS listener.
#[derive(Clone)]
pub(crate) struct TlsContext {
    pub(crate) server: Arc<ServerConfig>,
    pub(crate) client: Arc<ClientConfig>,
}

/// TLS 1.2 and 1.3, nothing older.
const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A listener's files, relative ones taken from the directory of the config file that names
/// them (so a config exported next to its certificates runs from anywhere).
struct Files {
    certificate_chain: PathBuf,
    private_key: PathBuf,
    ca: Option<PathBuf>,
}

impl Files {
    fn new(plan: &TlsPlan, config_dir: &Path) -> Self {
        Self {
            certificate_chain: config_dir.join(&plan.certificate_chain),
            private_key: config_dir.join(&plan.private_key),
            ca: plan.ca.as_ref().map(|ca| config_dir.join(ca)),
        }
    }
}

/// Reads a listener's files (relative to `config_dir`) and builds its contexts; every error
/// names the file.
pub(crate) fn context(plan: &TlsPlan, config_dir: &Path) -> anyhow::Result<TlsContext> {
    let files = Files::new(plan, config_dir);
    let chain = certificates(&files.certificate_chain)?;
    let key = private_key(&files.private_key)?;
    let ca = files.ca.as_deref().map(roots).transpose()?;
    let server = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .context("TLS protocol versions")?;
    let server = match (&ca, plan.require_client_certificate) {
        (Some(ca), true) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(ca.clone()), provider())
                    .build()
                    .context("building the client certificate verifier")?;
            server.with_client_cert_verifier(verifier)
        }
        _ => server.with_no_client_auth(),
    }
    .with_single_cert(chain.clone(), key.clone_key())
    .with_context(|| {
        format!(
            "{} and {} do not make a certificate and its key",
            files.certificate_chain.display(),
            files.private_key.display()
        )
    })?;
    let roots = match ca {
        Some(ca) => ca,
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    let client = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .context("the listener's certificate as a client certificate")?;
    Ok(TlsContext {
        server: Arc::new(server),
        client: Arc::new(client),
    })
}

fn certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let name = path.display();
    let chain = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("{name}: cannot read"))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{name}: not a PEM certificate file"))?;
    if chain.is_empty() {
        bail!("{name}: holds no certificate");
    }
    Ok(chain)
}

fn private_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("{}: no readable private key", path.display()))
}

fn roots(path: &Path) -> anyhow::Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    for certificate in certificates(path)? {
        store.add(certificate).with_context(|| {
            format!(
                "{}: a certificate rustls cannot use as a CA",
                path.display()
            )
        })?;
    }
    Ok(store)
}

/// Every problem with a listener's files, as `twoleg check` reports them: unreadable, not PEM,
/// a key that does not match the certificate, a certificate expired or not yet valid.
pub(crate) fn check(plan: &TlsPlan, config_dir: &Path) -> Vec<String> {
    let files = Files::new(plan, config_dir);
    let mut problems = Vec::new();
    match certificates(&files.certificate_chain) {
        Ok(chain) => {
            for (index, certificate) in chain.iter().enumerate() {
                if let Some(problem) = validity(certificate) {
                    problems.push(format!(
                        "{}: certificate {index} {problem}",
                        files.certificate_chain.display()
                    ));
                }
            }
        }
        Err(e) => problems.push(format!("{e:#}")),
    }
    if let Err(e) = private_key(&files.private_key) {
        problems.push(format!("{e:#}"));
    }
    if let Some(ca) = &files.ca
        && let Err(e) = roots(ca)
    {
        problems.push(format!("{e:#}"));
    }
    if problems.is_empty()
        && let Err(e) = context(plan, config_dir)
    {
        problems.push(format!("{e:#}"));
    }
    problems
}

/// Why a certificate is not valid now, if it is not.
fn validity(certificate: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = match x509_parser::parse_x509_certificate(certificate) {
        Ok(parsed) => parsed,
        Err(e) => return Some(format!("cannot be read: {e}")),
    };
    let validity = parsed.validity();
    let now = x509_parser::time::ASN1Time::now();
    if now > validity.not_after {
        return Some(format!("expired on {}", validity.not_after));
    }
    if now < validity.not_before {
        return Some(format!("is not valid before {}", validity.not_before));
    }
    None
}

/// The subject of a peer's certificate, for the admin API.
pub(crate) fn subject(certificate: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate).ok()?;
    Some(parsed.subject().to_string())
}
