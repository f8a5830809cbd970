//! The token cache through the real default module (allows, denies,
//! expiry, key changes, routes the grants do not cover), and its keys,
//! storing rules and bounds on their own.

use std::sync::{Arc, OnceLock};

use serde_json::{Value, json};
use tollgate_keys::mint::SigningKey;
use tollgate_keys::{Algorithm, KeySet};

use super::*;
use crate::model::{Decision, DenyReason, DenyStatus};
use crate::{Authorizer, PolicyModule, SandboxLimits};

const ISSUER: &str = "https://issuer.test";
const NOW: i64 = 1_800_000_000;
const EXP: i64 = NOW + 3600;

fn module() -> Arc<PolicyModule> {
    static MODULE: OnceLock<Arc<PolicyModule>> = OnceLock::new();
    MODULE
        .get_or_init(|| PolicyModule::default_module(SandboxLimits::default()).unwrap())
        .clone()
}

fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(Algorithm::Es256, "k1").unwrap())
}

fn key_set(key: &SigningKey) -> KeySet {
    KeySet::from_jwks_json(&key.jwks().to_string()).unwrap().0
}

/// One issuer (ES256, audience `api`, `leeway_seconds` as given) and `rules`.
fn policy(leeway: i64, rules: &str) -> String {
    format!(
        "[[issuer]]\nissuer = \"{ISSUER}\"\njwks_file = \"jwks.json\"\nalgorithms = [\"ES256\"]\naudiences = [\"api\"]\nleeway_seconds = {leeway}\n{rules}"
    )
}

fn authorizer_for(policy: &str, settings: TokenCacheSettings) -> Authorizer {
    Authorizer::with_keys(module(), policy, "test policy", |_| key_set(key()))
        .unwrap()
        .with_token_cache(settings)
}

fn cached_authorizer(policy: &str) -> Authorizer {
    authorizer_for(policy, TokenCacheSettings::default())
}

fn claims(extra: Value) -> Value {
    let mut claims = json!({"iss": ISSUER, "sub": "alice", "aud": "api", "iat": NOW, "exp": EXP});
    if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
        claims.extend(extra.clone());
    }
    claims
}

fn token(extra: Value) -> String {
    key().sign_jwt(&claims(extra), None).unwrap()
}

fn request(token: &str, method: &str, path: &str, now: i64) -> Request {
    Request {
        token_sources: vec![TokenSource::AuthorizationHeader(format!("Bearer {token}"))],
        method: method.into(),
        path: path.into(),
        now,
        ..Request::default()
    }
}

fn stats(authorizer: &Authorizer) -> TokenCacheStats {
    authorizer.token_cache_stats().unwrap()
}

fn allow(decision: Decision) -> Allow {
    match decision {
        Decision::Allow(allow) => allow,
        other => panic!("expected an allow, got {other:?}"),
    }
}

fn deny_reason(decision: &Decision) -> DenyReason {
    match decision {
        Decision::Deny(deny) => deny.reason,
        other => panic!("expected a deny, got {other:?}"),
    }
}

#[test]
fn a_repeated_token_is_answered_from_the_cache_with_the_same_allow() {
    let authorizer = cached_authorizer(&policy(0, ""));
    let token = token(json!({}));
    let request = request(&token, "GET", "/orders/1", NOW);
    let first = allow(authorizer.authorize(&request));
    assert_eq!(
        stats(&authorizer),
        TokenCacheStats {
            hits: 0,
            misses: 1,
            stores: 1,
            entries: 1,
            weight_bytes: stats(&authorizer).weight_bytes,
        }
    );
    let later = Request {
        now: NOW + 60,
        ..request.clone()
    };
    let second = allow(authorizer.authorize(&later));
    assert_eq!(second, first);
    assert_eq!(second.principal, "alice");
    assert_eq!(second.grants, [Grant::allow("*", "/*")]);
    assert_eq!(second.expires_at, Some(EXP));
    let after = stats(&authorizer);
    assert_eq!((after.hits, after.misses, after.stores), (1, 1, 1));
    assert!(after.weight_bytes > 0);

    // The same answer as without a cache.
    let uncached = authorizer_for(&policy(0, ""), TokenCacheSettings::OFF);
    assert_eq!(allow(uncached.authorize(&later)), second);
    assert_eq!(uncached.token_cache_stats(), None);
}

