//! Certificates made at test time (rcgen): a CA, and leaf certificates it signs for IP
//! addresses and names, PEM files in a test's directory.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType, date_time_ymd,
};

/// A certificate authority.
pub struct Ca {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A leaf certificate and its key, written to files.
pub struct Leaf {
    pub certificate: PathBuf,
    pub key: PathBuf,
    /// Certificate and key in one file (what baresip reads).
    pub combined: PathBuf,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let certificate = params.self_signed(&key).unwrap();
        Self {
            pem: certificate.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// Writes the CA certificate to `dir/<file>`.
    pub fn write(&self, dir: &Path, file: &str) -> PathBuf {
        let path = dir.join(file);
        std::fs::write(&path, &self.pem).unwrap();
        path
    }

    /// A leaf for `common_name`, valid for these IP addresses (or DNS names), written as `dir/<stem>.pem`,
    /// `dir/<stem>.key` and `dir/<stem>.both.pem`; `expired` makes it valid only in 2020.
    pub fn leaf(
        &self,
        dir: &Path,
        stem: &str,
        common_name: &str,
        ips: &[&str],
        expired: bool,
    ) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.subject_alt_names = ips
            .iter()
            .map(|name| match name.parse() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*name).try_into().unwrap()),
            })
            .collect();
        if expired {
            params.not_before = date_time_ymd(2020, 1, 1);
            params.not_after = date_time_ymd(2020, 12, 31);
        }
        let key = KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        let leaf = Leaf {
            certificate: dir.join(format!("{stem}.pem")),
            key: dir.join(format!("{stem}.key")),
            combined: dir.join(format!("{stem}.both.pem")),
        };
        std::fs::write(&leaf.certificate, certificate.pem()).unwrap();
        std::fs::write(&leaf.key, key.serialize_pem()).unwrap();
        std::fs::write(
            &leaf.combined,
            format!("{}{}", certificate.pem(), key.serialize_pem()),
        )
        .unwrap();
        leaf
    }
}
