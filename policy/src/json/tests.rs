//! Tests of `json`: the borrowed tree reads exactly what serde_json reads.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::*;

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
