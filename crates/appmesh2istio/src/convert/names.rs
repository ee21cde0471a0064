//! Names and host names for generated objects.
//!
//! App Mesh names are free-form (underscores, dots, up to 255 characters) while Istio subset
//! names and Gateway names must be DNS-1123 labels and hosts should be fully qualified, so
//! every generated name goes through here. Sanitising is deterministic, and a name that had
//! to change gets a short hash of the original so two different sources never collide.

/// FNV-1a, 64 bit: tiny, stable across releases and platforms (std's hasher is not).
fn fnv1a(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Six hex digits derived from `text`.
pub fn short_hash(text: &str) -> String {
    format!("{:06x}", fnv1a(text) & 0xff_ffff)
}

pub use crate::k8s::{is_dns1123_label, is_dns1123_subdomain};

/// Turn any name into a DNS-1123 label of at most `max` characters (`max` >= 8).
/// Names that already qualify are kept; others are lower-cased, every run of other
/// characters becomes `-`, and a hash of the original is appended to keep them distinct.
pub fn dns1123_label(name: &str, max: usize) -> String {
    let max = max.clamp(8, 63);
    if is_dns1123_label(name) && name.len() <= max {
        return name.to_owned();
    }
    let mut cleaned = String::with_capacity(name.len());
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            cleaned.push(c);
        } else if !cleaned.ends_with('-') {
            cleaned.push('-');
        }
    }
    let hash = short_hash(name);
    let room = max - hash.len() - 1;
    let mut base: String = cleaned.trim_matches('-').chars().take(room).collect();
    while base.ends_with('-') {
        base.pop();
    }
    if base.is_empty() {
        format!("x-{hash}")
    } else {
        format!("{base}-{hash}")
    }
}

/// An object name for Kubernetes metadata: kept when valid, otherwise sanitised to a label.
pub fn object_name(name: &str) -> String {
    if is_dns1123_subdomain(name) {
        name.to_owned()
    } else {
        dns1123_label(name, 63)
    }
}

/// The fully qualified form of a host name clients call, as Istio wants hosts written.
///
/// `svc` → `svc.<ns>.svc.<domain>`, `svc.ns` → `svc.ns.svc.<domain>` (how Kubernetes DNS
/// search paths resolve them), `svc.ns.svc` → `svc.ns.svc.<domain>`; anything with more
/// labels is already a DNS name (a Service FQDN, Cloud Map, or an external name) and is kept,
/// minus a trailing dot.
pub fn qualify_host(host: &str, namespace: &str, cluster_domain: &str) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    match labels.as_slice() {
        [svc] => format!("{svc}.{namespace}.svc.{cluster_domain}"),
        [svc, ns] => format!("{svc}.{ns}.svc.{cluster_domain}"),
        [svc, ns, "svc"] => format!("{svc}.{ns}.svc.{cluster_domain}"),
        _ => host,
    }
}

/// For a Kubernetes Service FQDN `name.ns.svc.<domain>`, the Service's namespace and name.
pub fn service_of_host<'a>(host: &'a str, cluster_domain: &str) -> Option<(&'a str, &'a str)> {
    let rest = host.strip_suffix(cluster_domain)?.strip_suffix(".svc.")?;
    let (name, ns) = rest.split_once('.')?;
    (!ns.contains('.')).then_some((ns, name))
}

/// The first label of a host, sanitised: a readable object name for things keyed by host.
pub fn name_for_host(host: &str) -> String {
    let first = host.split('.').next().unwrap_or(host);
    dns1123_label(first, 63)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_labels_are_kept() {
        assert_eq!(dns1123_label("colorteller-blue", 63), "colorteller-blue");
        assert!(is_dns1123_label("a1"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label("A"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
    }

    #[test]
    fn invalid_names_are_sanitised_deterministically_and_stay_distinct() {
        let a = dns1123_label("color_teller.Blue", 63);
        let b = dns1123_label("color-teller-blue!", 63);
        assert!(is_dns1123_label(&a), "{a}");
        assert!(is_dns1123_label(&b), "{b}");
        assert!(a.starts_with("color-teller-blue-"), "{a}");
        assert_ne!(a, b, "different sources must not collide");
        assert_eq!(a, dns1123_label("color_teller.Blue", 63), "deterministic");
        let long = dns1123_label(&"x".repeat(300), 63);
        assert_eq!(long.len(), 63);
        assert!(is_dns1123_label(&long));
        assert!(is_dns1123_label(&dns1123_label("___", 63)));
    }

    #[test]
    fn hosts_are_qualified_like_kubernetes_dns() {
        assert_eq!(
            qualify_host("cart", "shop", "cluster.local"),
            "cart.shop.svc.cluster.local"
        );
        assert_eq!(
            qualify_host("cart.shop", "x", "cluster.local"),
            "cart.shop.svc.cluster.local"
        );
        assert_eq!(
            qualify_host("cart.shop.svc", "x", "cluster.local"),
            "cart.shop.svc.cluster.local"
        );
        assert_eq!(
            qualify_host("Cart.Shop.svc.cluster.local.", "x", "cluster.local"),
            "cart.shop.svc.cluster.local"
        );
        assert_eq!(
            qualify_host("colorteller.demo.pvt.aws.local", "x", "cluster.local"),
            "colorteller.demo.pvt.aws.local"
        );
    }

    #[test]
    fn service_of_host_parses_only_service_fqdns() {
        assert_eq!(
            service_of_host("cart.shop.svc.cluster.local", "cluster.local"),
            Some(("shop", "cart"))
        );
        assert_eq!(
            service_of_host("colorteller.demo.pvt.aws.local", "cluster.local"),
            None
        );
        assert_eq!(name_for_host("cart.shop.svc.cluster.local"), "cart");
    }
}
