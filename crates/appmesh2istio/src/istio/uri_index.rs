//! Earlier HTTP match conditions indexed by their `uri`, for the checks that ask, rule by
//! rule, whether an earlier rule already matches everything a later one matches (gateway
//! routes hidden by earlier ones, Istio's IST0131 "ineffective match").
//!
//! Scanning every earlier rule makes those checks quadratic, and one gateway host with a
//! thousand routes is an ordinary App Mesh setup. An earlier condition can only cover a later
//! one if its `uri` admits every uri the later one admits: no `uri` at all, the same `uri`, or
//! a prefix of the later path. The index finds exactly those in a few lookups.

use std::collections::{BTreeSet, HashMap};

use super::StringMatch;

/// Whether the `earlier` uri condition admits every uri `later` admits: it has no condition,
/// the same one, or a `prefix` of the later `prefix` or `exact` path.
pub fn uri_covers(earlier: Option<&StringMatch>, later: Option<&StringMatch>) -> bool {
    match (earlier, later) {
        (None, _) => true,
        (Some(StringMatch::Prefix(p)), Some(StringMatch::Prefix(q) | StringMatch::Exact(q))) => {
            q.starts_with(p.as_str())
        }
        (Some(a), Some(b)) => a == b,
        (Some(_), None) => false,
    }
}

/// Ids (positions in the caller's order) of earlier conditions, by their `uri`.
#[derive(Debug, Default)]
pub struct UriIndex {
    /// Conditions without `uri`.
    any: Vec<usize>,
    /// `uri.prefix` conditions by prefix.
    prefixes: HashMap<String, Vec<usize>>,
    /// The distinct lengths of those prefixes: a later path is probed at these lengths only.
    prefix_lengths: BTreeSet<usize>,
    /// Every other `uri` condition, by value (only an equal condition can cover it).
    others: HashMap<StringMatch, Vec<usize>>,
}

impl UriIndex {
    /// Records an earlier condition. Ids must be inserted in ascending order.
    pub fn insert(&mut self, uri: Option<&StringMatch>, id: usize) {
        match uri {
            None => self.any.push(id),
            Some(StringMatch::Prefix(p)) => {
                self.prefix_lengths.insert(p.len());
                self.prefixes.entry(p.clone()).or_default().push(id);
            }
            Some(other) => self.others.entry(other.clone()).or_default().push(id),
        }
    }

    /// The ids, ascending and without repeats, of the earlier conditions whose `uri`
    /// [`uri_covers`] `later`. The caller checks the rest of each condition.
    pub fn covering(&self, later: Option<&StringMatch>) -> Vec<usize> {
        let mut ids = self.any.clone();
        if let Some(uri) = later {
            if let Some(equal) = self.others.get(uri) {
                ids.extend_from_slice(equal);
            }
            if let StringMatch::Prefix(path) | StringMatch::Exact(path) = uri {
                for &len in self.prefix_lengths.range(..=path.len()) {
                    let Some(prefix) = path.get(..len) else {
                        continue;
                    };
                    if let Some(found) = self.prefixes.get(prefix) {
                        ids.extend_from_slice(found);
                    }
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(p: &str) -> Option<StringMatch> {
        Some(StringMatch::Prefix(p.to_owned()))
    }

    fn exact(p: &str) -> Option<StringMatch> {
        Some(StringMatch::Exact(p.to_owned()))
    }

    #[test]
    fn uri_covers_by_absence_equality_or_prefix() {
        assert!(uri_covers(None, exact("/a").as_ref()));
        assert!(uri_covers(prefix("/a").as_ref(), exact("/a/b").as_ref()));
        assert!(uri_covers(prefix("/a").as_ref(), prefix("/ab").as_ref()));
        assert!(uri_covers(exact("/a").as_ref(), exact("/a").as_ref()));
        assert!(!uri_covers(exact("/a").as_ref(), prefix("/a").as_ref()));
        assert!(!uri_covers(prefix("/ab").as_ref(), prefix("/a").as_ref()));
        assert!(!uri_covers(prefix("/a").as_ref(), None));
        let regex = Some(StringMatch::Regex("/a.*".to_owned()));
        assert!(!uri_covers(prefix("/").as_ref(), regex.as_ref()));
        assert!(uri_covers(regex.as_ref(), regex.as_ref()));
    }

    #[test]
    fn finds_missing_equal_and_prefix_uris_in_order() {
        let earlier = [
            prefix("/api"),
            exact("/api/v1/users"),
            None,
            prefix("/api/v1"),
            Some(StringMatch::Regex("/api/.*".to_owned())),
            prefix("/web"),
            prefix("/api/v1/users/x"),
            prefix("/"),
        ];
        let mut index = UriIndex::default();
        for (id, uri) in earlier.iter().enumerate() {
            index.insert(uri.as_ref(), id);
        }
        assert_eq!(
            index.covering(exact("/api/v1/users").as_ref()),
            [0, 1, 2, 3, 7]
        );
        assert_eq!(
            index.covering(prefix("/api/v1/users").as_ref()),
            [0, 2, 3, 7]
        );
        assert_eq!(index.covering(prefix("/web").as_ref()), [2, 5, 7]);
        assert_eq!(
            index.covering(Some(&StringMatch::Regex("/api/.*".to_owned()))),
            [2, 4]
        );
        assert_eq!(index.covering(None), [2]);
    }

    #[test]
    fn agrees_with_uri_covers_on_every_pair() {
        // Paths sharing prefixes of many lengths, multi-byte characters included, so probes
        // land inside a character too.
        let paths = ["/", "/a", "/ab", "/abc", "/a/b", "/é", "/éa", "/b", ""];
        let mut uris = vec![None];
        for p in paths {
            uris.push(prefix(p));
            uris.push(exact(p));
            uris.push(Some(StringMatch::Regex(p.to_owned())));
        }
        let mut index = UriIndex::default();
        for (id, uri) in uris.iter().enumerate() {
            index.insert(uri.as_ref(), id);
        }
        for later in &uris {
            let expected: Vec<usize> = uris
                .iter()
                .enumerate()
                .filter(|(_, e)| uri_covers(e.as_ref(), later.as_ref()))
                .map(|(id, _)| id)
                .collect();
            assert_eq!(index.covering(later.as_ref()), expected, "later {later:?}");
        }
    }
}
