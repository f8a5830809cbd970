//! Test files: `*.test.toml`, read and checked field by field.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use tollgate_host::model::Algorithm;

use crate::error::{FieldError, TestError};
use crate::expect::Expect;
use crate::fields::{Fields, type_error};

/// How test files are named: `<name>.test.toml`.
pub const TEST_FILE_SUFFIX: &str = ".test.toml";

/// A claim or header member set to this string is left out of the token,
/// even when the runner or the file's `[token]` would set it
/// (`exp = "$absent"`, `kid = "$absent"`).
pub const ABSENT: &str = "$absent";

const FILE_FIELDS: [&str; 4] = ["config", "now", "token", "case"];
const TOKEN_FIELDS: [&str; 4] = ["issuer", "alg", "claims", "header"];
const CASE_FIELDS: [&str; 11] = [
    "name",
    "method",
    "path",
    "headers",
    "query",
    "source_ip",
    "now",
    "token",
    "raw_token",
    "authorization",
    "expect",
];
/// The fields that say which credential a case sends (at most one).
const CREDENTIAL_FIELDS: [&str; 3] = ["token", "raw_token", "authorization"];

/// One test file: a policy document and the cases to decide with it.
#[derive(Debug, Clone, PartialEq)]
pub struct TestFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The policy document (`config`), resolved against the file's folder.
    pub config: Option<PathBuf>,
    /// The `[token]` defaults (already merged into every case's token).
    pub token: TokenSpec,
    /// The cases, in file order.
    pub cases: Vec<Case>,
}

/// How to mint a token: who signs, with what, and what it says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenSpec {
    /// The configured issuer whose throwaway key signs; default: the
    /// policy's only issuer.
    pub issuer: Option<String>,
    /// The signing algorithm; default: the issuer's first allowed one.
    pub alg: Option<Algorithm>,
    /// Claims, over the defaults `iss`, `iat` and `exp`; a value of
    /// [`ABSENT`] removes the claim.
    pub claims: Map<String, Value>,
    /// Header members, over the defaults `alg`, `typ` and `kid`; a value of
    /// [`ABSENT`] removes the member.
    pub header: Map<String, Value>,
}

impl TokenSpec {
    /// `self` over `base`: `issuer` and `alg` when set, claims and header
    /// members key by key.
    pub fn merged_over(&self, base: &TokenSpec) -> TokenSpec {
        let merge = |base: &Map<String, Value>, top: &Map<String, Value>| {
            let mut merged = base.clone();
            merged.extend(top.iter().map(|(k, v)| (k.clone(), v.clone())));
            merged
        };
        TokenSpec {
            issuer: self.issuer.clone().or_else(|| base.issuer.clone()),
            alg: self.alg.or(base.alg),
            claims: merge(&base.claims, &self.claims),
            header: merge(&base.header, &self.header),
        }
    }
}

/// What credential a case sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Credential {
    /// A token the runner mints (`[token]` merged with the case's `token`),
    /// sent as `Authorization: Bearer <token>`.
    Token(TokenSpec),
    /// No credential at all (`token = false`).
    None,
    /// `raw_token`: sent as `Authorization: Bearer <raw_token>`, unchanged.
    RawToken(String),
    /// `authorization`: the whole `Authorization` header value, unchanged.
    Authorization(String),
}

/// One case: a request, its credential and what the decision must be.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Its position in the file (`case[N]`).
    pub index: usize,
    /// `name`, or `case[N]` when it has none.
    pub name: String,
    /// HTTP method, as written (methods are case-sensitive; default `GET`).
    pub method: String,
    /// Request path (default `/`).
    pub path: String,
    /// Headers as (lower-case name, value).
    pub headers: Vec<(String, String)>,
    /// Query parameters as (name, value).
    pub query: Vec<(String, String)>,
    /// Client IP.
    pub source_ip: Option<String>,
    /// Unix time of the decision (the case's `now`, else the file's).
    pub now: i64,
    /// The credential.
    pub credential: Credential,
    /// What the decision must be.
    pub expect: Expect,
}

