//! Tests of `token`.

use base64::Engine as _;

use super::*;

fn header(v: &str) -> Vec<TokenSource> {
    vec![TokenSource::AuthorizationHeader(v.to_owned())]
}

fn raw(v: &str) -> Vec<TokenSource> {
    vec![TokenSource::Raw(v.to_owned())]
}

/// The deny of `sources`; [`read_token`] (what the module runs: the
/// comma check only after a failure) must refuse them alike.
#[track_caller]
fn reason(sources: &[TokenSource]) -> DenyReason {
    let deny = extract_token(sources).expect_err("expected a deny");
    let read = read_token(sources, &TokenLimits::default()).expect_err("read_token denies too");
    assert_eq!((&read.reason, &read.detail), (&deny.reason, &deny.detail));
    deny.reason
}

#[test]
fn extract_from_authorization_header() {
    assert_eq!(extract_token(&header("Bearer a.b.c")), Ok("a.b.c"));
    assert_eq!(extract_token(&header("bEaReR   a.b.c  ")), Ok("a.b.c"));
    assert_eq!(extract_token(&header("\tBearer\t a.b.c")), Ok("a.b.c"));
    assert_eq!(reason(&header("Basic abc")), DenyReason::MissingToken);
    assert_eq!(reason(&header("Bearer")), DenyReason::MissingToken);
    assert_eq!(reason(&header("Bearer   ")), DenyReason::MissingToken);
    assert_eq!(reason(&header("")), DenyReason::MissingToken);
    assert_eq!(reason(&header("a.b.c")), DenyReason::MissingToken);
    assert_eq!(reason(&header("Bearera.b.c")), DenyReason::MissingToken);
    assert_eq!(
        reason(&header("Bearer a.b.c, Bearer d.e.f")),
        DenyReason::MultipleTokens
    );
    assert_eq!(reason(&header("Bearer a.b.c,")), DenyReason::MultipleTokens);
    assert_eq!(reason(&header(" Bearer ,")), DenyReason::MultipleTokens);
    assert_eq!(
        reason(&header("Basic a, Bearer b")),
        DenyReason::MultipleTokens
    );
    // Multi-byte input never splits a character.
    assert_eq!(reason(&header("Beaé x")), DenyReason::MissingToken);
    assert_eq!(reason(&header("ééééé")), DenyReason::MissingToken);
}

#[test]
fn extract_raw() {
    assert_eq!(extract_token(&raw("a.b.c")), Ok("a.b.c"));
    assert_eq!(extract_token(&raw("  a.b.c\n")), Ok("a.b.c"));
    assert_eq!(extract_token(&raw("Bearer a.b.c")), Ok("a.b.c"));
    assert_eq!(extract_token(&raw("BEARER  a.b.c ")), Ok("a.b.c"));
    assert_eq!(extract_token(&raw("Bearera.b.c")), Ok("Bearera.b.c"));
    assert_eq!(reason(&raw("")), DenyReason::MissingToken);
    assert_eq!(reason(&raw("   ")), DenyReason::MissingToken);
    assert_eq!(reason(&raw("Bearer ")), DenyReason::MissingToken);
    assert_eq!(reason(&raw("bearer")), DenyReason::MissingToken);
    // Comma-joined duplicates (HTTP API joins repeated query parameters).
    assert_eq!(reason(&raw("a.b.c,d.e.f")), DenyReason::MultipleTokens);
    assert_eq!(
        reason(&raw("Bearer a.b.c, a.b.c")),
        DenyReason::MultipleTokens
    );
    assert_eq!(reason(&raw("Bearer ,a.b.c")), DenyReason::MultipleTokens);
    // A comma in something that is not a list of tokens: malformed.
    let json = raw("{\"a\":1,\"b\":2}");
    assert!(extract_token(&json).is_ok());
    let deny = read_token(&json, &TokenLimits::default()).unwrap_err();
    assert_eq!(deny.reason, DenyReason::Malformed, "{}", deny.detail);
}

#[test]
fn extract_counts() {
    assert_eq!(reason(&[]), DenyReason::MissingToken);
    let two = [
        TokenSource::Raw(String::from("a.b.c")),
        TokenSource::AuthorizationHeader(String::from("Bearer a.b.c")),
    ];
    assert_eq!(reason(&two), DenyReason::MultipleTokens);
    let detail = extract_token(&two).unwrap_err().detail;
    assert!(!detail.contains("a.b.c"));
}

