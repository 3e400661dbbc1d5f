//! One snapshot: value types, samples (stack + values + labels) and metadata.

use std::collections::BTreeMap;

use serde::Serialize;

use super::intern::{Interner, Remap, StackId, StrId};

/// The input format a snapshot was read from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// pprof `profile.proto`, gzipped or raw.
    Pprof,
    /// The legacy `heap profile:` text family (Go `heap/N`, heapz_v2, growth, gperftools).
    PprofLegacyHeap,
    /// An interpreted heaptrack recording.
    Heaptrack,
    /// A jemalloc `heap_v2` profile.
    Jemalloc,
    /// A Go goroutine text dump (debug=1 or debug=2, tracebacks).
    GoroutineText,
    /// A Go heap dump (`runtime/debug.WriteHeapDump`), as live objects per allocation site.
    GoHeapDump,
    /// leakdiff's process sample (`/proc/PID` metrics written by `leakdiff collect --pid`).
    ProcessSample,
}

impl Format {
    /// Short user-facing name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Pprof => "pprof",
            Format::PprofLegacyHeap => "legacy heap profile",
            Format::Heaptrack => "heaptrack",
            Format::Jemalloc => "jemalloc heap_v2",
            Format::GoroutineText => "goroutine dump",
            Format::GoHeapDump => "Go heap dump",
            Format::ProcessSample => "process sample",
        }
    }
}

/// What a snapshot is evidence of: the one answer to "is this a heap, goroutine or process
/// snapshot", used by every command ([`Kind::of`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Heap profiles (a value type in bytes) and Go heap dumps.
    Heap,
    /// Goroutine profiles and dumps (`goroutine/count`).
    Goroutine,
    /// Process samples (`leakdiff collect --pid`): RSS, fds, connections, threads, mappings.
    Process,
}

impl Kind {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Heap => "heap",
            Kind::Goroutine => "goroutine",
            Kind::Process => "process",
        }
    }

    /// From [`Kind::name`].
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "heap" => Some(Kind::Heap),
            "goroutine" => Some(Kind::Goroutine),
            "process" => Some(Kind::Process),
            _ => None,
        }
    }

    /// What a profile is: a process sample; goroutines (a text dump, or a value type named
    /// `goroutine`/`goroutines`, as Go's goroutine profile has); heap (a value type in bytes);
    /// else `None` (CPU profiles, contention profiles…).
    pub fn of(profile: &Profile) -> Option<Kind> {
        let vts = profile.value_types();
        if profile.format == Format::ProcessSample {
            Some(Kind::Process)
        } else if profile.format == Format::GoroutineText
            || vts.iter().any(|v| {
                v.kind == "goroutine" || v.kind == "goroutines" || v.kind == "goroutineleak"
            })
        {
            Some(Kind::Goroutine)
        } else if vts.iter().any(|v| v.unit == "bytes") {
            Some(Kind::Heap)
        } else {
            None
        }
    }
}

/// A value column: what is counted and in which unit (pprof's `ValueType`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
pub struct ValueType {
    /// e.g. `inuse_space`.
    #[serde(rename = "type")]
    pub kind: String,
    /// e.g. `bytes`.
    pub unit: String,
}

impl ValueType {
    /// Builds a value type.
    pub fn new(kind: &str, unit: &str) -> Self {
        ValueType {
            kind: kind.to_string(),
            unit: unit.to_string(),
        }
    }
}

impl std::fmt::Display for ValueType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind, self.unit)
    }
}

/// A label value.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum LabelValue {
    /// A string label.
    Str(StrId),
    /// A numeric label and its unit (may be empty).
    Num {
        /// The number.
        value: i64,
        /// Its unit.
        unit: StrId,
    },
}

/// A label on a sample (pprof labels; later also goroutine state, thread, …).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Label {
    /// Label key.
    pub key: StrId,
    /// Label value.
    pub value: LabelValue,
}