impl TestFile {
    /// Read and check the test file at `path`.
    pub fn load(path: &Path) -> Result<TestFile, TestError> {
        let text = std::fs::read_to_string(path).map_err(|source| TestError::Read {
            path: path.display().to_string(),
            source,
        })?;
        TestFile::parse(&text, path)
    }

    /// Check the text of a test file read from `path` (which `config`
    /// resolves against and errors name).
    pub fn parse(text: &str, path: &Path) -> Result<TestFile, TestError> {
        parse_document(text, path).map_err(|e| e.in_file(path))
    }
}

fn parse_document(text: &str, path: &Path) -> Result<TestFile, FieldError> {
    let document: toml::Table = toml::from_str(text).map_err(|e| {
        let (line, column) = line_column(text, e.span().map_or(0, |span| span.start));
        FieldError::new(
            "document",
            format!(
                "invalid TOML at line {line}, column {column}: {}",
                e.message().trim()
            ),
        )
    })?;
    let fields = Fields::new(&document, "", &FILE_FIELDS)?;
    let config = fields
        .string(
            "config",
            "write config = \"policy.toml\" (relative to this file)",
        )?
        .map(|config| {
            if config.trim().is_empty() {
                return Err(FieldError::new(
                    "config",
                    "empty; write config = \"policy.toml\" (relative to this file)",
                ));
            }
            let folder = path.parent().unwrap_or(Path::new(""));
            Ok(folder.join(config))
        })
        .transpose()?;
    let now = fields.integer("now", "write now = 1767225600 (unix seconds)")?;
    let token = match fields.table("token", "write it as a [token] section")? {
        Some(table) => parse_token(table, "token")?,
        None => TokenSpec::default(),
    };
    let entries = match fields.array("case", "write each case as a [[case]] section")? {
        Some(entries) if !entries.is_empty() => entries,
        _ => {
            return Err(FieldError::new(
                "case",
                "no cases; add a [[case]] section with at least `expect = { decision = \"allow\" }`",
            ));
        }
    };
    let cases = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| parse_case(entry, index, now, &token))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TestFile {
        path: path.to_path_buf(),
        config,
        token,
        cases,
    })
}

/// A `[token]` table, or a case's `token = { ... }`.
fn parse_token(table: &toml::Table, path: &str) -> Result<TokenSpec, FieldError> {
    let fields = Fields::new(table, path, &TOKEN_FIELDS)?;
    let issuer = fields.string(
        "issuer",
        "write issuer = \"https://issuer.example\" (a configured issuer)",
    )?;
    if issuer.as_deref().is_some_and(|i| i.trim().is_empty()) {
        return Err(FieldError::new(
            fields.field("issuer"),
            "empty; write a configured issuer, e.g. issuer = \"https://issuer.example\"",
        ));
    }
    let alg = match fields.string("alg", "write e.g. alg = \"RS256\"")? {
        None => None,
        Some(name) => Some(Algorithm::from_name(&name).ok_or_else(|| {
            let known: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
            FieldError::new(
                fields.field("alg"),
                format!(
                    "cannot sign with `{name}`; write one of {} (for a token whose header claims another alg, set header = {{ alg = \"{name}\" }})",
                    known.join(", ")
                ),
            )
        })?),
    };
    Ok(TokenSpec {
        issuer,
        alg,
        claims: fields
            .json_object("claims", "write e.g. claims = { sub = \"alice\" }")?
            .unwrap_or_default(),
        header: fields
            .json_object("header", "write e.g. header = { typ = \"at+jwt\" }")?
            .unwrap_or_default(),
    })
}

