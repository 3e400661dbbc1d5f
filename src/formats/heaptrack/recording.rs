//! A read recording's questions: its stacks and sites as profiles (whole, or slice by slice),
//! the program's name and the instruction pointers heaptrack left unnamed, by module.

use super::*;

/// The instruction pointers of one module, for naming the ones heaptrack could not name.
pub struct ModuleIps {
    /// The module's path as recorded.
    pub module: String,
    /// Ips with no function name: (ip index, run-time address).
    pub unnamed: Vec<(u32, u64)>,
    /// Ips heaptrack named: (run-time address, the containing function, outermost of the
    /// inlined frames), which place the module in memory.
    pub named: Vec<(u64, String)>,
}

/// One frame found for an ip: function, file (may be empty), line (0 when unknown).
pub type NamedFrame = (String, String, u32);

impl Recording {
    /// Whole-recording numbers.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The file name of the recorded program (the first word of its command line), or "".
    pub fn executable_name(&self) -> &str {
        let exe = self.summary.debuggee.split(' ').next().unwrap_or("");
        exe.rsplit('/').next().unwrap_or(exe)
    }

    /// Per module (the recorded main executable first, when it has a module), its ips with and
    /// without a function name; only modules with at least one unnamed ip are listed, besides
    /// the main executable.
    pub fn module_ips(&self) -> Vec<ModuleIps> {
        let exe = self.executable_name();
        let mut index: FxHashMap<u32, usize> = FxHashMap::default();
        let mut out: Vec<ModuleIps> = Vec::new();
        for (i, ip) in self.ips.iter().enumerate() {
            if ip.module == 0 {
                continue;
            }
            let slot = *index.entry(ip.module).or_insert_with(|| {
                out.push(ModuleIps {
                    module: self.str(ip.module).to_string(),
                    unnamed: Vec::new(),
                    named: Vec::new(),
                });
                out.len() - 1
            });
            match ip.frames.iter().rev().find(|f| f.function != 0) {
                Some(f) => out[slot]
                    .named
                    .push((ip.address, self.str(f.function).to_string())),
                None => out[slot].unnamed.push((i as u32 + 1, ip.address)),
            }
        }
        let is_exe = |m: &ModuleIps| !exe.is_empty() && m.module.rsplit('/').next() == Some(exe);
        if let Some(k) = out.iter().position(is_exe) {
            out[..=k].rotate_right(1);
        }
        let keep_first = out.first().is_some_and(is_exe);
        let mut n = 0;
        out.retain(|m| {
            n += 1;
            (n == 1 && keep_first) || !m.unnamed.is_empty()
        });
        out
    }

    /// Gives unnamed ips their frames (innermost first), as found in the module's symbols;
    /// returns how many ips were named.
    pub fn name_ips(&mut self, found: Vec<(u32, Vec<NamedFrame>)>) -> usize {
        let mut ids: FxHashMap<String, u32> = FxHashMap::default();
        let mut named = 0;
        for (index, frames) in found {
            let Some(slot) = (index as usize).checked_sub(1) else {
                continue;
            };
            if self
                .ips
                .get(slot)
                .is_none_or(|ip| ip.frames.iter().any(|f| f.function != 0))
            {
                continue;
            }
            let mut recs = Vec::with_capacity(frames.len());
            for (function, file, line) in frames {
                if function.is_empty() {
                    continue;
                }
                let mut id = |s: String, strings: &mut Vec<String>| -> u32 {
                    if s.is_empty() {
                        return 0;
                    }
                    *ids.entry(s).or_insert_with_key(|s| {
                        strings.push(s.clone());
                        strings.len() as u32
                    })
                };
                let function = id(function, &mut self.strings);
                let file = id(file, &mut self.strings);
                recs.push(FrameRec {
                    function,
                    file,
                    line,
                });
            }
            if !recs.is_empty() {
                self.ips[slot].frames = recs;
                named += 1;
            }
        }
        named
    }

