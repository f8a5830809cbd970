//! Issuer -> keys, shared by all decisions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
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
///
/// Every write ([`KeyStore::set_keys`], [`KeyStore::mark_unavailable`],
/// `remove`) bumps the store's [`KeyStore::generation`], so a cache of
/// decisions made with these keys can tell that they may have changed.
#[derive(Debug, Default)]
pub struct KeyStore {
    issuers: RwLock<HashMap<String, Entry>>,
    generation: AtomicU64,
}

impl KeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replace the issuer's key set (a new [`KeyStore::generation`]).
    pub fn set_keys(&self, issuer: &str, keys: KeySet) {
        let mut issuers = self.write();
        issuers.insert(issuer.to_string(), Entry::Keys(Arc::new(keys)));
        self.bump(&issuers);
    }

    /// Record that the issuer is known but no keys could be loaded.
    ///
    /// This replaces any keys the issuer had; a caller that prefers to keep
    /// serving last-known-good keys after a failed refresh simply does not
    /// call it.
    ///
    /// A new [`KeyStore::generation`].
    pub fn mark_unavailable(&self, issuer: &str) {
        let mut issuers = self.write();
        issuers.insert(issuer.to_string(), Entry::Unavailable);
        self.bump(&issuers);
    }

    /// Forget the issuer entirely (later lookups give [`LookupError::UnknownIssuer`]).
    #[cfg(test)]
    pub fn remove(&self, issuer: &str) {
        let mut issuers = self.write();
        issuers.remove(issuer);
        self.bump(&issuers);
    }

    /// The key-set generation: a number that changes with every write to
    /// the store (any issuer's keys replaced, marked unavailable or
    /// removed), whether or not the keys differ. Equal generations mean no
    /// key changed in between.
    ///
    /// A writer bumps it after its change, while still holding the lock: a
    /// reader that loads the generation and then looks keys up sees keys at
    /// least as new as that generation, so something decided with keys read
    /// after loading generation `g` is safe to remember under `g` (the keys
    /// may only be newer, and a newer write moves the generation on).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The next generation; called with the write lock held, after the change.
    fn bump(&self, _held: &HashMap<String, Entry>) {
        self.generation.fetch_add(1, Ordering::Release);
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
        let mut found = Vec::new();
        self.lookup_into(issuer, kid, &mut found)?;
        Ok(found)
    }

    /// [`KeyStore::lookup`], appended to `found` (no allocation when it has
    /// room): how many keys were appended, at least one.
    pub fn lookup_into(
        &self,
        issuer: &str,
        kid: Option<&str>,
        found: &mut Vec<Arc<NativeKey>>,
    ) -> Result<usize, LookupError> {
        let snapshot = match self.read().get(issuer) {
            None => return Err(LookupError::UnknownIssuer),
            Some(Entry::Unavailable) => return Err(LookupError::KeysUnavailable),
            Some(Entry::Keys(set)) => Arc::clone(set),
        };
        match snapshot.find_into(kid, found) {
            0 => Err(LookupError::UnknownKey),
            appended => Ok(appended),
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
    fn every_write_is_a_new_generation_and_reads_are_not() {
        let store = KeyStore::new();
        let mut seen = vec![store.generation()];
        let mut changed = |store: &KeyStore| {
            let now = store.generation();
            assert!(
                !seen.contains(&now),
                "generation {now} seen before: {seen:?}"
            );
            seen.push(now);
        };
        store.set_keys("iss", secret_set(&["k1"]));
        changed(&store);
        // The same keys again: still a write, still a new generation.
        store.set_keys("iss", secret_set(&["k1"]));
        changed(&store);
        store.set_keys("other", secret_set(&["k2"]));
        changed(&store);
        store.mark_unavailable("iss");
        changed(&store);
        store.remove("other");
        changed(&store);
        // Reads change nothing.
        let before = store.generation();
        let _ = store.lookup("iss", Some("k1"));
        let _ = store.key_set("other");
        let _ = store.issuers();
        assert_eq!(store.generation(), before);
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
