//! A reader for the JSON subset tokens are made of, in one pass with no
//! generic machinery: objects, arrays, strings without escapes, `true`,
//! `false`, `null` and non-negative integers that fit a `u64`.
//!
//! It answers `Some` only for text that serde_json accepts and reads into
//! the same tree; at anything else (an escape, a sign, a fraction, an
//! exponent, a leading zero, a control character, deep nesting, a repeated
//! top-level name, any syntax error) it answers `None` and serde_json reads
//! the text instead, so the grammar, the values and every error stay
//! serde_json's. The tests compare the two on valid, invalid and random
//! texts.

use std::borrow::Cow;

use super::{JsonObject, JsonValue, LINEAR_DUPLICATE_CHECK, same_name};

/// Nesting this reader leaves to serde_json (whose limit is 128).
const MAX_DEPTH: usize = 64;

/// The top-level object of `text`, or `None` to let serde_json read it.
pub(super) fn object(text: &str) -> Option<JsonObject<'_>> {
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        at: 0,
    };
    reader.skip_space();
    let JsonValue::Object(object) = reader.item(0)? else {
        return None;
    };
    // Unique top-level names; a large object is left to serde_json's set.
    if object.0.len() > LINEAR_DUPLICATE_CHECK {
        return None;
    }
    for (i, (name, _)) in object.0.iter().enumerate() {
        if object
            .0
            .iter()
            .take(i)
            .any(|(seen, _)| same_name(seen, name))
        {
            return None;
        }
    }
    reader.skip_space();
    (reader.at == reader.bytes.len()).then_some(object)
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// JSON's whitespace: space, tab, line feed, carriage return.
    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// `byte` after optional whitespace.
    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_space();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Any value but a string or an integer (those are [`Self::item`]'s).
    fn value(&mut self, depth: usize) -> Option<JsonValue<'a>> {
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b't' => self.literal("true", JsonValue::Bool(true)),
            b'f' => self.literal("false", JsonValue::Bool(false)),
            b'n' => self.literal("null", JsonValue::Null),
            _ => None,
        }
    }

    fn literal(&mut self, word: &str, value: JsonValue<'a>) -> Option<JsonValue<'a>> {
        let end = self.at.checked_add(word.len())?;
        (self.bytes.get(self.at..end)? == word.as_bytes()).then(|| {
            self.at = end;
            value
        })
    }

    /// Any value. Strings and integers, most of a token's values, are read
    /// here in line: returned through memory from [`Self::value`]
    /// (recursive, so never in line) they cost the module more than reading
    /// them.
    #[inline(always)]
    fn item(&mut self, depth: usize) -> Option<JsonValue<'a>> {
        match self.peek()? {
            b'"' => self.string().map(JsonValue::String),
            b'0'..=b'9' => self.integer(),
            _ => self.value(depth),
        }
    }

    /// A non-negative integer of at most 19 digits (so it fits a `u64`)
    /// without a leading zero, followed by a delimiter; anything else is
    /// serde_json's to read.
    #[inline(always)]
    fn integer(&mut self) -> Option<JsonValue<'a>> {
        let start = self.at;
        let mut value: u64 = 0;
        // Eight digits at once (a token's times have ten), then one by one.
        if let Some(chunk) = self.bytes.get(self.at..self.at + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let word = u64::from_le_bytes(word);
            if eight_digits(word) {
                value = eight_digits_value(word);
                self.at += 8;
            }
        }
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            if self.at - start == 19 {
                return None;
            }
            // 19 digits stay below 10^19 < u64::MAX: no overflow (and no
            // 128-bit multiply, which a checked one costs in wasm32).
            value = value * 10 + u64::from(digit - b'0');
            self.at += 1;
        }
        let digits = self.at - start;
        if digits > 1 && self.bytes.get(start) == Some(&b'0') {
            return None;
        }
        match self.peek() {
            None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') => {
                Some(JsonValue::Number(value.into()))
            }
            Some(_) => None,
        }
    }

    /// A string without escapes or control characters, borrowed.
    #[inline(always)]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.at += 1; // the opening quote
        let start = self.at;
        // Eight bytes at a time while none is a quote, a backslash or a
        // control character, then straight to the first that is; byte by
        // byte only near the end of the text.
        while let Some(chunk) = self.bytes.get(self.at..self.at + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let look = bytes_to_look_at(u64::from_le_bytes(word));
            if look != 0 {
                self.at += (look.trailing_zeros() / 8) as usize;
                break;
            }
            self.at += 8;
        }
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' | 0x00..=0x1f => return None,
                _ => self.at += 1,
            }
        }
        // Both ends are next to a quote, so on character boundaries;
        // splitting checks that in line (`str::get` is a call in the module).
        let (_, rest) = self.text.split_at_checked(start)?;
        let (content, _) = rest.split_at_checked(self.at - start)?;
        self.at += 1; // the closing quote
        Some(Cow::Borrowed(content))
    }

    fn array(&mut self, depth: usize) -> Option<JsonValue<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at += 1; // `[`
        let mut items = Vec::new();
        self.skip_space();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(JsonValue::Array(items));
        }
        loop {
            self.skip_space();
            items.push(self.item(depth)?);
            self.skip_space();
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(JsonValue::Array(items));
                }
                _ => return None,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<JsonValue<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at += 1; // `{`
        let mut members = Vec::with_capacity(if depth == 1 { 16 } else { 0 });
        self.skip_space();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(JsonValue::Object(JsonObject(members)));
        }
        loop {
            self.skip_space();
            if self.peek()? != b'"' {
                return None;
            }
            let name = self.string()?;
            self.expect(b':')?;
            self.skip_space();
            let value = self.item(depth)?;
            members.push((name, value));
            self.skip_space();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(JsonValue::Object(JsonObject(members)));
                }
                _ => return None,
            }
        }
    }
}

