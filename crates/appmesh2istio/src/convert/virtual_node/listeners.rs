//! VirtualNode listeners: outlier detection (callers), connection pools and timeouts (the
//! serving sidecar), health checks, and the protocol Istio will assume for the port.
//!
//! App Mesh splits a listener's settings between both ends (appmesh-crds §12.2): outlier
//! detection and health checks run in the *calling* Envoys, connection pools and listener
//! timeouts in the *serving* Envoy. Istio has the same split: a DestinationRule's
//! `outlierDetection` is applied by every caller of the host, while a `Sidecar` selecting the
//! node's pods configures their inbound side (`inboundConnectionPool`, or per port in
//! `ingress[].connectionPool`, which take precedence over any DestinationRule pool there).

use crate::appmesh::common::{self as am, PortProtocol};
use crate::appmesh::virtual_node::{Listener, ListenerTimeout};
use crate::istio::{
    ConnectionPoolSettings, Duration, HttpSettings, IngressListener, OutlierDetection,
    PortSelector, PortTrafficPolicy, SidecarPort, SidecarSpec, TcpSettings, TrafficPolicy,
    clamp_i32, clamp_u32,
};
use crate::k8s::ServicePort;

use super::super::{Context, defaults};
use super::NodeCtx;

pub(super) const CODE_IDLE_DEFAULT: &str = "AMI2201";
pub(super) const CODE_HEALTH_CHECK: &str = "AMI2206";
pub(super) const CODE_PER_REQUEST_TIMEOUT: &str = "AMI2207";
pub(super) const CODE_PORT_SNIFFED: &str = "AMI2214";
pub(super) const CODE_PORT_PROTOCOL_MISMATCH: &str = "AMI2215";
pub(super) const CODE_CLAMPED: &str = "AMI2223";
pub(super) const CODE_PROTOCOL_MISMATCH: &str = "AMI2224";
pub(super) const CODE_IDLE_DISABLED: &str = "AMI2225";
pub(super) const CODE_CONFLICT: &str = "AMI2226";
pub(super) const CODE_TCP_PORT_SNIFFED: &str = "AMI2229";
/// Shared conversion code: App Mesh defaults not written because of --no-preserve-defaults.
const CODE_DEFAULTS_DROPPED: &str = "AMI2003";

/// An App Mesh `{unit, value}` duration as an Istio one; `None` for zero, which App Mesh
/// uses for "disabled" and Istio rejects almost everywhere.
pub(super) fn istio_duration(d: &am::Duration) -> Option<Duration> {
    let millis = u64::try_from(d.to_millis()).unwrap_or(0);
    (millis > 0).then(|| Duration::from_millis(millis.min(Duration::MAX_GO_MILLIS)))
}

/// A listener port as an Istio port number; `None` outside 1..65535 (App Mesh's API rejects
/// those too, but manifests may carry them).
pub(super) fn istio_port(port: i64) -> Option<u32> {
    u32::try_from(port).ok().filter(|p| (1..=65535).contains(p))
}

/// The Istio protocol name of an App Mesh listener protocol.
pub(super) fn istio_protocol(protocol: PortProtocol) -> &'static str {
    match protocol {
        PortProtocol::Http => "HTTP",
        PortProtocol::Http2 => "HTTP2",
        PortProtocol::Grpc => "GRPC",
        PortProtocol::Tcp => "TCP",
    }
}

/// `<protocol>-<port>`: the port name Istio reads the protocol from.
pub(super) fn port_name(protocol: PortProtocol, port: i64) -> String {
    format!("{}-{port}", istio_protocol(protocol).to_ascii_lowercase())
}

/// A listener's outlier detection as Istio's (same Envoy feature, same fields).
pub(super) fn outlier_detection(
    od: &crate::appmesh::virtual_node::OutlierDetection,
) -> OutlierDetection {
    OutlierDetection {
        consecutive_5xx_errors: Some(clamp_u32(od.max_server_errors)),
        interval: istio_duration(&od.interval),
        base_ejection_time: istio_duration(&od.base_ejection_duration),
        max_ejection_percent: Some(clamp_i32(od.max_ejection_percent.clamp(0, 100))),
    }
}

