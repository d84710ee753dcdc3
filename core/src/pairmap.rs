//! `PairMap`: a map keyed by two names, the first kept once for all the second names
//! under it (a channel's name for all its members, a relay's for all it holds).
//!
//! Keyed by `(String, String)`, every entry would carry its own copy of the first name:
//! in a channel of 20,000 that is 20,000 copies of the channel's name, each a heap
//! allocation and 24 bytes in the table.

use std::collections::HashMap;

#[derive(Clone, Debug)]
pub struct PairMap<V> {
    outer: HashMap<String, HashMap<String, V>>,
}

impl<V> Default for PairMap<V> {
    fn default() -> Self {
        PairMap { outer: HashMap::new() }
    }
}

impl<V> PairMap<V> {
    pub fn get(&self, a: &str, b: &str) -> Option<&V> {
        self.outer.get(a)?.get(b)
    }

    pub fn contains(&self, a: &str, b: &str) -> bool {
        self.get(a, b).is_some()
    }

    /// Names are copied only when new to the map.
    pub fn insert(&mut self, a: &str, b: &str, value: V) -> Option<V> {
        let inner = match self.outer.get_mut(a) {
            Some(inner) => inner,
            None => self.outer.entry(a.to_string()).or_default(),
        };
        match inner.get_mut(b) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => inner.insert(b.to_string(), value),
        }
    }

    pub fn remove(&mut self, a: &str, b: &str) -> Option<V> {
        let inner = self.outer.get_mut(a)?;
        let value = inner.remove(b);
        if inner.is_empty() {
            self.outer.remove(a);
        }
        value
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str, &mut V) -> bool) {
        self.outer.retain(|a, inner| {
            inner.retain(|b, value| keep(a, b, value));
            !inner.is_empty()
        });
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &V)> {
        self.outer
            .iter()
            .flat_map(|(a, inner)| inner.iter().map(move |(b, value)| (a.as_str(), b.as_str(), value)))
    }

    pub fn clear(&mut self) {
        self.outer.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.outer.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_found_by_both_names_and_an_emptied_group_goes() {
        let mut map = PairMap::default();
        assert_eq!(map.insert("/room", "ann", 1), None);
        assert_eq!(map.insert("/room", "ann", 2), Some(1));
        map.insert("/room", "bob", 3);
        map.insert("/hall", "ann", 4);
        assert_eq!(map.get("/room", "ann"), Some(&2));
        assert_eq!(map.get("/hall", "bob"), None);
        assert_eq!(map.iter().count(), 3);
        assert_eq!(map.remove("/hall", "ann"), Some(4));
        assert_eq!(map.outer.len(), 1, "the emptied group is gone");
        map.retain(|_, b, _| b != "bob");
        assert_eq!(
            map.iter().map(|(a, b, v)| (a, b, *v)).collect::<Vec<_>>(),
            vec![("/room", "ann", 2)]
        );
        map.retain(|_, _, _| false);
        assert!(map.is_empty(), "retain drops the groups it empties");
    }
}
