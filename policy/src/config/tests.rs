//! The policy document parser's tests: every error names its field.

use super::*;
use crate::test_support::policy_text;

const MINIMAL: &str = r#"
[[issuer]]
issuer = "https://issuer.example"
jwks_file = "keys/jwks.json"
audiences = ["orders-api"]
algorithms = ["RS256"]
"#;

#[track_caller]
fn error(text: &str) -> ConfigError {
    match Policy::from_toml(text) {
        Err(e) => e,
        Ok(p) => panic!("expected a config error, got {p:?}"),
    }
}

#[track_caller]
fn error_at(text: &str, field: &str) -> ConfigError {
    let e = error(text);
    assert_eq!(e.field, field, "message: {}", e.message);
    assert!(!e.message.is_empty());
    e
}

/// MINIMAL with `extra` lines added to the issuer table.
fn minimal(extra: &str) -> String {
    format!("{MINIMAL}{extra}\n")
}

#[test]
fn minimal_defaults() {
    let p = Policy::from_toml(MINIMAL).unwrap();
    assert_eq!(p.limits(), &TokenLimits::default());
    assert_eq!(p.limits().max_token_bytes, 16384);
    assert_eq!(p.limits().max_header_bytes, 2048);
    let i = &p.issuers()[0];
    assert_eq!(i.issuer, "https://issuer.example");
    assert_eq!(i.jwks_file.as_deref(), Some("keys/jwks.json"));
    assert_eq!(i.algorithms, vec![Algorithm::Rs256]);
    assert_eq!(i.leeway_seconds, 60);
    assert!(i.require_exp);
    assert_eq!(i.principal_claims, vec!["sub", "client_id"]);
    assert!(i.context_claims.is_empty());
    assert!(i.secrets.is_empty());
    assert_eq!(i.typ, None);
    assert_eq!(i.token_use, None);
    assert_eq!(i.max_lifetime_seconds, None);
}

#[test]
fn full_document() {
    let text = r#"
[limits]
max_token_bytes = 8192
max_header_bytes = 1024

[[issuer]]
issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc"
jwks_file = "keys/jwks.json"
client_ids = ["abc"]
algorithms = ["RS256", "ES256", "HS256"]
leeway_seconds = 0
require_exp = false
typ = "at+jwt"
token_use = "access"
required_claims = ["email"]
required_scopes = ["orders.read"]
max_lifetime_seconds = 86400
principal_claims = ["client_id"]
context_claims = ["email", "scope"]

[[issuer.secrets]]
kid = "k1"
file = "secret.txt"
encoding = "base64"
algorithm = "HS256"

[[issuer.secrets]]
env = "TOLLGATE_SECRET"
algorithm = "HS256"

[[issuer]]
issuer = "https://other.example"
audiences = ["x"]
algorithms = ["HS512"]
[[issuer.secrets]]
env = "OTHER"
encoding = "base64url"
algorithm = "HS512"
"#;
    let p = Policy::from_toml(text).unwrap();
    assert_eq!(p.limits().max_token_bytes, 8192);
    assert_eq!(p.limits().max_header_bytes, 1024);
    let i = &p.issuers()[0];
    assert_eq!(i.client_ids, vec!["abc"]);
    assert!(i.audiences.is_empty());
    assert_eq!(i.leeway_seconds, 0);
    assert!(!i.require_exp);
    assert_eq!(i.typ.as_deref(), Some("at+jwt"));
    assert_eq!(i.token_use, Some(TokenUse::Access));
    assert_eq!(i.required_claims, vec!["email"]);
    assert_eq!(i.required_scopes, vec!["orders.read"]);
    assert_eq!(i.max_lifetime_seconds, Some(86400));
    assert_eq!(i.principal_claims, vec!["client_id"]);
    assert_eq!(i.context_claims, vec!["email", "scope"]);

    let m = p.manifest();
    assert_eq!(
        m,
        Manifest {
            issuers: vec![
                IssuerNeeds {
                    issuer: String::from(
                        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc"
                    ),
                    key_sources: vec![
                        KeySource::JwksFile(String::from("keys/jwks.json")),
                        KeySource::Secret(SecretSource {
                            kid: Some(String::from("k1")),
                            location: String::from("secret.txt"),
                            encoding: String::from("base64"),
                            algorithm: Algorithm::Hs256,
                        }),
                        KeySource::Secret(SecretSource {
                            kid: None,
                            location: String::from("env:TOLLGATE_SECRET"),
                            encoding: String::from("raw"),
                            algorithm: Algorithm::Hs256,
                        }),
                    ],
                    algorithms: vec![Algorithm::Rs256, Algorithm::Es256, Algorithm::Hs256],
                },
                IssuerNeeds {
                    issuer: String::from("https://other.example"),
                    key_sources: vec![KeySource::Secret(SecretSource {
                        kid: None,
                        location: String::from("env:OTHER"),
                        encoding: String::from("base64url"),
                        algorithm: Algorithm::Hs512,
                    })],
                    algorithms: vec![Algorithm::Hs512],
                },
            ],
            rules: vec![],
            warnings: vec![],
            paths: Default::default(),
        }
    );
}