/// The traffic policy carrying the node's outlier detection for callers: one policy when
/// every listener agrees (or there is one listener), otherwise per port. `service_port`
/// maps a listener port to the port clients address on the node's host.
pub(super) fn outlier_policy(
    ctx: &mut Context<'_>,
    n: &NodeCtx<'_>,
    service_port: impl Fn(i64) -> i64,
) -> Option<TrafficPolicy> {
    let listeners = &n.node.spec.listeners;
    let mut per_port = Vec::new();
    for (i, l) in listeners.iter().enumerate() {
        let Some(od) = &l.outlier_detection else {
            continue;
        };
        let field = format!("spec.listeners[{i}].outlierDetection");
        for (name, d) in [
            ("interval", &od.interval),
            ("baseEjectionDuration", &od.base_ejection_duration),
        ] {
            if istio_duration(d).is_none() {
                ctx.note(
                    CODE_CLAMPED,
                    &n.subject,
                    &format!("{field}.{name}"),
                    "a zero duration is not valid in Istio; Istio's default (10s interval, 30s base ejection time) applies",
                );
            }
        }
        if i64::from(clamp_u32(od.max_server_errors)) != od.max_server_errors {
            ctx.note(
                CODE_CLAMPED,
                &n.subject,
                &format!("{field}.maxServerErrors"),
                "value clamped to Istio's uint32 range",
            );
        }
        if !(0..=100).contains(&od.max_ejection_percent) {
            ctx.note(
                CODE_CLAMPED,
                &n.subject,
                &format!("{field}.maxEjectionPercent"),
                "value clamped to 0..100",
            );
        }
        per_port.push((l.port_mapping.port, outlier_detection(od)));
    }
    let first = per_port.first()?.1.clone();
    if listeners.len() == 1
        || (per_port.len() == listeners.len() && per_port.iter().all(|(_, od)| *od == first))
    {
        return Some(TrafficPolicy {
            outlier_detection: Some(first),
            ..TrafficPolicy::default()
        });
    }
    let port_level_settings = per_port
        .into_iter()
        .filter_map(|(port, od)| {
            Some(PortTrafficPolicy {
                port: PortSelector {
                    number: istio_port(service_port(port))?,
                },
                outlier_detection: Some(od),
                ..PortTrafficPolicy::default()
            })
        })
        .collect();
    Some(TrafficPolicy {
        port_level_settings,
        ..TrafficPolicy::default()
    })
}

/// Adds `add` (outlier detection only) to `target`. Returns false when `target` already had
/// a different setting for the same scope, which is then kept.
pub(super) fn merge_outlier_policy(target: &mut Option<TrafficPolicy>, add: TrafficPolicy) -> bool {
    let policy = target.get_or_insert_with(TrafficPolicy::default);
    let mut consistent = true;
    if let Some(od) = add.outlier_detection {
        match &policy.outlier_detection {
            Some(existing) if *existing != od => consistent = false,
            _ => policy.outlier_detection = Some(od),
        }
    }
    for port_policy in add.port_level_settings {
        match policy
            .port_level_settings
            .iter_mut()
            .find(|p| p.port == port_policy.port)
        {
            Some(existing) => match &existing.outlier_detection {
                Some(od) if Some(od) != port_policy.outlier_detection.as_ref() => {
                    consistent = false
                }
                _ => existing.outlier_detection = port_policy.outlier_detection,
            },
            None => policy.port_level_settings.push(port_policy),
        }
    }
    consistent
}

/// The `timeout` (and `connectionPool`) key that belongs to a listener protocol.
fn timeout_key(protocol: PortProtocol) -> &'static str {
    match protocol {
        PortProtocol::Http => "http",
        PortProtocol::Http2 => "http2",
        PortProtocol::Grpc => "grpc",
        PortProtocol::Tcp => "tcp",
    }
}

/// `(key, idle, perRequest)` of every timeout block a listener sets.
fn timeout_blocks(
    t: &ListenerTimeout,
) -> Vec<(&'static str, Option<&am::Duration>, Option<&am::Duration>)> {
    let mut out = Vec::new();
    if let Some(tcp) = &t.tcp {
        out.push(("tcp", tcp.idle.as_ref(), None));
    }
    for (key, http) in [("http", &t.http), ("http2", &t.http2), ("grpc", &t.grpc)] {
        if let Some(h) = http {
            out.push((key, h.idle.as_ref(), h.per_request.as_ref()));
        }
    }
    out
}

