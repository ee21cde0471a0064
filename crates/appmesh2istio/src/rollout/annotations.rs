//! The App Mesh pod-template annotations that have an Istio equivalent, translated in the same
//! patch as the restart (`../shared/reference/appmesh-crds.md` §9.2 and item 15,
//! `istio-mapping.md`), and the ones that have none, reported with AMI4101.
//!
//! App Mesh applied two values even when no annotation said so: outbound port 22 and the
//! instance metadata address 169.254.169.254 bypassed Envoy. A workload that ran with App
//! Mesh's sidecar relied on them (SSH, IMDS credentials), so they are written out for Istio too.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::precheck::labels::APPMESH_INJECT;

/// Istio's pod-template keys this module writes.
pub const EXCLUDE_OUTBOUND_PORTS: &str = "traffic.sidecar.istio.io/excludeOutboundPorts";
pub const EXCLUDE_OUTBOUND_IP_RANGES: &str = "traffic.sidecar.istio.io/excludeOutboundIPRanges";
pub const INCLUDE_INBOUND_PORTS: &str = "traffic.sidecar.istio.io/includeInboundPorts";
pub const PROXY_CONFIG: &str = "proxy.istio.io/config";
pub const ISTIO_INJECT_LABEL: &str = "sidecar.istio.io/inject";

/// App Mesh's defaults when no annotation is given (controller flags `--ignored-ips`, and the
/// injector's default egress-ignored port).
pub const APPMESH_DEFAULT_IGNORED_PORTS: &str = "22";
pub const APPMESH_DEFAULT_IGNORED_IPS: &str = "169.254.169.254";

/// What a workload's pod template becomes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Translation {
    /// Annotations to set (only keys the template does not already set itself).
    pub annotations: BTreeMap<String, String>,
    /// Labels to set.
    pub labels: BTreeMap<String, String>,
    /// `egressIgnoredPorts → excludeOutboundPorts=22` lines for the plan.
    pub notes: Vec<String>,
    /// App Mesh annotations without an Istio equivalent: `key (why)`.
    pub unmapped: Vec<String>,
    /// The pod template opted out of App Mesh (`sidecarInjectorWebhook: disabled`): the
    /// translation is an Istio opt-out, so the workload stays out of the mesh.
    pub opted_out: bool,
}

/// What the live pods showed about App Mesh's injection (needed for its invisible defaults).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppMeshPods {
    /// The pods carry App Mesh's Envoy: its defaults applied to them.
    pub injected: bool,
    /// Envoy was the first container with a postStart hook: the controller ran with
    /// `--wait-until-proxy-ready`.
    pub wait_until_proxy_ready: bool,
}