#[test]
fn test_policy_is_valid() {
    let p = Policy::from_toml(&policy_text("")).unwrap();
    assert_eq!(p.issuers()[0].algorithms, Algorithm::ALL.to_vec());
}

#[test]
fn syntax_errors() {
    let e = error_at("[[issuer]\nissuer = 1", "document");
    assert!(e.message.contains("line 1"), "{}", e.message);
    let e = error_at(&format!("{MINIMAL}leeway_seconds = = 3\n"), "issuer[0]");
    assert!(e.message.contains("line 7"), "{}", e.message);
    error_at(
        &format!("{MINIMAL}\n[[issuer.secrets]]\nkid = \"a\nenv = \"X\"\n"),
        "issuer[0].secrets[0]",
    );
    error_at("[limits]\nmax_token_bytes = 1 2\n", "limits");
    // Duplicate keys are a TOML error.
    error_at(&format!("{MINIMAL}issuer = \"again\"\n"), "issuer[0]");
    error_at("", "issuer");
}

#[test]
fn unknown_fields_name_their_path() {
    let e = error_at(&minimal("audience = [\"x\"]"), "issuer[0].audience");
    assert!(e.message.contains("unknown field"), "{}", e.message);
    assert!(e.message.contains("audiences"), "{}", e.message);
    error_at(
        &format!("{MINIMAL}\n[[issuer]]\nissuer = \"b\"\nalgorithms = [\"HS256\"]\nfoo = 1\n"),
        "issuer[1].foo",
    );
    error_at(
        &minimal("algorithms_extra = 1\n[[issuer.secrets]]\nenv = \"X\"\nalgorithm = \"HS256\""),
        "issuer[0].algorithms_extra",
    );
    error_at(
        &policy_text("").replace("kid = \"hs\"\nenv", "kid = \"hs\"\nsecret = \"x\"\nenv"),
        "issuer[0].secrets[0].secret",
    );
    error_at(
        &format!("[limits]\nmax_bytes = 1\n{MINIMAL}"),
        "limits.max_bytes",
    );
    let e = error_at(&format!("rules = []\n{MINIMAL}"), "rules");
    assert!(
        e.message.contains("issuer") && e.message.contains("route"),
        "{}",
        e.message
    );
}

#[test]
fn wrong_types_name_their_path() {
    let e = error_at(
        &minimal("leeway_seconds = \"60\""),
        "issuer[0].leeway_seconds",
    );
    assert!(e.message.contains("invalid type"), "{}", e.message);
    error_at(&minimal("require_exp = \"yes\""), "issuer[0].require_exp");
    error_at(
        &MINIMAL.replace("audiences = [\"orders-api\"]", "audiences = \"orders-api\""),
        "issuer[0].audiences",
    );
    error_at(
        &MINIMAL.replace("algorithms = [\"RS256\"]", "algorithms = [1]"),
        "issuer[0].algorithms",
    );
    error_at(&minimal("secrets = 1"), "issuer[0].secrets");
    error_at(&minimal("secrets = [1]"), "issuer[0].secrets[0]");
    error_at(&format!("limits = 1\n{MINIMAL}"), "limits");
    error_at("issuer = \"x\"", "issuer");
    error_at("issuer = [1]", "issuer[0]");
    error_at(
        &format!("[limits]\nmax_token_bytes = \"big\"\n{MINIMAL}"),
        "limits.max_token_bytes",
    );
}

