//! The set of Istio objects being generated, with the App Mesh objects each came from.
//!
//! Several App Mesh objects can feed one Istio object (a VirtualService and its router
//! become one VirtualService; route idle timeouts, node policies and subsets all land in the
//! one DestinationRule of a host), so translation modules ask for objects by what they are
//! about (a host, a workload) instead of building them independently. Istio honours only
//! one DestinationRule per host and one mesh VirtualService per host, which this enforces
//! by construction.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};

use hashbrown::{Equivalent, HashMap, HashSet};

use crate::istio::{
    DestinationRule, DestinationRuleSpec, IstioObject, MANAGED_BY_LABEL, MANAGED_BY_VALUE,
    Metadata, VirtualService, VirtualServiceSpec,
};
use crate::origin::ObjectRef;

use super::SOURCE_ANNOTATION;
use super::names;

/// Key of one generated object: kind, namespace, name.
pub type OutputKey = (&'static str, String, String);

#[derive(Debug)]
struct Entry<T> {
    object: T,
    sources: BTreeSet<ObjectRef>,
}

impl<T> Entry<T> {
    fn new(object: T, source: &ObjectRef) -> Entry<T> {
        Entry {
            object,
            sources: BTreeSet::from([source.clone()]),
        }
    }
}

/// Objects are boxed in vectors and found through hash indexes: an `IstioObject` is half a
/// kilobyte, which ordered maps (or growing vectors of them) would move around again and
/// again, and ordered maps would compare strings on every lookup. Order is decided once, in
/// [`finish`].
///
/// [`finish`]: OutputSet::finish
// Boxed on purpose (clippy's vec_box): growing vectors of half-kilobyte objects measurably
// moved memory around at 10,000 objects (convert-bench).
#[allow(clippy::vec_box)]
#[derive(Debug, Default)]
pub struct OutputSet {
    entries: Vec<Box<Entry<IstioObject>>>,
    by_key: HashMap<OutputKey, usize>,
    /// Istio applies one DestinationRule per host.
    destination_rules: PerHost<DestinationRule>,
    /// Istio merges mesh VirtualServices per host badly (IST0109).
    mesh_virtual_services: PerHost<VirtualService>,
    used_names: UsedNames,
    /// ServiceEntries by each of their hosts (the first one declaring a host wins). Modules
    /// only add ports to an entry after inserting it, never hosts, so this stays true.
    service_entries_by_host: HashMap<String, OutputKey>,
}

/// An [`OutputKey`] made of borrowed parts, to look names up without allocating.
struct KeyRef<'a>(&'static str, &'a str, &'a str);

/// Hashes exactly as the tuple [`OutputKey`] does (a `String` hashes as its `str`).
impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
        self.1.hash(state);
        self.2.hash(state);
    }
}

impl Equivalent<OutputKey> for KeyRef<'_> {
    fn equivalent(&self, key: &OutputKey) -> bool {
        self.0 == key.0 && self.1 == key.1 && self.2 == key.2
    }
}

/// Objects of which there is one per host, boxed for the same reason as the others.
#[allow(clippy::vec_box)]
#[derive(Debug)]
struct PerHost<T> {
    entries: Vec<Box<Entry<T>>>,
    by_host: HashMap<String, usize>,
}

impl<T> Default for PerHost<T> {
    fn default() -> Self {
        PerHost {
            entries: Vec::new(),
            by_host: HashMap::new(),
        }
    }
}

impl<T> PerHost<T> {
    /// The object for `host`, made by `make` if there is none yet; `source` is recorded as
    /// one of its sources either way.
    fn get_or_make(&mut self, host: &str, source: &ObjectRef, make: impl FnOnce() -> T) -> &mut T {
        let index = match self.by_host.get(host) {
            Some(&index) => index,
            None => {
                self.entries.push(Box::new(Entry::new(make(), source)));
                let index = self.entries.len() - 1;
                self.by_host.insert(host.to_owned(), index);
                index
            }
        };
        // The index was handed out above, for an element never removed.
        let entry = &mut self.entries[index];
        entry.sources.insert(source.clone());
        &mut entry.object
    }
}

