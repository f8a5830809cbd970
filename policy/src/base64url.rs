//! Strict base64url decoding (RFC 4648 section 5, no padding, canonical
//! trailing bits), the one encoding of a compact JWS: what `base64`'s
//! `URL_SAFE_NO_PAD` accepts, exactly (the tests compare the two), in
//! fewer instructions in the module: one table lookup per character and
//! three bytes written per four characters, into a buffer sized once.

/// Why a segment is not strict base64url.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotBase64Url;

/// Not a base64url character.
const INVALID: u8 = 0xff;

/// The 6-bit value of each byte, or [`INVALID`].
// Built at compile time: the alphabet's 64 bytes index a 256-entry table.
#[allow(clippy::indexing_slicing)]
static VALUES: [u8; 256] = {
    let mut table = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

// A byte indexes a 256-entry table: never out of bounds.
#[allow(clippy::indexing_slicing)]
fn value(byte: u8) -> u32 {
    u32::from(VALUES[usize::from(byte)])
}

/// Decode `segment`: the URL-safe alphabet only, no padding, a length that
/// is not 1 more than a multiple of 4, and unused trailing bits zero.
pub(crate) fn decode(segment: &str) -> Result<Vec<u8>, NotBase64Url> {
    let input = segment.as_bytes();
    let whole = input.len() / 4;
    let tail = input.len() % 4;
    let tail_bytes = match tail {
        0 => 0,
        2 => 1,
        3 => 2,
        _ => return Err(NotBase64Url),
    };
    let mut out = vec![0u8; whole * 3 + tail_bytes];
    let (body, rest) = out.split_at_mut(whole * 3);
    for (quad, triple) in input.chunks_exact(4).zip(body.chunks_exact_mut(3)) {
        let &[a, b, c, d] = quad else {
            return Err(NotBase64Url);
        };
        let [a, b, c, d] = [a, b, c, d].map(value);
        // INVALID has its high bit set: any invalid character shows here.
        if (a | b | c | d) & 0x80 != 0 {
            return Err(NotBase64Url);
        }
        let bits = a << 18 | b << 12 | c << 6 | d;
        triple.copy_from_slice(&[(bits >> 16) as u8, (bits >> 8) as u8, bits as u8]);
    }
    let last = input.get(whole * 4..).unwrap_or_default();
    match (last, rest) {
        ([], []) => {}
        ([a, b], [x]) => {
            let [a, b] = [*a, *b].map(value);
            if (a | b) & 0x80 != 0 || b & 0x0f != 0 {
                return Err(NotBase64Url);
            }
            *x = (a << 2 | b >> 4) as u8;
        }
        ([a, b, c], [x, y]) => {
            let [a, b, c] = [*a, *b, *c].map(value);
            if (a | b | c) & 0x80 != 0 || c & 0x03 != 0 {
                return Err(NotBase64Url);
            }
            let bits = a << 10 | b << 4 | c >> 2;
            *x = (bits >> 8) as u8;
            *y = bits as u8;
        }
        _ => return Err(NotBase64Url),
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