#[test]
fn off_by_default_and_when_asked() {
    let plain =
        Authorizer::with_keys(module(), &policy(0, ""), "test policy", |_| key_set(key())).unwrap();
    assert!(plain.token_cache().is_none());
    assert_eq!(plain.token_cache_stats(), None);
    let off = plain.with_token_cache(TokenCacheSettings::OFF);
    assert_eq!(off.token_cache_stats(), None);
    let on = off.with_token_cache(TokenCacheSettings::default());
    assert_eq!(on.token_cache_stats(), Some(TokenCacheStats::default()));
}

#[test]
fn a_hit_never_outlives_exp() {
    let authorizer = cached_authorizer(&policy(0, ""));
    let token = token(json!({}));
    allow(authorizer.authorize(&request(&token, "GET", "/", NOW)));
    allow(authorizer.authorize(&request(&token, "GET", "/", EXP - 1)));
    assert_eq!(stats(&authorizer).hits, 1);
    let at_exp = authorizer.authorize(&request(&token, "GET", "/", EXP));
    assert_eq!(deny_reason(&at_exp), DenyReason::Expired);
    let after = stats(&authorizer);
    assert_eq!((after.hits, after.misses, after.stores), (1, 2, 1));
    assert_eq!(after.entries, 0, "the expired entry is dropped");
}

#[test]
fn where_the_leeway_still_allows_the_module_decides_after_exp() {
    let authorizer = cached_authorizer(&policy(60, ""));
    let token = token(json!({}));
    allow(authorizer.authorize(&request(&token, "GET", "/", NOW)));
    // The module allows within its leeway; the cache neither answers nor
    // remembers that.
    allow(authorizer.authorize(&request(&token, "GET", "/", EXP + 30)));
    let after = stats(&authorizer);
    assert_eq!((after.hits, after.misses, after.stores), (0, 2, 1));
}

#[test]
fn a_request_dated_before_the_decision_misses() {
    let authorizer = cached_authorizer(&policy(0, ""));
    let token = token(json!({}));
    allow(authorizer.authorize(&request(&token, "GET", "/", NOW + 100)));
    // Dated before the decision (`tollgate test` can): the module decides.
    allow(authorizer.authorize(&request(&token, "GET", "/", NOW + 99)));
    let after = stats(&authorizer);
    assert_eq!((after.hits, after.misses), (0, 2));
    // Not yet valid then: the module says so, the cache does not answer.
    let early = authorizer.authorize(&request(&token, "GET", "/", NOW - 3600));
    assert_eq!(deny_reason(&early), DenyReason::IssuedInFuture);
    assert_eq!(stats(&authorizer).hits, 0);
}

#[test]
fn denies_are_never_cached() {
    let authorizer = cached_authorizer(&policy(0, ""));
    let wrong_audience = token(json!({"aud": "other"}));
    let other_key = SigningKey::generate(Algorithm::Es256, "k1").unwrap();
    let bad_signature = other_key.sign_jwt(&claims(json!({})), None).unwrap();
    for (token, reason) in [
        (wrong_audience, DenyReason::WrongAudience),
        (bad_signature, DenyReason::BadSignature),
        ("not-a-jwt".to_string(), DenyReason::Malformed),
    ] {
        for _ in 0..2 {
            let decision = authorizer.authorize(&request(&token, "GET", "/", NOW));
            assert_eq!(deny_reason(&decision), reason);
        }
    }
    let after = stats(&authorizer);
    assert_eq!((after.hits, after.stores, after.entries), (0, 0, 0));
    assert_eq!(after.misses, 6);
}