/// The inbound connection pool of one listener (limits and idle timeout), with findings for
/// what cannot be carried over. `None` when the listener asks for nothing.
pub(super) fn inbound_pool(
    ctx: &mut Context<'_>,
    n: &NodeCtx<'_>,
    i: usize,
    l: &Listener,
) -> Option<ConnectionPoolSettings> {
    let protocol = l.port_mapping.protocol;
    let is_tcp = protocol == PortProtocol::Tcp;
    let base = format!("spec.listeners[{i}]");
    let mut tcp = TcpSettings::default();
    let mut http = HttpSettings::default();
    let clamp = |ctx: &mut Context<'_>, field: &str, value: i64| -> i32 {
        let clamped = clamp_i32(value);
        if i64::from(clamped) != value {
            ctx.note(
                CODE_CLAMPED,
                &n.subject,
                field,
                format!("{value} does not fit Istio's int32 field; {clamped} is used"),
            );
        }
        clamped
    };

    if let Some(pool) = &l.connection_pool {
        let cp = format!("{base}.connectionPool");
        let expected = timeout_key(protocol);
        for (key, set) in [
            ("tcp", pool.tcp.is_some()),
            ("http", pool.http.is_some()),
            ("http2", pool.http2.is_some()),
            ("grpc", pool.grpc.is_some()),
        ] {
            if set && key != expected {
                ctx.note(
                    CODE_PROTOCOL_MISMATCH,
                    &n.subject,
                    &format!("{cp}.{key}"),
                    format!("a {key} connection pool on a {expected} listener (App Mesh requires the pool to match the listener protocol)"),
                );
            }
        }
        if let Some(p) = &pool.tcp {
            tcp.max_connections = Some(clamp(
                ctx,
                &format!("{cp}.tcp.maxConnections"),
                p.max_connections,
            ));
        }
        if let Some(p) = &pool.http {
            // Envoy enforces an HTTP/1 listener's connection limit on the cluster, which is
            // Istio's tcp.maxConnections.
            tcp.max_connections = Some(clamp(
                ctx,
                &format!("{cp}.http.maxConnections"),
                p.max_connections,
            ));
            if let Some(pending) = p.max_pending_requests {
                if is_tcp {
                    ctx.note(CODE_PROTOCOL_MISMATCH, &n.subject, &format!("{cp}.http.maxPendingRequests"), "HTTP request limits have no effect on a tcp listener and are not carried over");
                } else {
                    http.http1_max_pending_requests = Some(clamp(
                        ctx,
                        &format!("{cp}.http.maxPendingRequests"),
                        pending,
                    ));
                }
            }
        }
        for (key, p) in [("http2", &pool.http2), ("grpc", &pool.grpc)] {
            let Some(p) = p else { continue };
            if is_tcp {
                ctx.note(
                    CODE_PROTOCOL_MISMATCH,
                    &n.subject,
                    &format!("{cp}.{key}.maxRequests"),
                    "HTTP request limits have no effect on a tcp listener and are not carried over",
                );
            } else {
                http.http2_max_requests = Some(clamp(
                    ctx,
                    &format!("{cp}.{key}.maxRequests"),
                    p.max_requests,
                ));
            }
        }
    }

    let expected = timeout_key(protocol);
    let mut idle: Option<&am::Duration> = None;
    for (key, block_idle, per_request) in l.timeout.as_ref().map(timeout_blocks).unwrap_or_default()
    {
        let field = format!("{base}.timeout.{key}");
        if key != expected {
            ctx.note(
                CODE_PROTOCOL_MISMATCH,
                &n.subject,
                &field,
                format!("a {key} timeout on a {expected} listener does not apply to it and is not carried over"),
            );
            continue;
        }
        idle = block_idle;
        if let Some(d) = per_request.filter(|d| d.to_millis() > 0) {
            ctx.note(
                CODE_PER_REQUEST_TIMEOUT,
                &n.subject,
                &format!("{field}.perRequest"),
                format!(
                    "the serving side's per-request timeout of {} cannot be set in Istio; only the callers' route \
                     timeouts apply",
                    istio_duration(d).map_or_else(|| format!("{}ms", d.to_millis()), |d| d.to_string())
                ),
            );
        }
    }
    let idle_field = format!("{base}.timeout.{expected}.idle");
    let idle_timeout = match idle {
        Some(d) if d.to_millis() > 0 => istio_duration(d),
        // Zero disables the idle timeout: Istio allows that for TCP only.
        Some(_) if is_tcp => Some(Duration::ZERO),
        Some(_) => {
            ctx.note(
                CODE_IDLE_DISABLED,
                &n.subject,
                &idle_field,
                "an idle timeout of 0 (disabled) cannot be written for HTTP in Istio; Istio's default of 1h applies",
            );
            None
        }
        None if ctx.opts.preserve_defaults => {
            ctx.note(
                CODE_IDLE_DEFAULT,
                &n.subject,
                &idle_field,
                format!(
                    "App Mesh's default listener idle timeout of {} is written out",
                    defaults::IDLE_TIMEOUT
                ),
            );
            Some(defaults::IDLE_TIMEOUT)
        }
        None => {
            ctx.note(
                CODE_DEFAULTS_DROPPED,
                &n.subject,
                &idle_field,
                format!("App Mesh's default listener idle timeout of {} is not written; Istio's default of 1h applies", defaults::IDLE_TIMEOUT),
            );
            None
        }
    };
    if is_tcp {
        tcp.idle_timeout = idle_timeout;
    } else {
        http.idle_timeout = idle_timeout;
    }
    let pool = ConnectionPoolSettings {
        tcp: (tcp != TcpSettings::default()).then_some(tcp),
        http: (http != HttpSettings::default()).then_some(http),
    };
    (pool != ConnectionPoolSettings::default()).then_some(pool)
}

