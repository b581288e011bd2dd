//! Runs the house rules (see the `tidy` crate) over the whole workspace; a violation fails with
//! the file and line of each.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use tidy::{ModulePath, Violation, check_architecture, check_cycles, check_file, crate_sources, display, rust_files};

/// The crates whose modules are checked for cycles and against ARCHITECTURE.md.
const CRATES: [&str; 6] = ["storage", "catalog", "query", "server", "bench/loadgen", "tidy"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

fn fail_on(violations: Vec<Violation>) {
    if !violations.is_empty() {
        let list: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
        panic!("{} violation(s) of the house rules:\n{}", list.len(), list.join("\n"));
    }
}

#[test]
fn every_file_has_a_header_and_nothing_is_silenced_or_skipped() {
    let root = root();
    let mut violations = Vec::new();
    for dir in CRATES.iter().map(|c| root.join(c)).chain([root.join("storage/fuzz")]) {
        for file in rust_files(&dir) {
            let text = std::fs::read_to_string(&file).expect("readable");
            violations.extend(check_file(&display(&root, &file), &text));
        }
    }
    violations.sort();
    violations.dedup();
    fail_on(violations);
}

#[test]
fn modules_of_a_crate_import_each_other_one_way() {
    let root = root();
    let violations = CRATES.iter().flat_map(|c| check_cycles(&crate_sources(&root, c))).collect();
    fail_on(violations);
}

#[test]
fn architecture_lists_the_modules_there_are() {
    let root = root();
    let crates: BTreeMap<String, BTreeSet<ModulePath>> =
        CRATES.iter().map(|c| (c.to_string(), crate_sources(&root, c).into_iter().map(|s| s.module).collect())).collect();
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    fail_on(check_architecture(&doc, &crates));
}