/// What is known about a snapshot besides its samples.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SnapshotMeta {
    /// Where it came from (a path or a name given by the caller).
    pub source: String,
    /// When it was taken, nanoseconds since the epoch (pprof `time_nanos`).
    pub time_nanos: Option<i64>,
    /// Length of the window it covers (pprof `duration_nanos`).
    pub duration_nanos: Option<i64>,
    /// What one period counts (pprof `period_type`).
    pub period_type: Option<ValueType>,
    /// Sampling period as the producer stated it (pprof `period`; 0 when unknown).
    pub period: i64,
    /// Mean bytes between heap samples when the values were unsampled (Go's MemProfileRate,
    /// jemalloc's 2^lg_prof_sample); `None` for exact data. Values are already unsampled; this is
    /// kept for noise estimates.
    pub sampling_rate_bytes: Option<u64>,
    /// Free-text comments.
    pub comments: Vec<String>,
    /// Profile-level labels (producer, build id, …).
    pub labels: BTreeMap<String, String>,
    /// The producer's preferred value type (pprof `default_sample_type`), if it named one.
    pub default_sample_type: Option<String>,
    /// Survivable problems met while reading (each one a record that was skipped or repaired).
    pub warnings: Vec<String>,
    /// Which process the snapshot is of, where the data tells: the load address of the vDSO in
    /// its memory map (ASLR places it anew in every process and never moves it), the heaptrack
    /// recording it was cut from (one process each), or the pid of a process sample. Snapshots
    /// of different processes are not one series.
    pub process: Option<String>,
    /// How many garbage collections the runtime had completed when the snapshot was written,
    /// where it says (a Go debug=1 heap profile's `# NumGC`): snapshots with the same count hold
    /// the heap of the same collection.
    pub gc_count: Option<u64>,
}

/// A problem `finish()` found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// Samples exist but no value types were declared.
    #[error("the profile has samples but no sample types")]
    NoValueTypes,
    /// A sample carries the wrong number of values.
    #[error("sample {sample} has {got} values, expected {expected}")]
    ValueCount {
        /// Index of the sample.
        sample: usize,
        /// Values it has.
        got: usize,
        /// Values expected.
        expected: usize,
    },
    /// A stack id is not in the interner.
    #[error("sample {sample} refers to a stack that does not exist")]
    DanglingStack {
        /// Index of the sample.
        sample: usize,
    },
}

/// Accumulates samples, then [`finish`](Self::finish)es into an immutable [`Profile`].
#[derive(Debug)]
pub struct ProfileBuilder {
    format: Format,
    meta: SnapshotMeta,
    value_types: Vec<ValueType>,
    stacks: Vec<StackId>,
    values: Vec<i64>,
    label_starts: Vec<u32>,
    labels: Vec<Label>,
    bad_value_count: Option<(usize, usize)>,
}

impl ProfileBuilder {
    /// A builder for a snapshot of `format` with the given value columns.
    pub fn new(format: Format, value_types: Vec<ValueType>) -> Self {
        ProfileBuilder {
            format,
            meta: SnapshotMeta::default(),
            value_types,
            stacks: Vec::new(),
            values: Vec::new(),
            label_starts: vec![0],
            labels: Vec::new(),
            bad_value_count: None,
        }
    }

    /// Metadata, to fill in.
    pub fn meta_mut(&mut self) -> &mut SnapshotMeta {
        &mut self.meta
    }

    /// Reserves room for `n` more samples.
    pub fn reserve(&mut self, n: usize) {
        self.stacks.reserve(n);
        self.values
            .reserve(n.saturating_mul(self.value_types.len()));
    }

    /// Adds one sample. A wrong number of values is reported by `finish()`.
    pub fn add_sample(&mut self, stack: StackId, values: &[i64], labels: &[Label]) {
        let width = self.value_types.len();
        if values.len() != width && self.bad_value_count.is_none() {
            self.bad_value_count = Some((self.stacks.len(), values.len()));
        }
        self.stacks.push(stack);
        self.values
            .extend((0..width).map(|i| values.get(i).copied().unwrap_or(0)));
        self.labels.extend_from_slice(labels);
        self.label_starts.push(self.labels.len() as u32);
    }

    /// Validates and freezes the profile.
    pub fn finish(self, interner: &Interner) -> Result<Profile, ValidationError> {
        if self.value_types.is_empty() && !self.stacks.is_empty() {
            return Err(ValidationError::NoValueTypes);
        }
        if let Some((sample, got)) = self.bad_value_count {
            return Err(ValidationError::ValueCount {
                sample,
                got,
                expected: self.value_types.len(),
            });
        }
        let nodes = interner.nodes().len();
        if let Some(sample) = self.stacks.iter().position(|s| s.index() >= nodes) {
            return Err(ValidationError::DanglingStack { sample });
        }
        Ok(Profile {
            format: self.format,
            meta: self.meta,
            value_types: self.value_types,
            stacks: self.stacks,
            values: self.values,
            label_starts: self.label_starts,
            labels: self.labels,
        })
    }
}