/// Puts the per-listener inbound pools on the Sidecar: one `inboundConnectionPool` when all
/// listeners agree, otherwise an `ingress` listener per App Mesh listener port (exactly the
/// ports App Mesh's Envoy intercepted) carrying its own pool.
pub(super) fn apply_inbound_pools(
    sidecar: &mut SidecarSpec,
    pools: Vec<(i64, PortProtocol, Option<ConnectionPoolSettings>)>,
) {
    let Some(first) = pools.first().map(|p| p.2.clone()) else {
        return;
    };
    if pools.iter().all(|p| p.2 == first) {
        sidecar.inbound_connection_pool = first;
        return;
    }
    for (port, protocol, connection_pool) in pools {
        // Istio wants each ingress port once; App Mesh rejects duplicate listeners anyway.
        let Some(number) =
            istio_port(port).filter(|n| sidecar.ingress.iter().all(|i| i.port.number != *n))
        else {
            continue;
        };
        sidecar.ingress.push(IngressListener {
            port: SidecarPort {
                number,
                protocol: Some(istio_protocol(protocol).to_owned()),
                name: Some(port_name(protocol, port)),
            },
            default_endpoint: None,
            connection_pool,
        });
    }
}

/// Findings for listener health checks, which Istio has no equivalent for.
pub(super) fn health_checks(ctx: &mut Context<'_>, n: &NodeCtx<'_>) {
    for (i, l) in n.node.spec.listeners.iter().enumerate() {
        let Some(hc) = &l.health_check else { continue };
        let target = match (&hc.path, hc.protocol) {
            (Some(path), PortProtocol::Http | PortProtocol::Http2) => format!(" {path}"),
            _ => String::new(),
        };
        ctx.note(
            CODE_HEALTH_CHECK,
            &n.subject,
            &format!("spec.listeners[{i}].healthCheck"),
            format!(
                "the callers' active {} health check{target} on port {} every {} is not carried over; \
                 Istio sends traffic to the pods Kubernetes reports ready",
                app_protocol_for(hc.protocol),
                hc.port.unwrap_or(l.port_mapping.port),
                Duration::from_millis(u64::try_from(hc.interval_millis).unwrap_or(0))
            ),
        );
    }
}

