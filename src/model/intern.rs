//! Interned strings, frames and stacks shared by every snapshot of one run, so that a `FrameId` or
//! `StackId` means the same thing in the base and the later profile.

use rustc_hash::FxHashMap;

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub u32);
        impl $name {
            /// The id as an index into its table.
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}

id_type!(
    /// An interned string; `StrId(0)` is always the empty string.
    StrId
);
id_type!(
    /// A frame in the [`Interner`]'s frame table.
    FrameId
);
id_type!(
    /// A node of the stack prefix tree; `StackId(0)` is the root, i.e. the empty stack.
    StackId
);

impl StrId {
    /// The empty string.
    pub const EMPTY: StrId = StrId(0);
}

impl StackId {
    /// The root of the prefix tree: a stack with no frames.
    pub const ROOT: StackId = StackId(0);
}

/// One frame, keyed by value: function + file + line when symbolized, else the address relative to
/// its module's start (so address-space randomisation between runs does not split frames).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Frame {
    /// Function name (demangled); empty when unsymbolized.
    pub function: StrId,
    /// Source file; may be empty.
    pub file: StrId,
    /// Source line; 0 when unknown.
    pub line: u32,
    /// Module (mapping file) the code lives in; empty when unknown. Only part of the identity of
    /// unsymbolized frames (symbolized frames store `StrId::EMPTY` here).
    pub module: StrId,
    /// Address relative to the module start; 0 for symbolized frames.
    pub address: u64,
}

impl Frame {
    /// True when the frame has a function name.
    pub fn is_symbolized(&self) -> bool {
        self.function != StrId::EMPTY
    }
}

/// A node of the stack prefix tree.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct StackNode {
    /// The node above this one (towards the root); the root points at itself.
    pub parent: StackId,
    /// The frame at this node (meaningless for the root).
    pub frame: FrameId,
}

/// Old → new ids after [`Interner::absorb`].
#[derive(Debug, Default)]
pub struct Remap {
    /// New id of each old string.
    pub strings: Vec<StrId>,
    /// New id of each old frame.
    pub frames: Vec<FrameId>,
    /// New id of each old stack node.
    pub stacks: Vec<StackId>,
}

/// Strings, frames and stacks of one run.
#[derive(Debug, Clone)]
pub struct Interner {
    strings: Vec<Box<str>>,
    string_ids: FxHashMap<Box<str>, StrId>,
    frames: Vec<Frame>,
    frame_ids: FxHashMap<Frame, FrameId>,
    nodes: Vec<StackNode>,
    node_ids: FxHashMap<(StackId, FrameId), StackId>,
}

impl Default for Interner {
    fn default() -> Self {
        Self::new()
    }
}

impl Interner {
    /// An interner holding only the empty string and the root stack.
    pub fn new() -> Self {
        let mut me = Interner {
            strings: Vec::new(),
            string_ids: FxHashMap::default(),
            frames: Vec::new(),
            frame_ids: FxHashMap::default(),
            nodes: vec![StackNode {
                parent: StackId::ROOT,
                frame: FrameId(0),
            }],
            node_ids: FxHashMap::default(),
        };
        me.intern("");
        me
    }

    /// Interns a string.
    pub fn intern(&mut self, s: &str) -> StrId {
        if let Some(&id) = self.string_ids.get(s) {
            return id;
        }
        let id = StrId(self.strings.len() as u32);
        let boxed: Box<str> = s.into();
        self.strings.push(boxed.clone());
        self.string_ids.insert(boxed, id);
        id
    }

    /// The string behind an id ("" for an id this interner never gave out).
    pub fn str(&self, id: StrId) -> &str {
        self.strings.get(id.index()).map(|s| &**s).unwrap_or("")
    }

    /// Looks a string up without interning it.
    pub fn find_str(&self, s: &str) -> Option<StrId> {
        self.string_ids.get(s).copied()
    }

    /// Number of interned strings.
    pub fn string_count(&self) -> usize {
        self.strings.len()
    }

    /// Interns a frame.
    pub fn frame(&mut self, frame: Frame) -> FrameId {
        if let Some(&id) = self.frame_ids.get(&frame) {
            return id;
        }
        let id = FrameId(self.frames.len() as u32);
        self.frames.push(frame);
        self.frame_ids.insert(frame, id);
        id
    }

    /// A symbolized frame from its parts.
    pub fn symbol_frame(&mut self, function: &str, file: &str, line: u32) -> FrameId {
        let frame = Frame {
            function: self.intern(function),
            file: self.intern(file),
            line,
            module: StrId::EMPTY,
            address: 0,
        };
        self.frame(frame)
    }

    /// An unsymbolized frame: module + module-relative address.
    pub fn address_frame(&mut self, module: &str, address: u64) -> FrameId {
        let frame = Frame {
            function: StrId::EMPTY,
            file: StrId::EMPTY,
            line: 0,
            module: self.intern(module),
            address,
        };
        self.frame(frame)
    }