#[test]
fn algorithms_rules() {
    let no_algs = MINIMAL.replace("algorithms = [\"RS256\"]\n", "");
    let e = error_at(&no_algs, "issuer[0].algorithms");
    assert!(e.message.contains("missing"), "{}", e.message);
    error_at(
        &MINIMAL.replace("[\"RS256\"]", "[]"),
        "issuer[0].algorithms",
    );
    let e = error_at(
        &MINIMAL.replace("[\"RS256\"]", "[\"RS256\", \"none\"]"),
        "issuer[0].algorithms[1]",
    );
    assert!(e.message.contains("none"), "{}", e.message);
    error_at(
        &MINIMAL.replace("[\"RS256\"]", "[\"None\"]"),
        "issuer[0].algorithms[0]",
    );
    let e = error_at(
        &MINIMAL.replace("[\"RS256\"]", "[\"rs256\"]"),
        "issuer[0].algorithms[0]",
    );
    assert!(e.message.contains("RS256"), "{}", e.message);
    let e = error_at(
        &MINIMAL.replace("[\"RS256\"]", "[\"XS256\"]"),
        "issuer[0].algorithms[0]",
    );
    assert!(e.message.contains("EdDSA"), "{}", e.message);
    error_at(
        &MINIMAL.replace("[\"RS256\"]", "[\"RS256\", \"RS256\"]"),
        "issuer[0].algorithms[1]",
    );
}

#[test]
fn key_source_rules() {
    // HS without a secret.
    let e = error_at(
        &MINIMAL.replace("[\"RS256\"]", "[\"RS256\", \"HS256\"]"),
        "issuer[0].secrets",
    );
    assert!(e.message.contains("HS256"), "{}", e.message);
    // Asymmetric without jwks_file.
    let e = error_at(
        &MINIMAL.replace("jwks_file = \"keys/jwks.json\"\n", ""),
        "issuer[0].jwks_file",
    );
    assert!(e.message.contains("RS256"), "{}", e.message);
    // Secret whose algorithm is not listed.
    error_at(
        &minimal("[[issuer.secrets]]\nenv = \"X\"\nalgorithm = \"HS256\""),
        "issuer[0].secrets[0].algorithm",
    );
    // Secret with an asymmetric algorithm.
    error_at(
        &minimal("[[issuer.secrets]]\nenv = \"X\"\nalgorithm = \"RS256\""),
        "issuer[0].secrets[0].algorithm",
    );
    let hs = MINIMAL.replace("[\"RS256\"]", "[\"RS256\", \"HS256\"]");
    let secret = |body: &str| {
        format!(
            "{hs}[[issuer.secrets]]\nenv = \"OK\"\nalgorithm = \"HS256\"\n[[issuer.secrets]]\n{body}\n"
        )
    };
    error_at(
        &secret("file = \"s\"\nenv = \"X\"\nalgorithm = \"HS256\""),
        "issuer[0].secrets[1].env",
    );
    error_at(
        &secret("algorithm = \"HS256\""),
        "issuer[0].secrets[1].file",
    );
    error_at(&secret("env = \"X\""), "issuer[0].secrets[1].algorithm");
    let e = error_at(
        &secret("env = \"X\"\nalgorithm = \"HS256\"\nencoding = \"hex\""),
        "issuer[0].secrets[1].encoding",
    );
    assert!(e.message.contains("base64url"), "{}", e.message);
    error_at(
        &secret("env = \"\"\nalgorithm = \"HS256\""),
        "issuer[0].secrets[1].env",
    );
    error_at(
        &secret("file = \" \"\nalgorithm = \"HS256\""),
        "issuer[0].secrets[1].file",
    );
    error_at(
        &secret("kid = \"\"\nenv = \"X\"\nalgorithm = \"HS256\""),
        "issuer[0].secrets[1].kid",
    );
    error_at(
        &secret("env = 5\nalgorithm = \"HS256\""),
        "issuer[0].secrets[1].env",
    );
    assert!(
        Policy::from_toml(&secret(
            "file = \"s\"\nalgorithm = \"HS256\"\nencoding = \"base64\""
        ))
        .is_ok()
    );
    // HMAC-only issuer needs no jwks_file.
    let hmac_only = "[[issuer]]\nissuer = \"i\"\naudiences = [\"a\"]\nalgorithms = [\"HS256\"]\n[[issuer.secrets]]\nfile = \"s\"\nalgorithm = \"HS256\"\n";
    let p = Policy::from_toml(hmac_only).unwrap();
    assert_eq!(p.manifest().issuers[0].key_sources.len(), 1);
    // Each listed HMAC algorithm needs its own secret.
    error_at(
        &hmac_only.replace("[\"HS256\"]", "[\"HS256\", \"HS384\"]"),
        "issuer[0].secrets",
    );
    error_at(
        &MINIMAL.replace("keys/jwks.json", ""),
        "issuer[0].jwks_file",
    );
}

