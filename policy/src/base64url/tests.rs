//! Tests of `base64url`: it accepts and decodes exactly what `base64`'s
//! `URL_SAFE_NO_PAD` does.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::*;
use crate::lanes::Lanes as _;
use crate::lanes::array::Array;
use crate::test_support::Xorshift;

#[track_caller]
fn same_as_the_crate(text: &str) {
    assert_eq!(
        decode(text).ok(),
        URL_SAFE_NO_PAD.decode(text).ok(),
        "{text:?}"
    );
}

#[test]
fn every_short_text_over_a_mixed_alphabet_decodes_as_the_crate_decodes_it() {
    // Valid characters, their neighbours, padding, and a non-ASCII byte.
    let alphabet = [
        "A", "Q", "g", "w", "z", "0", "9", "-", "_", "+", "/", "=", ".", " ", "é",
    ];
    let mut texts = vec![String::new()];
    for _ in 0..4 {
        let longer: Vec<String> = texts
            .iter()
            .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
            .collect();
        texts.extend(longer.into_iter().filter(|t| t.chars().count() <= 4));
        texts.sort();
        texts.dedup();
    }
    assert!(texts.len() > 50_000, "{}", texts.len());
    for text in &texts {
        same_as_the_crate(text);
        // And after a valid block, so the tail and the body both see it.
        same_as_the_crate(&format!("AQID{text}"));
    }
}

#[test]
fn every_byte_value_round_trips_at_every_length() {
    let bytes: Vec<u8> = (0..=255).collect();
    for len in 0..bytes.len() {
        let text = URL_SAFE_NO_PAD.encode(&bytes[..len]);
        assert_eq!(decode(&text).as_deref(), Ok(&bytes[..len]), "{len}");
    }
}

#[test]
fn non_canonical_trailing_bits_are_refused() {
    // "YQ" is "a"; "YR" sets bits that do not fit in the byte.
    assert_eq!(decode("YQ").as_deref(), Ok(&b"a"[..]));
    assert!(decode("YR").is_err());
    assert_eq!(decode("YWI").as_deref(), Ok(&b"ab"[..]));
    assert!(decode("YWJ").is_err());
    assert!(decode("Y").is_err());
    assert!(decode("YQ==").is_err());
}

/// `decode_run` on `input` reads its first `run` bytes, decoded as
/// `decode` and the `base64` crate decode them (or refused as they are).
/// `decode_run` as the module runs it: whole blocks of sixteen characters
/// first (`sixteen`, on the byte-by-byte [`Array`] lanes here), the rest
/// after.
fn decode_run_sixteen_first(input: &[u8]) -> Result<(Vec<u8>, usize), NotBase64Url> {
    let mut out = Vec::new();
    let read = sixteen::decode_blocks::<Array>(input, &mut out);
    decode_rest(input, out, read)
}

#[track_caller]
fn reads_its_run(input: &str, run: usize) {
    let expected = decode(&input[..run]).map(|bytes| (bytes, run));
    assert_eq!(decode_run(input.as_bytes()), expected, "{input:?}");
    assert_eq!(
        decode_run_sixteen_first(input.as_bytes()),
        expected,
        "{input:?}"
    );
    assert_eq!(
        expected.ok().map(|(bytes, _)| bytes),
        URL_SAFE_NO_PAD.decode(&input[..run]).ok(),
        "{input:?}"
    );
}

#[test]
fn a_run_ends_at_the_first_other_byte_and_decodes_as_its_prefix() {
    let alphabet = ["A", "Q", "g", "w", "-", "_", "+", "=", ".", " ", "é"];
    let mut texts = vec![String::new()];
    for _ in 0..6 {
        texts = texts
            .iter()
            .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
            .chain(texts.iter().cloned())
            .filter(|t| t.chars().count() <= 6)
            .collect();
        texts.sort();
        texts.dedup();
    }
    assert!(texts.len() > 100_000, "{}", texts.len());
    for text in &texts {
        let run = text
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            .unwrap_or(text.len());
        reads_its_run(text, run);
        // After six and eight valid characters, so the eight-character
        // blocks, the four-character ones and the tail all see it.
        for prefix in ["AQIDBA", "AQIDBAUG"] {
            let longer = format!("{prefix}{text}");
            reads_its_run(&longer, run + prefix.len());
        }
    }
}

#[test]
fn long_runs_decode_as_the_crate_decodes_them_wherever_they_end() {
    // Many sixteen-character blocks, ending at every offset, on a dot, a
    // foreign byte or the end.
    let bytes: Vec<u8> = (0..=255u8).cycle().take(400).collect();
    let text = URL_SAFE_NO_PAD.encode(&bytes);
    for end in 0..text.len() {
        for stop in ["", ".", "=", "+rest", ".A"] {
            reads_its_run(&format!("{}{stop}", &text[..end]), end);
        }
    }
}

#[test]
fn a_block_of_sixteen_is_decoded_or_refused_as_the_scalar_decoder_does_with_any_byte_anywhere() {
    // Random blocks of the alphabet, each with every byte value put at
    // every position in turn: refused when that byte is not in the
    // alphabet, else the twelve bytes the scalar decoder gives.
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut random = Xorshift(0x5eed_0016);
    let mut blocks_seen = 0;
    for _ in 0..40 {
        let block: [u8; 16] = std::array::from_fn(|_| random.pick(alphabet));
        for position in 0..16 {
            for byte in 0..=255u8 {
                let mut chars = block;
                chars[position] = byte;
                let mut out = Vec::new();
                let decoded = sixteen::decode_block::<Array>(&chars).map(|quads| {
                    quads.append_triples(&mut out);
                    out
                });
                let scalar = decode_rest(&chars, Vec::new(), 0)
                    .ok()
                    .filter(|(_, read)| *read == 16)
                    .map(|(bytes, _)| bytes);
                assert_eq!(decoded, scalar, "{chars:?}");
                assert_eq!(decoded.is_some(), alphabet.contains(&byte), "{chars:?}");
                blocks_seen += 1;
            }
        }
    }
    assert_eq!(blocks_seen, 40 * 16 * 256);
}

#[test]
fn tokens_made_of_blocks_decode_the_same_with_blocks_of_sixteen_first() {
    // Random lengths and bytes, a character edited at random now and then.
    let mut random = Xorshift(0x5eed_b10c);
    let foreign = [b'.', b'=', b'+', b'/', b' ', 0x80, 0xff, b'a'];
    for _ in 0..20_000 {
        let len = random.below(200);
        let bytes: Vec<u8> = (0..len).map(|_| random.next() as u8).collect();
        let mut text = URL_SAFE_NO_PAD.encode(&bytes).into_bytes();
        if !text.is_empty() && random.below(3) == 0 {
            let at = random.below(text.len());
            text[at] = random.pick(&foreign);
        }
        assert_eq!(
            decode_run_sixteen_first(&text),
            decode_run(&text),
            "{text:?}"
        );
    }
}