/// Translate `annotations` (a pod template's). Keys the template already carries on the Istio
/// side are kept as they are (the user's choice wins) and said so in the notes.
pub fn translate(annotations: &BTreeMap<String, String>, pods: AppMeshPods) -> Translation {
    let mut out = Translation::default();
    let get = |key: &str| {
        annotations
            .get(&format!("appmesh.k8s.aws/{key}"))
            .map(|v| v.trim())
    };
    let set = |out: &mut Translation, from: &str, key: &str, value: String| {
        if let Some(existing) = annotations.get(key) {
            out.notes.push(format!("{from}: {key} kept ({existing})"));
        } else {
            out.notes.push(format!("{from} → {key}={value}"));
            out.annotations.insert(key.to_owned(), value);
        }
    };

    let ports = get("egressIgnoredPorts")
        .map(|v| (v.to_owned(), "egressIgnoredPorts"))
        .or_else(|| {
            pods.injected.then(|| {
                (
                    APPMESH_DEFAULT_IGNORED_PORTS.to_owned(),
                    "App Mesh default egress-ignored port",
                )
            })
        });
    if let Some((value, from)) = ports {
        match port_list(&value) {
            Ok(list) if !list.is_empty() => set(&mut out, from, EXCLUDE_OUTBOUND_PORTS, list),
            Ok(_) => {}
            Err(bad) => out.unmapped.push(format!(
                "appmesh.k8s.aws/egressIgnoredPorts ({bad:?} is not a port)"
            )),
        }
    }
    let ips = get("egressIgnoredIPs")
        .map(|v| (v.to_owned(), "egressIgnoredIPs"))
        .or_else(|| {
            pods.injected.then(|| {
                (
                    APPMESH_DEFAULT_IGNORED_IPS.to_owned(),
                    "App Mesh default egress-ignored IP",
                )
            })
        });
    if let Some((value, from)) = ips {
        match cidr_list(&value) {
            Ok(list) if !list.is_empty() => {
                set(&mut out, from, EXCLUDE_OUTBOUND_IP_RANGES, list);
            }
            Ok(_) => {}
            Err(bad) => out.unmapped.push(format!(
                "appmesh.k8s.aws/egressIgnoredIPs ({bad:?} is not an IP address or CIDR)"
            )),
        }
    }
    if let Some(value) = get("ports") {
        match port_list(value) {
            Ok(list) if !list.is_empty() => set(&mut out, "ports", INCLUDE_INBOUND_PORTS, list),
            Ok(_) => {}
            Err(bad) => out
                .unmapped
                .push(format!("appmesh.k8s.aws/ports ({bad:?} is not a port)")),
        }
    }
    for (appmesh, istio) in [
        ("cpuRequest", "sidecar.istio.io/proxyCPU"),
        ("memoryRequest", "sidecar.istio.io/proxyMemory"),
        ("cpuLimit", "sidecar.istio.io/proxyCPULimit"),
        ("memoryLimit", "sidecar.istio.io/proxyMemoryLimit"),
    ] {
        if let Some(value) = get(appmesh).filter(|v| !v.is_empty()) {
            set(&mut out, appmesh, istio, value.to_owned());
        }
    }

    // proxy.istio.io/config: startup order and the sidecar's environment.
    let mut config = serde_json::Map::new();
    if pods.wait_until_proxy_ready {
        config.insert("holdApplicationUntilProxyStarts".into(), true.into());
    }
    let env = sidecar_env(annotations, &mut out.unmapped);
    if !env.is_empty() {
        config.insert(
            "proxyMetadata".into(),
            serde_json::Value::Object(env.into_iter().map(|(k, v)| (k, v.into())).collect()),
        );
    }
    if !config.is_empty() {
        let from = if pods.wait_until_proxy_ready {
            "wait-until-proxy-ready"
        } else {
            "sidecarEnv"
        };
        set(
            &mut out,
            from,
            PROXY_CONFIG,
            serde_json::Value::Object(config).to_string(),
        );
    }

    if let Some(choice) = annotations.get(APPMESH_INJECT) {
        let value = match choice.trim().to_ascii_lowercase().as_str() {
            "enabled" => Some("true"),
            "disabled" => Some("false"),
            _ => None,
        };
        match value {
            Some(value) => {
                out.opted_out = value == "false";
                out.notes.push(format!(
                    "{APPMESH_INJECT}: {choice} → label {ISTIO_INJECT_LABEL}={value}"
                ));
                out.labels
                    .insert(ISTIO_INJECT_LABEL.to_owned(), value.to_owned());
            }
            None => out.unmapped.push(format!(
                "{APPMESH_INJECT} ({choice:?} is neither enabled nor disabled)"
            )),
        }
    }

    for key in annotations.keys() {
        if let Some(Err(why)) = crate::precheck::checks::istio_equivalent(key) {
            out.unmapped.push(format!("{key} ({why})"));
        }
    }
    out
}

/// `22, 8080` → `22,8080`; the first item that is no port is the error.
fn port_list(text: &str) -> Result<String, String> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match item.parse::<u16>() {
            Ok(p) if p > 0 => out.push(p.to_string()),
            _ => return Err(item.to_owned()),
        }
    }
    Ok(out.join(","))
}

/// IPs become CIDRs (`/32`, `/128`): Istio's excludeOutboundIPRanges takes ranges only.
fn cidr_list(text: &str) -> Result<String, String> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (address, prefix) = match item.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (item, None),
        };
        let ip: IpAddr = address.parse().map_err(|_| item.to_owned())?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(item.to_owned()),
            },
            None => max,
        };
        out.push(format!("{ip}/{prefix}"));
    }
    Ok(out.join(","))
}

