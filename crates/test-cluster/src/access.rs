//! Kubeconfig files and `kube::Client`s for an apiserver (or a fault proxy in
//! front of it) and a bearer token.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

/// Where a client connects: an `https://` apiserver with its CA, or an
/// `http://` fault proxy (no CA).
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub server_url: String,
    pub ca_pem: Option<String>,
}

pub fn write_kubeconfig(
    path: &Path,
    endpoint: &Endpoint,
    user: &str,
    token: &str,
    namespace: &str,
) -> Result<()> {
    let mut cluster = json!({ "server": endpoint.server_url });
    if let Some(ca) = &endpoint.ca_pem {
        cluster["certificate-authority-data"] = json!(STANDARD.encode(ca));
    }
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": "test-cluster", "cluster": cluster }],
        "users": [{ "name": user, "user": { "token": token } }],
        "contexts": [{
            "name": "test-cluster",
            "context": { "cluster": "test-cluster", "user": user, "namespace": namespace }
        }],
        "current-context": "test-cluster",
        "preferences": {}
    });
    let yaml = serde_saphyr::to_string(&config).context("serialising a kubeconfig")?;
    write_private_file(path, yaml.as_bytes())
}

/// Writes a file only its owner can read (kubeconfigs and tokens are secrets).
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents)?;
    Ok(())
}

/// A client for `endpoint` authenticating with the token in `token_file`.
/// Must be called inside a Tokio runtime, and the client only works while that
/// runtime runs (kube spawns its request buffer onto it).
pub fn make_client(endpoint: &Endpoint, token_file: &Path) -> Result<kube::Client> {
    if tokio::runtime::Handle::try_current().is_err() {
        bail!("a kube::Client must be created inside a Tokio runtime (use #[tokio::test])");
    }
    let url = endpoint
        .server_url
        .parse()
        .with_context(|| format!("parsing server URL {}", endpoint.server_url))?;
    let mut config = kube::Config::new(url);
    if let Some(ca) = &endpoint.ca_pem {
        config.root_cert = Some(pem_certificates(ca)?);
    }
    config.auth_info.token_file = Some(token_file.display().to_string());
    config.default_namespace = "default".to_owned();
    config.connect_timeout = Some(Duration::from_secs(10));
    kube::Client::try_from(config).context("building a kube client")
}

/// DER bytes of every certificate in a PEM bundle.
pub fn pem_certificates(pem: &str) -> Result<Vec<Vec<u8>>> {
    let mut certificates = Vec::new();
    let mut body: Option<String> = None;
    for line in pem.lines() {
        let line = line.trim();
        if line == "-----BEGIN CERTIFICATE-----" {
            body = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            let encoded = body.take().unwrap_or_default();
            certificates.push(
                STANDARD
                    .decode(encoded.as_bytes())
                    .context("decoding a PEM certificate")?,
            );
        } else if let Some(body) = body.as_mut() {
            body.push_str(line);
        }
    }
    if certificates.is_empty() {
        bail!("no certificate in PEM bundle");
    }
    Ok(certificates)
}

/// A random lowercase hex string from the kernel's CSPRNG.
pub fn random_hex(bytes: usize) -> Result<String> {
    let mut buffer = vec![0_u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut buffer))
        .context("reading /dev/urandom")?;
    Ok(buffer.iter().map(|byte| format!("{byte:02x}")).collect())
}
