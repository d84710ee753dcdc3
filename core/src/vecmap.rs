//! `VecMap` and `VecSet`: the key-ordered map and set of the relay's per-member and
//! per-connection records, kept as a sorted vector.
//!
//! Most of these hold one entry (a member's one client, a connection's one channel),
//! and the relay keeps one per present member: what the empty or one-entry case costs
//! is memory per member. A `BTreeMap` allocates a whole node of 11 slots for its first
//! entry (720 bytes for a member's holders), a `HashMap` 4 buckets and its control
//! bytes; a vector allocates exactly what it holds while it is small. Lookups are
//! binary searches, and iteration is in key order, as a `BTreeMap`'s.

use std::borrow::Borrow;

/// Grown one slot at a time up to this many entries (what a member or a connection
/// usually holds), then by doubling.
const EXACT_UP_TO: usize = 8;

/// A map kept as a vector sorted by key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VecMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap(Vec::new())
    }
}

impl<K: Ord, V> VecMap<K, V> {
    pub fn new() -> Self {
        VecMap(Vec::new())
    }

    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.0.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &mut self.0[i].1)
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    /// Insert or replace; returns the value replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                if self.0.len() == self.0.capacity() && self.0.len() < EXACT_UP_TO {
                    self.0.reserve_exact(1);
                }
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let i = self.find(key).ok()?;
        let (_, value) = self.0.remove(i);
        if self.0.is_empty() {
            // An emptied map holds nothing, as an empty one.
            self.0 = Vec::new();
        }
        Some(value)
    }
}

impl<K, V> VecMap<K, V> {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.0.iter_mut().map(|(_, v)| v)
    }
}

/// A set kept as a sorted vector: a [`VecMap`] without values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VecSet<K>(VecMap<K, ()>);

impl<K: Ord> VecSet<K> {
    pub fn new() -> Self {
        VecSet(VecMap::new())
    }

    pub fn contains<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.0.contains_key(key)
    }

    /// False if it was there already.
    pub fn insert(&mut self, key: K) -> bool {
        self.0.insert(key, ()).is_none()
    }

    /// False if it was not there.
    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.0.remove(key).is_some()
    }
}

impl<K> VecSet<K> {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.0.keys()
    }
}

impl<'a, K> IntoIterator for &'a VecSet<K> {
    type Item = &'a K;
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, ())>, fn(&'a (K, ())) -> &'a K>;

    fn into_iter(self) -> Self::IntoIter {
        (self.0).0.iter().map(|(k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vecmap_iterates_in_key_order_whatever_the_order_of_insertion() {
        let mut map = VecMap::new();
        for k in ["c", "a", "b"] {
            assert_eq!(map.insert(k.to_string(), k.len()), None);
        }
        assert_eq!(map.insert("a".to_string(), 7), Some(1));
        assert_eq!(map.keys().map(String::as_str).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(map.get("a"), Some(&7));
        assert_eq!(map.remove("b"), Some(1));
        assert!(!map.contains_key("b"));
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn a_small_vecmap_holds_exactly_its_entries_and_an_emptied_one_nothing() {
        let mut map = VecMap::new();
        map.insert(1u64, ());
        assert_eq!(map.0.capacity(), 1);
        map.insert(2, ());
        assert_eq!(map.0.capacity(), 2);
        map.remove(&1);
        map.remove(&2);
        assert_eq!(map.0.capacity(), 0);
    }

    #[test]
    fn a_vecset_inserts_once() {
        let mut set = VecSet::new();
        assert!(set.insert("/a".to_string()));
        assert!(!set.insert("/a".to_string()));
        assert!(set.contains("/a"));
        assert_eq!((&set).into_iter().count(), 1);
        assert!(set.remove("/a"));
        assert!(set.is_empty());
    }
}
