//! Our values kept by three libraries nobody here wrote (testdata/go/thirdparty, Go 1.27.3,
//! Debian's hashicorp/golang-lru, google/btree and patrickmn/go-cache): the types come through
//! the libraries' own structs, slices, maps and interfaces, with the program's own counts.

use crate::common::{assert_in_order, run};
use crate::heapdump::objects_by_name;

const DUMP: &str = "testdata/go/thirdparty/thirdparty-go1.27.3.dump.gz";
const DEBUG: &str = "testdata/go/thirdparty/thirdparty-go1.27.3.debug";

#[test]
fn values_kept_by_third_party_caches_are_typed_with_the_programs_counts() {
    let (code, json, err) = run(&[
        "retained", DUMP, "--binary", DEBUG, "--by", "type", "--top", "0", "-f", "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let by_name = objects_by_name(&v);
    let objects = |name: &str| by_name.get(name).copied().unwrap_or(0);
    for (name, n) in [
        // The LRU's 1,000 after 5,000 adds, through its list's `Value interface{}`.
        ("main.payload", 1000),
        ("github.com/hashicorp/golang-lru/simplelru.entry", 1000),
        ("container/list.Element", 1000),
        // The B-tree's, through its nodes' `[]btree.Item`.
        ("main.record", 3000),
        ("github.com/google/btree.node", 247),
        // go-cache's, through a swiss map's groups of `cache.Item` and their `Object`.
        ("main.blob", 2000),
        ("map<string,github.com/patrickmn/go-cache.Item>", 1),
    ] {
        assert_eq!(objects(name), n, "{name}");
    }
    let (_, text, _) = run(&[
        "retained", DUMP, "--binary", DEBUG, "--by", "type", "--top", "20",
    ]);
    let trace = [
        "  main.payload\n     root: main.recent (bss)\n",
        "     → .lru github.com/hashicorp/golang-lru/simplelru.LRU 0x",
        "     → .evictList container/list.List 0x",
        "     → .Value github.com/hashicorp/golang-lru/simplelru.entry 0x",
        "     → .value main.payload 0x",
    ];
    assert_in_order(&text, &trace);
}
