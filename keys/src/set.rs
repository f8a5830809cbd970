//! A JWK Set: the keys of one source.

use std::sync::Arc;

use serde_json::Value;

use crate::{KeyError, NativeKey};

/// A key that [`KeySet::from_jwks_json`] skipped because it failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// The key's `kid`, when it had a string one.
    pub kid: Option<String>,
    /// Why it was skipped (the [`KeyError`] message).
    pub reason: String,
}

/// The keys of one source (a JWK Set, or local secrets).
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<Arc<NativeKey>>,
}

impl KeySet {
    /// A set holding exactly `keys`.
    pub fn new(keys: Vec<Arc<NativeKey>>) -> Self {
        KeySet { keys }
    }

    /// Parse a JWK Set document (`{"keys": [...]}`).
    ///
    /// Keys that fail validation are skipped, not fatal: each is returned in
    /// the `Vec<SkippedKey>` and logged with `tracing::warn!` naming its `kid`
    /// and the reason. A document that is not JSON, not an object, or lacks a
    /// `keys` array is an error. Members other than `keys` are ignored.
    pub fn from_jwks_json(text: &str) -> Result<(KeySet, Vec<SkippedKey>), KeyError> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| KeyError::JwksNotJson(e.to_string()))?;
        let entries = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(KeyError::JwksMissingKeys)?;
        let mut keys = Vec::with_capacity(entries.len());
        let mut skipped = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            match NativeKey::from_jwk(entry) {
                Ok(key) => keys.push(Arc::new(key)),
                Err(err) => {
                    let kid = entry.get("kid").and_then(Value::as_str).map(str::to_string);
                    let reason = err.to_string();
                    tracing::warn!(
                        kid = kid.as_deref().unwrap_or("<none>"),
                        index,
                        reason = %reason,
                        "skipping invalid key in JWK Set"
                    );
                    skipped.push(SkippedKey { kid, reason });
                }
            }
        }
        Ok((KeySet { keys }, skipped))
    }

    /// The keys whose `kid` equals `kid`; with `None`, all keys.
    ///
    /// A key without a `kid` only matches `None`.
    pub fn find(&self, kid: Option<&str>) -> Vec<Arc<NativeKey>> {
        let mut found = Vec::new();
        self.find_into(kid, &mut found);
        found
    }

    /// [`KeySet::find`], appended to `found` (no allocation when it has
    /// room); returns how many were appended.
    pub fn find_into(&self, kid: Option<&str>, found: &mut Vec<Arc<NativeKey>>) -> usize {
        let before = found.len();
        match kid {
            None => found.extend(self.keys.iter().cloned()),
            Some(kid) => found.extend(
                self.keys
                    .iter()
                    .filter(|k| k.info().kid.as_deref() == Some(kid))
                    .cloned(),
            ),
        }
        found.len() - before
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<NativeKey>> {
        self.keys.iter()
    }

    /// Append `other`'s keys (duplicates, including duplicate kids, are kept).
    pub fn merge(&mut self, other: KeySet) {
        self.keys.extend(other.keys);
    }
}

#[cfg(test)]
impl FromIterator<Arc<NativeKey>> for KeySet {
    fn from_iter<I: IntoIterator<Item = Arc<NativeKey>>>(iter: I) -> Self {
        KeySet::new(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Algorithm;
    use crate::mint::SigningKey;
    use serde_json::json;

    fn ec_jwk(kid: &str) -> Value {
        SigningKey::generate(Algorithm::Es256, kid)
            .unwrap()
            .public_jwk()
    }

    #[test]
    fn invalid_keys_are_skipped_and_valid_ones_kept() {
        let mut bad = ec_jwk("bad");
        bad["use"] = json!("enc");
        let doc = json!({"keys": [bad, ec_jwk("good"), {"kty": "oct", "k": "AAAA"}]});
        let (set, skipped) = KeySet::from_jwks_json(&doc.to_string()).unwrap();
        assert_eq!(set.len(), 1);
        assert!(!set.is_empty());
        assert_eq!(
            set.iter().next().unwrap().info().kid.as_deref(),
            Some("good")
        );
        assert_eq!(skipped.len(), 2);
        assert_eq!(skipped[0].kid.as_deref(), Some("bad"));
        assert!(
            skipped[0].reason.contains("\"enc\""),
            "{}",
            skipped[0].reason
        );
        assert_eq!(skipped[1].kid, None);
        assert!(skipped[1].reason.contains("oct"), "{}", skipped[1].reason);
    }

    #[test]
    fn non_json_or_keyless_documents_are_errors() {
        assert!(matches!(
            KeySet::from_jwks_json("not json"),
            Err(KeyError::JwksNotJson(_))
        ));
        assert!(matches!(
            KeySet::from_jwks_json("{}"),
            Err(KeyError::JwksMissingKeys)
        ));
        assert!(matches!(
            KeySet::from_jwks_json(r#"{"keys": {}}"#),
            Err(KeyError::JwksMissingKeys)
        ));
        assert!(matches!(
            KeySet::from_jwks_json("[]"),
            Err(KeyError::JwksMissingKeys)
        ));
        let (empty, skipped) = KeySet::from_jwks_json(r#"{"keys": []}"#).unwrap();
        assert!(empty.is_empty() && skipped.is_empty());
    }

    #[test]
    fn find_by_kid_and_merge() {
        let doc = json!({"keys": [ec_jwk("a"), ec_jwk("b"), ec_jwk("a")]});
        let (mut set, _) = KeySet::from_jwks_json(&doc.to_string()).unwrap();
        assert_eq!(set.find(Some("a")).len(), 2);
        assert_eq!(set.find(Some("b")).len(), 1);
        assert!(set.find(Some("c")).is_empty());
        assert!(set.find(Some("A")).is_empty());
        assert_eq!(set.find(None).len(), 3);

        let mut no_kid = ec_jwk("x");
        no_kid.as_object_mut().unwrap().remove("kid");
        let anonymous = NativeKey::from_jwk(&no_kid).unwrap();
        let other: KeySet = [Arc::new(anonymous)].into_iter().collect();
        set.merge(other);
        assert_eq!(set.len(), 4);
        assert_eq!(set.find(None).len(), 4);
        assert_eq!(set.find(Some("a")).len(), 2);

        let secret =
            NativeKey::from_secret(&[7u8; 32], Some("s".into()), Algorithm::Hs256).unwrap();
        let local = KeySet::new(vec![Arc::new(secret)]);
        set.merge(local);
        assert_eq!(set.find(Some("s")).len(), 1);
    }
}