/// Every (kind, namespace, name) in use, so choosing a free name costs a lookup, not a scan
/// (conversion stays linear in the number of objects).
#[derive(Debug, Default)]
struct UsedNames(HashSet<OutputKey>);

impl UsedNames {
    fn taken(&self, kind: &'static str, namespace: &str, name: &str) -> bool {
        self.0.contains(&KeyRef(kind, namespace, name))
    }

    /// See [`OutputSet::free_name`].
    fn free_name(
        &self,
        kind: &'static str,
        namespace: &str,
        preferred: &str,
        disambiguator: &str,
    ) -> String {
        let base = names::object_name(preferred);
        if !self.taken(kind, namespace, &base) {
            return base;
        }
        let hashed = format!(
            "{}-{}",
            names::dns1123_label(preferred, 55),
            names::short_hash(disambiguator)
        );
        let mut candidate = hashed.clone();
        let mut n = 2;
        while self.taken(kind, namespace, &candidate) {
            candidate = format!("{hashed}-{n}");
            n += 1;
        }
        candidate
    }

    /// [`UsedNames::free_name`], marked as used.
    fn reserve(
        &mut self,
        kind: &'static str,
        namespace: &str,
        preferred: &str,
        disambiguator: &str,
    ) -> String {
        let name = self.free_name(kind, namespace, preferred, disambiguator);
        self.0.insert((kind, namespace.to_owned(), name.clone()));
        name
    }
}

fn key_of(object: &IstioObject) -> OutputKey {
    (
        object.kind(),
        object.namespace().unwrap_or_default().to_owned(),
        object.name().to_owned(),
    )
}

impl OutputSet {
    /// A name for a new object of `kind` in `namespace` that no other object uses yet:
    /// `preferred` (sanitised) if free, else with a hash of `disambiguator` appended.
    pub fn free_name(
        &self,
        kind: &'static str,
        namespace: &str,
        preferred: &str,
        disambiguator: &str,
    ) -> String {
        self.used_names
            .free_name(kind, namespace, preferred, disambiguator)
    }

    /// Add a new object. If an object with the same kind, namespace and name exists, the
    /// new one is renamed (never silently replaced). Returns its final key.
    pub fn insert(&mut self, object: impl Into<IstioObject>, source: &ObjectRef) -> OutputKey {
        let mut object = object.into();
        let mut key = key_of(&object);
        if self.used_names.taken(key.0, &key.1, &key.2) {
            let name = self.free_name(key.0, &key.1, &key.2, &source.to_string());
            object.metadata_mut().name = name;
            key = key_of(&object);
        }
        self.used_names.0.insert(key.clone());
        if let IstioObject::ServiceEntry(se) = &object {
            for host in &se.spec.hosts {
                self.service_entries_by_host
                    .entry(host.clone())
                    .or_insert_with(|| key.clone());
            }
        }
        self.by_key.insert(key.clone(), self.entries.len());
        self.entries.push(Box::new(Entry::new(object, source)));
        key
    }

    fn entry_mut(&mut self, key: &OutputKey) -> Option<&mut Entry<IstioObject>> {
        let &index = self.by_key.get(key)?;
        self.entries.get_mut(index).map(|e| &mut **e)
    }

    pub fn get_mut(&mut self, key: &OutputKey) -> Option<&mut IstioObject> {
        self.entry_mut(key).map(|e| &mut e.object)
    }

    /// The ServiceEntry (made by any module) that declares `host`, if there is one: an
    /// indexed lookup, since every non-Service host of a VirtualService asks for it.
    pub fn service_entry_for_host(&self, host: &str) -> Option<OutputKey> {
        self.service_entries_by_host.get(host).cloned()
    }

    /// Record that `source` also contributed to the object at `key`.
    pub fn add_source(&mut self, key: &OutputKey, source: &ObjectRef) {
        if let Some(e) = self.entry_mut(key) {
            e.sources.insert(source.clone());
        }
    }