#[test]
fn a_route_the_cached_grants_do_not_let_through_goes_to_the_module() {
    let rules = r#"
[[route]]
path = "/orders/*"
scopes = ["orders.read"]

[[route]]
name = "orders admin"
methods = ["GET"]
path = "/orders/admin"
groups = ["admins"]

[[route]]
path = "/admin/*"
scopes = ["admin"]
"#;
    let authorizer = cached_authorizer(&policy(0, rules));
    let token = token(json!({"scope": "orders.read"}));
    let first = allow(authorizer.authorize(&request(&token, "GET", "/orders/1", NOW)));
    assert_eq!(first.rule.as_deref(), Some("route[0]"));
    assert_eq!(
        first.grants,
        [
            Grant::deny("GET", "/orders/admin"),
            Grant::deny("HEAD", "/orders/admin"),
            Grant::allow("*", "/orders/*")
        ]
    );

    // No cached grant matches /admin/x: the module refuses it, with its reason.
    let admin = authorizer.authorize(&request(&token, "GET", "/admin/x", NOW));
    assert_eq!(deny_reason(&admin), DenyReason::InsufficientScope);
    // A deny grant matches GET /orders/admin: the module refuses it.
    let orders_admin = authorizer.authorize(&request(&token, "GET", "/orders/admin", NOW));
    assert_eq!(deny_reason(&orders_admin), DenyReason::Forbidden);
    match &orders_admin {
        Decision::Deny(deny) => {
            assert_eq!(deny.status, DenyStatus::Forbidden);
            assert_eq!(deny.rule.as_deref(), Some("orders admin"));
        }
        other => panic!("{other:?}"),
    }
    let after = stats(&authorizer);
    assert_eq!((after.hits, after.misses, after.stores), (0, 3, 1));

    // Covered routes hit; the rule is kept only for the route decided.
    let same = allow(authorizer.authorize(&request(&token, "GET", "/orders/1", NOW)));
    assert_eq!(same.rule.as_deref(), Some("route[0]"));
    // Methods are case-sensitive tokens: `get` is refused before the cache
    // or the module is asked.
    match authorizer.authorize(&request(&token, "get", "/orders/1", NOW)) {
        Decision::Deny(deny) => assert_eq!(deny.reason, DenyReason::InvalidPath),
        other => panic!("{other:?}"),
    }
    let other = allow(authorizer.authorize(&request(&token, "DELETE", "/orders/2", NOW)));
    assert_eq!(other.rule, None);
    assert_eq!(
        Allow {
            rule: None,
            ..first
        },
        other
    );
    assert_eq!(stats(&authorizer).hits, 2);
}

#[test]
fn a_key_set_change_makes_the_next_request_miss() {
    let authorizer = cached_authorizer(&policy(0, ""));
    let token = token(json!({}));
    let request = request(&token, "GET", "/", NOW);
    allow(authorizer.authorize(&request));
    allow(authorizer.authorize(&request));
    assert_eq!(stats(&authorizer).hits, 1);

    // The same keys again: a new generation all the same.
    authorizer.keys().set_keys(ISSUER, key_set(key()));
    allow(authorizer.authorize(&request));
    let after = stats(&authorizer);
    assert_eq!((after.hits, after.misses, after.stores), (1, 2, 2));
    allow(authorizer.authorize(&request));
    assert_eq!(stats(&authorizer).hits, 2);

    // The key removed: the module answers, not the cache.
    let other = SigningKey::generate(Algorithm::Es256, "k2").unwrap();
    authorizer.keys().set_keys(ISSUER, key_set(&other));
    assert_eq!(
        deny_reason(&authorizer.authorize(&request)),
        DenyReason::UnknownKey
    );
    authorizer.keys().mark_unavailable(ISSUER);
    assert_eq!(
        deny_reason(&authorizer.authorize(&request)),
        DenyReason::KeysUnavailable
    );
    assert_eq!(stats(&authorizer).hits, 2);
}

#[test]
fn other_modules_documents_and_authorizers_share_nothing() {
    let text = policy(0, "");
    let token = token(json!({}));
    let request = request(&token, "GET", "/", NOW);
    let first = cached_authorizer(&text);
    allow(first.authorize(&request));
    allow(first.authorize(&request));
    assert_eq!(stats(&first).hits, 1);
    // A fresh authorizer starts empty: its first request is the module's.
    let fresh = cached_authorizer(&text);
    assert_eq!(stats(&fresh), TokenCacheStats::default());
    allow(fresh.authorize(&request));
    assert_eq!((stats(&fresh).hits, stats(&fresh).misses), (0, 1));

    // Keys of caches for another module or another document differ.
    let sources = request.token_sources.as_slice();
    let settings = TokenCacheSettings::default();
    let digest = *module().digest();
    let base = TokenCache::new(settings, &digest, &text).key(7, sources);
    let other_module = TokenCache::new(settings, &ModuleDigest::of(b"another module"), &text);
    let other_document = TokenCache::new(settings, &digest, &policy(1, ""));
    assert!(base.is_some());
    assert_ne!(other_module.key(7, sources), base);
    assert_ne!(other_document.key(7, sources), base);
    assert_eq!(
        TokenCache::new(settings, &digest, &text).key(7, sources),
        base
    );
}