    /// The frame behind an id.
    ///
    /// # Panics
    /// Never for ids this interner gave out; ids from another interner must be remapped first.
    pub fn frame_at(&self, id: FrameId) -> &Frame {
        &self.frames[id.index()]
    }

    /// All frames, indexable by `FrameId`.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// The child of `parent` for `frame`, created if new.
    pub fn child(&mut self, parent: StackId, frame: FrameId) -> StackId {
        if let Some(&id) = self.node_ids.get(&(parent, frame)) {
            return id;
        }
        let id = StackId(self.nodes.len() as u32);
        self.nodes.push(StackNode { parent, frame });
        self.node_ids.insert((parent, frame), id);
        id
    }

    /// Interns a stack given root → leaf.
    pub fn stack_from_root<I: IntoIterator<Item = FrameId>>(&mut self, frames: I) -> StackId {
        frames
            .into_iter()
            .fold(StackId::ROOT, |parent, f| self.child(parent, f))
    }

    /// The node behind a stack id.
    pub fn node(&self, id: StackId) -> &StackNode {
        &self.nodes[id.index()]
    }

    /// All stack nodes, indexable by `StackId`. Parents always precede their children.
    pub fn nodes(&self) -> &[StackNode] {
        &self.nodes
    }

    /// Frames of a stack, leaf first.
    pub fn stack_leaf_first(&self, id: StackId) -> impl Iterator<Item = FrameId> + '_ {
        let mut cur = id;
        std::iter::from_fn(move || {
            if cur == StackId::ROOT {
                return None;
            }
            let node = &self.nodes[cur.index()];
            cur = node.parent;
            Some(node.frame)
        })
    }

    /// Frames of a stack, root first.
    pub fn stack_frames(&self, id: StackId) -> Vec<FrameId> {
        let mut v: Vec<FrameId> = self.stack_leaf_first(id).collect();
        v.reverse();
        v
    }

    /// Display name of a frame: the function, or `module+0xaddr` when unsymbolized.
    pub fn frame_name(&self, id: FrameId) -> String {
        let f = self.frame_at(id);
        if f.is_symbolized() {
            self.str(f.function).to_string()
        } else {
            let module = self.str(f.module);
            let base = module.rsplit('/').next().unwrap_or(module);
            if base.is_empty() {
                format!("{:#x}", f.address)
            } else {
                format!("{base}+{:#x}", f.address)
            }
        }
    }

    /// `file:line` of a frame, or "" when the file is unknown.
    pub fn frame_location(&self, id: FrameId) -> String {
        let f = self.frame_at(id);
        let file = self.str(f.file);
        match (file.is_empty(), f.line) {
            (true, _) => String::new(),
            (false, 0) => file.to_string(),
            (false, line) => format!("{file}:{line}"),
        }
    }

    /// Moves everything from `other` into `self` and says where each old id went.
    pub fn absorb(&mut self, other: &Interner) -> Remap {
        let strings: Vec<StrId> = other.strings.iter().map(|s| self.intern(s)).collect();
        let frames: Vec<FrameId> = other
            .frames
            .iter()
            .map(|f| {
                self.frame(Frame {
                    function: strings[f.function.index()],
                    file: strings[f.file.index()],
                    module: strings[f.module.index()],
                    ..*f
                })
            })
            .collect();
        let mut stacks = Vec::with_capacity(other.nodes.len());
        stacks.push(StackId::ROOT);
        for node in &other.nodes[1..] {
            let parent = stacks[node.parent.index()];
            stacks.push(self.child(parent, frames[node.frame.index()]));
        }
        Remap {
            strings,
            frames,
            stacks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_frames_share_one_stack_node() {
        let mut i = Interner::new();
        let a = i.symbol_frame("main.main", "main.go", 3);
        let b = i.symbol_frame("main.leak", "main.go", 9);
        let s1 = i.stack_from_root([a, b]);
        let s2 = i.stack_from_root([a, b]);
        assert_eq!(s1, s2);
        assert_eq!(i.stack_frames(s1), vec![a, b]);
    }

    #[test]
    fn absorb_maps_equal_stacks_to_equal_ids() {
        let mut a = Interner::new();
        let fa = a.symbol_frame("f", "x.go", 1);
        let sa = a.stack_from_root([fa]);
        let mut b = Interner::new();
        b.intern("unrelated");
        let fb = b.symbol_frame("f", "x.go", 1);
        let gb = b.address_frame("/lib/libc.so.6", 0x10);
        let sb = b.stack_from_root([fb, gb]);
        let remap = a.absorb(&b);
        let moved = remap.stacks[sb.index()];
        assert_eq!(a.node(moved).parent, sa);
        assert_eq!(a.frame_name(a.node(moved).frame), "libc.so.6+0x10");
    }
}