    /// The one DestinationRule for `host`, created in `namespace` if it does not exist yet.
    pub fn destination_rule(
        &mut self,
        host: &str,
        namespace: &str,
        source: &ObjectRef,
    ) -> &mut DestinationRuleSpec {
        let used_names = &mut self.used_names;
        let make = || {
            let name = used_names.reserve(
                DestinationRule::KIND,
                namespace,
                &names::name_for_host(host),
                host,
            );
            let spec = DestinationRuleSpec {
                host: host.to_owned(),
                ..DestinationRuleSpec::default()
            };
            DestinationRule::new(Metadata::new(name, namespace), spec)
        };
        &mut self.destination_rules.get_or_make(host, source, make).spec
    }

    /// The one mesh-bound VirtualService for `host`, created as `name` in `namespace` if new.
    pub fn mesh_virtual_service(
        &mut self,
        host: &str,
        namespace: &str,
        name: &str,
        source: &ObjectRef,
    ) -> &mut VirtualServiceSpec {
        let used_names = &mut self.used_names;
        let make = || {
            let name = used_names.reserve(VirtualService::KIND, namespace, name, host);
            let spec = VirtualServiceSpec {
                hosts: vec![host.to_owned()],
                ..VirtualServiceSpec::default()
            };
            VirtualService::new(Metadata::new(name, namespace), spec)
        };
        &mut self
            .mesh_virtual_services
            .get_or_make(host, source, make)
            .spec
    }

    /// The mesh-bound VirtualService made for `host`, if any.
    pub fn find_mesh_virtual_service(&self, host: &str) -> Option<&VirtualService> {
        let &index = self.mesh_virtual_services.by_host.get(host)?;
        self.mesh_virtual_services
            .entries
            .get(index)
            .map(|e| &e.object)
    }

    /// [`OutputSet::find_mesh_virtual_service`], to change its routes, recording `source`.
    pub fn find_mesh_virtual_service_mut(
        &mut self,
        host: &str,
        source: &ObjectRef,
    ) -> Option<&mut VirtualService> {
        let &index = self.mesh_virtual_services.by_host.get(host)?;
        let entry = self.mesh_virtual_services.entries.get_mut(index)?;
        entry.sources.insert(source.clone());
        Some(&mut entry.object)
    }