#[test]
fn remote_key_sources() {
    let without_file = MINIMAL.replace("jwks_file = \"keys/jwks.json\"\n", "");
    let with = |extra: &str| format!("{without_file}{extra}\n");

    // jwks_uri: emitted as JwksUri, secrets after it.
    let text = with(
        "jwks_uri = \"https://issuer.example/.well-known/jwks.json\"\n\
         [[issuer.secrets]]\nenv = \"S\"\nalgorithm = \"HS256\"",
    )
    .replace("[\"RS256\"]", "[\"RS256\", \"HS256\"]");
    let p = Policy::from_toml(&text).unwrap();
    assert_eq!(
        p.issuers()[0].jwks_uri.as_deref(),
        Some("https://issuer.example/.well-known/jwks.json")
    );
    assert!(!p.issuers()[0].discovery);
    let sources = &p.manifest().issuers[0].key_sources;
    assert_eq!(
        sources[0],
        KeySource::JwksUri(String::from("https://issuer.example/.well-known/jwks.json"))
    );
    assert!(matches!(sources[1], KeySource::Secret(_)));
    assert_eq!(sources.len(), 2);

    // discovery = true: emitted as Discovery(issuer).
    let p = Policy::from_toml(&with("discovery = true")).unwrap();
    assert!(p.issuers()[0].discovery);
    assert_eq!(
        p.manifest().issuers[0].key_sources,
        vec![KeySource::Discovery(String::from("https://issuer.example"))]
    );
    // discovery = false is no key source.
    let e = error_at(&with("discovery = false"), "issuer[0].jwks_file");
    assert!(e.message.contains("jwks_uri"), "{}", e.message);
    assert!(e.message.contains("discovery = true"), "{}", e.message);

    // Loopback http is fine (tests, sidecars); other http is not.
    for ok in [
        "http://127.0.0.1:8080/jwks.json",
        "http://127.1.2.3/jwks.json",
        "http://localhost/jwks.json",
        "http://[::1]:9000/jwks.json",
        "HTTPS://issuer.example:8443/keys?tenant=a",
    ] {
        let p = Policy::from_toml(&with(&format!("jwks_uri = \"{ok}\"")))
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert_eq!(p.issuers()[0].jwks_uri.as_deref(), Some(ok));
    }
    for (bad, why) in [
        ("http://issuer.example/jwks.json", "loopback"),
        ("http://10.0.0.1/jwks.json", "loopback"),
        ("http://128.0.0.1/jwks.json", "loopback"),
        ("http://127.0.0.256/jwks.json", "loopback"),
        ("http://localhost.evil.example/jwks.json", "loopback"),
        ("ftp://issuer.example/jwks.json", "scheme"),
        ("file:///etc/jwks.json", "no host"),
        ("issuer.example/jwks.json", "absolute"),
        ("", "empty"),
        ("https://issuer.example/jwks.json ", "white space"),
        ("https://user:pw@issuer.example/jwks.json", "password"),
        ("https://issuer.example/jwks.json#k", "fragment"),
        ("https://issuer.example:0/jwks.json", "port"),
        ("https://issuer.example:99999/jwks.json", "port"),
        ("https://issuer.example:x/jwks.json", "port"),
        ("https://[::1/jwks.json", "]"),
        ("https://iss%uer.example/", "host"),
    ] {
        let e = error_at(
            &with(&format!("jwks_uri = \"{bad}\"")),
            "issuer[0].jwks_uri",
        );
        assert!(e.message.contains(why), "{bad}: {}", e.message);
    }
    error_at(&with("jwks_uri = 5"), "issuer[0].jwks_uri");
    error_at(&with("discovery = \"yes\""), "issuer[0].discovery");

    // Exactly one key source kind.
    let e = error_at(
        &minimal("jwks_uri = \"https://issuer.example/jwks.json\""),
        "issuer[0].jwks_uri",
    );
    assert!(e.message.contains("jwks_file"), "{}", e.message);
    error_at(&minimal("discovery = true"), "issuer[0].discovery");
    error_at(
        &with("jwks_uri = \"https://issuer.example/jwks.json\"\ndiscovery = true"),
        "issuer[0].discovery",
    );

    // Discovery needs an https (or loopback http) issuer URL.
    for issuer in [
        "urn:example:batch",
        "http://issuer.example",
        "https://issuer.example/?x=1",
        "https://issuer.example/#x",
    ] {
        let e = error_at(
            &with("discovery = true").replace("https://issuer.example", issuer),
            "issuer[0].discovery",
        );
        assert!(e.message.contains("jwks_uri"), "{}", e.message);
    }
    assert!(
        Policy::from_toml(
            &with("discovery = true")
                .replace("https://issuer.example", "http://127.0.0.1:8080/realms/x")
        )
        .is_ok()
    );
}

