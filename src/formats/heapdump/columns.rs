//! The objects' columns as the reader fills them and the graph links them: addresses as heap
//! words, sizes, in-heap pointer targets (words, then object numbers once linked in place) and,
//! when typing, each pointer's offset. The reader streams into them; the graph's builder sorts,
//! links and frees them.

use super::*;

/// The heap objects, as columns in dump order: per object its address, size and the range of its
/// pointers; per pointer only its target, and only when it lies in the dump's heap range (nil and
/// pointers to globals, stacks or off-heap memory cannot reach an object and are dropped as read).
/// A target is kept as a 4-byte heap word (its offset from the heap start, in 8-byte words: Go
/// objects start on 8-byte boundaries and span whole words) when the heap range is at most
/// 32 GiB, as a full address otherwise.
#[derive(Clone, Debug, Default)]
pub struct Objects {
    /// Address of each object.
    pub addr: Addrs,
    /// Size of each object.
    pub size: Sizes,
    /// End (exclusive) of each object's pointers in `targets`; the start is the previous end.
    pub(super) ptr_end: Vec<u32>,
    pub(super) targets: Targets,
    /// Heap start (targets are words from here); 0 with full addresses.
    pub(super) base: u64,
    /// The heap range, `start..end`; empty when the dump gives none (all non-nil kept).
    pub(super) range: std::ops::Range<u64>,
    /// Each kept pointer's byte offset in its object, when asked for (typing the objects from
    /// a binary's DWARF); empty otherwise.
    pub(super) offsets: Vec<u32>,
    pub(super) keep_offsets: bool,
    /// With offsets kept: for each pointer whose object's word right before it lies in the
    /// binary's data (an interface's type descriptor or itab before its data word), the
    /// pointer's index and that word, in pointer order.
    pub(super) type_words: Vec<(u64, u64)>,
    /// With offsets kept, where the binary's text and data are.
    pub(super) keep: super::Keep,
    /// Objects whose first word lies in the binary's text (a closure's code pointer) or, for
    /// an object with a malloc header (over 512 bytes and at most 32 KiB), in its type data (the
    /// header: the allocated type's descriptor), with that word, in object order.
    pub(super) first_words: Vec<(u64, u64)>,
}

#[derive(Clone, Debug)]
pub(super) enum Targets {
    Words(Vec<u32>),
    Addrs(Vec<u64>),
    /// Resolved by [`Objects::resolve_in_place`]: what the resolver made of each target (an
    /// object number, possibly with flags of the caller's, or [`NO_OBJECT`]).
    Nodes(Vec<u32>),
}

/// A resolved target that is no object.
pub const NO_OBJECT: u32 = u32::MAX;

impl Default for Targets {
    fn default() -> Targets {
        Targets::Addrs(Vec::new())
    }
}

/// The value under `key` in pairs sorted by key.
pub(super) fn keyed(pairs: &[(u64, u64)], key: u64) -> Option<u64> {
    let i = pairs.partition_point(|&(j, _)| j < key);
    pairs.get(i).filter(|&&(j, _)| j == key).map(|&(_, w)| w)
}

/// Addresses in 4 bytes each where they can be: 8-byte words from the heap start while every
/// address is 8-byte aligned and inside a heap range of at most 32 GiB, full addresses once one is
/// not.
#[derive(Clone, Debug)]
pub enum Addrs {
    /// Words from `base`, each below `limit`.
    Words {
        /// The heap start.
        base: u64,
        /// One past the last word the range allows.
        limit: u64,
        /// The words.
        words: Column<u32>,
    },
    /// Full addresses.
    Full(Column<u64>),
}

impl Default for Addrs {
    fn default() -> Addrs {
        Addrs::Full(Column::default())
    }
}

impl Addrs {
    /// Addresses of a heap in `start..end` (words when that range allows; full otherwise).
    pub fn new(start: u64, end: u64) -> Addrs {
        if end > start && (end - start) >> 3 < u64::from(u32::MAX) {
            Addrs::Words {
                base: start,
                limit: (end - start).div_ceil(8),
                words: Column::default(),
            }
        } else {
            Addrs::Full(Column::default())
        }
    }

