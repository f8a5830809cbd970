//! Tests of `json`: the borrowed tree reads exactly what serde_json reads.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::*;
use crate::test_support::Xorshift as Random;

/// serde_json's own reading of a top-level object (duplicates: the last wins).
fn serde_reading(text: &str) -> Result<Map<String, Value>, serde_json::Error> {
    serde_json::from_str::<Map<String, Value>>(text)
}

#[test]
fn the_tree_equals_serde_json_on_valid_objects() {
    for text in [
        r#"{}"#,
        r#" { "a" : 1 } "#,
        r#"{"sub":"user-1","iss":"https://issuer.example","aud":["a","b"],"exp":2082758400,"iat":1767225600}"#,
        r#"{"n":-1,"u":18446744073709551615,"big":18446744073709551616,"f":1.5,"e":1e300,"z":-0,"neg":-9223372036854775808}"#,
        r#"{"s":"esc \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00","t":true,"f":false,"n":null}"#,
        r#"{"nested":{"a":1,"a":2,"b":{"c":[1,{"d":null}]}},"arr":[[],[[]],{}]}"#,
        r#"{"\u0061b":"escaped name","cognito:groups":["readers","writers"]}"#,
        "{\"unicode\":\"\u{10348} \u{e9}\"}",
    ] {
        let tree = parse_object(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(tree.to_map(), serde_reading(text).unwrap(), "{text}");
    }
}

#[test]
fn invalid_text_is_refused_like_serde_json_refuses_it() {
    for text in [
        "",
        "null",
        "[]",
        r#""a""#,
        r#"{"a":1}{"#,
        r#"{"a":1,}"#,
        r#"{"a":01}"#,
        r#"{"a":"\ud800"}"#,
        r#"{"a":"\udc00x"}"#,
        r#"{"a":"\x"}"#,
        "{\"a\":\"tab\tinside\"}",
        r#"{"a":NaN}"#,
        r#"{"a":1e400}"#,
        r#"{"a":[1,2}"#,
        r#"{a:1}"#,
    ] {
        let theirs = serde_reading(text).expect_err("serde_json refuses it");
        let ours = parse_object(text.as_bytes()).expect_err("refused");
        // A syntax error is reported where serde_json reports it.
        if theirs.is_syntax() || theirs.is_eof() {
            assert_eq!(
                (ours.classify(), ours.line(), ours.column()),
                (theirs.classify(), theirs.line(), theirs.column()),
                "{text:?}: {ours} / {theirs}"
            );
        }
    }
    let bad_utf8 = b"{\"a\":\"\xff\"}";
    assert!(serde_json::from_slice::<Map<String, Value>>(bad_utf8).is_err());
    assert!(parse_object(bad_utf8).is_err());
    // Deep nesting is refused, not a stack overflow.
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse_object(deep.as_bytes()).is_err());
}

#[test]
fn strings_without_escapes_are_borrowed() {
    let text = br#"{"plain":"abc","esc\u0061ped":"x\ny"}"#;
    let tree = parse_object(text).unwrap();
    let [(first, plain), (second, escaped)] = tree.0.as_slice() else {
        panic!("two members: {tree:?}")
    };
    assert!(matches!(first, Cow::Borrowed("plain")));
    assert!(matches!(plain, JsonValue::String(Cow::Borrowed("abc"))));
    assert_eq!(second, "escaped");
    assert_eq!(escaped.as_str(), Some("x\ny"));
}

