//! A decision's grants as IAM policy statements.
//!
//! API Gateway caches an authorizer's policy per token and answers **every
//! route** of that token from it for the TTL. So the statements describe
//! exactly the routes the grants allow, whichever route was asked: never
//! more, and never less.
//!
//! ## Grants
//!
//! A grant is an effect (allow or deny), a method and a path pattern
//! (`tollgate_model::grants`):
//!
//! - method: a name (`GET`), or `*` for any method;
//! - path: `/`-separated segments; a `*` or `{name}` segment matches exactly
//!   one non-empty segment; a final `/*` or `/{name+}` matches any rest
//!   (`/orders/*` matches `/orders/`, `/orders/1`, `/orders/1/items`, not
//!   `/orders`); `/*` matches every path; anything else matches itself.
//!
//! The list is ordered: the first grant that matches a route decides it, a
//! route no grant matches is refused ([`route_granted`]). A deny grant
//! carves an exception out of a broader allow that follows it.
//!
//! ## IAM
//!
//! An explicit `Deny` beats every `Allow`, whatever the order; in a
//! `Resource`, `*` matches any run of characters **including `/`** (and
//! none), `?` any one character. In segment terms, a `*` between slashes
//! (or after the last) stands for one or more whole segments. So:
//!
//! - a literal segment is itself; a final `/*` is exact (`…/GET/orders/*`);
//! - a one-segment `*` or `{name}` is an Allow with `*` in its place, less
//!   a Deny with `*/*` there (the `*` spanning a slash) and a Deny with the
//!   segment empty: `GET /orders/{id}` is Allow `GET/orders/*`, Deny
//!   `GET/orders/*/*` and `GET/orders/`; `GET /a/*/b` is Allow `GET/a/*/b`,
//!   Deny `GET/a/*/*/b` and `GET/a//b`. With a final rest, one one-segment
//!   wildcard right before it is exact (`GET /t/{id}/*`: Allow `GET/t/*/*`,
//!   Deny `GET/t//*`); any other one-segment wildcard before a rest is not;
//! - a deny grant is a Deny of its Allow form (its own corrections are not
//!   needed: they are refused anyway);
//! - a `*` method is written out for each of [`METHODS`] (`*/orders` would
//!   also match `GET/x/orders`), except `* /*`: the whole stage, `*/*`.
//!
//! The statements are exact when no Deny they hold touches a route the
//! grants allow: a correction Deny of any grant meets no allow grant (Allow
//! `GET /orders/{id}` and Allow `GET /orders/{id}/items` conflict: the Deny
//! `GET/orders/*/*` would refuse the second), and a deny grant meets no
//! **earlier** allow grant (first match lets that allow win, IAM would not:
//! `[Allow GET /tenants/acme/*, Deny GET /tenants/{t}/*, Allow * /*]` has no
//! exact IAM form). Before that check, grants that can never decide a route
//! are dropped (one covered by an earlier grant; one covered by a later
//! grant of the same effect with no grant of the other effect in between
//! that meets it; a deny no later allow meets), and Denies that meet no
//! Allow are left out.
//!
//! Otherwise, and for grants that cannot be written at all (a literal
//! segment holding `*`, `?`, `{` or `}`, a method that is not a token, a
//! one-segment wildcard before a literal and a final rest), the statements
//! are a fallback that never widens: the event's own ARN when the grants
//! allow the requested route (and that ARN holds no IAM wildcard a client
//! put there), nothing otherwise. The policy then depends on the route, so
//! the authorizer must not be cached per token alone (TTL 0, or the route
//! in the identity sources); the door warns.
//!
//! Every check here is on segment patterns: literal, one non-empty segment,
//! one or more segments; the tests check every generated grant set against
//! an IAM evaluator over generated routes.

use std::collections::BTreeSet;

use tollgate_host::model::grants::{
    MAX_IAM_GRANTS, PathPattern, Segment, methods_overlap, route_granted,
};
use tollgate_host::model::{Effect, Grant};

use crate::arn::{ExecuteApiArn, METHODS, valid_method};

/// Grant lists longer than this are not checked for an exact form (the
/// check grows with the square of the list): they get the fallback. The
/// model's [`MAX_IAM_GRANTS`], which the policy warns about at load.
pub const MAX_EXACT_GRANTS: usize = MAX_IAM_GRANTS;

