//! Objects tests create in bulk on the cluster (more than one page of a list).

use anyhow::{Context, Result};

use crate::cluster::TestCluster;

impl TestCluster {
    /// `count` headless Services `s0`, `s1`, ... in `ns` (headless: no cluster IP to allocate,
    /// so any number fits), created with one `kubectl create` of a List: with `count` above
    /// 500 their list is more than one page.
    pub fn create_headless_services(&self, ns: &str, count: usize) -> Result<()> {
        let items: Vec<serde_json::Value> = (0..count)
            .map(|i| {
                serde_json::json!({
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": format!("s{i}"), "namespace": ns},
                    "spec": {"clusterIP": "None", "ports": [{"port": 80}]},
                })
            })
            .collect();
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
        let mut child = self
            .kubectl()
            .args(["create", "-f", "-", "-o", "name"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("starting kubectl create")?;
        if let Some(mut stdin) = child.stdin.take() {
            std::io::Write::write_all(&mut stdin, list.to_string().as_bytes())
                .context("writing the Services to kubectl")?;
        }
        let output = child.wait_with_output().context("running kubectl create")?;
        anyhow::ensure!(
            output.status.success(),
            "kubectl create of {count} Services in {ns}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }
}
