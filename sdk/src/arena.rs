//! A per-call arena: memory a module allocates while deciding one request,
//! taken by bumping a pointer and given back all at once.
//!
//! Everything a decision allocates (the lowered request, the decoded
//! token, its JSON tree, the key handles, the decision itself) is freed by
//! the time the host has read the answer (`authorize`'s post-return).
//! A general allocator pays for each of those blocks twice, at `malloc`
//! and at `free`; the arena pays a few instructions at each and starts
//! over when the last block of the call is freed.
//!
//! A module opts in with [`CallArena`] as its global allocator:
//!
//! ```ignore
//! #[cfg(target_arch = "wasm32")]
//! #[global_allocator]
//! static ALLOCATOR: tollgate_sdk::arena::CallArena = tollgate_sdk::arena::CallArena::new();
//! ```
//!
//! [`export!`](crate::export) arms the arena once `configure` has built
//! the module, so what the module keeps (its parsed policy) lives in the
//! system allocator and never pins the arena. Whatever does not fit (a
//! block larger than what is left, an alignment above 16), and every block
//! while the arena is disarmed, goes to the system allocator; a block is
//! freed by whoever gave it, known by its address. A block that outlives
//! its call only keeps the arena from starting over: later blocks go to
//! the system allocator, as without the arena, and nothing is lost.

/// Bytes the arena takes from the system allocator, once, at its first
/// armed allocation: a decision's blocks fit many times over (a request is
/// capped by the host's limits; what does not fit goes elsewhere).
pub const ARENA_BYTES: usize = 256 * 1024;

/// The alignment of the arena's start, and the largest it serves.
pub const ARENA_ALIGN: usize = 16;

/// The arena's bookkeeping, in offsets from its start: which bytes are
/// taken, how many blocks are alive, and the last block (which can grow or
/// shrink in place, and be given back at once).
// Natively only the tests use it; the allocator is wasm32's.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bump {
    /// The arena's size in bytes.
    capacity: usize,
    /// The first free offset.
    top: usize,
    /// The offset of the most recent block, while it is alive.
    last: Option<usize>,
    /// Blocks handed out and not yet freed.
    live: usize,
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
impl Bump {
    /// An arena of `capacity` bytes, all free.
    pub(crate) const fn new(capacity: usize) -> Self {
        Bump {
            capacity,
            top: 0,
            last: None,
            live: 0,
        }
    }

    /// The offset of a new block of `size` bytes aligned to `align` (a
    /// power of two, at most [`ARENA_ALIGN`]), or `None` when it does not
    /// fit.
    pub(crate) fn alloc(&mut self, size: usize, align: usize) -> Option<usize> {
        if align > ARENA_ALIGN || !align.is_power_of_two() {
            return None;
        }
        let at = self.top.checked_add(align - 1)? & !(align - 1);
        let end = at.checked_add(size)?;
        if end > self.capacity {
            return None;
        }
        self.top = end;
        self.last = Some(at);
        self.live += 1;
        Some(at)
    }

    /// Give back the block at `at` of `size` bytes. The arena starts over
    /// when no block is left; the most recent block's bytes are free again
    /// at once.
    pub(crate) fn free(&mut self, at: usize, size: usize) {
        self.live = self.live.saturating_sub(1);
        if self.live == 0 {
            self.top = 0;
            self.last = None;
        } else if self.last == Some(at) && at.checked_add(size) == Some(self.top) {
            self.top = at;
            self.last = None;
        }
    }

    /// Resize the block at `at` from `old` to `new` bytes in place: any
    /// block shrinks (its tail stays unused until the arena starts over);
    /// only the most recent one grows, while it fits.
    pub(crate) fn resize(&mut self, at: usize, old: usize, new: usize) -> bool {
        let last = self.last == Some(at) && at.checked_add(old) == Some(self.top);
        if last && at.checked_add(new).is_some_and(|end| end <= self.capacity) {
            self.top = at + new;
            return true;
        }
        new <= old
    }

    /// Whether offset `at` lies in the arena.
    pub(crate) fn holds(&self, at: usize) -> bool {
        at < self.capacity
    }

    /// Blocks alive.
    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        self.live
    }
}

#[cfg(target_arch = "wasm32")]
pub use glue::{CallArena, arm, disarm};