/// Whether any byte of `word` is a quote, a backslash or below 0x20.
#[cfg(test)]
pub(super) fn needs_a_look(word: u64) -> bool {
    bytes_to_look_at(word) != 0
}

/// The high bit of each byte of `word` (little-endian) that is a quote, a
/// backslash or below 0x20, by the zero-byte test of "Bit Twiddling
/// Hacks": exact up to and including the lowest byte it marks (a borrow
/// can only mark bytes above a true one), so `trailing_zeros() / 8` is
/// the position of the first such byte, and zero means none.
pub(super) fn bytes_to_look_at(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zeros = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    below_space | zeros(word ^ (ONES * u64::from(b'"'))) | zeros(word ^ (ONES * u64::from(b'\\')))
}

/// Whether all eight bytes of `word` are ASCII digits (simdjson's test:
/// the high nibble of each byte is 3, and adding 6 keeps it 3).
pub(super) fn eight_digits(word: u64) -> bool {
    const HIGH_NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    let high = word & HIGH_NIBBLES;
    let carried = word.wrapping_add(0x0606_0606_0606_0606) & HIGH_NIBBLES;
    high | carried >> 4 == 0x3333_3333_3333_3333
}

/// The number eight ASCII digits spell, the first in the lowest byte of
/// `word` (checked by [`eight_digits`]): pairs, then fours, then all eight,
/// with three multiplications instead of eight.
pub(super) fn eight_digits_value(word: u64) -> u64 {
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    let digits = word.wrapping_sub(0x3030_3030_3030_3030);
    // Each 16-bit lane: 10 × its first digit + its second.
    let pairs = digits.wrapping_mul(10).wrapping_add(digits >> 8);
    // 100 × pair + next pair in each 32-bit half, then the two halves.
    (pairs & MASK)
        .wrapping_mul(100 + (1_000_000 << 32))
        .wrapping_add(((pairs >> 16) & MASK).wrapping_mul(1 + (10_000 << 32)))
        >> 32
}
