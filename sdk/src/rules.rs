//! Custom rules on top of tollgate's verification core.

use tollgate_policy::{Policy, VerifiedToken};

use crate::Module;
use crate::model::{ConfigError, Decision, KeyRing, Manifest, Request};

/// A custom module's own rules. Everything before them is tollgate's
/// verification core, unchanged: the credential, the header and algorithm
/// pinning, the issuer's keys and the signature, the issuer's claim checks,
/// and the policy document's `[[route]]` rules. Export with
/// `tollgate_sdk::export!(tollgate_sdk::WithCore<MyRules>)`.
///
/// A module that must take over earlier steps implements [`Module`]
/// itself and calls the steps it keeps ([`Policy::verify`],
/// [`Policy::decide`]).
pub trait Rules: Sized + 'static {
    /// The names of the rules this module adds (the `rule` its decisions
    /// carry), listed after the route rules in the manifest, so
    /// `tollgate test --coverage` reports which no case reached.
    const RULES: &'static [&'static str] = &[];

    /// Read the `[module]` section of the policy document (`None` when it
    /// has none). `policy` is the rest of the document, already checked.
    /// An error names its field (`module.max_requests`) and what to write.
    fn configure(
        settings: Option<&tollgate_policy::toml::Table>,
        policy: &Policy,
    ) -> Result<Self, ConfigError>;

    /// Decide a request whose token verified. `routes` is what the
    /// document's route rules decided (an allow with its grants, or a
    /// deny): return it, refuse it, or build another decision. A decision
    /// that depends on more than the token (headers, query, source IP, the
    /// time of day) must set the allow's `request_dependent`, so front
    /// doors do not cache it per token.
    fn decide(&self, request: &Request, token: &VerifiedToken, routes: Decision) -> Decision;
}

/// A module made of tollgate's verification core and the rules `R`.
pub struct WithCore<R> {
    policy: Policy,
    rules: R,
}

impl<R: Rules> Module for WithCore<R> {
    fn configure(config: &str) -> Result<(Self, Manifest), ConfigError> {
        let policy = Policy::from_toml(config)?;
        let rules = R::configure(policy.module_settings(), &policy)?;
        let mut manifest = policy.manifest();
        manifest
            .rules
            .extend(R::RULES.iter().map(|name| (*name).to_string()));
        Ok((WithCore { policy, rules }, manifest))
    }

    fn authorize<K: KeyRing>(&self, request: &Request, keys: &K) -> Decision {
        // No credential: the core answers (a public route, or missing-token).
        if request.token_sources.is_empty() {
            return self.policy.authorize(request, keys);
        }
        match self.policy.verify(request, keys) {
            Err(deny) => Decision::Deny(deny),
            Ok(token) => {
                let routes = self.policy.decide(request, &token);
                self.rules.decide(request, &token, routes)
            }
        }
    }
}