/// `sidecarEnv` (`K1=v1, K2=v2`) merged with `sidecarEnvJson` (`[{"K":"v"}]`, which wins), as
/// App Mesh's injector merges them.
fn sidecar_env(
    annotations: &BTreeMap<String, String>,
    unmapped: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    if let Some(text) = annotations.get("appmesh.k8s.aws/sidecarEnv") {
        for pair in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match pair.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => {
                    env.insert(k.trim().to_owned(), v.trim().to_owned());
                }
                _ => unmapped.push(format!(
                    "appmesh.k8s.aws/sidecarEnv ({pair:?} is not KEY=VALUE)"
                )),
            }
        }
    }
    if let Some(text) = annotations.get("appmesh.k8s.aws/sidecarEnvJson") {
        match serde_json::from_str::<Vec<BTreeMap<String, String>>>(text) {
            Ok(list) => env.extend(list.into_iter().flatten()),
            Err(e) => unmapped.push(format!(
                "appmesh.k8s.aws/sidecarEnvJson (not a JSON list of objects of strings: {e})"
            )),
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_of_an_injected_workload_are_written_out() {
        let t = translate(
            &BTreeMap::new(),
            AppMeshPods {
                injected: true,
                wait_until_proxy_ready: false,
            },
        );
        assert_eq!(
            t.annotations,
            map(&[
                (EXCLUDE_OUTBOUND_IP_RANGES, "169.254.169.254/32"),
                (EXCLUDE_OUTBOUND_PORTS, "22")
            ])
        );
        assert!(t.unmapped.is_empty() && t.labels.is_empty() && !t.opted_out);
        // Not injected before: App Mesh's defaults never applied, nothing to carry.
        assert_eq!(
            translate(&BTreeMap::new(), AppMeshPods::default()),
            Translation::default()
        );
    }

    #[test]
    fn every_mapped_annotation_lands_on_its_istio_key() {
        let t = translate(
            &map(&[
                ("appmesh.k8s.aws/egressIgnoredPorts", "22, 3306"),
                (
                    "appmesh.k8s.aws/egressIgnoredIPs",
                    "169.254.169.254,10.0.0.0/8,fd00::1",
                ),
                ("appmesh.k8s.aws/ports", "8080,9090"),
                ("appmesh.k8s.aws/cpuRequest", "50m"),
                ("appmesh.k8s.aws/memoryLimit", "256Mi"),
                ("appmesh.k8s.aws/sidecarEnv", "A=1, B=2"),
                ("appmesh.k8s.aws/sidecarEnvJson", r#"[{"B":"3"}]"#),
                ("appmesh.k8s.aws/sidecarInjectorWebhook", "enabled"),
                ("appmesh.k8s.aws/secretMounts", "certs:/certs"),
                ("traffic.sidecar.istio.io/includeInboundPorts", "*"),
            ]),
            AppMeshPods {
                injected: true,
                wait_until_proxy_ready: true,
            },
        );
        assert_eq!(t.annotations[EXCLUDE_OUTBOUND_PORTS], "22,3306");
        assert_eq!(
            t.annotations[EXCLUDE_OUTBOUND_IP_RANGES],
            "169.254.169.254/32,10.0.0.0/8,fd00::1/128"
        );
        assert!(
            !t.annotations.contains_key(INCLUDE_INBOUND_PORTS),
            "the user's own Istio annotation wins"
        );
        assert!(
            t.notes
                .iter()
                .any(|n| n.contains("includeInboundPorts kept (*)"))
        );
        assert_eq!(t.annotations["sidecar.istio.io/proxyCPU"], "50m");
        assert_eq!(t.annotations["sidecar.istio.io/proxyMemoryLimit"], "256Mi");
        assert_eq!(
            t.annotations[PROXY_CONFIG],
            r#"{"holdApplicationUntilProxyStarts":true,"proxyMetadata":{"A":"1","B":"3"}}"#
        );
        assert_eq!(t.labels, map(&[(ISTIO_INJECT_LABEL, "true")]));
        assert_eq!(t.unmapped.len(), 1, "{:?}", t.unmapped);
        assert!(t.unmapped[0].starts_with("appmesh.k8s.aws/secretMounts ("));
    }

    #[test]
    fn opt_outs_and_bad_values() {
        let t = translate(
            &map(&[
                ("appmesh.k8s.aws/sidecarInjectorWebhook", "Disabled"),
                ("appmesh.k8s.aws/egressIgnoredIPs", "not-an-ip"),
                ("appmesh.k8s.aws/ports", "http"),
            ]),
            AppMeshPods::default(),
        );
        assert!(t.opted_out);
        assert_eq!(t.labels[ISTIO_INJECT_LABEL], "false");
        assert_eq!(t.unmapped.len(), 2, "{:?}", t.unmapped);
        assert!(t.annotations.is_empty());
    }
}