/// The protocol Istio derives for a Kubernetes Service port (`ConvertProtocol`): the
/// `appProtocol`, else the port name up to the first `-`. `None` means Istio sniffs it.
pub(super) fn service_port_protocol(port: &ServicePort) -> Option<&'static str> {
    fn parse(text: &str) -> Option<&'static str> {
        Some(match text.to_ascii_lowercase().as_str() {
            "http" | "kubernetes.io/ws" => "HTTP",
            "http2" | "kubernetes.io/h2c" => "HTTP2",
            "https" | "kubernetes.io/wss" => "HTTPS",
            "grpc" => "GRPC",
            "grpc-web" => "GRPC-Web",
            "tcp" => "TCP",
            "tls" => "TLS",
            "mongo" => "Mongo",
            "mysql" => "MySQL",
            "redis" => "Redis",
            "udp" => "UDP",
            _ => return None,
        })
    }
    if port
        .protocol
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case("udp"))
    {
        return Some("UDP");
    }
    if let Some(found) = port.app_protocol.as_deref().and_then(parse) {
        return Some(found);
    }
    let name = port.name.as_deref()?;
    parse(name.split('-').next().unwrap_or(name))
}

/// Whether Istio treating a port as `istio` keeps an App Mesh listener's protocol working.
pub(super) fn protocol_compatible(listener: PortProtocol, istio: &str) -> bool {
    match listener {
        PortProtocol::Http => istio == "HTTP",
        PortProtocol::Http2 | PortProtocol::Grpc => matches!(istio, "HTTP2" | "GRPC"),
        // Opaque TCP proxying either way (Istio's TLS/HTTPS ports are passed through).
        PortProtocol::Tcp => matches!(istio, "TCP" | "TLS" | "HTTPS" | "Mongo" | "MySQL" | "Redis"),
    }
}

/// The `appProtocol` that makes Istio treat a port like App Mesh treated the listener.
pub(super) fn app_protocol_for(listener: PortProtocol) -> &'static str {
    match listener {
        PortProtocol::Http => "http",
        PortProtocol::Http2 => "http2",
        PortProtocol::Grpc => "grpc",
        PortProtocol::Tcp => "tcp",
    }
}

/// Findings on how Istio will read the protocol of the Service ports behind a DNS node.
pub(super) fn service_port_protocols(ctx: &mut Context<'_>, n: &NodeCtx<'_>) {
    let resolved = ctx.resolved;
    let Some(service) = n
        .entry
        .service
        .as_ref()
        .and_then(|key| resolved.services.get(key))
    else {
        return;
    };
    let service = &service.object;
    for (i, l) in n.node.spec.listeners.iter().enumerate() {
        let listener_port = l.port_mapping.port;
        let target = listener_port.to_string();
        let Some(port) = service.ports.iter().find(|p| match &p.target_port {
            Some(t) => *t == target,
            None => p.port == listener_port,
        }) else {
            continue;
        };
        let protocol = l.port_mapping.protocol;
        let port_label = match &port.name {
            Some(name) => format!("port {} ({name})", port.port),
            None => format!("port {}", port.port),
        };
        let field = format!("spec.listeners[{i}].portMapping.protocol");
        let wanted = app_protocol_for(protocol);
        match service_port_protocol(port) {
            Some(istio) if protocol_compatible(protocol, istio) => {}
            Some(istio) => ctx.note(
                CODE_PORT_PROTOCOL_MISMATCH,
                &n.subject,
                &field,
                format!(
                    "Service {}/{} {port_label} is declared {istio} but the listener is {wanted}; \
                     Istio will handle it as {istio}. Set appProtocol: {wanted} on the port",
                    service.namespace, service.name
                ),
            ),
            None if protocol == PortProtocol::Tcp => ctx.note(
                CODE_TCP_PORT_SNIFFED,
                &n.subject,
                &field,
                format!(
                    "Service {}/{} {port_label} declares no protocol, so Istio sniffs it, which stalls server-first \
                     protocols; set appProtocol: tcp on the port",
                    service.namespace, service.name
                ),
            ),
            None => ctx.note(
                CODE_PORT_SNIFFED,
                &n.subject,
                &field,
                format!(
                    "Service {}/{} {port_label} declares no protocol, so Istio detects it from the traffic; \
                     set appProtocol: {wanted} on the port to make it explicit",
                    service.namespace, service.name
                ),
            ),
        }
    }
}

