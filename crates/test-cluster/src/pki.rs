//! A private certificate authority for one cluster: it signs the apiserver's
//! serving certificate and the injector webhook's, so one CA bundle lets both
//! the clients and the apiserver (calling the webhooks) verify the other side.

use std::net::{IpAddr, Ipv4Addr};

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// A certificate and its private key, both PEM.
#[derive(Clone)]
pub struct ServingCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
    /// PKCS#8.
    pub key_der: Vec<u8>,
}

pub struct CertificateAuthority {
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl CertificateAuthority {
    pub fn generate(common_name: &str) -> Result<Self> {
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().context("generating the CA key")?;
        let cert = params.self_signed(&key).context("self-signing the CA")?;
        Ok(Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// A serving certificate for loopback (`127.0.0.1`, `localhost`) plus the
    /// extra DNS names given, so it can also match in-cluster style names.
    pub fn issue_loopback_serving_cert(
        &self,
        common_name: &str,
        extra_dns_names: &[&str],
    ) -> Result<ServingCert> {
        let mut dns_names = vec!["localhost".to_owned()];
        dns_names.extend(extra_dns_names.iter().map(|name| (*name).to_owned()));
        let mut params =
            CertificateParams::new(dns_names).context("building serving cert parameters")?;
        params.distinguished_name = distinguished_name(common_name);
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().context("generating a serving key")?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .context("signing a serving cert")?;
        Ok(ServingCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        })
    }
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}
