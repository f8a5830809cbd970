//! RFC 7515 Appendix A example JWS values, verified with the public API.

// Tests: a failed expectation is a panic, and fixtures are indexed directly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use tollgate_keys::{Algorithm, KeySet, NativeKey, VerifyError};

/// The payload used by every Appendix A example.
const PAYLOAD: &str = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";

fn split(token: &str) -> (&str, Vec<u8>) {
    let (input, sig) = token.rsplit_once('.').expect("three segments");
    (
        input,
        URL_SAFE_NO_PAD.decode(sig).expect("base64url signature"),
    )
}

/// Appendix A.1: HS256 with the example 64-byte key.
#[test]
fn a1_hs256() {
    let token = format!(
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.{PAYLOAD}.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    );
    let secret = URL_SAFE_NO_PAD
        .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
        .expect("key");
    let key = NativeKey::from_secret(&secret, None, Algorithm::Hs256).expect("secret");
    let (input, sig) = split(&token);
    assert_eq!(key.verify(Algorithm::Hs256, input.as_bytes(), &sig), Ok(()));
    let mut tampered = sig.clone();
    tampered[0] ^= 0x80;
    assert_eq!(
        key.verify(Algorithm::Hs256, input.as_bytes(), &tampered),
        Err(VerifyError::BadSignature)
    );
}

/// Appendix A.2: RS256 with the example 2048-bit RSA key (public part only).
#[test]
fn a2_rs256() {
    let jwk = json!({
        "kty": "RSA",
        "n": "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
        "e": "AQAB",
    });
    let token = format!(
        "eyJhbGciOiJSUzI1NiJ9.{PAYLOAD}.\
         cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7\
         AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4\
         BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K\
         0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv\
         hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB\
         p0igcN_IoypGlUPQGe77Rw"
    );
    let key = NativeKey::from_jwk(&jwk).expect("RFC 7515 A.2 JWK");
    assert_eq!(key.info().bits, 2048);
    let (input, sig) = split(&token);
    assert_eq!(key.verify(Algorithm::Rs256, input.as_bytes(), &sig), Ok(()));
    // Same key, other RSA algorithms: the signature does not verify.
    assert_eq!(
        key.verify(Algorithm::Ps256, input.as_bytes(), &sig),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        key.verify(Algorithm::Rs384, input.as_bytes(), &sig),
        Err(VerifyError::BadSignature)
    );
    let mut tampered = sig.clone();
    tampered[100] ^= 0x01;
    assert_eq!(
        key.verify(Algorithm::Rs256, input.as_bytes(), &tampered),
        Err(VerifyError::BadSignature)
    );
}

/// Appendix A.3: ES256 with the example P-256 key, through a JWK Set.
#[test]
fn a3_es256() {
    let jwks = json!({"keys": [{
        "kty": "EC",
        "crv": "P-256",
        "kid": "e9bc097a-ce51-4036-9562-d2ade882db0d",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    }]});
    let (set, skipped) = KeySet::from_jwks_json(&jwks.to_string()).expect("JWK Set");
    assert!(skipped.is_empty());
    let keys = set.find(Some("e9bc097a-ce51-4036-9562-d2ade882db0d"));
    assert_eq!(keys.len(), 1);
    let token = format!(
        "eyJhbGciOiJFUzI1NiJ9.{PAYLOAD}.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
    );
    let (input, sig) = split(&token);
    assert_eq!(sig.len(), 64);
    assert_eq!(
        keys[0].verify(Algorithm::Es256, input.as_bytes(), &sig),
        Ok(())
    );
    assert_eq!(
        keys[0].verify(Algorithm::Es384, input.as_bytes(), &sig),
        Err(VerifyError::KeyMismatch)
    );
    let mut tampered = sig.clone();
    tampered[63] ^= 0x01;
    assert_eq!(
        keys[0].verify(Algorithm::Es256, input.as_bytes(), &tampered),
        Err(VerifyError::BadSignature)
    );
}
