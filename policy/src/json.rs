//! A token's JSON (header and payload) read into a borrowed tree: strings
//! without escapes point into the decoded bytes, so a typical payload is
//! read with a handful of allocations instead of one per member and value
//! (the cost that dominated a decision in the guest, docs/benchmarks.md).
//!
//! The grammar is serde_json's, exactly as [`serde_json::Value`] reads it
//! (strings fully decoded and checked, lone surrogates refused, numbers as
//! [`serde_json::Number`], the same depth limit); the top-level member
//! names must be unique, as before. [`JsonObject::to_map`] gives the owned
//! [`Map`] route rules, context and custom modules read, equal to what
//! `serde_json` makes of the same text (nested duplicates: the last wins).
//!
//! A token's usual JSON (no escapes, plain non-negative integers) is read
//! by [`fast`], a reader of that subset; anything else, errors included,
//! by serde_json, so the accepted grammar and every error are serde_json's.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::token::echo;

/// Top-level members compared one by one for duplicates; a larger object
/// switches to a set, so a hostile payload costs `n log n`, not `n²`.
const LINEAR_DUPLICATE_CHECK: usize = 32;

/// One JSON value of a token, borrowing its strings where it can.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JsonValue<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as serde_json holds it.
    Number(Number),
    /// A string, decoded.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<JsonValue<'a>>),
    /// An object (nested: member names may repeat; the last one counts).
    Object(JsonObject<'a>),
}

/// A JSON object's members in document order.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct JsonObject<'a>(Vec<(Cow<'a, str>, JsonValue<'a>)>);

impl<'a> JsonValue<'a> {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            JsonValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, JsonValue::Null)
    }

    /// The owned [`Value`] serde_json makes of the same text.
    pub fn to_value(&self) -> Value {
        match self {
            JsonValue::Null => Value::Null,
            JsonValue::Bool(b) => Value::Bool(*b),
            JsonValue::Number(n) => Value::Number(n.clone()),
            JsonValue::String(s) => Value::String(s.to_string()),
            JsonValue::Array(items) => Value::Array(items.iter().map(Self::to_value).collect()),
            JsonValue::Object(object) => Value::Object(object.to_map()),
        }
    }
}

/// `a == b`, comparing the length and the first byte before the rest:
/// claim names are short and many have the same length (`iss`, `aud`,
/// `exp`, …), and a call to `memcmp` per pair is the cost in the guest.
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.as_bytes().first() == b.as_bytes().first()
        && same_bytes(a.as_bytes(), b.as_bytes())
}

/// `a == b` for slices of the same length, eight bytes at a time, in line:
/// in the module a slice comparison is a call to a `memcmp` that compares
/// byte by byte.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let word = |chunk: &[u8]| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        u64::from_ne_bytes(bytes)
    };
    let (a_words, b_words) = (a.chunks_exact(8), b.chunks_exact(8));
    let tails_equal = a_words
        .remainder()
        .iter()
        .zip(b_words.remainder())
        .all(|(x, y)| x == y);
    a.len() == b.len() && tails_equal && a_words.zip(b_words).all(|(x, y)| word(x) == word(y))
}

impl<'a> JsonObject<'a> {
    /// The value of the member `name` (the last one of that name).
    pub fn get(&self, name: &str) -> Option<&JsonValue<'a>> {
        self.0
            .iter()
            .rev()
            .find(|(member, _)| same_name(member, name))
            .map(|(_, value)| value)
    }

    /// Whether a member `name` is present.
    pub fn contains_key(&self, name: &str) -> bool {
        self.0.iter().any(|(member, _)| same_name(member, name))
    }

    /// The owned [`Map`] serde_json makes of the same text.
    pub fn to_map(&self) -> Map<String, Value> {
        let mut map = Map::new();
        for (name, value) in &self.0 {
            map.insert(name.to_string(), value.to_value());
        }
        map
    }
}

/// Parse `bytes` as a JSON object whose top-level member names are unique
/// (the error names the first repeated one).
pub(crate) fn parse_object(bytes: &[u8]) -> Result<JsonObject<'_>, serde_json::Error> {
    // Text that is UTF-8 as a whole (every token that verifies) is checked
    // once here, not string by string; other bytes get serde_json's own
    // error, where it finds them.
    match std::str::from_utf8(bytes) {
        Ok(text) => match fast::object(text) {
            Some(object) => Ok(object),
            None => parse_with(serde_json::Deserializer::from_str(text)),
        },
        Err(_) => parse_with(serde_json::Deserializer::from_slice(bytes)),
    }
}

fn parse_with<'a, R: serde_json::de::Read<'a>>(
    mut deserializer: serde_json::Deserializer<R>,
) -> Result<JsonObject<'a>, serde_json::Error> {
    let object = TopLevel.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(object)
}

/// The top-level object, with its duplicate check.
struct TopLevel;

impl<'de> DeserializeSeed<'de> for TopLevel {
    type Value = JsonObject<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopLevel {
    type Value = JsonObject<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut members: Vec<(Cow<'de, str>, JsonValue<'de>)> = Vec::with_capacity(16);
        let mut seen: Option<BTreeSet<String>> = None;
        while let Some(Name(name)) = access.next_key::<Name<'de>>()? {
            let value: JsonValue<'de> = access.next_value()?;
            let repeated = match &mut seen {
                Some(seen) => !seen.insert(name.to_string()),
                None => {
                    let repeated = members.iter().any(|(member, _)| same_name(member, &name));
                    if !repeated && members.len() >= LINEAR_DUPLICATE_CHECK {
                        let mut set: BTreeSet<String> = members
                            .iter()
                            .map(|(member, _)| member.to_string())
                            .collect();
                        set.insert(name.to_string());
                        seen = Some(set);
                    }
                    repeated
                }
            };
            if repeated {
                return Err(de::Error::custom(format_args!(
                    "duplicate member {}",
                    echo(&name)
                )));
            }
            members.push((name, value));
        }
        Ok(JsonObject(members))
    }
}

/// A member name, borrowed when it has no escapes.
struct Name<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;

        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Owned(v.to_string())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Name(Cow::Owned(v)))
            }
        }

        deserializer.deserialize_str(NameVisitor)
    }
}

impl<'de> Deserialize<'de> for JsonValue<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// Reads any value the way serde_json's own `Value` visitor does.
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = JsonValue<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(JsonValue::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(JsonValue::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(JsonValue::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Number::from_f64(v).map_or(JsonValue::Null, JsonValue::Number))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(JsonValue::String(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(JsonValue::String(Cow::Owned(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(JsonValue::String(Cow::Owned(v)))
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(JsonValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        Deserialize::deserialize(deserializer)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(JsonValue::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = access.next_element()? {
            items.push(item);
        }
        Ok(JsonValue::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::new();
        while let Some(Name(name)) = access.next_key::<Name<'de>>()? {
            let value: JsonValue<'de> = access.next_value()?;
            members.push((name, value));
        }
        Ok(JsonValue::Object(JsonObject(members)))
    }
}

mod fast;

#[cfg(test)]
mod tests;