#[test]
fn issuer_rules() {
    error_at(
        &MINIMAL.replace("issuer = \"https://issuer.example\"\n", ""),
        "issuer[0].issuer",
    );
    error_at(
        &MINIMAL.replace("https://issuer.example", ""),
        "issuer[0].issuer",
    );
    error_at(
        &MINIMAL.replace("https://issuer.example", " https://issuer.example"),
        "issuer[0].issuer",
    );
    let e = error_at(&format!("{MINIMAL}{MINIMAL}"), "issuer[1].issuer");
    assert!(e.message.contains("issuer[0]"), "{}", e.message);
    error_at("issuer = []", "issuer");
    error_at("[limits]\n", "issuer");
    // Neither audiences nor client_ids.
    error_at(
        &MINIMAL.replace("audiences = [\"orders-api\"]\n", ""),
        "issuer[0].audiences",
    );
    error_at(
        &MINIMAL.replace("[\"orders-api\"]", "[]"),
        "issuer[0].audiences",
    );
    assert!(
        Policy::from_toml(&MINIMAL.replace("audiences = [\"orders-api\"]", "client_ids = [\"c\"]"))
            .is_ok()
    );
    // Secret file locations that would be misread.
    let hmac = "[[issuer]]\nissuer = \"i\"\naudiences = [\"a\"]\nalgorithms = [\"HS256\"]\n[[issuer.secrets]]\nalgorithm = \"HS256\"\n";
    error_at(
        &format!("{hmac}file = \"env:SECRET\"\n"),
        "issuer[0].secrets[0].file",
    );
    error_at(
        &format!("{hmac}file = \" secret.txt\"\n"),
        "issuer[0].secrets[0].file",
    );
    assert!(Policy::from_toml(&format!("{hmac}file = \"secret.txt\"\n")).is_ok());
    // The explicit opt-out, and its contradiction with audiences.
    let open =
        Policy::from_toml(&MINIMAL.replace("audiences = [\"orders-api\"]", "any_audience = true"))
            .expect("any_audience alone is valid");
    assert!(open.issuers()[0].any_audience);
    assert!(open.issuers()[0].audiences.is_empty());
    error_at(
        &MINIMAL.replace(
            "audiences = [\"orders-api\"]",
            "audiences = [\"a\"]\nany_audience = true",
        ),
        "issuer[0].any_audience",
    );
    error_at(
        &MINIMAL.replace("[\"orders-api\"]", "[\"a\", \"\"]"),
        "issuer[0].audiences[1]",
    );
    error_at(
        &MINIMAL.replace("[\"orders-api\"]", "[\"a\", \"a\"]"),
        "issuer[0].audiences[1]",
    );
}