/// Reports a host-level setting that another node (or listener) already set differently.
pub(super) fn note_conflict(ctx: &mut Context<'_>, n: &NodeCtx<'_>, field: &str, what: &str) {
    ctx.note(CODE_CONFLICT, &n.subject, field, what.to_owned());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appmesh::common::DurationUnit;

    fn d(unit: DurationUnit, value: i64) -> am::Duration {
        am::Duration { unit, value }
    }

    #[test]
    fn durations_drop_zero_and_keep_milliseconds() {
        assert_eq!(istio_duration(&d(DurationUnit::Seconds, 0)), None);
        assert_eq!(
            istio_duration(&d(DurationUnit::Milliseconds, 1500)),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            istio_duration(&d(DurationUnit::Seconds, i64::MAX)),
            Some(Duration::from_millis(Duration::MAX_GO_MILLIS))
        );
    }

    fn port(name: Option<&str>, app: Option<&str>) -> ServicePort {
        ServicePort {
            name: name.map(Into::into),
            port: 80,
            target_port: None,
            protocol: None,
            app_protocol: app.map(Into::into),
        }
    }

    #[test]
    fn service_port_protocol_follows_istio() {
        assert_eq!(
            service_port_protocol(&port(Some("http-web"), None)),
            Some("HTTP")
        );
        assert_eq!(
            service_port_protocol(&port(Some("grpc-web"), None)),
            Some("GRPC")
        );
        assert_eq!(service_port_protocol(&port(Some("web"), None)), None);
        assert_eq!(
            service_port_protocol(&port(Some("web"), Some("kubernetes.io/h2c"))),
            Some("HTTP2")
        );
        assert_eq!(
            service_port_protocol(&port(Some("http"), Some("tcp"))),
            Some("TCP"),
            "appProtocol wins"
        );
        assert_eq!(service_port_protocol(&port(None, None)), None);
    }

    #[test]
    fn listener_protocol_compatibility() {
        assert!(protocol_compatible(PortProtocol::Http, "HTTP"));
        assert!(!protocol_compatible(PortProtocol::Http, "HTTP2"));
        assert!(protocol_compatible(PortProtocol::Grpc, "HTTP2"));
        assert!(protocol_compatible(PortProtocol::Tcp, "MySQL"));
        assert!(!protocol_compatible(PortProtocol::Tcp, "HTTP"));
    }

    #[test]
    fn uniform_pools_go_to_inbound_connection_pool_and_differing_ones_per_port() {
        let pool = |n: i32| ConnectionPoolSettings {
            tcp: Some(TcpSettings {
                max_connections: Some(n),
                ..Default::default()
            }),
            http: None,
        };
        let mut same = SidecarSpec::default();
        apply_inbound_pools(
            &mut same,
            vec![
                (8080, PortProtocol::Http, Some(pool(1))),
                (9090, PortProtocol::Tcp, Some(pool(1))),
            ],
        );
        assert_eq!(same.inbound_connection_pool, Some(pool(1)));
        assert!(same.ingress.is_empty());
        let mut differ = SidecarSpec::default();
        apply_inbound_pools(
            &mut differ,
            vec![
                (8080, PortProtocol::Http, Some(pool(1))),
                (9090, PortProtocol::Grpc, None),
            ],
        );
        assert_eq!(differ.inbound_connection_pool, None);
        assert_eq!(differ.ingress.len(), 2);
        assert_eq!(differ.ingress[1].port.name.as_deref(), Some("grpc-9090"));
        assert_eq!(differ.ingress[1].port.protocol.as_deref(), Some("GRPC"));
        assert_eq!(differ.ingress[1].connection_pool, None);
    }

    #[test]
    fn merging_outlier_policies_detects_conflicts() {
        let od = |n: u32| OutlierDetection {
            consecutive_5xx_errors: Some(n),
            ..Default::default()
        };
        let mut target = None;
        assert!(merge_outlier_policy(
            &mut target,
            TrafficPolicy {
                outlier_detection: Some(od(5)),
                ..Default::default()
            }
        ));
        assert!(merge_outlier_policy(
            &mut target,
            TrafficPolicy {
                outlier_detection: Some(od(5)),
                ..Default::default()
            }
        ));
        assert!(!merge_outlier_policy(
            &mut target,
            TrafficPolicy {
                outlier_detection: Some(od(3)),
                ..Default::default()
            }
        ));
        assert_eq!(target.unwrap().outlier_detection, Some(od(5)));
    }
}