#[test]
fn the_module_digest_is_the_loaded_bytes_digest() {
    let module = module();
    let digest = *module.digest();
    assert_eq!(digest, ModuleDigest::of(crate::module::DEFAULT_MODULE));
    assert_eq!(digest.to_string().len(), 64);
    let limits = SandboxLimits {
        memory_bytes: 32 << 20,
        ..SandboxLimits::default()
    };
    assert_eq!(*module.with_limits(limits).digest(), digest);
    assert_eq!(*cached_authorizer(&policy(0, "")).module_digest(), digest);
}

fn test_cache(settings: TokenCacheSettings) -> TokenCache {
    TokenCache::new(settings, &ModuleDigest::of(b"module"), "policy")
}

fn raw(text: &str) -> TokenSource {
    TokenSource::Raw(text.into())
}

#[test]
fn credential_variants_lengths_and_generations_are_different_keys() {
    let cache = test_cache(TokenCacheSettings::default());
    let header = TokenSource::AuthorizationHeader("x".into());
    let keys = [
        cache.key(0, std::slice::from_ref(&header)),
        cache.key(0, &[raw("x")]),
        cache.key(0, &[raw("x"), TokenSource::OutsideCacheKey]),
        cache.key(0, &[TokenSource::OutsideCacheKey, raw("x")]),
        cache.key(0, &[TokenSource::OutsideCacheKey]),
        cache.key(0, &[raw("ab"), raw("c")]),
        cache.key(0, &[raw("a"), raw("bc")]),
        cache.key(0, &[raw("abc")]),
        cache.key(0, &[raw("")]),
        cache.key(1, &[raw("x")]),
    ];
    for (i, a) in keys.iter().enumerate() {
        assert!(a.is_some(), "{i}");
        for (j, b) in keys.iter().enumerate().skip(i + 1) {
            assert_ne!(a, b, "{i} and {j}");
        }
    }
    assert_eq!(cache.key(0, std::slice::from_ref(&header)), keys[0]);
    assert_eq!(cache.key(0, &[]), None, "no credential, no key");
}

fn hand_made_allow() -> Allow {
    Allow {
        principal: "alice".into(),
        issuer: ISSUER.into(),
        context: vec![("email".into(), "\"a@example.com\"".into())],
        grants: vec![Grant::allow("GET", "/orders/*")],
        request_dependent: false,
        expires_at: Some(EXP),
        rule: Some("route[0]".into()),
    }
}

#[test]
fn only_token_only_unexpired_allows_that_cover_their_route_are_stored() {
    let cache = test_cache(TokenCacheSettings::default());
    let request = request("t", "GET", "/orders/1", NOW);
    let key = cache.key(0, &request.token_sources).unwrap();
    let good = hand_made_allow();
    let refused = [
        (
            "request-dependent",
            Allow {
                request_dependent: true,
                ..good.clone()
            },
        ),
        (
            "no exp",
            Allow {
                expires_at: None,
                ..good.clone()
            },
        ),
        (
            "expired",
            Allow {
                expires_at: Some(NOW),
                ..good.clone()
            },
        ),
        (
            "its own route not granted",
            Allow {
                grants: vec![Grant::allow("POST", "/orders/*")],
                ..good.clone()
            },
        ),
        (
            "its own route denied",
            Allow {
                grants: vec![
                    Grant::deny("GET", "/orders/1"),
                    Grant::allow("*", "/orders/*"),
                ],
                ..good.clone()
            },
        ),
        (
            "over the entry cap",
            Allow {
                context: vec![("big".into(), "x".repeat(MAX_ENTRY_BYTES))],
                ..good.clone()
            },
        ),
    ];
    for (what, allow) in refused {
        assert!(!cache.store(key, &request, &allow), "{what}");
        assert_eq!(cache.lookup(&key, &request), None, "{what}");
    }
    assert_eq!(cache.stats().stores, 0);
    assert!(cache.store(key, &request, &good));
    assert_eq!(cache.lookup(&key, &request), Some(good));
    assert_eq!(cache.stats().stores, 1);

    // A request-dependent allow from the module is not stored either (the
    // authorizer hands every module allow to `store`).
    let dependent = Allow {
        request_dependent: true,
        ..hand_made_allow()
    };
    let other_key = cache.key(0, &[raw("other")]).unwrap();
    assert!(!cache.store(other_key, &request, &dependent));
    assert_eq!(cache.lookup(&other_key, &request), None);
}