    /// [`Addrs::new`] with room for `n` addresses.
    pub fn with_capacity(start: u64, end: u64, n: usize) -> Addrs {
        let mut a = Addrs::new(start, end);
        match &mut a {
            Addrs::Words { words, .. } => words.vec_mut().reserve_exact(n),
            Addrs::Full(v) => v.vec_mut().reserve_exact(n),
        }
        a
    }

    /// Number of addresses.
    pub fn len(&self) -> usize {
        match self {
            Addrs::Words { words, .. } => words.len(),
            Addrs::Full(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Address `i`.
    pub fn get(&self, i: usize) -> u64 {
        match self {
            Addrs::Words { base, words, .. } => base + (u64::from(words[i]) << 3),
            Addrs::Full(v) => v[i],
        }
    }

    /// All of them, in order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Appends an address (switching to full addresses for one that is no word of the range).
    pub fn push(&mut self, a: u64) {
        if let Addrs::Words { base, limit, words } = self {
            if a >= *base && a.is_multiple_of(8) && (a - *base) >> 3 < *limit {
                words.push(((a - *base) >> 3) as u32);
                return;
            }
            let full: Vec<u64> = words.iter().map(|&w| *base + (u64::from(w) << 3)).collect();
            *self = Addrs::Full(Column::Mem(full));
        }
        if let Addrs::Full(v) = self {
            v.push(a);
        }
    }

    /// The first index in `lo..hi` whose address is above `a` (`hi` when none is), the
    /// addresses ascending.
    pub fn first_above(&self, lo: usize, hi: usize, a: u64) -> usize {
        match self {
            Addrs::Words { base, words, .. } => {
                if a < *base {
                    return lo;
                }
                let w = (a - base) >> 3;
                if w >= u64::from(u32::MAX) {
                    return hi;
                }
                lo + words[lo..hi].partition_point(|&x| u64::from(x) <= w)
            }
            Addrs::Full(v) => lo + v[lo..hi].partition_point(|&x| x <= a),
        }
    }

    /// Bytes held.
    pub fn memory(&self) -> usize {
        match self {
            Addrs::Words { words, .. } => words.memory(),
            Addrs::Full(v) => v.memory(),
        }
    }

    pub(super) fn shrink_to_fit(&mut self) {
        match self {
            Addrs::Words { words, .. } => words.shrink_to_fit(),
            Addrs::Full(v) => v.shrink_to_fit(),
        }
    }

    /// Moves the addresses to a mapped temporary file in `dir` ([`Column::spill`]).
    pub fn spill(&mut self, dir: &std::path::Path) -> std::io::Result<()> {
        match self {
            Addrs::Words { words, .. } => words.spill(dir),
            Addrs::Full(v) => v.spill(dir),
        }
    }
}

/// Sizes in 4 bytes each; those of 4 GiB or more aside.
#[derive(Clone, Debug, Default)]
pub struct Sizes {
    pub(super) small: Column<u32>,
    /// Objects of 4 GiB or more (`small` holds `u32::MAX`): (index, size), by index.
    pub(super) big: Vec<(u32, u64)>,
}

impl Sizes {
    /// Room for `n` sizes.
    pub fn with_capacity(n: usize) -> Sizes {
        Sizes {
            small: Column::with_capacity(n),
            big: Vec::new(),
        }
    }

    /// Number of sizes.
    pub fn len(&self) -> usize {
        self.small.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.small.is_empty()
    }

    /// Asks the processor for size `i`, to be read at random soon ([`crate::spill::prefetch`]).
    pub fn prefetch(&self, i: usize) {
        crate::spill::prefetch(&self.small, i);
    }

    /// Size `i`.
    pub fn get(&self, i: usize) -> u64 {
        match self.small[i] {
            u32::MAX => {
                let k = self.big.partition_point(|&(j, _)| (j as usize) < i);
                self.big.get(k).map_or(u64::from(u32::MAX), |&(_, s)| s)
            }
            s => u64::from(s),
        }
    }

    /// Appends a size.
    pub fn push(&mut self, size: u64) {
        if size >= u64::from(u32::MAX) {
            self.big.push((self.small.len() as u32, size));
        }
        self.small.push(size.min(u64::from(u32::MAX)) as u32);
    }

    /// Bytes held.
    pub fn memory(&self) -> usize {
        self.small.memory() + self.big.capacity() * 16
    }

    pub(super) fn shrink_to_fit(&mut self) {
        self.small.shrink_to_fit();
        self.big.shrink_to_fit();
    }

    /// Moves the sizes to a mapped temporary file in `dir` ([`Column::spill`]).
    pub fn spill(&mut self, dir: &std::path::Path) -> std::io::Result<()> {
        self.small.spill(dir)
    }
}

impl Objects {
    /// Columns for a heap of this range (`heap_end <= heap_start`: unknown).
    pub(super) fn new(heap_start: u64, heap_end: u64) -> Objects {
        // Pointer targets as heap words exactly when addresses are.
        let addr = Addrs::new(heap_start, heap_end);
        let narrow = matches!(addr, Addrs::Words { .. });
        Objects {
            addr,
            targets: if narrow {
                Targets::Words(Vec::new())
            } else {
                Targets::Addrs(Vec::new())
            },
            base: if narrow { heap_start } else { 0 },
            range: heap_start..heap_end,
            ..Default::default()
        }
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.addr.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.addr.is_empty()
    }

    /// Size in bytes of object `i` (the size-class slot, ≥ the Go object's size).
    pub fn size(&self, i: usize) -> u64 {
        self.size.get(i)
    }

    /// Pointer `k`'s target: its address, rounded down to 8 bytes when kept as a heap word (the
    /// same object either way).
    /// Once resolved ([`Objects::resolve_in_place`]), the address is gone: 0.
    pub fn target(&self, k: usize) -> u64 {
        match &self.targets {
            Targets::Words(w) => self.base + (u64::from(w[k]) << 3),
            Targets::Addrs(a) => a[k],
            Targets::Nodes(_) => 0,
        }
    }

    /// Pointer `k`'s target as resolved by [`Objects::resolve_in_place`] ([`NO_OBJECT`] before).
    pub fn resolved(&self, k: usize) -> u32 {
        match &self.targets {
            Targets::Nodes(v) => v[k],
            _ => NO_OBJECT,
        }
    }

    /// Number of pointers kept.
    pub fn pointer_count(&self) -> usize {
        match &self.targets {
            Targets::Words(w) | Targets::Nodes(w) => w.len(),
            Targets::Addrs(a) => a.len(),
        }
    }

    /// Whether `p` can point at a heap object.
    pub(super) fn in_heap(&self, p: u64) -> bool {
        if self.range.is_empty() {
            p != 0
        } else {
            self.range.contains(&p)
        }
    }

    /// Asks the processor for where object `i`'s pointers end, to be read at random soon
    /// ([`crate::spill::prefetch`]).
    pub fn prefetch_row(&self, i: usize) {
        crate::spill::prefetch(&self.ptr_end, i);
    }

    /// Asks the processor for pointer `k`'s offset and resolved object, to be read soon.
    pub fn prefetch_pointer(&self, k: usize) {
        crate::spill::prefetch(&self.offsets, k);
        if let Targets::Nodes(v) = &self.targets {
            crate::spill::prefetch(v, k);
        }
    }

    /// The pointers of object `i` (indices for [`Objects::target`] and [`Objects::offset`]).
    pub fn pointers_of(&self, i: usize) -> std::ops::Range<usize> {
        let start = if i == 0 {
            0
        } else {
            self.ptr_end[i - 1] as usize
        };
        start..self.ptr_end[i] as usize
    }

    /// Pointer `k`'s byte offset in its object, when offsets were kept (else `None`).
    pub fn offset(&self, k: usize) -> Option<u32> {
        self.offsets.get(k).copied()
    }

    /// The word before pointer `k` in its object, when it lies in the binary's type data (an
    /// interface's type or itab word; offsets kept only).
    pub fn type_word(&self, k: usize) -> Option<u64> {
        keyed(&self.type_words, k as u64)
    }

    /// Object `i`'s first word, when it lies in the binary's text or is a malloc header in its
    /// type data (offsets kept only).
    pub fn first_word(&self, i: usize) -> Option<u64> {
        keyed(&self.first_words, i as u64)
    }

    /// Every object's first word kept ([`Objects::first_word`]), by object index.
    pub fn first_words(&self) -> &[(u64, u64)] {
        &self.first_words
    }

    /// Records that the word before the next pointer is `w`, in the binary's data.
    pub(super) fn push_type_word(&mut self, w: u64) {
        self.type_words.push((self.pointer_count() as u64, w));
    }

    /// Whether pointer offsets were kept.
    pub fn has_offsets(&self) -> bool {
        self.keep_offsets
    }

    /// Keeps each pointer's offset from now on (set before any object is added), and the words
    /// `keep` asks for.
    pub fn keep_offsets(&mut self, keep: super::Keep) {
        self.keep_offsets = true;
        self.keep = keep;
    }

    /// Drops the pointer offsets (once the objects are typed).
    pub fn drop_offsets(&mut self) {
        self.offsets = Vec::new();
        self.type_words = Vec::new();
        self.first_words = Vec::new();
        self.keep_offsets = false;
    }

    pub(super) fn push_target(&mut self, p: u64) {
        match &mut self.targets {
            Targets::Words(w) => w.push(((p - self.base) >> 3) as u32),
            Targets::Addrs(a) => a.push(p),
            // Resolved: no more pointers come.
            Targets::Nodes(_) => {}
        }
    }

    /// Bytes these columns hold.
    pub fn memory(&self) -> usize {
        let t = match &self.targets {
            Targets::Words(w) | Targets::Nodes(w) => w.capacity() * 4,
            Targets::Addrs(a) => a.capacity() * 8,
        };
        self.addr.memory()
            + self.size.memory()
            + (self.ptr_end.capacity() + self.offsets.capacity()) * 4
            + (self.type_words.capacity() + self.first_words.capacity()) * 16
            + t
    }

    /// Appends an object holding these pointer values (those that cannot reach the heap are
    /// dropped, as when read). For dumps built in memory (tests, simulations).
    /// With offsets kept, the `k`-th value is at byte `8 k`.
    pub fn push(&mut self, addr: u64, size: u64, pointers: impl IntoIterator<Item = u64>) {
        for (k, p) in pointers.into_iter().enumerate() {
            if self.in_heap(p) {
                self.push_target(p);
                if self.keep_offsets {
                    self.offsets.push((8 * k) as u32);
                }
            }
        }
        self.addr.push(addr);
        self.size.push(size);
        self.ptr_end.push(self.pointer_count() as u32);
    }

    /// Gives back the capacity the columns grew past their length.
    pub(super) fn shrink_to_fit(&mut self) {
        self.addr.shrink_to_fit();
        self.size.shrink_to_fit();
        self.ptr_end.shrink_to_fit();
        self.offsets.shrink_to_fit();
        self.type_words.shrink_to_fit();
        self.first_words.shrink_to_fit();
        match &mut self.targets {
            Targets::Words(w) | Targets::Nodes(w) => w.shrink_to_fit(),
            Targets::Addrs(a) => a.shrink_to_fit(),
        }
    }

    /// Replaces each pointer's target by what `resolve` makes of its address (an object number,
    /// with any flags of the caller's, or [`NO_OBJECT`]), in place and on all threads: a 4-byte
    /// heap word becomes the 4-byte number. Pointers keep their order and offsets, so a pass
    /// that reads them with their offsets (typing) need not look their targets up again.
    /// Resolving twice changes nothing.
    pub fn resolve_in_place(&mut self, resolve: &(dyn Fn(u64) -> u32 + Sync)) {
        use rayon::prelude::*;
        let base = self.base;
        self.targets = match std::mem::take(&mut self.targets) {
            Targets::Words(mut w) => {
                w.par_chunks_mut(1 << 16).for_each(|c| {
                    for x in c {
                        *x = resolve(base + (u64::from(*x) << 3));
                    }
                });
                Targets::Nodes(w)
            }
            // Full addresses (a heap range past 32 GiB): into a new column.
            Targets::Addrs(a) => Targets::Nodes(a.par_iter().map(|&p| resolve(p)).collect()),
            done @ Targets::Nodes(_) => done,
        };
    }

    /// Links every pointer to the object it points into, in place, and gives up the pointer
    /// columns: `resolve` maps a target address to what [`Objects::resolve_in_place`] keeps
    /// (unless that ran already), `node` such a value to its object number (`None`: no
    /// object). Each object's row (in the dump's order) ends up sorted and without repeats, and
    /// the rows are packed: returns (each row's end, the rows). No second copy of the pointers
    /// is made. Runs on all threads, over chunks of objects; `progress` gets each chunk's object
    /// count.
    pub fn link_in_place(
        &mut self,
        resolve: &(dyn Fn(u64) -> u32 + Sync),
        node: &(dyn Fn(u32) -> Option<u32> + Sync),
        progress: &(dyn Fn(u64) + Sync),
    ) -> (Vec<u32>, Vec<u32>) {
        use rayon::prelude::*;
        self.resolve_in_place(resolve);
        let mut ends = std::mem::take(&mut self.ptr_end);
        let Targets::Nodes(mut rows) = std::mem::take(&mut self.targets) else {
            unreachable!("resolve_in_place leaves nodes")
        };
        // Chunks of objects; each owns the rows of its objects.
        const CHUNK: usize = 1 << 15;
        let n = ends.len();
        let row_start = |i: usize| if i == 0 { 0 } else { ends[i - 1] as usize };
        let mut pieces: Vec<(usize, &mut [u32])> = Vec::new();
        let mut rest: &mut [u32] = &mut rows;
        for c in (0..n).step_by(CHUNK) {
            let hi = (c + CHUNK).min(n);
            let (head, tail) = rest.split_at_mut(ends[hi - 1] as usize - row_start(c));
            pieces.push((c, head));
            rest = tail;
        }
        let lens: Vec<Vec<u32>> = pieces
            .into_par_iter()
            .map(|(c, piece)| {
                let first = row_start(c);
                let hi = (c + CHUNK).min(n);
                let mut lens = Vec::with_capacity(hi - c);
                for i in c..hi {
                    let row = &mut piece[row_start(i) - first..ends[i] as usize - first];
                    let mut w = 0;
                    for r in 0..row.len() {
                        if let Some(t) = node(row[r]) {
                            row[w] = t;
                            w += 1;
                        }
                    }
                    lens.push(sort_dedup(&mut row[..w]) as u32);
                }
                progress((hi - c) as u64);
                lens
            })
            .collect();
        // Pack the rows to the front, in order; each end is read before it is rewritten.
        let (mut write, mut old_start) = (0usize, 0usize);
        for (i, len) in lens.into_iter().flatten().enumerate() {
            let len = len as usize;
            rows.copy_within(old_start..old_start + len, write);
            old_start = ends[i] as usize;
            write += len;
            ends[i] = write as u32;
        }
        rows.truncate(write);
        rows.shrink_to_fit();
        (ends, rows)
    }

    /// Drops everything (the graph has what it needs).
    pub fn clear(&mut self) {
        self.offsets = Vec::new();
        *self = Objects::default();
    }
}

/// Sorts a row and drops repeats in place; returns the new length.
pub fn sort_dedup(row: &mut [u32]) -> usize {
    row.sort_unstable();
    let mut w = 0;
    for r in 0..row.len() {
        if w == 0 || row[r] != row[w - 1] {
            row[w] = row[r];
            w += 1;
        }
    }
    w
}