/// The IAM statements for a decision's grants in the event's stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantStatements {
    /// `Allow` resources (execute-api ARNs), sorted, without duplicates.
    pub allow: Vec<String>,
    /// `Deny` resources, sorted, without duplicates.
    pub deny: Vec<String>,
    /// True when the statements answer every route of the stage as the
    /// grants do; false for the fallback (only the requested route is
    /// answered as the grants do; nothing is ever allowed that they refuse).
    pub exact: bool,
    /// For the fallback: the grants that have no exact IAM form, or that
    /// conflict (empty when the list was too long to check).
    pub blocking: Vec<Grant>,
    /// The event's route is an HTTP API's `$default` route, whose ARN
    /// (`…/<stage>/$default`) is the same for every path, and the grants do
    /// not answer every path alike: a cached answer for one path then
    /// answers all of that route's paths.
    pub default_route_per_path: bool,
}

/// The statements for `grants` in the stage of `event_arn`. `requested` is
/// the event's own ARN and `method` `path` the route in it: the ARN is
/// allowed itself only for the fallback and for an HTTP API's `$default`
/// route (whose ARN no method/path resource matches), when the grants allow
/// that route, and never when it holds an IAM wildcard (`*`, `?`): it
/// carries the client's own path, and a wildcard would widen the Allow
/// beyond the route asked.
pub fn grant_statements(
    event_arn: &ExecuteApiArn,
    requested: &str,
    method: &str,
    path: &str,
    grants: &[Grant],
) -> GrantStatements {
    let base = event_arn.stage_arn();
    let on_default_route = event_arn.method == "$default";
    let mut out = match exact_statements(&base, grants) {
        Ok((allow, deny)) => {
            let whole_stage = format!("{base}/*/*");
            let uniform = allow.is_empty() || (deny.is_empty() && allow == [whole_stage]);
            GrantStatements {
                allow,
                deny,
                exact: true,
                blocking: Vec::new(),
                default_route_per_path: on_default_route && !uniform,
            }
        }
        Err(blocking) => GrantStatements {
            exact: false,
            blocking,
            default_route_per_path: on_default_route,
            ..GrantStatements::default()
        },
    };
    if (!out.exact || on_default_route)
        && !requested.contains(['*', '?'])
        && route_granted(grants, method, path)
    {
        out.allow.push(requested.to_string());
        out.allow.sort();
        out.allow.dedup();
    }
    out
}

/// One path segment pattern: a grant's (literal, one segment, rest) or an
/// IAM resource's (literal, `*`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Tok {
    /// Exactly this segment.
    Lit(String),
    /// One non-empty segment (a grant's `*` or `{name}`).
    One,
    /// One or more segments, any content (a grant's rest; an IAM `*`
    /// between slashes or at the end).
    Plus,
}

/// A method (`*` or upper case) and segment patterns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Shape {
    method: String,
    toks: Vec<Tok>,
}

impl Shape {
    /// Whether some route matches both.
    fn meets(&self, other: &Shape) -> bool {
        methods_overlap(&self.method, &other.method) && toks_meet(&self.toks, &other.toks)
    }
}

/// A grant with its routes as segment patterns.
struct Entry<'a> {
    grant: &'a Grant,
    /// The routes it matches.
    shape: Shape,
}

impl Entry<'_> {
    fn is_allow(&self) -> bool {
        self.grant.effect == Effect::Allow
    }

    /// Whether every route `other` matches, `self` matches too.
    fn covers(&self, other: &Entry<'_>) -> bool {
        (self.shape.method == "*" || self.shape.method == other.shape.method)
            && grant_covers(&self.shape.toks, &other.shape.toks)
    }
}

/// Whether grant pattern `a` matches every path grant pattern `b` does (a
/// rest only ever last): `PathPattern::covers`' rule, on this module's
/// tokens (a one-segment wildcard does not cover the empty segment).
fn grant_covers(a: &[Tok], b: &[Tok]) -> bool {
    for i in 0.. {
        match (a.get(i), b.get(i)) {
            (None, None) => return true,
            (Some(Tok::Plus), Some(_)) => return true,
            (Some(Tok::One), Some(Tok::One)) => {}
            (Some(Tok::One), Some(Tok::Lit(s))) if !s.is_empty() => {}
            (Some(Tok::Lit(x)), Some(Tok::Lit(y))) if x == y => {}
            _ => return false,
        }
    }
    false
}

/// A grant's IAM form: `glob` less `corrections` is exactly its routes.
struct Form {
    glob: Shape,
    corrections: Vec<Shape>,
}