fn parse_case(
    entry: &toml::Value,
    index: usize,
    file_now: Option<i64>,
    defaults: &TokenSpec,
) -> Result<Case, FieldError> {
    let path = format!("case[{index}]");
    let table = entry.as_table().ok_or_else(|| {
        type_error(
            &path,
            "a table",
            entry,
            "write each case as a [[case]] section",
        )
    })?;
    let fields = Fields::new(table, &path, &CASE_FIELDS)?;
    let given: Vec<&str> = CREDENTIAL_FIELDS
        .into_iter()
        .filter(|key| fields.value(key).is_some())
        .collect();
    if let [first, second, ..] = given.as_slice() {
        return Err(FieldError::new(
            fields.field(second),
            format!("`{first}` and `{second}` both give the credential; keep one"),
        ));
    }
    let credential = if let Some(raw) =
        fields.string("raw_token", "write raw_token = \"not.a.jwt\"")?
    {
        Credential::RawToken(raw)
    } else if let Some(header) = fields.string(
        "authorization",
        "write e.g. authorization = \"Basic dXNlcjpwYXNz\"",
    )? {
        Credential::Authorization(header)
    } else {
        match fields.value("token") {
            None => Credential::Token(defaults.clone()),
            Some(toml::Value::Boolean(false)) => Credential::None,
            Some(toml::Value::Table(token)) => {
                Credential::Token(parse_token(token, &fields.field("token"))?.merged_over(defaults))
            }
            Some(other) => {
                return Err(type_error(
                    &fields.field("token"),
                    "a table or false",
                    other,
                    "write token = { claims = { ... } } for a minted token, or token = false for none",
                ));
            }
        }
    };
    let now = fields
        .integer("now", "write now = 1767225600 (unix seconds)")?
        .or(file_now)
        .ok_or_else(|| {
            FieldError::new(
                fields.field("now"),
                "missing; write now = 1767225600 (unix seconds) in the case, or once at the top of the file",
            )
        })?;
    let method = fields
        .string("method", "write e.g. method = \"GET\"")?
        .unwrap_or_else(|| "GET".to_string());
    if method.trim().is_empty() {
        return Err(FieldError::new(
            fields.field("method"),
            "empty; write e.g. method = \"GET\" (or leave it out for GET)",
        ));
    }
    let mut headers =
        fields.string_table("headers", "write e.g. headers = { x-request-id = \"1\" }")?;
    for (name, _) in &mut headers {
        *name = name.to_ascii_lowercase();
        if name == "authorization" {
            return Err(FieldError::new(
                format!("{}.{name}", fields.field("headers")),
                "the credential is not a header here; write token = { ... }, raw_token = \"...\" or authorization = \"...\"",
            ));
        }
    }
    let expect = match fields.table("expect", "write expect = { decision = \"allow\" }")? {
        Some(expect) => Expect::parse(expect, &fields.field("expect"))?,
        None => {
            return Err(FieldError::new(
                fields.field("expect"),
                "missing; write e.g. expect = { decision = \"allow\" } or expect = { decision = \"deny\", reason = \"forbidden\" }",
            ));
        }
    };
    Ok(Case {
        index,
        name: fields
            .string("name", "write e.g. name = \"readers read orders\"")?
            .unwrap_or_else(|| path.clone()),
        method,
        path: fields
            .string("path", "write e.g. path = \"/orders/1\"")?
            .unwrap_or_else(|| "/".to_string()),
        headers,
        query: fields.string_table("query", "write e.g. query = { page = \"2\" }")?,
        source_ip: fields.string("source_ip", "write e.g. source_ip = \"192.0.2.1\"")?,
        now,
        credential,
        expect,
    })
}

/// Line and column (1-based) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expect::DecisionKind;
    use serde_json::json;

    fn parse(text: &str) -> Result<TestFile, TestError> {
        TestFile::parse(text, Path::new("dir/orders.test.toml"))
    }

    fn invalid(text: &str) -> (String, String) {
        match parse(text).unwrap_err() {
            TestError::Invalid {
                path,
                field,
                message,
            } => {
                assert_eq!(path, "dir/orders.test.toml");
                (field, message)
            }
            other => panic!("not an invalid-file error: {other}"),
        }
    }

    const FULL: &str = r#"
config = "policy.toml"
now = 1767225600

[token]
issuer = "https://issuer.example"
alg = "ES256"
claims = { sub = "alice", aud = "orders-api", scope = "orders.read" }
header = { typ = "at+jwt" }

[[case]]
name = "readers read orders"
method = "GET"
path = "/orders/1"
headers = { X-Request-Id = "1" }
query = { page = "2" }
source_ip = "192.0.2.1"
token = { claims = { scope = "orders.write", exp = "$absent" }, header = { kid = "other" } }
expect = { decision = "allow", principal = "alice" }