    /// Every object, sorted, stamped with our label and the source annotation, with the
    /// sources of each. DestinationRules that ended up with nothing to say are dropped (an
    /// empty one is invalid in Istio and would mean nothing anyway), as are VirtualServices
    /// without routes.
    pub fn finish(self) -> Vec<(IstioObject, Vec<ObjectRef>)> {
        let most = self.entries.len()
            + self.destination_rules.entries.len()
            + self.mesh_virtual_services.entries.len();
        let destination_rules = self
            .destination_rules
            .entries
            .into_iter()
            .filter(|e| {
                e.object
                    .spec
                    .traffic_policy
                    .as_ref()
                    .is_some_and(|t| !t.is_empty())
                    || !e.object.spec.subsets.is_empty()
            })
            .map(|e| Entry {
                object: IstioObject::from(e.object),
                sources: e.sources,
            });
        let virtual_services = self
            .mesh_virtual_services
            .entries
            .into_iter()
            .filter(|e| !e.object.spec.http.is_empty() || !e.object.spec.tcp.is_empty())
            .map(|e| Entry {
                object: IstioObject::from(e.object),
                sources: e.sources,
            });
        let mut out: Vec<(IstioObject, Vec<ObjectRef>)> = Vec::with_capacity(most);
        out.extend(
            self.entries
                .into_iter()
                .map(|e| *e)
                .chain(destination_rules)
                .chain(virtual_services)
                .map(|e| {
                    let sources: Vec<ObjectRef> = e.sources.into_iter().collect();
                    let mut object = e.object;
                    let meta = object.metadata_mut();
                    meta.labels
                        .insert(MANAGED_BY_LABEL.to_owned(), MANAGED_BY_VALUE.to_owned());
                    let mut annotation = String::new();
                    for (i, source) in sources.iter().enumerate() {
                        let separator = if i == 0 { "" } else { ", " };
                        // Writing into a String cannot fail.
                        let _ = write!(annotation, "{separator}{source}");
                    }
                    meta.annotations
                        .insert(SOURCE_ANNOTATION.to_owned(), annotation);
                    (object, sources)
                }),
        );
        // Sort positions, then move each object once: sorting the objects themselves would
        // move every one of them log(n) times.
        let mut order: Vec<usize> = (0..out.len()).collect();
        order.sort_by(|&a, &b| out[a].0.sort_key().cmp(&out[b].0.sort_key()));
        let mut slots: Vec<Option<(IstioObject, Vec<ObjectRef>)>> =
            out.into_iter().map(Some).collect();
        let mut sorted = Vec::with_capacity(slots.len());
        sorted.extend(
            order
                .into_iter()
                .filter_map(|i| slots.get_mut(i).and_then(Option::take)),
        );
        sorted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::istio::{HttpRoute, TrafficPolicy};

    #[test]
    fn one_destination_rule_per_host_collecting_all_sources() {
        let mut set = OutputSet::default();
        let a = ObjectRef::new("VirtualNode", Some("shop"), "cart-v1");
        let b = ObjectRef::new("VirtualRouter", Some("shop"), "cart");
        set.destination_rule("cart.shop.svc.cluster.local", "shop", &a)
            .traffic_policy = Some(TrafficPolicy::default());
        let dr = set.destination_rule("cart.shop.svc.cluster.local", "shop", &b);
        dr.subsets.push(crate::istio::Subset {
            name: "v1".into(),
            ..Default::default()
        });
        let out = set.finish();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0.name(), "cart");
        assert_eq!(out[0].1, vec![a, b]);
        assert_eq!(
            out[0].0.metadata().annotations[SOURCE_ANNOTATION],
            "VirtualNode shop/cart-v1, VirtualRouter shop/cart"
        );
        assert_eq!(
            out[0].0.metadata().labels[MANAGED_BY_LABEL],
            MANAGED_BY_VALUE
        );
    }

    #[test]
    fn empty_destination_rules_and_routeless_virtual_services_are_dropped() {
        let mut set = OutputSet::default();
        let src = ObjectRef::new("VirtualService", Some("shop"), "cart");
        set.destination_rule("cart.shop.svc.cluster.local", "shop", &src);
        set.mesh_virtual_service("cart.shop.svc.cluster.local", "shop", "cart", &src);
        set.mesh_virtual_service("pay.shop.svc.cluster.local", "shop", "pay", &src)
            .http
            .push(HttpRoute::default());
        let out = set.finish();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0.name(), "pay");
    }

    #[test]
    fn service_entries_are_found_by_any_of_their_hosts() {
        use crate::istio::{ServiceEntry, ServiceEntrySpec};
        let mut set = OutputSet::default();
        let src = ObjectRef::new("VirtualNode", Some("demo"), "blue");
        let spec = ServiceEntrySpec {
            hosts: vec!["color.demo.local".into(), "colour.demo.local".into()],
            ..ServiceEntrySpec::default()
        };
        let key = set.insert(
            ServiceEntry::new(Metadata::new("color", "demo"), spec),
            &src,
        );
        assert_eq!(
            set.service_entry_for_host("colour.demo.local"),
            Some(key.clone())
        );
        assert_eq!(set.service_entry_for_host("color.demo.local"), Some(key));
        assert_eq!(set.service_entry_for_host("other.demo.local"), None);
    }

    #[test]
    fn name_clashes_are_renamed_not_replaced() {
        let mut set = OutputSet::default();
        let src = ObjectRef::new("VirtualService", Some("shop"), "cart");
        set.mesh_virtual_service("cart.shop.svc.cluster.local", "shop", "cart", &src)
            .http
            .push(HttpRoute::default());
        set.mesh_virtual_service("cart.other.example.com", "shop", "cart", &src)
            .http
            .push(HttpRoute::default());
        let out = set.finish();
        assert_eq!(out.len(), 2);
        assert_ne!(out[0].0.name(), out[1].0.name());
    }
}
