//! Algorithm facts only the keys crate needs (the [`Algorithm`] type itself
//! is shared, from `tollgate-model`).

use crate::Algorithm;

/// The algorithms an RSA key can verify (all RSASSA-PKCS1-v1_5 and PSS variants).
pub(crate) const RSA_ALGORITHMS: [Algorithm; 6] = [
    Algorithm::Rs256,
    Algorithm::Rs384,
    Algorithm::Rs512,
    Algorithm::Ps256,
    Algorithm::Ps384,
    Algorithm::Ps512,
];

/// The minimum HMAC secret length for `alg` (RFC 7518 section 3.2: at least
/// the hash output size), or `None` for asymmetric algorithms.
pub(crate) fn min_secret_len(alg: Algorithm) -> Option<usize> {
    match alg {
        Algorithm::Hs256 => Some(32),
        Algorithm::Hs384 => Some(48),
        Algorithm::Hs512 => Some(64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_exactly() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
            assert_eq!(alg.to_string(), alg.name());
        }
        for bad in ["none", "NONE", "rs256", "ES521", "Ed25519", ""] {
            assert_eq!(Algorithm::from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_hmac_has_a_minimum_secret_length() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.is_symmetric(), min_secret_len(alg).is_some());
        }
    }
}