    pub(super) fn str(&self, index: u32) -> &str {
        if index == 0 {
            return "";
        }
        self.strings
            .get(index as usize - 1)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// heaptrack's applyLeakSuppressions: a site whose trace has any matching string (module,
    /// function or file of any frame, inlined ones included) has its leaked bytes zeroed.
    pub(super) fn apply_suppressions(&mut self, patterns: &[String]) {
        if patterns.is_empty() {
            return;
        }
        let string_hit: Vec<bool> = self
            .strings
            .iter()
            .map(|s| patterns.iter().any(|p| suppress::matches(p, s)))
            .collect();
        if !string_hit.iter().any(|&h| h) {
            return;
        }
        let hit = |i: u32| i != 0 && string_hit.get(i as usize - 1).copied().unwrap_or(false);
        let ip_hit: Vec<bool> = self
            .ips
            .iter()
            .map(|ip| hit(ip.module) || ip.frames.iter().any(|f| hit(f.function) || hit(f.file)))
            .collect();
        let mut trace_hit: Vec<bool> = Vec::with_capacity(self.traces.len());
        for t in &self.traces {
            let parent = (t.parent as usize)
                .checked_sub(1)
                .and_then(|p| trace_hit.get(p))
                .copied()
                .unwrap_or(false);
            let ip = (t.ip as usize)
                .checked_sub(1)
                .and_then(|i| ip_hit.get(i))
                .copied()
                .unwrap_or(false);
            trace_hit.push(parent || ip);
        }
        self.suppressed = vec![false; self.sites.len()];
        for (i, site) in self.sites.iter_mut().enumerate() {
            let suppressed = (site.trace as usize)
                .checked_sub(1)
                .and_then(|t| trace_hit.get(t))
                .copied()
                .unwrap_or(false);
            self.suppressed[i] = suppressed;
            if suppressed {
                self.summary.suppressed_leaked_bytes += site.leaked;
                self.summary.leaked_bytes -= site.leaked;
                site.leaked = 0;
            }
        }
    }

    /// Interns every trace; index = trace id (0 = the root).
    pub(super) fn stacks(&self, interner: &mut Interner) -> Vec<StackId> {
        // Traces form a tree whose parents come first: one pass gives every trace its stack.
        let mut stack_of: Vec<StackId> = Vec::with_capacity(self.traces.len() + 1);
        stack_of.push(StackId::ROOT);
        let mut frames = Vec::new();
        for (i, t) in self.traces.iter().enumerate() {
            let parent = if (t.parent as usize) <= i {
                stack_of[t.parent as usize]
            } else {
                StackId::ROOT
            };
            let mut stack = parent;
            frames.clear();
            if let Some(ip) = (t.ip as usize).checked_sub(1).and_then(|i| self.ips.get(i)) {
                // The ip's first frame is the innermost; its inlined callers follow outwards.
                for f in &ip.frames {
                    frames.push(if f.function != 0 {
                        interner.symbol_frame(self.str(f.function), self.str(f.file), f.line)
                    } else {
                        interner.address_frame(self.str(ip.module), ip.address)
                    });
                }
                if ip.frames.is_empty() {
                    frames.push(interner.address_frame(self.str(ip.module), ip.address));
                }
            }
            for &f in frames.iter().rev() {
                stack = interner.child(stack, f);
            }
            stack_of.push(stack);
        }
        stack_of
    }

    pub(super) fn stack_of_site(stack_of: &[StackId], site: &Site) -> StackId {
        stack_of
            .get(site.trace as usize)
            .copied()
            .unwrap_or(StackId::ROOT)
    }

    pub(super) fn meta(&self, b: &mut ProfileBuilder, source: &str) {
        let s = &self.summary;
        let meta = b.meta_mut();
        meta.source = source.to_string();
        meta.labels.insert("debuggee".into(), s.debuggee.clone());
        // heaptrack records one process per file (its slices are that process's).
        let file = source.rsplit_once("#slice").map_or(source, |(f, _)| f);
        meta.process = Some(format!("the heaptrack recording {file}"));
        meta.labels
            .insert("heaptrack_file_version".into(), s.file_version.to_string());
        meta.warnings = self.warnings.clone();
    }

    /// Cuts the recording into snapshots of in-use memory (and allocations so far) per site at
    /// the times `spec` names; sites hidden by suppressions stay at zero. Needs a recording read
    /// with [`HeaptrackOptions::timeline`]. heaptrack keeps no wall-clock time: `ended_at_nanos`
    /// (say, the file's modification time) anchors the end of the recording; without it, snapshot
    /// times count from the recording's start.
    pub fn slices(
        &self,
        spec: SliceSpec,
        source: &str,
        interner: &mut Interner,
        ended_at_nanos: Option<i64>,
    ) -> Result<Vec<Profile>, ParseError> {
        let stack_of = self.stacks(interner);
        let total = self.summary.total_time_ms;
        let bounds = spec.boundaries(total);
        let n = bounds.len();
        let mut state = vec![[0i64; 4]; self.sites.len()];
        let mut checkpoints = self.timeline.iter().peekable();
        let mut out = Vec::with_capacity(n);
        for (k, &end) in bounds.iter().enumerate() {
            while let Some(cp) = checkpoints.next_if(|cp| cp.time_ms <= end) {
                for c in &cp.changes {
                    if let Some(v) = state.get_mut(c.site as usize) {
                        v[0] += c.allocations;
                        v[1] = v[1].saturating_add(c.alloc_bytes);
                        v[2] += c.inuse_count;
                        v[3] = v[3].saturating_add(c.inuse_bytes);
                    }
                }
            }
            let mut b = ProfileBuilder::new(
                Format::Heaptrack,
                vec![
                    ValueType::new("alloc_objects", "count"),
                    ValueType::new("alloc_space", "bytes"),
                    ValueType::new("inuse_objects", "count"),
                    ValueType::new("inuse_space", "bytes"),
                ],
            );
            for (i, site) in self.sites.iter().enumerate() {
                let v = state[i];
                if v == [0; 4] {
                    continue;
                }
                let v = if self.suppressed.get(i).copied().unwrap_or(false) {
                    [v[0], v[1], 0, 0]
                } else {
                    v
                };
                b.add_sample(Self::stack_of_site(&stack_of, site), &v, &[]);
            }
            self.meta(&mut b, &format!("{source}#slice{}", k + 1));
            let start = if k == 0 { 0 } else { bounds[k - 1] };
            let meta = b.meta_mut();
            let since_start = end.saturating_mul(1_000_000);
            meta.time_nanos = Some(match ended_at_nanos {
                Some(t) => t.saturating_sub(total.saturating_mul(1_000_000) - since_start),
                None => since_start,
            });
            meta.duration_nanos = Some((end - start).saturating_mul(1_000_000));
            meta.labels.insert("slice".into(), format!("{}/{n}", k + 1));
            meta.labels.insert("slice_end_ms".into(), end.to_string());
            out.push(b.finish(interner).map_err(|e| {
                ParseError::malformed(source, FORMAT, Position::Line(0), e.to_string())
            })?);
        }
        Ok(out)
    }

    /// Interns the recording: one sample per allocation site (trace), with heaptrack's costs.
    pub fn into_profile(
        self,
        source: &str,
        interner: &mut Interner,
    ) -> Result<Profile, ParseError> {
        let value_types = vec![
            ValueType::new("alloc_objects", "count"),
            ValueType::new("alloc_space", "bytes"),
            ValueType::new("temporary_objects", "count"),
            ValueType::new("peak_space", "bytes"),
            ValueType::new("inuse_objects", "count"),
            ValueType::new("inuse_space", "bytes"),
        ];
        let mut b = ProfileBuilder::new(Format::Heaptrack, value_types);
        let stack_of = self.stacks(interner);
        for site in &self.sites {
            let stack = Self::stack_of_site(&stack_of, site);
            b.add_sample(
                stack,
                &[
                    site.allocations as i64,
                    site.alloc_bytes,
                    site.temporary as i64,
                    site.peak,
                    site.leaked_count,
                    site.leaked,
                ],
                &[],
            );
        }
        self.meta(&mut b, source);
        b.meta_mut().duration_nanos = Some(self.summary.total_time_ms.saturating_mul(1_000_000));
        b.finish(interner)
            .map_err(|e| ParseError::malformed(source, FORMAT, Position::Line(0), e.to_string()))
    }
}
