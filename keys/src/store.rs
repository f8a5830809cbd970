//! Issuer -> keys, shared by all decisions.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::{KeySet, LookupError, NativeKey};

#[derive(Debug)]
enum Entry {
    Keys(Arc<KeySet>),
    Unavailable,
}

/// Issuer -> keys, shared by all decisions.
///
/// Reads never block on I/O: a lookup clones an `Arc` snapshot of the
/// issuer's set under a short `RwLock` read, then searches it unlocked.
/// Writers replace whole sets.
#[derive(Debug, Default)]
pub struct KeyStore {
    issuers: RwLock<HashMap<String, Entry>>,
}

impl KeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replace the issuer's key set.
    pub fn set_keys(&self, issuer: &str, keys: KeySet) {
        self.write()
            .insert(issuer.to_string(), Entry::Keys(Arc::new(keys)));
    }

    /// Record that the issuer is known but no keys could be loaded.
    ///
    /// This replaces any keys the issuer had; a caller that prefers to keep
    /// serving last-known-good keys after a failed refresh simply does not
    /// call it.
    pub fn mark_unavailable(&self, issuer: &str) {
        self.write().insert(issuer.to_string(), Entry::Unavailable);
    }

    /// Forget the issuer entirely (later lookups give [`LookupError::UnknownIssuer`]).
    #[cfg(test)]
    pub fn remove(&self, issuer: &str) {
        self.write().remove(issuer);
    }

    /// The issuer's keys whose `kid` equals `kid` (all keys with `None`).
    ///
    /// `Err(UnknownIssuer)` if keys were never set for the issuer,
    /// `Err(KeysUnavailable)` if it is marked unavailable, `Err(UnknownKey)` if
    /// no key has this kid or the set is empty.
    pub fn lookup(
        &self,
        issuer: &str,
        kid: Option<&str>,
    ) -> Result<Vec<Arc<NativeKey>>, LookupError> {
        let snapshot = match self.read().get(issuer) {
            None => return Err(LookupError::UnknownIssuer),
            Some(Entry::Unavailable) => return Err(LookupError::KeysUnavailable),
            Some(Entry::Keys(set)) => Arc::clone(set),
        };
        let found = snapshot.find(kid);
        if found.is_empty() {
            Err(LookupError::UnknownKey)
        } else {
            Ok(found)
        }
    }

    /// The issuer's whole current key set (`None` if unknown or unavailable).
    pub fn key_set(&self, issuer: &str) -> Option<Arc<KeySet>> {
        match self.read().get(issuer) {
            Some(Entry::Keys(set)) => Some(Arc::clone(set)),
            _ => None,
        }
    }

    /// The known issuers (with keys or marked unavailable), sorted.
    #[cfg(test)]
    pub fn issuers(&self) -> Vec<String> {
        let mut issuers: Vec<String> = self.read().keys().cloned().collect();
        issuers.sort();
        issuers
    }

    // A panic while holding the lock cannot leave the map half-updated (every
    // write is a single insert/remove), so a poisoned lock is still usable.
    fn read(&self) -> RwLockReadGuard<'_, HashMap<String, Entry>> {
        self.issuers.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<String, Entry>> {
        self.issuers.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Algorithm;

    fn secret_set(kids: &[&str]) -> KeySet {
        KeySet::new(
            kids.iter()
                .map(|kid| {
                    Arc::new(
                        NativeKey::from_secret(&[3u8; 32], Some((*kid).into()), Algorithm::Hs256)
                            .unwrap(),
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn lookup_errors() {
        let store = KeyStore::new();
        assert_eq!(
            store.lookup("iss", None).unwrap_err(),
            LookupError::UnknownIssuer
        );

        store.set_keys("iss", secret_set(&["k1", "k2"]));
        assert_eq!(store.lookup("iss", Some("k1")).unwrap().len(), 1);
        assert_eq!(store.lookup("iss", None).unwrap().len(), 2);
        assert_eq!(
            store.lookup("iss", Some("k3")).unwrap_err(),
            LookupError::UnknownKey
        );
        assert_eq!(
            store.lookup("other", Some("k1")).unwrap_err(),
            LookupError::UnknownIssuer
        );

        store.set_keys("empty", KeySet::default());
        assert_eq!(
            store.lookup("empty", None).unwrap_err(),
            LookupError::UnknownKey
        );

        store.mark_unavailable("iss");
        assert_eq!(
            store.lookup("iss", Some("k1")).unwrap_err(),
            LookupError::KeysUnavailable
        );
        assert!(store.key_set("iss").is_none());

        store.set_keys("iss", secret_set(&["k3"]));
        assert_eq!(store.lookup("iss", Some("k3")).unwrap().len(), 1);
        assert_eq!(
            store.lookup("iss", Some("k1")).unwrap_err(),
            LookupError::UnknownKey
        );
        assert_eq!(store.key_set("iss").map(|s| s.len()), Some(1));

        store.mark_unavailable("never-loaded");
        assert_eq!(store.issuers(), vec!["empty", "iss", "never-loaded"]);

        store.remove("iss");
        assert_eq!(
            store.lookup("iss", None).unwrap_err(),
            LookupError::UnknownIssuer
        );
    }

    #[test]
    fn concurrent_readers_see_whole_sets_while_a_writer_replaces_them() {
        let store = Arc::new(KeyStore::new());
        store.set_keys("iss", secret_set(&["a"]));
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    let mut hits = 0;
                    for _ in 0..2000 {
                        // Every snapshot is one whole set: either {a} or {b, b}.
                        match store.lookup("iss", None) {
                            Ok(keys) => {
                                let kids: Vec<_> =
                                    keys.iter().map(|k| k.info().kid.clone()).collect();
                                assert!(
                                    kids == [Some("a".to_string())]
                                        || kids == [Some("b".to_string()), Some("b".to_string())],
                                    "{kids:?}"
                                );
                                hits += 1;
                            }
                            Err(e) => panic!("lookup failed: {e}"),
                        }
                    }
                    hits
                })
            })
            .collect();
        for i in 0..200 {
            let set = if i % 2 == 0 {
                secret_set(&["b", "b"])
            } else {
                secret_set(&["a"])
            };
            store.set_keys("iss", set);
        }
        for reader in readers {
            assert_eq!(reader.join().unwrap(), 2000);
        }
    }
}
