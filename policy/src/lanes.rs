//! Sixteen bytes at a time: the few 128-bit vector operations the policy
//! core uses (for base64url's blocks of sixteen characters), as one
//! trait with two forms. In a module built with `simd128`
//! (`-Ctarget-feature=+simd128`; the default module is not, yet: see
//! docs/benchmarks.md#decision) each is one WebAssembly instruction
//! ([`wasm::Simd`]); in the tests ([`array::Array`]) each is spelled out
//! byte by byte as WebAssembly defines it, so code written over [`Lanes`]
//! is checked natively.

/// Sixteen bytes and the operations the vector steps make on them, each
/// as WebAssembly's `simd128` defines it.
pub(crate) trait Lanes: Copy {
    /// The sixteen bytes, in order.
    fn load(bytes: &[u8; 16]) -> Self;
    /// `byte` in every lane.
    fn splat(byte: u8) -> Self;
    /// Lane by lane, wrapping (`i8x16.add`).
    fn add(self, other: Self) -> Self;
    /// Bitwise and (`v128.and`).
    fn and(self, other: Self) -> Self;
    /// Bitwise or (`v128.or`).
    fn or(self, other: Self) -> Self;
    /// `0xff` where the lanes are equal, else `0` (`i8x16.eq`).
    fn equal(self, other: Self) -> Self;
    /// Whether any bit is set (`v128.any_true`).
    fn any_set(self) -> bool;
    /// Each lane `i` of the result is `self[indexes[i]]`, or `0` where the
    /// index is 16 or more (`i8x16.swizzle`).
    fn swizzle(self, indexes: Self) -> Self;
    /// Each byte shifted right, unsigned (`i8x16.shr_u`).
    fn shr_u8(self, bits: u32) -> Self;
    /// As eight little-endian `u16`s, each shifted left (`i16x8.shl`).
    fn shl_u16(self, bits: u32) -> Self;
    /// As eight little-endian `u16`s, each shifted right (`i16x8.shr_u`).
    fn shr_u16(self, bits: u32) -> Self;
    /// As four little-endian `u32`s, each shifted left (`i32x4.shl`).
    fn shl_u32(self, bits: u32) -> Self;
    /// As four little-endian `u32`s, each shifted right (`i32x4.shr_u`).
    fn shr_u32(self, bits: u32) -> Self;
    /// Append the low three bytes of each little-endian `u32`, high byte
    /// first: the twelve decoded bytes (an `i8x16.shuffle`).
    fn append_triples(self, out: &mut Vec<u8>);
}

/// [`Lanes`] as WebAssembly `simd128` instructions.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) mod wasm {
    use core::arch::wasm32::{
        i8x16_eq, i8x16_shuffle, i8x16_swizzle, i16x8_shl, i32x4_shl, u8x16_add, u8x16_shr,
        u8x16_splat, u16x8_shr, u32x4_extract_lane, u32x4_shr, u64x2, u64x2_extract_lane, v128,
        v128_and, v128_any_true, v128_or,
    };

    /// A `v128` as [`super::Lanes`].
    #[derive(Clone, Copy)]
    pub(crate) struct Simd(v128);

    impl super::Lanes for Simd {
        #[inline(always)]
        fn load(bytes: &[u8; 16]) -> Self {
            let [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p] = *bytes;
            Simd(u64x2(
                u64::from_le_bytes([a, b, c, d, e, f, g, h]),
                u64::from_le_bytes([i, j, k, l, m, n, o, p]),
            ))
        }
        #[inline(always)]
        fn splat(byte: u8) -> Self {
            Simd(u8x16_splat(byte))
        }
        #[inline(always)]
        fn add(self, other: Self) -> Self {
            Simd(u8x16_add(self.0, other.0))
        }
        #[inline(always)]
        fn and(self, other: Self) -> Self {
            Simd(v128_and(self.0, other.0))
        }
        #[inline(always)]
        fn or(self, other: Self) -> Self {
            Simd(v128_or(self.0, other.0))
        }
        #[inline(always)]
        fn equal(self, other: Self) -> Self {
            Simd(i8x16_eq(self.0, other.0))
        }
        #[inline(always)]
        fn any_set(self) -> bool {
            v128_any_true(self.0)
        }
        #[inline(always)]
        fn swizzle(self, indexes: Self) -> Self {
            Simd(i8x16_swizzle(self.0, indexes.0))
        }
        #[inline(always)]
        fn shr_u8(self, bits: u32) -> Self {
            Simd(u8x16_shr(self.0, bits))
        }
        #[inline(always)]
        fn shl_u16(self, bits: u32) -> Self {
            Simd(i16x8_shl(self.0, bits))
        }
        #[inline(always)]
        fn shr_u16(self, bits: u32) -> Self {
            Simd(u16x8_shr(self.0, bits))
        }
        #[inline(always)]
        fn shl_u32(self, bits: u32) -> Self {
            Simd(i32x4_shl(self.0, bits))
        }
        #[inline(always)]
        fn shr_u32(self, bits: u32) -> Self {
            Simd(u32x4_shr(self.0, bits))
        }
        #[inline(always)]
        fn append_triples(self, out: &mut Vec<u8>) {
            let packed = i8x16_shuffle::<2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, 3, 7, 11, 15>(
                self.0, self.0,
            );
            out.extend_from_slice(&u64x2_extract_lane::<0>(packed).to_le_bytes());
            out.extend_from_slice(&u32x4_extract_lane::<2>(packed).to_le_bytes());
        }
    }
}