/// The allocator itself: a module instance runs on one thread (wasm32
/// without the atomics feature), so the bookkeeping sits in a cell.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod glue {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::UnsafeCell;
    use std::ptr;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::{ARENA_ALIGN, ARENA_BYTES, Bump};

    /// Whether new blocks may come from the arena: set by
    /// [`export!`](crate::export) once `configure` has built the module.
    static ARMED: AtomicBool = AtomicBool::new(false);

    /// Let new blocks come from the arena (after `configure`).
    pub fn arm() {
        ARMED.store(true, Ordering::Relaxed);
    }

    /// Send new blocks to the system allocator (while `configure` builds
    /// what the module keeps).
    pub fn disarm() {
        ARMED.store(false, Ordering::Relaxed);
    }

    /// A global allocator for a policy module: per-call blocks from a
    /// bump arena, the rest from the system allocator (see the
    /// [module docs](super)).
    pub struct CallArena {
        state: UnsafeCell<State>,
    }

    struct State {
        /// The arena's first byte, once taken; null before.
        start: *mut u8,
        /// The system allocator refused the arena once: never ask again.
        refused: bool,
        bump: Bump,
    }

    // SAFETY: without the atomics target feature a wasm32 module has one
    // thread, so the cell is never reached from two threads at once.
    #[cfg(not(target_feature = "atomics"))]
    unsafe impl Sync for CallArena {}

    impl CallArena {
        /// An arena that takes its memory at its first armed allocation.
        pub const fn new() -> Self {
            CallArena {
                state: UnsafeCell::new(State {
                    start: ptr::null_mut(),
                    refused: false,
                    bump: Bump::new(ARENA_BYTES),
                }),
            }
        }

        /// The offset of `ptr` in the arena, if it is one of the arena's.
        fn offset_of(state: &State, ptr: *mut u8) -> Option<usize> {
            if state.start.is_null() {
                return None;
            }
            let offset = ptr.addr().checked_sub(state.start.addr())?;
            state.bump.holds(offset).then_some(offset)
        }
    }

    impl Default for CallArena {
        fn default() -> Self {
            Self::new()
        }
    }

    // SAFETY: every block handed out is either a fresh range of the arena
    // (never handed out twice while alive: `Bump` only starts over when no
    // block is alive, and only moves its top past a freed last block) or
    // the system allocator's own, freed and resized by it. The state is
    // reached by one thread (see `Sync` above) and no reference to it is
    // held across a call into the system allocator.
    unsafe impl GlobalAlloc for CallArena {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: one thread; no other reference to the state is alive.
            let state = unsafe { &mut *self.state.get() };
            if ARMED.load(Ordering::Relaxed) {
                if state.start.is_null() && !state.refused {
                    // SAFETY: a non-zero size and a power-of-two alignment.
                    let region = unsafe {
                        System.alloc(Layout::from_size_align_unchecked(ARENA_BYTES, ARENA_ALIGN))
                    };
                    state.start = region;
                    state.refused = region.is_null();
                }
                if !state.start.is_null()
                    && let Some(at) = state.bump.alloc(layout.size(), layout.align())
                {
                    return state.start.wrapping_add(at);
                }
            }
            // SAFETY: the caller's layout, as `GlobalAlloc::alloc` requires.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: one thread; no other reference to the state is alive.
            let state = unsafe { &mut *self.state.get() };
            match Self::offset_of(state, ptr) {
                Some(at) => state.bump.free(at, layout.size()),
                // SAFETY: not the arena's, so the system allocator's block.
                None => unsafe { System.dealloc(ptr, layout) },
            }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: one thread; no other reference to the state is alive.
            let state = unsafe { &mut *self.state.get() };
            let Some(at) = Self::offset_of(state, ptr) else {
                // SAFETY: the system allocator's block, with the caller's
                // guarantees for `realloc`.
                return unsafe { System.realloc(ptr, layout, new_size) };
            };
            if state.bump.resize(at, layout.size(), new_size) {
                return ptr;
            }
            // SAFETY: `new_size` with the block's alignment is a valid
            // layout (the caller's guarantee for `realloc`).
            let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            // SAFETY: a valid, non-zero layout.
            let moved = unsafe { self.alloc(new_layout) };
            if !moved.is_null() {
                // SAFETY: both blocks are alive and distinct, each at least
                // as long as the bytes copied.
                unsafe {
                    ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
            }
            moved
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_disjoint_and_counted() {
        let mut bump = Bump::new(64);
        let a = bump.alloc(3, 1).unwrap();
        let b = bump.alloc(8, 8).unwrap();
        let c = bump.alloc(1, 16).unwrap();
        assert_eq!((a, b, c), (0, 8, 16));
        assert_eq!(bump.live(), 3);
    }

    #[test]
    fn the_arena_starts_over_when_its_last_block_is_freed() {
        let mut bump = Bump::new(64);
        let a = bump.alloc(10, 1).unwrap();
        let b = bump.alloc(10, 1).unwrap();
        bump.free(a, 10);
        // `b` is alive: its bytes are never handed out again.
        let c = bump.alloc(10, 1).unwrap();
        assert!(c >= b + 10, "{c} overlaps {b}");
        bump.free(b, 10);
        bump.free(c, 10);
        assert_eq!(bump.live(), 0);
        assert_eq!(bump.alloc(10, 1), Some(0));
    }

    #[test]
    fn the_most_recent_block_is_freed_and_resized_in_place() {
        let mut bump = Bump::new(64);
        let a = bump.alloc(8, 8).unwrap();
        let b = bump.alloc(8, 8).unwrap();
        assert!(bump.resize(b, 8, 40));
        assert!(!bump.resize(a, 8, 16), "only the most recent block grows");
        assert!(!bump.resize(b, 40, 57), "past the end");
        bump.free(b, 40);
        assert_eq!(bump.alloc(8, 8), Some(8), "the freed last block's bytes");
    }

    #[test]
    fn what_does_not_fit_is_refused_not_wrapped() {
        let mut bump = Bump::new(32);
        assert_eq!(bump.alloc(33, 1), None);
        assert_eq!(bump.alloc(usize::MAX, 1), None);
        assert_eq!(bump.alloc(4, 32), None, "alignment above ARENA_ALIGN");
        assert_eq!(bump.alloc(4, 3), None, "not a power of two");
        let a = bump.alloc(30, 1).unwrap();
        assert_eq!(bump.alloc(4, 4), None);
        assert!(!bump.resize(a, 30, usize::MAX));
        assert_eq!(bump.live(), 1);
    }

    #[test]
    fn freeing_or_shrinking_an_older_block_never_frees_a_younger_one() {
        let mut bump = Bump::new(64);
        let a = bump.alloc(16, 1).unwrap();
        let b = bump.alloc(8, 1).unwrap();
        assert!(bump.resize(a, 16, 4), "any block shrinks in place");
        bump.free(a, 4);
        // `b` is alive and the most recent: the next block comes after it.
        assert_eq!(bump.alloc(8, 1), Some(b + 8));
        assert!(bump.holds(a) && !bump.holds(64));
    }
}
