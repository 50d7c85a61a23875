//! Internal keys for objects on the packet path: small integers instead of the UUID strings
//! the API uses, so per-packet lookups hash a `u32`.

use rustc_hash::FxHashMap as HashMap;

/// String id ↔ internal key for one class of object.
#[derive(Debug, Default)]
pub struct IdMap {
    by_id: HashMap<String, u32>,
    next: u32,
}

impl IdMap {
    pub fn insert(&mut self, id: &str) -> u32 {
        self.next += 1;
        self.by_id.insert(id.to_string(), self.next);
        self.next
    }
    pub fn get(&self, id: &str) -> Option<u32> {
        self.by_id.get(id).copied()
    }
    /// The key of `id`, or mediasoup's NotFoundError message ("Producer not found [producerId:…]").
    pub fn require(
        &self,
        id: &str,
        class: &str,
        field: &str,
    ) -> Result<u32, crate::core::message::CoreError> {
        self.get(id).ok_or_else(|| {
            crate::core::message::CoreError::not_found(format!("{class} not found [{field}:{id}]"))
        })
    }
    pub fn remove(&mut self, id: &str) -> Option<u32> {
        self.by_id.remove(id)
    }
    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }
}

/// The string ids of the entries that `keys` name in `map`, in the order of `keys`, skipping
/// keys whose entry is gone: how dumps list the ids of a parent's children.
pub fn ids_of<'a, T>(
    keys: impl IntoIterator<Item = &'a u32>,
    map: &HashMap<u32, T>,
    id: impl Fn(&T) -> &String,
) -> Vec<String> {
    keys.into_iter()
        .filter_map(|k| map.get(k))
        .map(|t| id(t).clone())
        .collect()
}
