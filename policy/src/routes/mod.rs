//! Route rules: which verified tokens may call which routes.
//!
//! The policy document's `[[route]]` rules are compiled once, at
//! `configure`, into a segment trie ([`Routes`]): finding the rule for a
//! request costs the same with ten rules as with a thousand.
//!
//! **The most specific rule decides.** Path segments are compared left to
//! right: at the first position where two rules differ, an exact segment
//! beats a one-segment wildcard (`*`, `{name}`), which beats a rest
//! (`/*`, `{name+}`); for the same path, a rule naming the method beats one
//! for any method. Writing order does not matter, so a general rule can
//! never shadow a specific one; two rules that would match exactly the same
//! requests are a config error naming both.
//!
//! A request no rule matches gets `[routes] default`: `deny` (403) or
//! `authenticated` (any valid token). With no `[[route]]` at all, every
//! valid token may call every route, as before route rules existed.
//!
//! The allow's grants describe every route the token may call, whatever
//! route was asked: each rule in specificity order, as an allow when the
//! token satisfies it and a deny when not (a deny only where a later, more
//! general allow would otherwise let the route through), so the first
//! matching grant answers any route exactly as the rules would.

pub mod requirement;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::model::grants::{MAX_IAM_GRANTS, PathPattern, Segment};
use crate::model::{Deny, DenyReason, Grant};
use crate::token::echo;
use requirement::{ClaimPath, Evidence, Requirement, Unmet};

/// The module's maps: ordered, and needing no randomness (modules get no
/// WASI, so `HashMap::new()`'s random keys are unavailable), with code
/// shared with `serde_json`'s maps.
type FixedMap<K, V> = BTreeMap<K, V>;

/// What a request that no rule matches gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultAccess {
    /// Refused (403 for a valid token).
    Deny,
    /// Allowed for any valid token.
    Authenticated,
}

/// A path capture whose value must equal a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// Index of the captured segment in the pattern.
    pub segment: usize,
    /// The capture's name (`tenant` for `{tenant}`).
    pub capture: String,
    /// The claim it must equal.
    pub claim: ClaimPath,
}

/// One compiled `[[route]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `route[N]`, or the rule's `name`.
    pub label: String,
    /// Upper-case methods; `None` for any method.
    pub methods: Option<Vec<String>>,
    /// The path pattern as written.
    pub path: String,
    /// The parsed pattern.
    pub pattern: PathPattern,
    /// No token needed (a present token must still be valid).
    pub public: bool,
    /// What a token must satisfy (ignored for public rules).
    pub requirement: Requirement,
    /// Path captures bound to claims.
    pub binds: Vec<Bind>,
}

impl Rule {
    /// Methods compare exactly, as grants do: methods are case-sensitive
    /// tokens (RFC 9110), so a request for `get` never matches a `GET` rule
    /// (only a rule for any method).
    fn allows_method(&self, method: &str) -> bool {
        self.methods
            .as_ref()
            .is_none_or(|m| m.iter().any(|x| x == method))
    }

    fn grant_methods(&self) -> Vec<&str> {
        match &self.methods {
            None => vec!["*"],
            Some(methods) => methods.iter().map(String::as_str).collect(),
        }
    }

    fn describe(&self) -> String {
        let methods = self.grant_methods().join(",");
        format!("{} (`{methods} {}`)", self.label, self.path)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    literal: FixedMap<String, Node>,
    one: Option<Box<Node>>,
    /// Rules ending here with a rest; explicit methods first.
    rest: Vec<usize>,
    /// Rules ending exactly here; explicit methods first.
    end: Vec<usize>,
}

/// The compiled route rules of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routes {
    rules: Vec<Rule>,
    /// Rule indices, most specific first.
    order: Vec<usize>,
    /// Position of each rule in `order`.
    rank: Vec<usize>,
    /// Per rule: the rules after it in `order` that share a request with it.
    later_overlaps: Vec<Vec<usize>>,
    /// Per rule: the rules before it in `order` that share a request with it.
    earlier_overlaps: Vec<Vec<usize>>,
    /// Requirement ids by a scope they need (see [`Requirement::necessary_scopes`]).
    scope_index: FixedMap<String, Vec<usize>>,
    /// Requirement ids that may hold without any scope.
    unindexed: Vec<usize>,
    /// Per requirement id: the (non-public) rules that have it.
    rules_of: Vec<Vec<usize>>,
    /// The public rules.
    public_rules: Vec<usize>,
    /// Distinct requirements, and each rule's index into them.
    requirements: Vec<Requirement>,
    requirement_of: Vec<usize>,
    trie: Node,
    default: DefaultAccess,
    anonymous_grants: Vec<Grant>,
    warnings: Vec<String>,
}

