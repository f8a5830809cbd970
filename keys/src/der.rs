//! A minimal DER codec for PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
//!
//! aws-lc's RSA verification algorithms accept this encoding (RFC 8017 A.1.1)
//! and run `RSA_check_key` on it while parsing.

const TAG_INTEGER: u8 = 0x02;
const TAG_SEQUENCE: u8 = 0x30;

/// Strip leading zero bytes (JWK integers should not have them, but some producers add them).
pub(crate) fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let significant = strip_leading_zeros(&bytes);
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
}

/// A minimal, positive DER INTEGER from big-endian unsigned bytes.
fn push_unsigned_integer(out: &mut Vec<u8>, value: &[u8]) {
    let value = strip_leading_zeros(value);
    out.push(TAG_INTEGER);
    let Some(first) = value.first() else {
        out.extend_from_slice(&[1, 0]);
        return;
    };
    let pad = first & 0x80 != 0;
    push_len(out, value.len() + usize::from(pad));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(value);
}

/// DER `RSAPublicKey` for big-endian unsigned `n` and `e`.
pub(crate) fn encode_rsa_public_key(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    push_unsigned_integer(&mut body, n);
    push_unsigned_integer(&mut body, e);
    let mut out = Vec::with_capacity(body.len() + 6);
    out.push(TAG_SEQUENCE);
    push_len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

/// Read one TLV with the given tag; returns (contents, rest).
fn read_tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > std::mem::size_of::<usize>() || rest.len() < count {
            return None;
        }
        let (len_bytes, after) = rest.split_at(count);
        rest = after;
        len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    if rest.len() < len {
        return None;
    }
    Some(rest.split_at(len))
}

/// Parse a DER `RSAPublicKey` into big-endian unsigned `(n, e)` without leading zeros.
pub(crate) fn decode_rsa_public_key(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (body, trailing) = read_tlv(der, TAG_SEQUENCE)?;
    if !trailing.is_empty() {
        return None;
    }
    let (n, rest) = read_tlv(body, TAG_INTEGER)?;
    let (e, rest) = read_tlv(rest, TAG_INTEGER)?;
    if !rest.is_empty() {
        return None;
    }
    Some((
        strip_leading_zeros(n).to_vec(),
        strip_leading_zeros(e).to_vec(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_encode_minimally() {
        // n = 0x00 0x80 (leading zero stripped, sign byte added), e = 65537.
        assert_eq!(
            encode_rsa_public_key(&[0x00, 0x80], &[0x01, 0x00, 0x01]),
            vec![
                0x30, 0x09, 0x02, 0x02, 0x00, 0x80, 0x02, 0x03, 0x01, 0x00, 0x01
            ]
        );
    }

    #[test]
    fn long_form_lengths_round_trip() {
        let mut n = vec![0xc3u8; 256];
        n[255] = 0x01;
        let der = encode_rsa_public_key(&n, &[3]);
        // SEQUENCE, long form length (2 bytes), INTEGER with 0x82 0x01 0x01 length and a sign byte.
        assert_eq!(&der[..2], &[0x30, 0x82]);
        assert_eq!(&der[4..9], &[0x02, 0x82, 0x01, 0x01, 0x00]);
        assert_eq!(decode_rsa_public_key(&der), Some((n, vec![3])));
    }

    #[test]
    fn decode_rejects_garbage() {
        assert_eq!(decode_rsa_public_key(&[]), None);
        assert_eq!(decode_rsa_public_key(&[0x30, 0x05, 0x02, 0x01]), None);
        let mut der = encode_rsa_public_key(&[0x05], &[0x03]);
        der.push(0);
        assert_eq!(decode_rsa_public_key(&der), None);
    }
}