#[test]
fn top_level_names_are_unique_after_decoding() {
    for text in [
        r#"{"a":1,"a":1}"#,
        r#"{"alg":1,"\u0061lg":2}"#,
        r#"{"a":1,"b":2,"a":{"x":1}}"#,
    ] {
        let error = parse_object(text.as_bytes()).unwrap_err();
        assert!(
            error.to_string().starts_with("duplicate member \""),
            "{text}: {error}"
        );
    }
    // Nested objects may repeat a name (the last one counts), as before.
    let tree = parse_object(br#"{"o":{"k":1,"k":2}}"#).unwrap();
    let Some(JsonValue::Object(inner)) = tree.get("o") else {
        panic!("{tree:?}")
    };
    assert_eq!(inner.get("k"), Some(&JsonValue::Number(2.into())));
}

#[test]
fn many_members_switch_to_a_set_and_still_find_duplicates() {
    for count in [31, 32, 33, 64, 1000] {
        let members: Vec<String> = (0..count).map(|i| format!("\"m{i}\":{i}")).collect();
        let unique = format!("{{{}}}", members.join(","));
        let tree = parse_object(unique.as_bytes()).unwrap();
        assert_eq!(tree.to_map().len(), count);
        assert_eq!(
            tree.get(&format!("m{}", count - 1)),
            Some(&JsonValue::Number((count as u64 - 1).into()))
        );
        // A repeat of the first member, then of the last, at the end.
        for repeated in [0, count - 1] {
            let text = format!("{{{},\"m{repeated}\":0}}", members.join(","));
            let error = parse_object(text.as_bytes()).unwrap_err();
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("duplicate member \"m{repeated}\"")),
                "{count}/{repeated}: {error}"
            );
        }
    }
}

#[test]
fn lookups_and_conversions() {
    let tree = parse_object(br#"{"s":"v","n":null,"a":[1,"x"]}"#).unwrap();
    assert!(tree.contains_key("n"));
    assert!(!tree.contains_key("missing"));
    assert_eq!(tree.get("s").and_then(JsonValue::as_str), Some("v"));
    assert!(tree.get("n").is_some_and(JsonValue::is_null));
    assert_eq!(
        tree.get("a").map(JsonValue::to_value),
        Some(serde_json::json!([1, "x"]))
    );
}

/// serde_json's reading alone (what the fast reader falls back to).
fn serde_tree(text: &str) -> Result<JsonObject<'_>, serde_json::Error> {
    parse_with(serde_json::Deserializer::from_str(text))
}

const NAMES: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "scope",
    "a",
    "é",
    "cognito:groups",
    "",
];
const STRINGS: &[&str] = &[
    "",
    "abc",
    "user-1",
    "é€😀",
    "sp ace",
    "a\\nb",
    "\\u0041",
    "\\ud83d\\ude00",
    "\\ud800",
    "\\x",
    "tab\there",
    "ctl\u{1}x",
    "del\u{7f}",
    "q\\\"q",
    "back\\\\slash",
    "\\/",
    "a longer plain string of many bytes",
    "0123456789abcdef\u{1f}tail",
    "twelve bytes\\nthen an escape",
    "é€😀é€😀é€😀 unicode past eight",
    "ends with a quote at byte 8\"",
];
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "42",
    "01",
    "00",
    "-0",
    "-1",
    "1.5",
    "1e3",
    "1E+2",
    "2e-1",
    "1.",
    ".5",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "-9223372036854775809",
    "1767225600",
    "2082758400",
];
const SPACES: &[&str] = &[
    "", "", "", " ", "\n", "\t", "\r\n ", "\u{b}", "\u{c}", "\u{a0}",
];

fn random_value(random: &mut Random, depth: usize, out: &mut String) {
    let space = |random: &mut Random, out: &mut String| out.push_str(random.pick(SPACES));
    match if depth > 70 { 9 } else { random.below(10) } {
        0 | 1 => {
            out.push('{');
            for i in 0..random.below(6) {
                if i > 0 {
                    out.push(',');
                }
                space(random, out);
                out.push('"');
                out.push_str(random.pick(NAMES));
                out.push('"');
                space(random, out);
                out.push(':');
                space(random, out);
                random_value(random, depth + 1, out);
                space(random, out);
            }
            out.push('}');
        }
        2 => {
            out.push('[');
            for i in 0..random.below(4) {
                if i > 0 {
                    out.push(',');
                }
                space(random, out);
                random_value(random, depth + 1, out);
            }
            out.push(']');
        }
        3 if random.below(8) == 0 => {
            // Deep nesting, past the fast reader's limit and at serde_json's.
            let n = 60 + random.below(80);
            out.push_str(&"[".repeat(n));
            out.push_str(&"]".repeat(n));
        }
        3 | 4 => {
            out.push('"');
            out.push_str(random.pick(STRINGS));
            out.push('"');
        }
        5 | 6 => out.push_str(random.pick(NUMBERS)),
        7 => out.push_str(random.pick(&["true", "false", "null", "tru", "nul", "True"])),
        _ => out.push_str(random.pick(&["1", "\"x\"", "null"])),
    }
}