/// Most configure-time warnings listed one by one.
const MAX_WARNINGS: usize = 20;

/// How a rule decided a request for a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteVerdict {
    /// Allowed (by `rule`, or by the default when `None`).
    Allow {
        /// The deciding rule's label.
        rule: Option<String>,
    },
    /// Refused.
    Deny(Deny),
}

impl Routes {
    /// No rules: every valid token may call every route.
    pub fn everything() -> Self {
        Routes {
            rules: Vec::new(),
            order: Vec::new(),
            rank: Vec::new(),
            later_overlaps: Vec::new(),
            earlier_overlaps: Vec::new(),
            scope_index: FixedMap::default(),
            unindexed: Vec::new(),
            rules_of: Vec::new(),
            public_rules: Vec::new(),
            requirements: Vec::new(),
            requirement_of: Vec::new(),
            trie: Node::default(),
            default: DefaultAccess::Authenticated,
            anonymous_grants: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Compile `rules` (in document order). Fails naming both rules when
    /// two would match exactly the same requests (one could never decide);
    /// the error's field is the later rule's `path`.
    pub fn compile(rules: Vec<Rule>, default: DefaultAccess) -> Result<Self, (usize, String)> {
        let mut trie = Node::default();
        for (index, rule) in rules.iter().enumerate() {
            insert(&mut trie, &rules, index, rule)?;
        }
        let mut order: Vec<usize> = (0..rules.len()).collect();
        order.sort_by(|&a, &b| match (rules.get(a), rules.get(b)) {
            (Some(ra), Some(rb)) => ra
                .pattern
                .specificity(&rb.pattern)
                .then_with(|| rb.methods.is_some().cmp(&ra.methods.is_some()))
                .then(a.cmp(&b)),
            _ => a.cmp(&b),
        });
        let mut rank = vec![0; rules.len()];
        for (position, &index) in order.iter().enumerate() {
            if let Some(slot) = rank.get_mut(index) {
                *slot = position;
            }
        }
        let ordered: Vec<(usize, &Rule)> = order
            .iter()
            .filter_map(|&i| rules.get(i).map(|r| (i, r)))
            .collect();
        let mut later_overlaps = vec![Vec::new(); rules.len()];
        for (position, &(index, rule)) in ordered.iter().enumerate() {
            let overlapping = ordered
                .iter()
                .skip(position + 1)
                .filter(|(_, other)| {
                    methods_meet(rule, other) && rule.pattern.overlaps(&other.pattern)
                })
                .map(|&(later, _)| later);
            if let Some(slot) = later_overlaps.get_mut(index) {
                slot.extend(overlapping);
            }
        }
        let mut earlier_overlaps = vec![Vec::new(); rules.len()];
        for (index, later) in later_overlaps.iter().enumerate() {
            for &l in later {
                if let Some(slot) = earlier_overlaps.get_mut(l) {
                    slot.push(index);
                }
            }
        }
        let mut requirements: Vec<Requirement> = Vec::new();
        let mut requirement_of = Vec::with_capacity(rules.len());
        let mut seen: FixedMap<Requirement, usize> = FixedMap::default();
        for rule in &rules {
            let next = requirements.len();
            let id = *seen.entry(rule.requirement.clone()).or_insert(next);
            if id == next {
                requirements.push(rule.requirement.clone());
            }
            requirement_of.push(id);
        }
        let mut rules_of = vec![Vec::new(); requirements.len()];
        let mut public_rules = Vec::new();
        for (index, (rule, &id)) in rules.iter().zip(&requirement_of).enumerate() {
            if rule.public {
                public_rules.push(index);
            } else if let Some(slot) = rules_of.get_mut(id) {
                slot.push(index);
            }
        }
        let mut scope_index: FixedMap<String, Vec<usize>> = FixedMap::default();
        let mut unindexed = Vec::new();
        for (id, requirement) in requirements.iter().enumerate() {
            match requirement.necessary_scopes() {
                Some(scopes) => {
                    for scope in scopes {
                        scope_index.entry(scope).or_default().push(id);
                    }
                }
                None => unindexed.push(id),
            }
        }
        let mut routes = Routes {
            rules,
            order,
            rank,
            later_overlaps,
            earlier_overlaps,
            scope_index,
            unindexed,
            rules_of,
            public_rules,
            requirements,
            requirement_of,
            trie,
            default,
            anonymous_grants: Vec::new(),
            warnings: Vec::new(),
        };
        let public: Vec<bool> = routes.rules.iter().map(|r| r.public).collect();
        routes.anonymous_grants = routes.grants_for(&public, None, DefaultAccess::Deny);
        routes.warnings = routes.cache_warnings();
        Ok(routes)
    }

    /// What the operator should know at load: rule shapes whose grants an
    /// API Gateway authorizer cache (IAM policies, where an explicit Deny
    /// always wins and `*` also matches `/`) cannot hold exactly for every
    /// token. The grants themselves stay exact; the Lambda door answers
    /// such a token for the requested route only.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Add a configure-time warning of the document's own (a setting that
    /// loosens a safe default).
    pub(crate) fn warn(&mut self, warning: String) {
        self.warnings.insert(0, warning);
    }

    fn cache_warnings(&self) -> Vec<String> {
        const ADVICE: &str = "API Gateway cannot cache that token's answer for every route (an IAM Deny always wins), so the Lambda door allows only the requested route for it: set the authorizer's result TTL to 0, or put the route in its identity sources";
        let mut warnings = Vec::new();
        let can_refuse = |index: usize| {
            self.rules
                .get(index)
                .is_some_and(|r| !r.public && (!r.requirement.is_empty() || !r.binds.is_empty()))
        };
        for (index, rule) in self.rules.iter().enumerate() {
            let own = self.requirement_of.get(index);
            let Some(later) = self.later_overlaps.get(index) else {
                continue;
            };
            // An exception inside an exception: inner allowed, middle refused, outer allowed.
            for &middle in later {
                let differs = self.requirement_of.get(middle) != own || rule.public;
                let outer = self.default == DefaultAccess::Authenticated
                    || self
                        .later_overlaps
                        .get(middle)
                        .is_some_and(|l| !l.is_empty());
                if differs && can_refuse(middle) && outer {
                    if let Some(m) = self.rules.get(middle) {
                        warnings.push(format!(
                            "{} lies inside {}, which lies inside a broader allow: for a token that may call the first but not the second, {ADVICE}",
                            rule.describe(),
                            m.describe()
                        ));
                    }
                    break;
                }
            }
            // A one-segment wildcard before a rest, not right before it:
            // in IAM neither `*` can be told apart (`/a/{x}/b/*`).
            let segments = rule.pattern.segments();
            if segments.last() == Some(&Segment::Rest)
                && segments
                    .iter()
                    .enumerate()
                    .any(|(i, s)| *s == Segment::One && i + 2 != segments.len())
            {
                warnings.push(format!(
                    "{} has a one-segment wildcard before a final rest: IAM cannot write it exactly, so for tokens it allows, {ADVICE}",
                    rule.describe()
                ));
            }
            // A bound capture under a broader allow: "this tenant, not the others".
            if !rule.binds.is_empty()
                && (self.default == DefaultAccess::Authenticated || !later.is_empty())
            {
                warnings.push(format!(
                    "{} binds a path segment to a claim and a broader rule or the default follows it: for its tokens (this value allowed, every other value refused), {ADVICE}",
                    rule.describe()
                ));
            }
            // A one-segment wildcard with deeper routes under the same prefix.
            if rule.pattern.segments().contains(&Segment::One)
                && let Some(deeper) = PathPattern::parse(&format!("{}/*", rule.path))
                && let Some(other) = self.rules.iter().enumerate().find_map(|(i, o)| {
                    (i != index && methods_meet(rule, o) && deeper.overlaps(&o.pattern))
                        .then_some(o)
                })
            {
                warnings.push(format!(
                    "{} has a one-segment wildcard and {} covers deeper paths under it; in IAM `*` also matches `/`, so the wildcard cannot be written exactly next to it: for a token that may call one but not the other, {ADVICE}",
                    rule.describe(),
                    other.describe()
                ));
            }
        }
        if self.rules.len() > MAX_IAM_GRANTS {
            warnings.push(format!(
                "{} rules: a token allowed more than {MAX_IAM_GRANTS} of them gets more grants than the Lambda door writes into one IAM policy, so for it, {ADVICE}",
                self.rules.len()
            ));
        }
        if warnings.len() > MAX_WARNINGS {
            let more = warnings.len() - MAX_WARNINGS;
            warnings.truncate(MAX_WARNINGS);
            warnings.push(format!("… and {more} more such warnings"));
        }
        warnings
    }

    /// The rules, in document order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// True when the policy has no `[[route]]`.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rule deciding `method` `path`: the most specific that matches.
    pub fn find(&self, method: &str, path: &str) -> Option<&Rule> {
        let rest = path.strip_prefix('/')?;
        let segments: Vec<&str> = rest.split('/').collect();
        find_in(&self.trie, &segments, method, &self.rules).and_then(|i| self.rules.get(i))
    }

    /// Grants for a request without a token: the public rules.
    pub fn anonymous_grants(&self) -> &[Grant] {
        &self.anonymous_grants
    }

    /// Decide `rule` (from [`Routes::find`]) for a verified token.
    pub fn decide(
        &self,
        rule: Option<&Rule>,
        path: &str,
        evidence: &Evidence<'_>,
        principal: &str,
        method: &str,
    ) -> RouteVerdict {
        let Some(rule) = rule else {
            return match self.default {
                DefaultAccess::Authenticated => RouteVerdict::Allow { rule: None },
                DefaultAccess::Deny => RouteVerdict::Deny(
                    Deny::new(
                        DenyReason::Forbidden,
                        format!(
                            "no route rule matches {} {}; the default for unmatched routes is deny",
                            echo(method),
                            echo(path)
                        ),
                    )
                    .with_principal(principal),
                ),
            };
        };
        let refuse = |unmet: Unmet| {
            if unmet.invalid_claims {
                return RouteVerdict::Deny(
                    Deny::new(
                        DenyReason::InvalidClaims,
                        format!("{}: {}", rule.label, unmet.detail),
                    )
                    .with_rule(rule.label.clone()),
                );
            }
            let mut deny = match unmet.scopes {
                Some(scopes) => {
                    let mut deny = Deny::new(DenyReason::InsufficientScope, String::new());
                    deny.required_scopes = scopes;
                    deny
                }
                None => Deny::new(DenyReason::Forbidden, String::new()),
            };
            deny.detail = format!("{}: {}", rule.label, unmet.detail);
            RouteVerdict::Deny(deny.with_principal(principal).with_rule(rule.label.clone()))
        };
        if !rule.public {
            if let Err(unmet) = rule.requirement.check(evidence) {
                return refuse(unmet);
            }
            let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
            for bind in &rule.binds {
                let asked = segments.get(bind.segment).copied().unwrap_or_default();
                match bound_value(bind, evidence.claims()) {
                    Some(value) if value == asked => {}
                    Some(_) => {
                        return refuse(Unmet {
                            detail: format!(
                                "path segment {{{}}} is not the token's `{}`",
                                bind.capture, bind.claim
                            ),
                            scopes: None,
                            invalid_claims: false,
                        });
                    }
                    None => {
                        return refuse(Unmet {
                            detail: format!(
                                "claim `{}` (bound to {{{}}}) is missing or not one plain path segment",
                                bind.claim, bind.capture
                            ),
                            scopes: None,
                            invalid_claims: false,
                        });
                    }
                }
            }
        }
        RouteVerdict::Allow {
            rule: Some(rule.label.clone()),
        }
    }

    /// Every route a verified token may call, independent of the route
    /// asked (see the module docs). Only the requirements the token's
    /// scopes can satisfy are evaluated, and only the rules it satisfies
    /// and the denies they need are visited: the cost follows the grants,
    /// not the number of rules (except with `default = "authenticated"`,
    /// where every refused rule is a deny grant).
    pub fn grants(&self, evidence: &Evidence<'_>) -> Vec<Grant> {
        if self.rules.is_empty() {
            return vec![Grant::allow("*", "/*")];
        }
        let claims = evidence.claims();
        let mut allowed = vec![false; self.rules.len()];
        let mut evaluated = vec![false; self.requirements.len()];
        let mut allowed_rules: Vec<usize> = Vec::new();
        for &index in &self.public_rules {
            if let Some(slot) = allowed.get_mut(index) {
                *slot = true;
                allowed_rules.push(index);
            }
        }
        let by_scope = evidence
            .scopes()
            .iter()
            .filter_map(|scope| self.scope_index.get(*scope))
            .flatten();
        for &id in self.unindexed.iter().chain(by_scope) {
            match evaluated.get_mut(id) {
                Some(done) if !*done => *done = true,
                _ => continue,
            }
            if !self.requirements.get(id).is_some_and(|r| r.holds(evidence)) {
                continue;
            }
            for &index in self.rules_of.get(id).into_iter().flatten() {
                let binds_hold = self.rules.get(index).is_some_and(|rule| {
                    rule.binds.iter().all(|b| bound_value(b, claims).is_some())
                });
                if binds_hold && let Some(slot) = allowed.get_mut(index) {
                    *slot = true;
                    allowed_rules.push(index);
                }
            }
        }
        if self.default == DefaultAccess::Authenticated {
            return self.grants_for(&allowed, Some(claims), self.default);
        }
        // A deny is needed only before a later allow it overlaps.
        let mut needed = vec![false; self.rules.len()];
        let mut visit = allowed_rules.clone();
        for &later in &allowed_rules {
            for &earlier in self.earlier_overlaps.get(later).into_iter().flatten() {
                if let Some(flag) = needed.get_mut(earlier)
                    && !*flag
                {
                    *flag = true;
                    visit.push(earlier);
                }
            }
        }
        visit.sort_by_key(|&i| self.rank.get(i).copied().unwrap_or(usize::MAX));
        visit.dedup();
        let mut grants = Vec::new();
        for index in visit {
            let is_allowed = allowed.get(index).copied().unwrap_or(false);
            let is_needed = needed.get(index).copied().unwrap_or(false);
            self.emit(index, is_allowed, is_needed, Some(claims), &mut grants);
        }
        grants
    }

    /// The grants of one rule: its allow (concrete for bound captures) when
    /// the token satisfies it, and its deny when a later allow needs it.
    fn emit(
        &self,
        index: usize,
        is_allowed: bool,
        needed: bool,
        claims: Option<&Map<String, Value>>,
        grants: &mut Vec<Grant>,
    ) {
        let Some(rule) = self.rules.get(index) else {
            return;
        };
        let bound = !rule.binds.is_empty() && !rule.public;
        if is_allowed && !bound {
            for method in rule.grant_methods() {
                grants.push(Grant::allow(method, rule.path.as_str()));
            }
            return;
        }
        if is_allowed && let Some(concrete) = claims.and_then(|c| concrete_path(rule, c)) {
            for method in rule.grant_methods() {
                grants.push(Grant::allow(method, concrete.as_str()));
            }
        }
        if needed {
            for method in rule.grant_methods() {
                grants.push(Grant::deny(method, rule.path.as_str()));
            }
        }
    }

    /// Every rule in specificity order (the anonymous grants, and
    /// `default = "authenticated"`, where every refused rule is a deny).
    fn grants_for(
        &self,
        allowed: &[bool],
        claims: Option<&Map<String, Value>>,
        default: DefaultAccess,
    ) -> Vec<Grant> {
        let mut grants = Vec::new();
        for &index in &self.order {
            let is_allowed = allowed.get(index).copied().unwrap_or(false);
            let needed = default == DefaultAccess::Authenticated
                || self
                    .later_overlaps
                    .get(index)
                    .is_some_and(|later| later.iter().any(|&l| allowed.get(l) == Some(&true)));
            self.emit(index, is_allowed, needed, claims, &mut grants);
        }
        if default == DefaultAccess::Authenticated {
            grants.push(Grant::allow("*", "/*"));
        }
        grants
    }

    /// Position of a rule in the specificity order.
    #[cfg(test)]
    pub(crate) fn rank(&self, label: &str) -> Option<usize> {
        let index = self.rules.iter().position(|r| r.label == label)?;
        self.rank.get(index).copied()
    }
}

fn methods_meet(a: &Rule, b: &Rule) -> bool {
    match (&a.methods, &b.methods) {
        (None, _) | (_, None) => true,
        (Some(x), Some(y)) => x.iter().any(|m| y.contains(m)),
    }
}

/// A bound claim's value, when it is one plain path segment: a claim value
/// never becomes a wildcard, a traversal or more than one segment.
fn bound_value<'a>(bind: &Bind, claims: &'a Map<String, Value>) -> Option<&'a str> {
    let value = bind.claim.get(claims)?.as_str()?;
    is_plain_segment(value).then_some(value)
}

