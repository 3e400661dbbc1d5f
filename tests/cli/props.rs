//! Properties: diff(a, a) is empty, diff(a, b) = −diff(b, a), encode → decode round-trips.

use std::collections::BTreeMap;

use leakdiff::diff::{diff, DiffOptions, Granularity, Status};
use leakdiff::formats::{parse_bytes, ReadOptions};
use leakdiff::model::{Format, Interner, Profile, ProfileBuilder, ValueType};
use proptest::prelude::*;

type Stacks = Vec<(Vec<u8>, i64)>;

fn profile(i: &mut Interner, stacks: &Stacks) -> Profile {
    let mut b = ProfileBuilder::new(Format::Pprof, vec![ValueType::new("inuse_space", "bytes")]);
    for (frames, v) in stacks {
        let ids: Vec<_> = frames
            .iter()
            .map(|f| i.symbol_frame(&format!("pkg.f{f}"), "x.go", u32::from(*f)))
            .collect();
        let s = i.stack_from_root(ids);
        b.add_sample(s, &[*v], &[]);
    }
    b.finish(i).unwrap()
}

fn stacks() -> impl Strategy<Value = Stacks> {
    prop::collection::vec(
        (
            prop::collection::vec(0u8..12, 0..6),
            -1_000_000i64..1_000_000,
        ),
        0..40,
    )
}

fn granularity() -> impl Strategy<Value = Granularity> {
    prop_oneof![
        Just(Granularity::Function),
        Just(Granularity::Stack),
        Just(Granularity::Site),
        Just(Granularity::File),
        Just(Granularity::Line)
    ]
}

proptest! {
    #[test]
    fn diff_of_a_profile_with_itself_is_empty(a in stacks(), by in granularity()) {
        let mut i = Interner::new();
        let p = profile(&mut i, &a);
        let r = diff(&p, &p, &i, &DiffOptions { by, ..Default::default() }).unwrap();
        prop_assert!(r.rows.is_empty());
        prop_assert_eq!(r.totals.delta, 0);
    }

    #[test]
    fn swapping_sides_negates_every_delta(a in stacks(), b in stacks(), by in granularity()) {
        let mut i = Interner::new();
        let (pa, pb) = (profile(&mut i, &a), profile(&mut i, &b));
        let opts = DiffOptions { by, ..Default::default() };
        let ab = diff(&pa, &pb, &i, &opts).unwrap();
        let ba = diff(&pb, &pa, &i, &opts).unwrap();
        prop_assert_eq!(ab.totals.delta, -ba.totals.delta);
        let key = |r: &leakdiff::diff::DiffRow| (r.key.clone(), format!("{:?}", r.frames));
        let m: BTreeMap<_, _> = ba.rows.iter().map(|r| (key(r), r)).collect();
        prop_assert_eq!(ab.rows.len(), ba.rows.len());
        for r in &ab.rows {
            let o = m[&key(r)];
            prop_assert_eq!(r.delta, -o.delta);
            prop_assert_eq!(r.base, o.later);
            prop_assert_eq!(r.cum.as_ref().map(|c| c.delta), o.cum.as_ref().map(|c| -c.delta));
            let mirrored = match r.status {
                Status::New => Status::Gone,
                Status::Gone => Status::New,
                Status::Grew => Status::Shrank,
                Status::Shrank => Status::Grew,
                Status::Same => Status::Same,
            };
            prop_assert_eq!(mirrored, o.status);
        }
    }

    #[test]
    fn encode_then_decode_gives_the_same_stacks_and_values(a in stacks()) {
        let mut i = Interner::new();
        let p = profile(&mut i, &a);
        let bytes = leakdiff::formats::pprof::encode::encode(&p, &i);
        let mut j = Interner::new();
        let q = parse_bytes(bytes, "roundtrip", &mut j, &ReadOptions::default()).unwrap();
        let names = |i: &Interner, p: &Profile| -> Vec<(Vec<String>, Vec<i64>)> {
            p.samples().map(|s| (i.stack_frames(s.stack).iter().map(|&f| i.frame_name(f)).collect(), s.values.to_vec())).collect()
        };
        prop_assert_eq!(names(&i, &p), names(&j, &q));
    }
}

#[test]
fn real_profile_round_trips_through_the_encoder() {
    let (i, p) = crate::common::load("go/leak-later.pb.gz");
    let bytes = leakdiff::formats::pprof::encode::encode(&p, &i);
    let mut j = Interner::new();
    let q = parse_bytes(bytes, "rt", &mut j, &ReadOptions::default()).unwrap();
    let r = diff(&p, &p, &i, &DiffOptions::default()).unwrap();
    assert!(r.rows.is_empty());
    assert_eq!(p.sample_count(), q.sample_count());
    for idx in 0..4 {
        assert_eq!(p.total(idx), q.total(idx));
    }
    assert_eq!(p.meta.time_nanos, q.meta.time_nanos);
}
