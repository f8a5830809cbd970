//! Sixteen base64url characters decoded at once into twelve bytes, with
//! 128-bit vector operations: in a module built with WebAssembly's
//! `simd128` (not the default module yet: wasmtime's code for it is slow
//! on the baseline x86_64 CPU that Lambda artifacts are precompiled for,
//! docs/benchmarks.md#decision); the scalar loop of [`super::decode_run`]
//! everywhere else.
//!
//! The steps are written once, over [`Lanes`] (`crate::lanes`): a `v128`
//! in the module, a plain array in the tests, so the steps are checked
//! natively against the scalar decoder on the same inputs (`tests.rs`).

use crate::lanes::Lanes;

/// Where a byte's high nibble puts it: one bit per group of the alphabet,
/// `0x80` for the high nibbles no character of it has (0, 1, 8 to 15).
const GROUP_OF_HIGH: [u8; 16] = [
    0x80, 0x80, 0x01, 0x02, 0x04, 0x08, 0x04, 0x10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
];
/// For each low nibble, the groups in which it is not a character of the
/// alphabet. Group `0x01` (`0x2_`): only `-` (`0x2d`); `0x02` (`0x3_`):
/// the digits; `0x04` (`0x4_`, `0x6_`): all but `0x_0`; `0x08` (`0x5_`):
/// `P` to `Z` and `_`; `0x10` (`0x7_`): `p` to `z`.
// Built at compile time: 16 low nibbles index a 16-entry table.
#[allow(clippy::indexing_slicing)]
const NOT_IN_GROUPS: [u8; 16] = {
    let mut table = [0u8; 16];
    let mut low = 0;
    while low < 16 {
        let mut groups = 0x80;
        if low != 0xd {
            groups |= 0x01;
        }
        if low >= 0xa {
            groups |= 0x02;
        }
        if low == 0 {
            groups |= 0x04;
        }
        if low >= 0xb && low <= 0xe {
            groups |= 0x08;
        }
        if low >= 0xb {
            groups |= 0x10;
        }
        table[low] = groups;
        low += 1;
    }
    table
};
/// What a character of each high nibble adds to make its 6-bit value:
/// `-` becomes 62, digits 52 to 61, `A` to `Z` 0 to 25, `a` to `z` 26 to 51
/// (`_`, the one other `0x5_`, is mended after).
const OFFSET_OF_HIGH: [u8; 16] = [
    0,
    0,
    62u8.wrapping_sub(b'-'),
    52u8.wrapping_sub(b'0'),
    0u8.wrapping_sub(b'A'),
    0u8.wrapping_sub(b'A'),
    26u8.wrapping_sub(b'a'),
    26u8.wrapping_sub(b'a'),
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
];
/// What `_` needs beyond its high nibble's offset to become 63.
const UNDERSCORE_MENDING: u8 = 63u8.wrapping_sub(b'_').wrapping_sub(0u8.wrapping_sub(b'A'));

/// `0xff` in every even byte: the low byte of each `u16`.
const LOW_BYTES: [u8; 16] = [
    0xff, 0, 0xff, 0, 0xff, 0, 0xff, 0, 0xff, 0, 0xff, 0, 0xff, 0, 0xff, 0,
];
/// `0xff` in the low two bytes of each `u32`.
const LOW_HALVES: [u8; 16] = [
    0xff, 0xff, 0, 0, 0xff, 0xff, 0, 0, 0xff, 0xff, 0, 0, 0xff, 0xff, 0, 0,
];

/// Sixteen base64url characters as four `u32`s of 24 bits each (the bytes
/// they encode, high first), or `None` if any of them is outside the
/// URL-safe alphabet.
#[inline(always)]
pub(crate) fn decode_block<L: Lanes>(chars: &[u8; 16]) -> Option<L> {
    let chars = L::load(chars);
    let high = chars.shr_u8(4);
    let low = chars.and(L::splat(0x0f));
    // A byte is in the alphabet when its low nibble is allowed in its high
    // nibble's group.
    let outside = L::load(&NOT_IN_GROUPS)
        .swizzle(low)
        .and(L::load(&GROUP_OF_HIGH).swizzle(high));
    if outside.any_set() {
        return None;
    }
    let underscore = chars.equal(L::splat(b'_'));
    let values = chars
        .add(L::load(&OFFSET_OF_HIGH).swizzle(high))
        .add(underscore.and(L::splat(UNDERSCORE_MENDING)));
    // Pairs of values into 12 bits (first << 6 | second) per u16, then pairs
    // of those into 24 bits per u32.
    let pairs = values
        .and(L::load(&LOW_BYTES))
        .shl_u16(6)
        .or(values.shr_u16(8));
    Some(
        pairs
            .and(L::load(&LOW_HALVES))
            .shl_u32(12)
            .or(pairs.shr_u32(16)),
    )
}

/// Decode the whole blocks of sixteen characters `input` starts with, up
/// to the first block with a character outside the alphabet, appending
/// twelve bytes per block to `out`; returns how many characters were
/// read (a multiple of 16). The caller decodes the rest.
#[inline(always)]
pub(crate) fn decode_blocks<L: Lanes>(input: &[u8], out: &mut Vec<u8>) -> usize {
    let mut read = 0;
    for block in input.chunks_exact(16) {
        let Some(quads) = <&[u8; 16]>::try_from(block)
            .ok()
            .and_then(decode_block::<L>)
        else {
            break;
        };
        quads.append_triples(out);
        read += 16;
    }
    read
}