/// One immutable snapshot. Values are unsampled; ids point into the run's [`Interner`].
#[derive(Debug, Clone)]
pub struct Profile {
    /// Input format.
    pub format: Format,
    /// Metadata.
    pub meta: SnapshotMeta,
    value_types: Vec<ValueType>,
    stacks: Vec<StackId>,
    values: Vec<i64>,
    label_starts: Vec<u32>,
    labels: Vec<Label>,
}

/// A borrowed view of one sample.
#[derive(Copy, Clone, Debug)]
pub struct SampleRef<'a> {
    /// Leaf node of its stack.
    pub stack: StackId,
    /// One value per value type.
    pub values: &'a [i64],
    /// Its labels.
    pub labels: &'a [Label],
}

impl Profile {
    /// The value columns.
    pub fn value_types(&self) -> &[ValueType] {
        &self.value_types
    }

    /// Number of samples.
    pub fn sample_count(&self) -> usize {
        self.stacks.len()
    }

    /// Stack of every sample, in order.
    pub fn stacks(&self) -> &[StackId] {
        &self.stacks
    }

    /// Column `index` of every sample, in order (empty if out of range).
    pub fn column(&self, index: usize) -> impl ExactSizeIterator<Item = i64> + '_ {
        let width = self.value_types.len().max(1);
        let n = if index < self.value_types.len() {
            self.stacks.len()
        } else {
            0
        };
        (0..n).map(move |s| self.values[s * width + index])
    }

    /// One sample.
    pub fn sample(&self, i: usize) -> SampleRef<'_> {
        let width = self.value_types.len();
        let (a, b) = (
            self.label_starts[i] as usize,
            self.label_starts[i + 1] as usize,
        );
        SampleRef {
            stack: self.stacks[i],
            values: &self.values[i * width..(i + 1) * width],
            labels: &self.labels[a..b],
        }
    }

    /// All samples.
    pub fn samples(&self) -> impl ExactSizeIterator<Item = SampleRef<'_>> + '_ {
        (0..self.stacks.len()).map(move |i| self.sample(i))
    }

    /// Sum of one column (saturating).
    pub fn total(&self, index: usize) -> i64 {
        self.column(index).fold(0i64, |a, v| a.saturating_add(v))
    }

    /// Index of a value type by its name (`inuse_space`) or position (`3`).
    pub fn value_index(&self, name_or_index: &str) -> Option<usize> {
        if let Some(i) = self
            .value_types
            .iter()
            .position(|v| v.kind == name_or_index)
        {
            return Some(i);
        }
        name_or_index
            .parse::<usize>()
            .ok()
            .filter(|&i| i < self.value_types.len())
    }

    /// The column analyses use when none is asked for: the producer's `default_sample_type` when it
    /// names one (Go's allocs profile says `alloc_space`), else `inuse_space` when present (heap
    /// profiles), else the last column (pprof's rule).
    pub fn default_value_index(&self) -> usize {
        if let Some(name) = &self.meta.default_sample_type {
            if let Some(i) = self.value_types.iter().position(|v| &v.kind == name) {
                return i;
            }
        }
        if let Some(i) = self
            .value_types
            .iter()
            .position(|v| v.kind == "inuse_space")
        {
            return i;
        }
        self.value_types.len().saturating_sub(1)
    }

    /// Points every sample at another stack of the same interner (`f(old) → new`).
    pub fn map_stacks(&mut self, f: impl Fn(StackId) -> StackId) {
        for s in &mut self.stacks {
            *s = f(*s);
        }
    }

    /// Rewrites ids after the interner they point into was absorbed into another.
    pub fn remap(&mut self, remap: &Remap) {
        for s in &mut self.stacks {
            *s = remap
                .stacks
                .get(s.index())
                .copied()
                .unwrap_or(StackId::ROOT);
        }
        let str_of = |id: StrId| {
            remap
                .strings
                .get(id.index())
                .copied()
                .unwrap_or(StrId::EMPTY)
        };
        for l in &mut self.labels {
            l.key = str_of(l.key);
            l.value = match l.value {
                LabelValue::Str(s) => LabelValue::Str(str_of(s)),
                LabelValue::Num { value, unit } => LabelValue::Num {
                    value,
                    unit: str_of(unit),
                },
            };
        }
    }
}