/// [`Lanes`] as a plain array, each operation spelled out byte by byte as
/// WebAssembly defines it: the tests run the block decoder natively on it.
#[cfg(test)]
pub(crate) mod array {
    /// Sixteen bytes as [`super::Lanes`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) struct Array(pub(crate) [u8; 16]);

    impl Array {
        fn zip(self, other: Self, f: impl Fn(u8, u8) -> u8) -> Self {
            Array(std::array::from_fn(|i| f(self.0[i], other.0[i])))
        }
        fn u16s(self, f: impl Fn(u16) -> u16) -> Self {
            let mut out = [0u8; 16];
            for (lane, bytes) in self.0.chunks_exact(2).zip(out.chunks_exact_mut(2)) {
                bytes.copy_from_slice(&f(u16::from_le_bytes([lane[0], lane[1]])).to_le_bytes());
            }
            Array(out)
        }
        fn u32s(self, f: impl Fn(u32) -> u32) -> Self {
            let mut out = [0u8; 16];
            for (lane, bytes) in self.0.chunks_exact(4).zip(out.chunks_exact_mut(4)) {
                let word = u32::from_le_bytes([lane[0], lane[1], lane[2], lane[3]]);
                bytes.copy_from_slice(&f(word).to_le_bytes());
            }
            Array(out)
        }
    }

    impl super::Lanes for Array {
        fn load(bytes: &[u8; 16]) -> Self {
            Array(*bytes)
        }
        fn splat(byte: u8) -> Self {
            Array([byte; 16])
        }
        fn add(self, other: Self) -> Self {
            self.zip(other, u8::wrapping_add)
        }
        fn and(self, other: Self) -> Self {
            self.zip(other, |a, b| a & b)
        }
        fn or(self, other: Self) -> Self {
            self.zip(other, |a, b| a | b)
        }
        fn equal(self, other: Self) -> Self {
            self.zip(other, |a, b| if a == b { 0xff } else { 0 })
        }
        fn any_set(self) -> bool {
            self.0.iter().any(|&b| b != 0)
        }
        fn swizzle(self, indexes: Self) -> Self {
            Array(
                indexes
                    .0
                    .map(|i| self.0.get(usize::from(i)).copied().unwrap_or(0)),
            )
        }
        fn shr_u8(self, bits: u32) -> Self {
            Array(self.0.map(|b| b >> bits))
        }
        fn shl_u16(self, bits: u32) -> Self {
            self.u16s(|x| x << bits)
        }
        fn shr_u16(self, bits: u32) -> Self {
            self.u16s(|x| x >> bits)
        }
        fn shl_u32(self, bits: u32) -> Self {
            self.u32s(|x| x << bits)
        }
        fn shr_u32(self, bits: u32) -> Self {
            self.u32s(|x| x >> bits)
        }
        fn append_triples(self, out: &mut Vec<u8>) {
            for lane in self.0.chunks_exact(4) {
                out.extend_from_slice(&[lane[2], lane[1], lane[0]]);
            }
        }
    }
}