#[test]
fn entries_stay_within_the_count_and_byte_bounds() {
    // Few entries: the count bounds.
    let settings = TokenCacheSettings {
        max_entries: 4,
        max_bytes: 1 << 20,
    };
    let cache = test_cache(settings);
    let request = request("t", "GET", "/orders/1", NOW);
    for i in 0..200 {
        let key = cache.key(0, &[raw(&format!("token-{i}"))]).unwrap();
        assert!(cache.store(key, &request, &hand_made_allow()));
        let stats = cache.stats();
        assert!(stats.entries <= 4, "{i}: {stats:?}");
        assert!(stats.weight_bytes <= 1 << 20, "{i}: {stats:?}");
    }
    assert!(cache.stats().entries >= 1);

    // Big entries: the bytes bound.
    let settings = TokenCacheSettings {
        max_entries: 10_000,
        max_bytes: 1 << 20,
    };
    let cache = test_cache(settings);
    let big = Allow {
        context: vec![("blob".into(), "x".repeat(16 << 10))],
        ..hand_made_allow()
    };
    for i in 0..400 {
        let key = cache.key(0, &[raw(&format!("token-{i}"))]).unwrap();
        assert!(cache.store(key, &request, &big));
        let stats = cache.stats();
        assert!(stats.weight_bytes <= 1 << 20, "{i}: {stats:?}");
        assert!(stats.entries <= (1 << 20) / (16 << 10), "{i}: {stats:?}");
    }
    assert!(cache.stats().entries >= 1);
}

#[test]
fn settings_are_validated_and_clamped() {
    assert_eq!(TokenCacheSettings::default().validate(), Ok(()));
    assert_eq!(TokenCacheSettings::OFF.validate(), Ok(()));
    assert!(TokenCacheSettings::OFF.is_off());
    assert!(!TokenCacheSettings::default().is_off());
    let edges = [
        (0, 1 << 20, true),
        (1_000_000, 1 << 30, true),
        (1_000_001, 1 << 20, false),
        (10, (1 << 20) - 1, false),
        (10, (1 << 30) + 1, false),
    ];
    for (max_entries, max_bytes, ok) in edges {
        let settings = TokenCacheSettings {
            max_entries,
            max_bytes,
        };
        assert_eq!(settings.validate().is_ok(), ok, "{settings:?}");
    }
    let error = TokenCacheSettings {
        max_entries: 10,
        max_bytes: 1,
    }
    .validate()
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "token cache max_bytes 1 is out of range: write 1048576 to 1073741824"
    );
    let cache = test_cache(TokenCacheSettings {
        max_entries: usize::MAX,
        max_bytes: 1,
    });
    assert_eq!(
        cache.settings(),
        TokenCacheSettings {
            max_entries: 1_000_000,
            max_bytes: 1 << 20,
        }
    );
}

#[tokio::test]
async fn the_gate_answers_a_repeated_token_from_its_cache() {
    let dir = std::env::temp_dir().join(format!("tollgate-token-cache-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("jwks.json"), key().jwks().to_string()).unwrap();
    let gate = crate::Gate::new(
        module(),
        &policy(0, ""),
        &crate::ConfigBase::Dir(dir.clone()),
        "test policy",
        tollgate_jwks::KeyFetchSettings::default(),
    )
    .await
    .unwrap();
    assert_eq!(gate.token_cache_stats(), None);
    let gate = gate.with_token_cache(TokenCacheSettings::default());
    let token = token(json!({}));
    let request = request(&token, "GET", "/", NOW);
    let first = allow(gate.decide(&request).await);
    let second = allow(gate.decide(&request).await);
    assert_eq!(first, second);
    let after = gate.token_cache_stats().unwrap();
    assert_eq!((after.hits, after.misses, after.stores), (1, 1, 1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_cache_and_the_authorizer_are_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<TokenCache>();
    shared::<Authorizer>();
    shared::<crate::Gate>();
}