/// Random texts (objects of random values, then byte edits): whenever the
/// fast reader answers, serde_json accepts the text and reads the same
/// tree; whenever serde_json refuses a text, the fast reader does not
/// answer. Both outcomes occur often enough to mean something.
#[test]
fn the_fast_reader_answers_only_what_serde_json_reads_the_same() {
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let (mut fast_answers, mut refused, mut texts) = (0, 0, 0);
    let edits = [
        "", ",", ":", "{", "}", "[", "]", "\"", "\\", " ", "0", "-", ".", "e", "a", "\u{0}",
    ];
    for case in 0..30_000 {
        let mut text = String::new();
        text.push_str(random.pick(SPACES));
        random_value(&mut random, 0, &mut text);
        text.push_str(random.pick(SPACES));
        if text.starts_with('[') || !text.trim_start().starts_with('{') {
            text = format!("{{\"v\":{text}}}");
        }
        // A third of the texts get one to three edits at char boundaries.
        if case % 3 == 0 {
            for _ in 0..=random.below(3) {
                let boundaries: Vec<usize> = (0..=text.len())
                    .filter(|i| text.is_char_boundary(*i))
                    .collect();
                let at = boundaries[random.below(boundaries.len())];
                let end = boundaries.iter().copied().find(|b| *b > at).unwrap_or(at);
                let edit = random.pick(&edits);
                match random.below(3) {
                    0 => text.insert_str(at, edit),
                    1 => text.replace_range(at..end, edit),
                    _ => text.replace_range(at..end, ""),
                }
            }
        }
        texts += 1;
        let theirs = serde_tree(&text);
        match (fast::object(&text), &theirs) {
            (Some(ours), Ok(theirs)) => {
                assert_eq!(&ours, theirs, "{text:?}");
                assert_eq!(ours.to_map(), theirs.to_map(), "{text:?}");
                fast_answers += 1;
            }
            (Some(ours), Err(e)) => {
                panic!("the fast reader read {text:?} as {ours:?}; serde_json: {e}")
            }
            (None, Err(_)) => refused += 1,
            (None, Ok(_)) => {}
        }
        // And the entry point answers exactly as serde_json.
        match (parse_object(text.as_bytes()), theirs) {
            (Ok(ours), Ok(theirs)) => assert_eq!(ours, theirs, "{text:?}"),
            (Err(ours), Err(theirs)) => {
                assert_eq!(ours.to_string(), theirs.to_string(), "{text:?}")
            }
            (ours, theirs) => panic!("{text:?}: {ours:?} / {theirs:?}"),
        }
    }
    assert!(
        fast_answers > texts / 10,
        "the fast reader answered {fast_answers} of {texts}"
    );
    assert!(
        refused > texts / 10,
        "serde_json refused {refused} of {texts}"
    );
}

#[test]
fn a_token_payload_is_read_by_the_fast_reader() {
    let text = r#"{"sub":"5f0c","iss":"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_BenchPool1","aud":"bench-api-client-id","client_id":"bench-api-client-id","token_use":"access","scope":"openid profile email orders/read orders/write","auth_time":1767225600,"iat":1767225600,"nbf":1767225600,"exp":2082758400,"jti":"1d2c","username":"user-0","cognito:groups":["readers","writers"]}"#;
    let ours = fast::object(text).expect("the usual payload takes the fast path");
    assert_eq!(ours.to_map(), serde_reading(text).unwrap());
    for text in [
        r#"{"a":"esc\n"}"#,
        r#"{"a":-1}"#,
        r#"{"a":1.5}"#,
        r#"{"a":1,"a":2}"#,
        r#"{"a":18446744073709551616}"#,
    ] {
        assert!(fast::object(text).is_none(), "{text}");
    }
}

