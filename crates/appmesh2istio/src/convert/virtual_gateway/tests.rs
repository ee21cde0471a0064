//! Unit tests of the VirtualGateway translation: ports, TLS secret names, server hosts.

use super::ports::*;
use super::tls::*;
use super::*;
use crate::k8s::Service;
use crate::resolve::NsName;

#[test]
fn listener_ports_map_onto_the_default_ingress_service() {
    assert_eq!(default_service_port(80), Some(80));
    assert_eq!(default_service_port(8080), Some(80));
    assert_eq!(default_service_port(8443), Some(443));
    assert_eq!(default_service_port(8088), None);
    assert_eq!(
        default_service_port(15021),
        None,
        "the status port carries no traffic"
    );
}

fn listener(listener: u32, server: u32, client: Option<&str>) -> ListenerPort {
    ListenerPort {
        index: 0,
        listener,
        server,
        client: client.map(str::to_owned),
        name: format!("http-{server}"),
    }
}

#[test]
fn clients_keep_the_port_of_the_gateway_service() {
    // Service port 80 -> listener 8088: the ingress gateway's own port 80 serves it.
    assert_eq!(
        listener(8088, 80, Some("Service shop/gw port 80")).ingress_port(),
        (80, true)
    );
    // A Service port the default ingress Service lacks must be added, even if it is one
    // of its target ports.
    assert_eq!(
        listener(8080, 8080, Some("Service shop/gw port 8080")).ingress_port(),
        (8080, false)
    );
    // Without a known Service, the listener port may be a target port of the default one.
    assert_eq!(listener(8080, 8080, None).ingress_port(), (80, true));
    assert_eq!(listener(8088, 8088, None).ingress_port(), (8088, false));
}

#[test]
fn client_port_is_the_service_port_targeting_the_listener() {
    let service = |ports: Vec<(i64, Option<&str>)>| Service {
        namespace: "shop".into(),
        name: "gw".into(),
        labels: BTreeMap::new(),
        selector: Some(BTreeMap::from([("app".into(), "gw".into())])),
        ports: ports
            .into_iter()
            .map(|(port, target)| crate::k8s::ServicePort {
                name: None,
                port,
                target_port: target.map(str::to_owned),
                protocol: None,
                app_protocol: None,
            })
            .collect(),
        type_: Some("LoadBalancer".into()),
        cluster_ip: None,
        external_name: None,
    };
    let lb = service(vec![(80, Some("8088")), (443, Some("8443"))]);
    assert_eq!(
        client_port(&[&lb], 8443),
        Some((443, "Service shop/gw port 443".into()))
    );
    assert_eq!(client_port(&[&lb], 9000), None);
    let same = service(vec![(9000, None)]);
    assert_eq!(client_port(&[&same], 9000).map(|(p, _)| p), Some(9000));
}

#[test]
fn added_privileged_ports_target_an_unprivileged_port() {
    let p = extra_service_port(81, "http-81".into());
    assert_eq!((p.port, p.target_port), (81, Some(8081)));
    let p = extra_service_port(9443, "https-9443".into());
    assert_eq!((p.port, p.target_port), (9443, Some(9443)));
    let defaults = default_ingress_ports();
    assert_eq!(
        defaults.iter().map(|p| p.port).collect::<Vec<_>>(),
        [15021, 80, 443]
    );
}

#[test]
fn secret_names_are_labels_unique_per_gateway_and_port() {
    let key = NsName::new("shop", "ingress-gw");
    assert_eq!(secret_name(&key, 443), "shop-ingress-gw-443-tls");
    let odd = secret_name(&NsName::new("shop", "Ingress_GW"), 443);
    assert!(names::is_dns1123_label(&odd), "{odd}");
    assert_ne!(odd, secret_name(&NsName::new("shop", "ingress-gw"), 8443));
}

#[test]
fn servers_without_routes_still_name_a_host() {
    let served = vec![
        ServedHost {
            namespace: "shop".into(),
            host: "*".into(),
            ports: None,
        },
        ServedHost {
            namespace: "web".into(),
            host: "a.example.com".into(),
            ports: Some(BTreeSet::from([8443])),
        },
    ];
    assert_eq!(server_hosts(&served, 8080, "gw"), ["shop/*"]);
    assert_eq!(
        server_hosts(&served, 8443, "gw"),
        ["shop/*", "web/a.example.com"]
    );
    assert_eq!(server_hosts(&[], 8080, "gw"), ["gw/*"]);
}
