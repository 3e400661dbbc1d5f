//! A heap dump as a profile: its sampled objects by allocation stack, for diffs and series.

use super::*;

/// The live (reachable) objects of a dump as a profile: one sample per allocation site (its
/// stack), with `inuse_objects`, `inuse_space` and `retained_space` (each object counted once per
/// site, see [`retained_by_site`]; sums over several sites can count an object twice, so the
/// total of `retained_space` is not a heap size). Unsampled objects form one `(not sampled)`
/// site. Lets every diff, trend and report read heap dumps like heap profiles.
pub fn to_profile(
    g: &ObjectGraph,
    source: &str,
    version: &str,
    interner: &mut crate::model::Interner,
) -> crate::model::Profile {
    use crate::model::{Format, ProfileBuilder, ValueType};
    let n_sites = g.sites.len();
    let mut objects = vec![0i64; n_sites + 1];
    let mut bytes = vec![0i64; n_sites + 1];
    for v in 0..g.len() {
        if !g.is_reachable(v as Node) {
            continue;
        }
        let s = match g.site_of.get(v as Node) {
            NONE => n_sites,
            s => s as usize,
        };
        objects[s] += 1;
        bytes[s] += g.size(v as Node) as i64;
    }
    let mut retained = vec![0i64; n_sites + 1];
    for (s, b, _) in retained_by_site(g) {
        retained[s as usize] = b as i64;
    }
    let mut b = ProfileBuilder::new(
        Format::GoHeapDump,
        vec![
            ValueType::new("inuse_objects", "count"),
            ValueType::new("inuse_space", "bytes"),
            ValueType::new("retained_space", "bytes"),
        ],
    );
    b.meta_mut().source = source.to_string();
    b.meta_mut().default_sample_type = Some("inuse_space".into());
    b.meta_mut()
        .labels
        .insert("go_version".into(), version.to_string());
    let unsampled = (0..g.len())
        .filter(|&v| g.is_reachable(v as Node) && g.site_of.get(v as Node) == NONE)
        .count();
    if unsampled > 0 {
        b.meta_mut().warnings.push(format!(
            "{unsampled} live objects have no allocation sample (set runtime.MemProfileRate = 1 \
             before allocating to attribute every object); they are under `(not sampled)`"
        ));
    }
    for s in 0..=n_sites {
        if objects[s] == 0 {
            continue;
        }
        let frames: Vec<crate::model::FrameId> = if s == n_sites {
            vec![interner.symbol_frame("(not sampled)", "", 0)]
        } else {
            g.sites[s]
                .iter()
                .rev()
                .map(|f| {
                    let (func, loc) = f.rsplit_once(' ').unwrap_or((f.as_str(), ""));
                    let (file, line) = loc.rsplit_once(':').unwrap_or((loc, "0"));
                    interner.symbol_frame(func, file, line.parse().unwrap_or(0))
                })
                .collect()
        };
        let stack = interner.stack_from_root(frames);
        b.add_sample(stack, &[objects[s], bytes[s], retained[s]], &[]);
    }
    b.finish(interner).unwrap_or_else(|_| {
        ProfileBuilder::new(Format::GoHeapDump, Vec::new())
            .finish(interner)
            .expect("empty profile")
    })
}