/// Non-empty, not `.` or `..`, and none of `/ \ ? # * % ; { }` or a control character.
fn is_plain_segment(value: &str) -> bool {
    !value.is_empty()
        && value != "."
        && value != ".."
        && !value.chars().any(|c| {
            matches!(c, '/' | '\\' | '?' | '#' | '*' | '%' | ';' | '{' | '}') || c.is_control()
        })
}

/// The rule's pattern with each bound capture replaced by its claim value.
fn concrete_path(rule: &Rule, claims: &Map<String, Value>) -> Option<String> {
    let mut segments: Vec<String> = rule
        .path
        .strip_prefix('/')?
        .split('/')
        .map(String::from)
        .collect();
    for bind in &rule.binds {
        let value = bound_value(bind, claims)?;
        *segments.get_mut(bind.segment)? = value.to_string();
    }
    Some(format!("/{}", segments.join("/")))
}

fn insert(
    trie: &mut Node,
    rules: &[Rule],
    index: usize,
    rule: &Rule,
) -> Result<(), (usize, String)> {
    let mut node = trie;
    let segments = rule.pattern.segments();
    let mut terminal = None;
    for segment in segments {
        match segment {
            Segment::Literal(s) => node = node.literal.entry(s.clone()).or_default(),
            Segment::One => node = node.one.get_or_insert_with(Box::default),
            Segment::Rest => terminal = Some(&mut node.rest),
        }
        if terminal.is_some() {
            break;
        }
    }
    let list = match terminal {
        Some(list) => list,
        None => &mut node.end,
    };
    for other in list.iter().filter_map(|&i| rules.get(i)) {
        if methods_meet(other, rule) && (other.methods.is_some() == rule.methods.is_some()) {
            return Err((
                index,
                format!(
                    "{} and {} match the same requests, so one of them could never decide; merge them or make one more specific",
                    other.describe(),
                    rule.describe()
                ),
            ));
        }
    }
    list.push(index);
    // Explicit methods before any method; then document order.
    list.sort_by_key(|&i| (rules.get(i).is_none_or(|r| r.methods.is_none()), i));
    Ok(())
}

fn find_in(node: &Node, segments: &[&str], method: &str, rules: &[Rule]) -> Option<usize> {
    let pick = |list: &[usize]| {
        list.iter()
            .copied()
            .find(|&i| rules.get(i).is_some_and(|r| r.allows_method(method)))
    };
    match segments.split_first() {
        None => pick(&node.end),
        Some((segment, rest)) => node
            .literal
            .get(*segment)
            .and_then(|child| find_in(child, rest, method, rules))
            .or_else(|| {
                if segment.is_empty() {
                    return None;
                }
                node.one
                    .as_deref()
                    .and_then(|child| find_in(child, rest, method, rules))
            })
            .or_else(|| pick(&node.rest)),
    }
}

#[cfg(test)]
mod tests;
