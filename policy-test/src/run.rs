//! The runner: each file's policy configured once with throwaway keys,
//! each case minted, decided and compared.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tollgate_host::model::{Algorithm, IssuerNeeds, Manifest, Request, TokenSource};
use tollgate_host::{Authorizer, PolicyModule};
use tollgate_keys::KeySet;

use crate::error::{FieldError, TestError};
use crate::file::{Case, Credential, TestFile, TokenSpec};
use crate::keys::ThrowawayKeys;
use crate::report::{CaseResult, Coverage, Got, Report, Warning};

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The policy document for every file, instead of each file's `config`.
    pub config: Option<PathBuf>,
}

/// One policy document, configured once per run.
struct Policy {
    authorizer: Authorizer,
    /// Its index in the report's coverage.
    coverage: usize,
}

/// Decide every case of `files` with `module` and compare each decision
/// with its expectation.
///
/// Each policy document is configured once (files naming the same document
/// share it) with throwaway keys bound to its issuers in place of the keys
/// its sources name: nothing is read but the test files and the policy
/// documents, and nothing is fetched. An error (an unreadable or refused
/// policy, a test file that names no usable issuer) stops the run; failing
/// cases do not.
pub fn run(
    module: &Arc<PolicyModule>,
    files: &[TestFile],
    options: &RunOptions,
) -> Result<Report, TestError> {
    let mut keys = ThrowawayKeys::default();
    let mut policies: HashMap<PathBuf, Policy> = HashMap::new();
    let mut report = Report::default();
    for file in files {
        let config = options
            .config
            .as_ref()
            .or(file.config.as_ref())
            .ok_or_else(|| TestError::NoConfig {
                path: file.path.display().to_string(),
            })?;
        // The same document under two spellings is configured once.
        let id = std::fs::canonicalize(config).unwrap_or_else(|_| config.clone());
        if !policies.contains_key(&id) {
            let policy = configure(module, file, config, &mut keys, &mut report)?;
            policies.insert(id.clone(), policy);
        }
        let Some(policy) = policies.get(&id) else {
            continue;
        };
        for case in &file.cases {
            let request = request(case, file, policy.authorizer.manifest(), &mut keys)?;
            let decision = policy.authorizer.authorize(&request);
            let failures = case.expect.check(&decision);
            let got = Got::from(&decision);
            if let Some(coverage) = report.coverage.get_mut(policy.coverage) {
                coverage.record(got.rule.as_deref());
            }
            if failures.is_empty() {
                report.passed += 1;
            } else {
                report.failed += 1;
            }
            report.cases.push(CaseResult {
                file: file.path.display().to_string(),
                name: case.name.clone(),
                passed: failures.is_empty(),
                failures,
                got,
            });
        }
    }
    Ok(report)
}

/// Configure `module` with the document at `config` and throwaway keys;
/// its warnings and an empty coverage go into `report`.
fn configure(
    module: &Arc<PolicyModule>,
    file: &TestFile,
    config: &Path,
    keys: &mut ThrowawayKeys,
    report: &mut Report,
) -> Result<Policy, TestError> {
    let text = std::fs::read_to_string(config).map_err(|source| TestError::ReadConfig {
        path: file.path.display().to_string(),
        config: config.display().to_string(),
        source,
    })?;
    let origin = config.display().to_string();
    let mut failed = None;
    let bind = |needs: &IssuerNeeds| match keys.key_set(needs) {
        Ok(set) => set,
        Err(e) => {
            failed.get_or_insert(e);
            KeySet::default()
        }
    };
    let authorizer =
        Authorizer::with_keys(module.clone(), &text, &origin, bind).map_err(|source| {
            TestError::Policy {
                path: file.path.display().to_string(),
                source,
            }
        })?;
    if let Some(e) = failed {
        return Err(e);
    }
    let manifest = authorizer.manifest();
    report
        .warnings
        .extend(manifest.warnings.iter().map(|message| Warning {
            config: origin.clone(),
            message: message.clone(),
        }));
    report.coverage.push(Coverage::new(origin, &manifest.rules));
    Ok(Policy {
        authorizer,
        coverage: report.coverage.len().saturating_sub(1),
    })
}

/// The request a case describes, with its credential minted.
fn request(
    case: &Case,
    file: &TestFile,
    manifest: &Manifest,
    keys: &mut ThrowawayKeys,
) -> Result<Request, TestError> {
    let credential = match &case.credential {
        Credential::None => None,
        Credential::RawToken(token) => Some(format!("Bearer {token}")),
        Credential::Authorization(header) => Some(header.clone()),
        Credential::Token(spec) => {
            let (issuer, alg) = signer(case, spec, manifest).map_err(|e| e.in_file(&file.path))?;
            Some(format!(
                "Bearer {}",
                keys.mint(&issuer, alg, spec, case.now)?
            ))
        }
    };
    Ok(Request {
        token_sources: credential
            .map(TokenSource::AuthorizationHeader)
            .into_iter()
            .collect(),
        method: case.method.clone(),
        path: case.path.clone(),
        raw_path: String::new(),
        headers: case.headers.clone(),
        query: case.query.clone(),
        source_ip: case.source_ip.clone(),
        now: case.now,
    })
}

/// Who signs a case's token, with which algorithm: the named issuer (else
/// the policy's only one), the named algorithm (else the issuer's first).
fn signer(
    case: &Case,
    spec: &TokenSpec,
    manifest: &Manifest,
) -> Result<(String, Algorithm), FieldError> {
    let field = |name: &str| format!("case[{}].token.{name}", case.index);
    let issuer = match (&spec.issuer, manifest.issuers.as_slice()) {
        (Some(issuer), _) => issuer.clone(),
        (None, [only]) => only.issuer.clone(),
        (None, issuers) => {
            let names: Vec<&str> = issuers.iter().map(|i| i.issuer.as_str()).collect();
            return Err(FieldError::new(
                field("issuer"),
                format!(
                    "the policy trusts {} issuers ({}); name the one that signs, e.g. issuer = \"{}\" in [token] or in the case's token",
                    names.len(),
                    names.join(", "),
                    names.first().copied().unwrap_or("https://issuer.example")
                ),
            ));
        }
    };
    let configured = manifest.issuers.iter().find(|i| i.issuer == issuer);
    let alg = match (spec.alg, configured) {
        (Some(alg), _) => alg,
        (None, Some(needs)) => needs.algorithms.first().copied().ok_or_else(|| {
            FieldError::new(
                field("alg"),
                format!("issuer {issuer} allows no algorithm; name one, e.g. alg = \"RS256\""),
            )
        })?,
        (None, None) => {
            return Err(FieldError::new(
                field("alg"),
                format!(
                    "issuer {issuer} is not in the policy, so it has no algorithms to default to; name one, e.g. alg = \"RS256\""
                ),
            ));
        }
    };
    Ok((issuer, alg))
}