/// The exact statements for `grants`, or the grants in the way.
fn exact_statements(
    base: &str,
    grants: &[Grant],
) -> Result<(Vec<String>, Vec<String>), Vec<Grant>> {
    if grants.len() > MAX_EXACT_GRANTS {
        return Err(Vec::new());
    }
    // A pattern that does not parse matches no route.
    let entries: Vec<Entry<'_>> = grants
        .iter()
        .filter_map(|grant| {
            let pattern = PathPattern::parse(&grant.path)?;
            let toks = pattern
                .segments()
                .iter()
                .map(|s| match s {
                    Segment::Literal(l) => Tok::Lit(l.clone()),
                    Segment::One => Tok::One,
                    Segment::Rest => Tok::Plus,
                })
                .collect();
            let method = if grant.method == "*" {
                "*".to_string()
            } else {
                grant.method.to_ascii_uppercase()
            };
            Some(Entry {
                grant,
                shape: Shape { method, toks },
            })
        })
        .collect();
    let entries = simplify(entries);

    let mut blocking: Vec<Grant> = Vec::new();
    let mut forms = Vec::with_capacity(entries.len());
    for entry in &entries {
        match form(entry) {
            Some(form) => forms.push(form),
            None => blocking.push(entry.grant.clone()),
        }
    }
    if !blocking.is_empty() {
        return Err(blocking);
    }

    // No Deny may touch a route the grants allow.
    let mut conflicts = BTreeSet::new();
    for (k, (entry, form)) in entries.iter().zip(&forms).enumerate() {
        for (i, allow) in entries.iter().enumerate().filter(|(_, e)| e.is_allow()) {
            let corrected = form.corrections.iter().any(|c| c.meets(&allow.shape));
            let shadowed = !entry.is_allow() && i < k && entry.shape.meets(&allow.shape);
            if corrected || shadowed {
                conflicts.insert(i);
                conflicts.insert(k);
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(entries
            .iter()
            .enumerate()
            .filter(|(i, _)| conflicts.contains(i))
            .map(|(_, e)| e.grant.clone())
            .collect());
    }

    let mut allow = BTreeSet::new();
    let mut deny = BTreeSet::new();
    for (entry, form) in entries.iter().zip(forms) {
        if entry.is_allow() {
            allow.insert(form.glob);
        } else {
            deny.insert(form.glob);
        }
        deny.extend(form.corrections);
    }
    // A Deny that meets no Allow changes nothing.
    deny.retain(|d| allow.iter().any(|a| a.meets(d)));
    // An any-method Deny is written out per routed method; the stage-wide
    // `*/*` Allow would also cover any other method, so with such a Deny
    // the Allow is written out per method too.
    let whole_stage = !deny.iter().any(|d| d.method == "*");
    let render_all = |shapes: BTreeSet<Shape>| -> Vec<String> {
        let set: BTreeSet<String> = shapes
            .iter()
            .flat_map(|s| resources(base, s, whole_stage))
            .collect();
        set.into_iter().collect()
    };
    Ok((render_all(allow), render_all(deny)))
}

/// `entries` without grants that never decide a route. Each step checks
/// against the list as it is, and leaves every route's answer unchanged.
fn simplify(mut entries: Vec<Entry<'_>>) -> Vec<Entry<'_>> {
    // Covered by an earlier grant: never the first match.
    let mut i = 0;
    while i < entries.len() {
        let (earlier, rest) = entries.split_at(i);
        let covered = rest
            .first()
            .is_some_and(|e| earlier.iter().any(|k| k.covers(e)));
        if covered {
            entries.remove(i);
        } else {
            i += 1;
        }
    }
    // Covered by a later grant of the same effect, with no grant of the
    // other effect in between that meets it: the routes it decides are
    // decided alike without it.
    let mut i = 0;
    while i < entries.len() {
        let (_, rest) = entries.split_at(i);
        let redundant = rest.split_first().is_some_and(|(e, later)| {
            later
                .iter()
                .take_while(|k| k.is_allow() == e.is_allow() || !k.shape.meets(&e.shape))
                .any(|k| k.is_allow() == e.is_allow() && k.covers(e))
        });
        if redundant {
            entries.remove(i);
        } else {
            i += 1;
        }
    }
    // A deny that no later allow meets: the routes it refuses are refused
    // without it.
    let mut i = entries.len();
    while i > 0 {
        i -= 1;
        let (_, rest) = entries.split_at(i);
        let needless = rest.split_first().is_some_and(|(e, later)| {
            !e.is_allow()
                && !later
                    .iter()
                    .any(|k| k.is_allow() && k.shape.meets(&e.shape))
        });
        if needless {
            entries.remove(i);
        }
    }
    entries
}

/// A grant's IAM form (module docs), `None` when it has none.
fn form(entry: &Entry<'_>) -> Option<Form> {
    if !valid_method(&entry.grant.method) {
        return None;
    }
    let toks = &entry.shape.toks;
    let mut glob = Vec::with_capacity(toks.len());
    let mut ones = Vec::new();
    for (i, tok) in toks.iter().enumerate() {
        match tok {
            Tok::Lit(l) if l.contains(['*', '?', '{', '}']) => return None,
            Tok::Lit(_) | Tok::Plus => glob.push(tok.clone()),
            Tok::One => {
                ones.push(i);
                glob.push(Tok::Plus);
            }
        }
    }
    let empty = [Tok::Lit(String::new())];
    let corrections: Vec<Vec<Tok>> = if toks.last() == Some(&Tok::Plus) {
        match ones.as_slice() {
            [] => Vec::new(),
            // Only right before the rest: the rest takes what a `*` spanning
            // a slash would, so only the empty segment is wrong.
            [i] if i + 2 == toks.len() => vec![replaced(&glob, *i, &empty)],
            _ => return None,
        }
    } else {
        ones.iter()
            .flat_map(|&i| {
                [
                    replaced(&glob, i, &[Tok::Plus, Tok::Plus]),
                    replaced(&glob, i, &empty),
                ]
            })
            .collect()
    };
    let method = entry.shape.method.clone();
    Some(Form {
        glob: Shape {
            method: method.clone(),
            toks: glob,
        },
        corrections: corrections
            .into_iter()
            .map(|toks| Shape {
                method: method.clone(),
                toks,
            })
            .collect(),
    })
}

/// `toks` with the one at `at` replaced by `with`.
fn replaced(toks: &[Tok], at: usize, with: &[Tok]) -> Vec<Tok> {
    toks.iter()
        .take(at)
        .chain(with)
        .chain(toks.iter().skip(at + 1))
        .cloned()
        .collect()
}

/// The execute-api ARNs of an IAM-form shape (literals and `*` only).
fn resources(base: &str, shape: &Shape, whole_stage: bool) -> Vec<String> {
    let path = shape
        .toks
        .iter()
        .map(|t| match t {
            Tok::Lit(s) => s.as_str(),
            Tok::One | Tok::Plus => "*",
        })
        .collect::<Vec<_>>()
        .join("/");
    if shape.method != "*" {
        vec![format!("{base}/{}/{path}", shape.method)]
    } else if whole_stage && shape.toks == [Tok::Plus] {
        vec![format!("{base}/*/*")]
    } else {
        METHODS
            .iter()
            .map(|m| format!("{base}/{m}/{path}"))
            .collect()
    }
}

/// One step of a segment automaton.
#[derive(Clone, Copy)]
enum Step<'a> {
    Lit(&'a str),
    NonEmpty,
    Any,
    /// Zero or more segments, any content.
    Loop,
}

fn steps(toks: &[Tok]) -> Vec<Step<'_>> {
    let mut out = Vec::with_capacity(toks.len() + 2);
    for tok in toks {
        match tok {
            Tok::Lit(s) => out.push(Step::Lit(s)),
            Tok::One => out.push(Step::NonEmpty),
            Tok::Plus => out.extend([Step::Any, Step::Loop]),
        }
    }
    out
}

/// Whether one segment can satisfy both steps.
fn steps_agree(a: Step<'_>, b: Step<'_>) -> bool {
    match (a, b) {
        (Step::Lit(x), Step::Lit(y)) => x == y,
        (Step::Lit(s), Step::NonEmpty) | (Step::NonEmpty, Step::Lit(s)) => !s.is_empty(),
        _ => true,
    }
}

/// Whether some sequence of segments matches both patterns: a search over
/// the pairs of positions in the two.
fn toks_meet(a: &[Tok], b: &[Tok]) -> bool {
    let (a, b) = (steps(a), steps(b));
    let width = b.len() + 1;
    let mut seen = vec![false; (a.len() + 1) * width];
    let mut todo = vec![(0usize, 0usize)];
    while let Some((i, j)) = todo.pop() {
        match seen.get_mut(i * width + j) {
            Some(cell) if !*cell => *cell = true,
            _ => continue,
        }
        let (x, y) = (a.get(i).copied(), b.get(j).copied());
        if x.is_none() && y.is_none() {
            return true;
        }
        if matches!(x, Some(Step::Loop)) {
            todo.push((i + 1, j));
        }
        if matches!(y, Some(Step::Loop)) {
            todo.push((i, j + 1));
        }
        if let (Some(x), Some(y)) = (x, y)
            && steps_agree(x, y)
        {
            let next_i = if matches!(x, Step::Loop) { i } else { i + 1 };
            let next_j = if matches!(y, Step::Loop) { j } else { j + 1 };
            todo.push((next_i, next_j));
        }
    }
    false
}

#[cfg(test)]
mod tests;
