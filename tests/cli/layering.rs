//! The architecture, held: each module imports only the stages its `//! May import:` line names,
//! those lines agree with the table below (CONTRIBUTING.md, "Source layout"), the table has no cycle, and
//! tests reach files through `input`, never through `cli`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Who may import whom: the one-way rule of CONTRIBUTING.md's "Source layout" table.
const ALLOWED: &[(&str, &[&str])] = &[
    ("units", &[]),
    ("model", &[]),
    ("trend", &[]),
    ("fetch", &[]),
    ("spill", &[]),
    ("files", &[]),
    ("formats", &["model", "spill"]),
    ("symbolize", &["formats", "model"]),
    ("graph", &["formats", "model", "spill", "units"]),
    ("progress", &["graph", "units", "spill"]),
    ("diff", &["model", "units"]),
    ("goroutines", &["model", "trend"]),
    (
        "store",
        &["model", "formats", "goroutines", "graph", "units"],
    ),
    (
        "input",
        &[
            "model",
            "formats",
            "symbolize",
            "graph",
            "store",
            "units",
            "fetch",
        ],
    ),
    ("dataset", &["store", "units", "files"]),
    ("leaks", &["store", "trend", "goroutines", "graph", "units"]),
    (
        "check",
        &["diff", "leaks", "goroutines", "trend", "units", "formats"],
    ),
    ("live", &["model", "formats", "fetch", "units", "files"]),
    (
        "lab",
        &[
            "model",
            "formats",
            "input",
            "store",
            "goroutines",
            "graph",
            "leaks",
            "units",
        ],
    ),
    (
        "watch",
        &[
            "input", "store", "leaks", "check", "live", "report", "fetch", "trend", "units",
        ],
    ),
    (
        "app",
        &[
            "model", "formats", "input", "store", "dataset", "diff", "check", "graph", "leaks",
            "report", "live", "lab", "progress", "files", "units",
        ],
    ),
    (
        "report",
        &[
            "model",
            "diff",
            "leaks",
            "goroutines",
            "graph",
            "check",
            "lab",
            "store",
            "trend",
            "units",
        ],
    ),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The files of a module: `src/NAME.rs` or everything under `src/NAME/`.
fn module_files(name: &str) -> Vec<PathBuf> {
    let dir = src().join(name);
    let mut out = Vec::new();
    if dir.is_dir() {
        rust_files(&dir, &mut out);
    } else {
        out.push(src().join(format!("{name}.rs")));
    }
    out
}

fn module_names() -> BTreeSet<String> {
    std::fs::read_dir(src())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?.to_string();
            (p.is_dir() || (stem != "lib" && stem != "main")).then_some(stem)
        })
        .collect()
}

/// Every `crate::NAME` a module's files mention (uses and inline paths), NAME ≠ itself.
fn imports(name: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for f in module_files(name) {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let mut rest = code;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + 7..];
                let dep: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !dep.is_empty() && dep != name {
                    out.entry(dep)
                        .or_insert_with(|| format!("{}:{}", f.display(), i + 1));
                }
            }
        }
    }
    out
}

/// The module names a module's `//! May import:` sentence lists (backticked, first path part).
fn documented(name: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let root = if src().join(name).is_dir() {
        src().join(name).join("mod.rs")
    } else {
        src().join(format!("{name}.rs"))
    };
    let text = std::fs::read_to_string(&root).unwrap();
    let doc: Vec<&str> = text
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| l.trim_start_matches("//!").trim())
        .collect();
    let joined = doc.join(" ");
    let at = joined
        .find("May import:")
        .unwrap_or_else(|| panic!("{}: no `May import:` line", root.display()));
    let sentence = &joined[at + "May import:".len()..];
    // The sentence ends at the first full stop outside backticks.
    let mut end = sentence.len();
    let mut ticked = false;
    for (i, c) in sentence.char_indices() {
        match c {
            '`' => ticked = !ticked,
            '.' if !ticked => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    sentence[..end]
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|t| t.split("::").next().unwrap_or(t).to_string())
        .filter(|t| modules.contains(t) && t != name)
        .collect()
}

#[test]
fn modules_import_only_what_the_layout_allows() {
    let modules = module_names();
    let table: BTreeMap<&str, BTreeSet<String>> = ALLOWED
        .iter()
        .map(|(m, deps)| (*m, deps.iter().map(|d| d.to_string()).collect()))
        .collect();
    let mut problems = Vec::new();
    for m in &modules {
        if m == "cli" {
            continue; // glue: may import every stage; nothing imports it.
        }
        let Some(allowed) = table.get(m.as_str()) else {
            problems.push(format!("{m}: not in the layout table"));
            continue;
        };
        for (dep, at) in imports(m) {
            if dep == "cli" || !allowed.contains(&dep) {
                problems.push(format!("{at}: {m} imports {dep}"));
            }
        }
        let doc = documented(m, &modules);
        if &doc != allowed {
            problems.push(format!(
                "{m}: its `May import:` names {doc:?}, the layout says {allowed:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_layout_has_no_cycle() {
    // Kahn's algorithm over the table: every module must come out.
    let mut deps: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(m, d)| (*m, d.iter().copied().collect()))
        .collect();
    let mut order = Vec::new();
    while let Some(m) = deps.iter().find(|(_, d)| d.is_empty()).map(|(m, _)| *m) {
        deps.remove(m);
        for d in deps.values_mut() {
            d.remove(m);
        }
        order.push(m);
    }
    assert!(deps.is_empty(), "cycle among {:?}", deps.keys());
    assert_eq!(order.len(), ALLOWED.len());
}

#[test]
fn tests_load_files_through_input_not_cli() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    let needle = ["leakdiff", "::cli::"].concat();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            if let Some(at) = line.find(&needle) {
                let what = &line[at + needle.len()..];
                assert!(
                    what.starts_with("command()"),
                    "{}:{}: {line}",
                    f.display(),
                    i + 1
                );
            }
        }
    }
}

#[test]
fn command_line_definition_is_consistent() {
    leakdiff::cli::command().debug_assert();
}

#[test]
fn bare_leakdiff_prints_help() {
    let out = crate::common::leakdiff_cmd().output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("Usage: leakdiff"), "{err}");
    assert!(err.contains("Commands:"), "{err}");
}