#[test]
fn value_ranges() {
    assert_eq!(
        Policy::from_toml(&minimal("leeway_seconds = 0"))
            .unwrap()
            .issuers()[0]
            .leeway_seconds,
        0
    );
    assert_eq!(
        Policy::from_toml(&minimal("leeway_seconds = 600"))
            .unwrap()
            .issuers()[0]
            .leeway_seconds,
        600
    );
    let e = error_at(&minimal("leeway_seconds = 601"), "issuer[0].leeway_seconds");
    assert!(e.message.contains("600"), "{}", e.message);
    error_at(&minimal("leeway_seconds = -1"), "issuer[0].leeway_seconds");
    error_at(
        &minimal("max_lifetime_seconds = 0"),
        "issuer[0].max_lifetime_seconds",
    );
    error_at(&minimal("token_use = \"refresh\""), "issuer[0].token_use");
    error_at(&minimal("typ = \"\""), "issuer[0].typ");
    error_at(
        &minimal("principal_claims = []"),
        "issuer[0].principal_claims",
    );
    error_at(
        &minimal("principal_claims = [\"sub\", \"\"]"),
        "issuer[0].principal_claims[1]",
    );
    error_at(
        &minimal("required_scopes = [\"a b\"]"),
        "issuer[0].required_scopes[0]",
    );
    error_at(
        &minimal("required_claims = [\"\"]"),
        "issuer[0].required_claims[0]",
    );
    error_at(
        &minimal("context_claims = [\"x\", \"x\"]"),
        "issuer[0].context_claims[1]",
    );
    let limits = |body: &str| format!("[limits]\n{body}\n{MINIMAL}");
    error_at(&limits("max_token_bytes = 0"), "limits.max_token_bytes");
    error_at(&limits("max_token_bytes = -5"), "limits.max_token_bytes");
    error_at(
        &limits("max_token_bytes = 1048577"),
        "limits.max_token_bytes",
    );
    error_at(
        &limits("max_header_bytes = 65537"),
        "limits.max_header_bytes",
    );
    let p = Policy::from_toml(&limits("max_token_bytes = 1048576\nmax_header_bytes = 1")).unwrap();
    assert_eq!(p.limits().max_token_bytes, 1048576);
    assert_eq!(p.limits().max_header_bytes, 1);
}

#[test]
fn error_display() {
    let e = error(&minimal("bogus = 1"));
    assert!(
        e.to_string()
            .starts_with("config error at `issuer[0].bogus`: "),
        "{e}"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for n in [1000usize, 100_000] {
        let arrays = format!("x = {}{}", "[".repeat(n), "]".repeat(n));
        let tables = format!("x = {}1{}", "{a=".repeat(n), "}".repeat(n));
        let dotted = format!("{} = 1", vec!["a"; n].join("."));
        for text in [arrays, tables, dotted] {
            assert!(Policy::from_toml(&text).is_err());
        }
    }
}

#[test]
fn line_columns() {
    assert_eq!(line_column("ab\ncd", 0), (1, 1));
    assert_eq!(line_column("ab\ncd", 4), (2, 2));
    assert_eq!(line_column("é\nx", 99), (2, 2));
}

#[test]
fn the_paths_section_sets_the_manifest_path_options() {
    use crate::model::{
        DotSegments, EncodedDelimiters, PathCase, PathOptions, PathParameters, TrailingSlash,
    };
    let default = Policy::from_toml(&policy_text("")).expect("valid");
    assert_eq!(default.manifest().paths, PathOptions::default());
    let text = format!(
        "{}\n[paths]\nmerge_slashes = false\nencoded_delimiters = \"keep\"\npath_parameters = \"strip\"\ndot_segments = \"resolve\"\ncase = \"lower\"\ntrailing_slash = \"keep\"\n",
        policy_text("")
    );
    let policy = Policy::from_toml(&text).expect("valid");
    assert_eq!(
        policy.manifest().paths,
        PathOptions {
            merge_slashes: false,
            encoded_delimiters: EncodedDelimiters::Keep,
            path_parameters: PathParameters::Strip,
            dot_segments: DotSegments::Resolve,
            case: PathCase::Lower,
            trailing_slash: TrailingSlash::Keep,
        }
    );
    for (section, field, hint) in [
        (
            "merge_slashes = \"no\"",
            "paths.merge_slashes",
            "true or false",
        ),
        ("case = \"upper\"", "paths.case", "\"sensitive\", \"lower\""),
        (
            "encoded_delimiters = 1",
            "paths.encoded_delimiters",
            "expected a string",
        ),
        (
            "normalize = true",
            "paths.normalize",
            "the options are merge_slashes",
        ),
    ] {
        let text = format!("{}\n[paths]\n{section}\n", policy_text(""));
        let error = Policy::from_toml(&text).expect_err(section);
        assert_eq!(error.field, field, "{section}");
        assert!(error.message.contains(hint), "{section}: {}", error.message);
    }
}