[[case]]
now = 1
token = false
expect = { decision = "deny", reason = "missing-token", status = 401 }

[[case]]
raw_token = "not.a.jwt"
expect = { decision = "deny", reason = "malformed" }

[[case]]
authorization = "Basic dXNlcjpwYXNz"
token = { alg = "PS256", issuer = "urn:other" }
expect = { decision = "deny" }
"#;

    #[test]
    fn a_full_file_parses_with_defaults_merged() {
        let text = FULL.replace("token = { alg = \"PS256\", issuer = \"urn:other\" }\n", "");
        let file = parse(&text).unwrap();
        assert_eq!(file.config, Some(PathBuf::from("dir/policy.toml")));
        assert_eq!(file.cases.len(), 4);
        let first = &file.cases[0];
        assert_eq!(first.name, "readers read orders");
        assert_eq!(first.method, "GET");
        assert_eq!(first.path, "/orders/1");
        assert_eq!(
            first.headers,
            vec![("x-request-id".to_string(), "1".to_string())]
        );
        assert_eq!(first.query, vec![("page".to_string(), "2".to_string())]);
        assert_eq!(first.source_ip.as_deref(), Some("192.0.2.1"));
        assert_eq!(first.now, 1767225600);
        let Credential::Token(token) = &first.credential else {
            panic!("a minted token")
        };
        assert_eq!(token.issuer.as_deref(), Some("https://issuer.example"));
        assert_eq!(token.alg, Some(Algorithm::Es256));
        assert_eq!(
            Value::Object(token.claims.clone()),
            json!({"sub": "alice", "aud": "orders-api", "scope": "orders.write", "exp": ABSENT})
        );
        assert_eq!(
            Value::Object(token.header.clone()),
            json!({"typ": "at+jwt", "kid": "other"})
        );
        assert_eq!(first.expect.decision, DecisionKind::Allow);
        let second = &file.cases[1];
        assert_eq!(
            (
                second.name.as_str(),
                second.method.as_str(),
                second.path.as_str()
            ),
            ("case[1]", "GET", "/")
        );
        assert_eq!(second.now, 1);
        assert_eq!(second.credential, Credential::None);
        assert_eq!(second.expect.status, Some(401));
        assert_eq!(
            file.cases[2].credential,
            Credential::RawToken("not.a.jwt".into())
        );
        assert_eq!(
            file.cases[3].credential,
            Credential::Authorization("Basic dXNlcjpwYXNz".into())
        );
    }

    #[test]
    fn two_credentials_in_one_case_are_refused() {
        let (field, message) = invalid(FULL);
        assert_eq!(field, "case[3].authorization");
        assert_eq!(
            message,
            "`token` and `authorization` both give the credential; keep one"
        );
    }

    #[test]
    fn merging_overrides_issuer_and_alg_and_merges_maps_key_by_key() {
        let base = TokenSpec {
            issuer: Some("a".into()),
            alg: Some(Algorithm::Rs256),
            claims: json!({"sub": "alice", "aud": "x"})
                .as_object()
                .unwrap()
                .clone(),
            header: Map::new(),
        };
        let top = TokenSpec {
            issuer: None,
            alg: Some(Algorithm::Es256),
            claims: json!({"aud": ABSENT, "tier": {"level": 1}})
                .as_object()
                .unwrap()
                .clone(),
            header: json!({"typ": "JWT"}).as_object().unwrap().clone(),
        };
        let merged = top.merged_over(&base);
        assert_eq!(merged.issuer.as_deref(), Some("a"));
        assert_eq!(merged.alg, Some(Algorithm::Es256));
        assert_eq!(
            Value::Object(merged.claims),
            json!({"sub": "alice", "aud": ABSENT, "tier": {"level": 1}})
        );
        assert_eq!(Value::Object(merged.header), json!({"typ": "JWT"}));
    }

    #[test]
    fn unknown_fields_name_their_path() {
        let (field, message) =
            invalid("now = 1\nconfg = \"p.toml\"\n[[case]]\nexpect = { decision = \"allow\" }");
        assert_eq!(field, "confg");
        assert_eq!(
            message,
            "unknown field `confg`; expected one of config, now, token, case"
        );
        let (field, _) =
            invalid("now = 1\n[token]\nclaim = {}\n[[case]]\nexpect = { decision = \"allow\" }");
        assert_eq!(field, "token.claim");
        let (field, message) = invalid(
            "now = 1\n[[case]]\nexpect = { decision = \"allow\" }\n[[case]]\nheader = {}\nexpect = { decision = \"allow\" }",
        );
        assert_eq!(field, "case[1].header");
        assert!(
            message.contains("expected one of name, method, path, headers"),
            "{message}"
        );
        let (field, _) = invalid(
            "now = 1\n[[case]]\ntoken = { claims = {}, kid = \"x\" }\nexpect = { decision = \"allow\" }",
        );
        assert_eq!(field, "case[0].token.kid");
        let (field, _) = invalid(
            "now = 1\n[[case]]\nexpect = { decision = \"allow\", grants = [{ method = \"GET\", path = \"/\", verb = \"x\" }] }",
        );
        assert_eq!(field, "case[0].expect.grants[0].verb");
    }

    #[test]
    fn now_is_required_in_the_file_or_the_case() {
        let (field, message) = invalid(
            "[[case]]\nnow = 5\nexpect = { decision = \"allow\" }\n[[case]]\nexpect = { decision = \"allow\" }",
        );
        assert_eq!(field, "case[1].now");
        assert!(
            message.starts_with("missing; write now = 1767225600"),
            "{message}"
        );
    }

    #[test]
    fn cases_and_expectations_are_required() {
        let (field, message) = invalid("now = 1");
        assert_eq!(field, "case");
        assert!(message.starts_with("no cases;"), "{message}");
        let (field, message) = invalid("now = 1\n[[case]]\nname = \"x\"");
        assert_eq!(field, "case[0].expect");
        assert!(message.starts_with("missing;"), "{message}");
    }

    #[test]
    fn bad_values_say_what_to_write() {
        let (field, message) =
            invalid("now = 1\n[token]\nalg = \"none\"\n[[case]]\nexpect = { decision = \"deny\" }");
        assert_eq!(field, "token.alg");
        assert!(
            message.starts_with("cannot sign with `none`; write one of RS256,"),
            "{message}"
        );
        assert!(message.contains("header = { alg = \"none\" }"), "{message}");
        let (field, message) =
            invalid("now = 1\n[[case]]\ntoken = true\nexpect = { decision = \"deny\" }");
        assert_eq!(field, "case[0].token");
        assert_eq!(
            message,
            "expected a table or false, found a boolean; write token = { claims = { ... } } for a minted token, or token = false for none"
        );
        let (field, message) = invalid(
            "now = 1\n[[case]]\nheaders = { Authorization = \"Bearer x\" }\nexpect = { decision = \"deny\" }",
        );
        assert_eq!(field, "case[0].headers.authorization");
        assert!(
            message.starts_with("the credential is not a header here"),
            "{message}"
        );
        let (field, _) = invalid(
            "now = 1\n[[case]]\ntoken = { claims = { \"cognito:groups\" = nan } }\nexpect = { decision = \"deny\" }",
        );
        assert_eq!(field, "case[0].token.claims.\"cognito:groups\"");
        let (field, message) =
            invalid("now = \"today\"\n[[case]]\nexpect = { decision = \"deny\" }");
        assert_eq!(field, "now");
        assert_eq!(
            message,
            "expected an integer, found a string; write now = 1767225600 (unix seconds)"
        );
    }

    #[test]
    fn toml_syntax_errors_give_line_and_column() {
        let (field, message) = invalid("now = 1\n[[case]\n");
        assert_eq!(field, "document");
        assert!(
            message.starts_with("invalid TOML at line 2, column"),
            "{message}"
        );
    }

    #[test]
    fn load_names_an_unreadable_file() {
        let err = TestFile::load(Path::new("/nonexistent/x.test.toml")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read /nonexistent/x.test.toml: "),
            "{err}"
        );
    }
}