#[test]
fn the_eight_byte_test_finds_the_first_byte_that_ends_a_plain_string() {
    let specials: Vec<u8> = (0u8..0x20).chain([b'"', b'\\']).collect();
    // Plain bytes next to the specials' values, whose borrows matter.
    let plain = [
        0x20u8, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xff, b'a',
    ];
    let mut random = Random(0x2545_f491_4f6c_dd1d);
    for &special in &specials {
        for at in 0..8 {
            for _ in 0..200 {
                let mut word = [0u8; 8];
                for (i, byte) in word.iter_mut().enumerate() {
                    *byte = match i.cmp(&at) {
                        std::cmp::Ordering::Less => random.pick(&plain),
                        std::cmp::Ordering::Equal => special,
                        // After the first: anything at all.
                        std::cmp::Ordering::Greater => random.below(256) as u8,
                    };
                }
                let look = fast::bytes_to_look_at(u64::from_le_bytes(word));
                assert_eq!(look.trailing_zeros() / 8, at as u32, "{word:x?}");
                assert!(fast::needs_a_look(u64::from_le_bytes(word)));
            }
        }
    }
    for byte in (0x20u8..=0xff).filter(|b| *b != b'"' && *b != b'\\') {
        assert_eq!(
            fast::bytes_to_look_at(u64::from_le_bytes([byte; 8])),
            0,
            "{byte:#x}"
        );
    }
    for _ in 0..10_000 {
        let word: [u8; 8] = std::array::from_fn(|_| random.pick(&plain));
        assert!(!fast::needs_a_look(u64::from_le_bytes(word)), "{word:x?}");
    }
    assert!(!fast::needs_a_look(u64::from_le_bytes(*b"user-123")));
}

#[test]
fn eight_digits_are_recognised_and_read_exactly() {
    let mut random = Random(0x853c_49e6_748f_ea9b);
    for _ in 0..100_000 {
        let number = random.next() % 100_000_000;
        let text = format!("{number:08}");
        let word = u64::from_le_bytes(text.as_bytes().try_into().unwrap());
        assert!(fast::eight_digits(word), "{text}");
        assert_eq!(fast::eight_digits_value(word), number, "{text}");
        // Any one byte changed to a non-digit is refused.
        let at = random.below(8);
        let mut bytes: [u8; 8] = text.as_bytes().try_into().unwrap();
        bytes[at] = loop {
            let byte = random.below(256) as u8;
            if !byte.is_ascii_digit() {
                break byte;
            }
        };
        assert!(!fast::eight_digits(u64::from_le_bytes(bytes)), "{bytes:?}");
    }
    for byte in (0..=255u8).filter(|b| !b.is_ascii_digit()) {
        assert!(!fast::eight_digits(u64::from_le_bytes([byte; 8])), "{byte}");
    }
}

/// Integers of every length around the eight-digit step and the 19-digit
/// limit read as serde_json reads them (or are left to it).
#[test]
fn integers_of_every_length_read_as_serde_json_reads_them() {
    for digits in 1..=21 {
        for first in ['1', '9', '0'] {
            let number: String = std::iter::once(first)
                .chain("1234567890123456789012".chars().take(digits - 1))
                .collect();
            for text in [
                format!(r#"{{"n":{number}}}"#),
                format!(r#"{{"n":{number} }}"#),
                format!(r#"{{"n":[{number},1]}}"#),
                format!(r#"{{"n":{number}x}}"#),
                format!(r#"{{"n":{number}.5}}"#),
            ] {
                let ours = parse_object(text.as_bytes()).map(|o| o.to_map());
                let theirs = serde_reading(&text);
                assert_eq!(ours.is_ok(), theirs.is_ok(), "{text}");
                if let (Ok(ours), Ok(theirs)) = (ours, theirs) {
                    assert_eq!(ours, theirs, "{text}");
                }
            }
        }
    }
}

#[test]
fn same_bytes_is_slice_equality_at_every_length_and_every_differing_byte() {
    let text: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
    for len in 0..=text.len() {
        let a = &text[..len];
        assert!(same_bytes(a, a), "{len}");
        for at in 0..len {
            let mut b = a.to_vec();
            b[at] ^= 0x20;
            assert!(!same_bytes(a, &b), "{len} {at}");
        }
        // Different lengths are never the same.
        assert!(!same_bytes(a, &text[..len.saturating_sub(1)]) || len == 0);
    }
}