#[test]
fn base64url_is_strict() {
    assert_eq!(decode_b64url("").unwrap(), b"");
    assert_eq!(decode_b64url("YQ").unwrap(), b"a");
    assert_eq!(decode_b64url("-_8").unwrap(), [0xfb, 0xff]);
    assert!(decode_b64url("YQ==").is_err());
    assert!(decode_b64url("YR").is_err()); // non-zero trailing bits
    assert!(decode_b64url("Y").is_err());
    assert!(decode_b64url("+/8").is_err());
    assert!(decode_b64url("Y Q").is_err());
}

#[test]
fn strict_objects() {
    assert!(parse_object(br#"{"a":1,"b":{"a":1}}"#).is_ok());
    assert!(parse_object(br#"{}"#).is_ok());
    assert!(parse_object(br#" {"a":1} "#).is_ok());
    let e = parse_object(br#"{"a":1,"a":1}"#).unwrap_err();
    assert!(e.to_string().contains("duplicate"), "{e}");
    // Escapes are decoded before comparing.
    assert!(parse_object(br#"{"alg":1,"\u0061lg":2}"#).is_err());
    assert!(parse_object(br#"[]"#).is_err());
    assert!(parse_object(br#"null"#).is_err());
    assert!(parse_object(br#"{"a":1}{"#).is_err());
    assert!(parse_object(b"").is_err());
    // Deep nesting is refused, not a stack overflow.
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse_object(deep.as_bytes()).is_err());
}

#[test]
fn json_problems_never_echo_the_token() {
    let secretish = "s3cr3t-".repeat(200);
    for text in [
        format!("\"{secretish}\""),
        format!("[\"{secretish}\"]"),
        format!("{{\"a\":\"{secretish}"),
        format!("{{\"{secretish}\":1,\"{secretish}\":2}}"),
    ] {
        let message = decode_object(text.as_bytes(), "payload").unwrap_err();
        // At most a short, escaped echo (a duplicate name), never the value.
        assert!(!message.contains(&"s3cr3t-".repeat(20)), "{message}");
        assert!(message.len() < 200, "{} bytes: {message}", message.len());
        assert!(
            message.starts_with("payload is not a JSON object: "),
            "{message}"
        );
    }
    let limits = TokenLimits::default();
    let h = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("\"{}\"", "x".repeat(1500)));
    let deny = parse_compact(&format!("{h}.e30.c2ln"), &limits).unwrap_err();
    assert_eq!(deny.reason, DenyReason::Malformed);
    assert!(!deny.detail.contains(&"x".repeat(100)), "{}", deny.detail);
    assert!(deny.detail.contains("line 1 column"), "{}", deny.detail);
}

#[test]
fn parse_compact_basics() {
    let limits = TokenLimits::default();
    let h = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(r#"{"alg":"HS256","kid":"k","typ":"JWT"}"#);
    let token = format!("{h}.cGF5bG9hZA.c2ln");
    let c = parse_compact(&token, &limits).unwrap();
    assert_eq!(c.signing_input, format!("{h}.cGF5bG9hZA"));
    assert_eq!(c.payload, b"payload");
    assert_eq!(c.signature, b"sig");
    assert_eq!(
        c.header,
        Header {
            alg: Algorithm::Hs256,
            kid: Some(String::from("k")),
            typ: Some(String::from("JWT")),
        }
    );
    // An empty payload segment parses; the claims step refuses it later.
    assert!(parse_compact(&format!("{h}..c2ln"), &limits).is_ok());
    assert_eq!(
        parse_compact(&format!("{h}.cGF5bG9hZA."), &limits)
            .unwrap_err()
            .reason,
        DenyReason::Malformed
    );
}

#[test]
fn media_types() {
    assert_eq!(normalize_media_type("JWT"), "application/jwt");
    assert_eq!(normalize_media_type("application/JWT"), "application/jwt");
    assert_eq!(normalize_media_type("at+jwt"), "application/at+jwt");
    assert_eq!(normalize_media_type("text/plain"), "text/plain");
}

#[test]
fn echo_truncates_and_escapes() {
    assert_eq!(echo("abc"), "\"abc\"");
    assert_eq!(echo("a\nb"), "\"a\\nb\"");
    let long = "é".repeat(100);
    let shown = echo(&long);
    assert_eq!(shown.chars().filter(|&c| c == 'é').count(), 64);
    assert!(shown.ends_with('…'));
}

/// The alphabet is checked only when parsing failed, and then its error
/// comes first, whatever else is wrong: a token with a character outside
/// base64url and `.` is malformed for that reason in every case.
#[test]
fn a_character_outside_the_alphabet_is_the_error_whatever_else_fails() {
    use base64::Engine as _;
    let limits = TokenLimits::default();
    let b64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    let none = b64(r#"{"alg":"none"}"#);
    let good = b64(r#"{"alg":"HS256"}"#);
    let payload = b64(r#"{"sub":"a"}"#);
    for token in [
        // A header that would be refused (alg none), a bad signature character.
        format!("{none}.{payload}.c2ln*"),
        // Too many segments and a comma.
        format!("{good}.{payload}.c2ln.x,y"),
        // Two segments and a space.
        format!("{good} .{payload}"),
        // A header that is not JSON, a `+` in the payload.
        format!("e30x.{payload}+.c2ln"),
        // Everything fine but a `=` pad.
        format!("{good}.{payload}.c2ln="),
    ] {
        let deny = parse_compact(&token, &limits).unwrap_err();
        assert_eq!(deny.reason, DenyReason::Malformed, "{token}");
        assert_eq!(
            deny.detail, "token contains characters other than base64url and `.`",
            "{token}"
        );
    }
    // Without such a character, the parse's own error stands.
    let deny = parse_compact(&format!("{none}.{payload}.c2ln"), &limits).unwrap_err();
    assert_eq!(deny.reason, DenyReason::DisallowedAlgorithm);
    let deny = parse_compact(&format!("{good}.{payload}"), &limits).unwrap_err();
    assert!(
        deny.detail.starts_with("token has 2 segment(s)"),
        "{}",
        deny.detail
    );
    assert!(parse_compact(&format!("{good}.{payload}.c2ln"), &limits).is_ok());
}

/// The one-pass reader answers `Some` exactly when reading the segments
/// apart succeeds, with the same value, on valid tokens and on tokens
/// edited at random (dots, padding, foreign bytes, cut or grown segments).
#[test]
fn the_one_pass_reader_agrees_with_reading_the_segments_apart() {
    let b64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    let headers = [
        r#"{"alg":"HS256","typ":"JWT","kid":"k0"}"#,
        r#"{"alg":"RS256"}"#,
        r#"{"alg":"none"}"#,
        r#"{"alg":"HS256","jku":"x"}"#,
        r#"{"alg":"HS256","alg":"HS256"}"#,
        "[]",
        "",
    ];
    let payloads = [r#"{"sub":"a","exp":1}"#, "{}", "", "not json"];
    let signatures = ["c2ln", "c2lnbmF0dXJl", "c2lnbmF0dXJlIQ", "", "Zm9vYg"];
    let edits: &[&str] = &[".", "..", "=", "+", "/", " ", "é", "A", "Q", "-", "_", "\0"];
    let mut tokens = Vec::new();
    for h in headers {
        for p in payloads {
            for s in signatures {
                tokens.push(format!("{}.{}.{s}", b64(h), b64(p)));
            }
        }
    }
    tokens.push(format!("{}.e30", b64(headers[0])));
    tokens.push(format!("{}.e30.c2ln.c2ln.c2ln", b64(headers[0])));
    tokens.push(format!("{}.e30.c2ln.", b64(headers[0])));
    let mut random = crate::test_support::Xorshift(0x9e37_79b9_7f4a_7c15);
    let mut next = |n: usize| random.below(n);
    let base = tokens.clone();
    for _ in 0..20_000 {
        let mut token = base[next(base.len())].clone();
        for _ in 0..=next(3) {
            let mut at = next(token.len() + 1);
            while !token.is_char_boundary(at) {
                at -= 1;
            }
            let edit = edits[next(edits.len())];
            match next(3) {
                0 => token.insert_str(at, edit),
                1 if at < token.len() => {
                    let end = (at + 1..=token.len())
                        .find(|&end| token.is_char_boundary(end))
                        .unwrap_or(token.len());
                    token.replace_range(at..end, edit);
                }
                _ => token.truncate(at),
            }
        }
        tokens.push(token);
    }
    let small = TokenLimits {
        max_header_bytes: 30,
        ..TokenLimits::default()
    };
    let (mut parsed, mut refused) = (0, 0);
    for limits in [TokenLimits::default(), small] {
        for token in &tokens {
            let apart = parse_segments_apart(token, &limits);
            match segments_in_one_pass(token, &limits) {
                Some(compact) => {
                    assert_eq!(apart.as_ref(), Ok(&compact), "{token:?}");
                    parsed += 1;
                }
                None => {
                    assert!(apart.is_err(), "{token:?}: {apart:?}");
                    refused += 1;
                }
            }
            assert_eq!(parse_segments(token, &limits), apart, "{token:?}");
        }
    }
    // Both outcomes are well represented.
    assert!(parsed > 250 && refused > 10_000, "{parsed} {refused}");
}
