//! The workspace's house rules as code, after rust-analyzer's `tidy` test: every source file opens
//! with a `//!` line saying what it is; no lint is silenced for taking too many arguments (a
//! function that needs them wants a struct); no test is `#[ignore]`d (a test that does not run is
//! not a test); the modules of one crate import each other in one direction only; and the modules
//! ARCHITECTURE.md lists exist, and are all it lists.
//!
//! Each rule is a function over text, so its own tests plant a violation and see it caught;
//! `tests/tidy.rs` runs them over the workspace.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A rule broken, where.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    pub file: String,
    pub line: usize,
    pub rule: &'static str,
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}: {}", self.file, self.line, self.rule, self.detail)
    }
}

// Spelled in pieces, so that this file does not break the rules it states.
const TOO_MANY_ARGUMENTS: [&str; 2] = ["clippy::too_many", "_arguments"];
const IGNORE: [&str; 2] = ["#[ig", "nore"];

/// The rules that read one file by itself: its header, silenced lints, skipped tests.
pub fn check_file(file: &str, text: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    let at = |line: usize, rule: &'static str, detail: String| Violation { file: file.to_string(), line, rule, detail };
    if !text.starts_with("//!") {
        out.push(at(1, "header", "the file does not open with a `//!` line saying what it is".into()));
    }
    let too_many = TOO_MANY_ARGUMENTS.concat();
    let ignore = IGNORE.concat();
    for (i, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        if code.contains(&too_many) {
            out.push(at(i + 1, "too-many-arguments", "a function that needs this many arguments wants a struct".into()));
        }
        if code.starts_with(&ignore) {
            out.push(at(i + 1, "ignored-test", "a test that does not run is not a test: make it run, or delete it".into()));
        }
    }
    out
}

/// A module of a crate, as its path from the crate root (`[]` is the root).
pub type ModulePath = Vec<String>;

/// The module a source file under `src/` is: `lib.rs` and `main.rs` the root, `a/mod.rs` and
/// `a.rs` module `a`, `a/b.rs` module `a::b`. `bin/` targets are not modules of the library.
pub fn module_of(relative: &Path) -> Option<ModulePath> {
    let parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let (last, dirs) = parts.split_last()?;
    if dirs.first().map(String::as_str) == Some("bin") {
        return None;
    }
    let stem = last.strip_suffix(".rs")?;
    let mut path: ModulePath = dirs.to_vec();
    match stem {
        "lib" | "main" if dirs.is_empty() => {}
        "mod" => {}
        other => path.push(other.to_string()),
    }
    Some(path)
}

/// The code of a file without comments, string literals' contents or its `#[cfg(test)]` module:
/// what the module itself uses. Lines keep their numbers.
fn code_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block_comment = false;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" && lines.peek().is_some_and(|l| l.trim_start().starts_with("mod tests")) {
            break;
        }
        let mut code = String::new();
        let mut chars = line.chars().peekable();
        let mut in_string = false;
        while let Some(c) = chars.next() {
            if in_block_comment {
                if c == '*' && chars.peek() == Some(&'/') {
                    chars.next();
                    in_block_comment = false;
                }
                continue;
            }
            if in_string {
                if c == '\\' {
                    chars.next();
                } else if c == '"' {
                    in_string = false;
                    code.push('"');
                }
                continue;
            }
            match c {
                '/' if chars.peek() == Some(&'/') => break,
                '/' if chars.peek() == Some(&'*') => {
                    chars.next();
                    in_block_comment = true;
                }
                '"' => {
                    in_string = true;
                    code.push('"');
                }
                // A char literal of a quote must not open a string: '"'.
                '\'' => {
                    code.push(c);
                    let rest: String = chars.clone().take(3).collect();
                    if rest.starts_with("\"'") || rest.starts_with("\\\"") {
                        chars.next();
                        code.push('x');
                    }
                }
                c => code.push(c),
            }
        }
        out.push(code);
    }
    out
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths a piece of code names after `crate::`, `super::` or `self::`, and the ones that
/// start with a child module's name, each made absolute and cut to the module it reaches.
fn references(code: &str, from: &ModulePath, modules: &BTreeSet<ModulePath>) -> Vec<ModulePath> {
    let mut out = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = bytes[i].is_ascii_alphabetic() || bytes[i] == '_';
        let after_boundary = i == 0 || !(is_ident_char(bytes[i - 1]) || bytes[i - 1] == ':');
        if !(starts_word && after_boundary) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_ident_char(bytes[i]) {
            i += 1;
        }
        let word: String = bytes[start..i].iter().collect();
        if !(i + 1 < bytes.len() && bytes[i] == ':' && bytes[i + 1] == ':') {
            continue;
        }
        let base: ModulePath = match word.as_str() {
            "crate" => Vec::new(),
            "self" => from.clone(),
            "super" => {
                let mut p = from.clone();
                p.pop();
                // `super::super::…`
                let mut j = i + 2;
                while code[char_offset(&bytes, j)..].starts_with("super::") {
                    p.pop();
                    j += "super::".len();
                }
                i = j - 2;
                p
            }
            child => {
                let mut p = from.clone();
                p.push(child.to_string());
                if !modules.contains(&p) {
                    continue;
                }
                out.push(p);
                continue;
            }
        };
        i += 2;
        for tail in path_tails(&bytes, &mut i) {
            let mut full = base.clone();
            full.extend(tail);
            out.push(reached(full, modules));
        }
    }
    out
}

fn char_offset(chars: &[char], index: usize) -> usize {
    chars[..index.min(chars.len())].iter().map(|c| c.len_utf8()).sum()
}

/// The paths at `i`: `a::b::c`, or each of a group `{a::b, c::{d, e}}` (its leading segments).
fn path_tails(chars: &[char], i: &mut usize) -> Vec<Vec<String>> {
    let mut segments = Vec::new();
    loop {
        if *i < chars.len() && chars[*i] == '{' {
            let mut depth = 0;
            let mut item = String::new();
            let mut items = Vec::new();
            while *i < chars.len() {
                let c = chars[*i];
                *i += 1;
                match c {
                    '{' => {
                        depth += 1;
                        if depth > 1 {
                            item.push(c);
                        }
                    }
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            items.push(std::mem::take(&mut item));
                            break;
                        }
                        item.push(c);
                    }
                    ',' if depth == 1 => items.push(std::mem::take(&mut item)),
                    c => item.push(c),
                }
            }
            return items
                .iter()
                .map(|it| {
                    let head: Vec<String> = it
                        .trim()
                        .split("::")
                        .map(|s| s.trim().chars().take_while(|c| is_ident_char(*c)).collect::<String>())
                        .take_while(|s| !s.is_empty() && s != "self")
                        .collect();
                    segments.iter().cloned().chain(head).collect()
                })
                .collect();
        }
        let start = *i;
        while *i < chars.len() && is_ident_char(chars[*i]) {
            *i += 1;
        }
        if start == *i {
            return vec![segments];
        }
        segments.push(chars[start..*i].iter().collect());
        if *i + 1 < chars.len() && chars[*i] == ':' && chars[*i + 1] == ':' {
            *i += 2;
        } else {
            return vec![segments];
        }
    }
}

/// The longest prefix of `path` that is a module.
fn reached(mut path: ModulePath, modules: &BTreeSet<ModulePath>) -> ModulePath {
    while !path.is_empty() && !modules.contains(&path) {
        path.pop();
    }
    path
}

/// One source file of a crate: where it is, the module it is, its text.
pub struct Source {
    pub file: String,
    pub module: ModulePath,
    pub text: String,
}

fn name(m: &ModulePath) -> String {
    if m.is_empty() { "crate".into() } else { m.join("::") }
}

/// Import cycles between the modules of one crate: for each group of modules that reach each
/// other, the uses that close it. Uses of the crate root (its re-exports) and of a module's own
/// ancestors do not count; siblings, and a parent's use of its children, do.
pub fn check_cycles(sources: &[Source]) -> Vec<Violation> {
    let modules: BTreeSet<ModulePath> = sources.iter().map(|s| s.module.clone()).collect();
    // module -> module it uses -> (file, line) of the first use.
    let mut edges: BTreeMap<ModulePath, BTreeMap<ModulePath, (String, usize)>> = BTreeMap::new();
    for s in sources {
        for (n, line) in code_lines(&s.text).iter().enumerate() {
            for target in references(line, &s.module, &modules) {
                // A module may use what its ancestors define: they are its context (`super::`), and
                // a parent that declares and uses its children is not in a cycle with them.
                if target.is_empty() || s.module.starts_with(&target) {
                    continue;
                }
                edges.entry(s.module.clone()).or_default().entry(target).or_insert((s.file.clone(), n + 1));
            }
        }
    }
    let mut out = Vec::new();
    for component in strongly_connected(&modules, &edges) {
        let members: BTreeSet<&ModulePath> = component.iter().collect();
        let names: Vec<String> = component.iter().map(name).collect();
        for from in &component {
            for (to, (file, line)) in edges.get(from).into_iter().flatten() {
                if members.contains(to) {
                    out.push(Violation {
                        file: file.clone(),
                        line: *line,
                        rule: "import-cycle",
                        detail: format!("{} uses {}, closing the cycle {{{}}}", name(from), name(to), names.join(", ")),
                    });
                }
            }
        }
    }
    out
}

/// Tarjan's strongly connected components with more than one module.
fn strongly_connected(modules: &BTreeSet<ModulePath>, edges: &BTreeMap<ModulePath, BTreeMap<ModulePath, (String, usize)>>) -> Vec<Vec<ModulePath>> {
    struct State<'a> {
        edges: &'a BTreeMap<ModulePath, BTreeMap<ModulePath, (String, usize)>>,
        index: BTreeMap<&'a ModulePath, usize>,
        low: BTreeMap<&'a ModulePath, usize>,
        stack: Vec<&'a ModulePath>,
        on_stack: BTreeSet<&'a ModulePath>,
        out: Vec<Vec<ModulePath>>,
    }
    fn visit<'a>(v: &'a ModulePath, st: &mut State<'a>) {
        let n = st.index.len();
        st.index.insert(v, n);
        st.low.insert(v, n);
        st.stack.push(v);
        st.on_stack.insert(v);
        for w in st.edges.get(v).map(|m| m.keys().collect::<Vec<_>>()).unwrap_or_default() {
            if !st.index.contains_key(w) {
                visit(w, st);
                let lw = st.low[w];
                let lv = st.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if st.on_stack.contains(w) {
                let iw = st.index[w];
                let lv = st.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if st.low[v] == st.index[v] {
            let mut component = Vec::new();
            while let Some(w) = st.stack.pop() {
                st.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                st.out.push(component);
            }
        }
    }
    let mut st = State { edges, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), on_stack: BTreeSet::new(), out: Vec::new() };
    for m in modules.iter().chain(edges.keys()) {
        if !st.index.contains_key(m) {
            visit(m, &mut st);
        }
    }
    st.out
}

/// ARCHITECTURE.md's module lists: under a heading `### <crate>/`, each list item opening with a
/// module in backquotes (`` `engine` ``, `` `functions/` ``, `` `functions::json` ``) names a
/// module of that crate. Each must exist, and each module of the crate must be listed.
pub fn check_architecture(doc: &str, crates: &BTreeMap<String, BTreeSet<ModulePath>>) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut listed: BTreeMap<&str, BTreeSet<ModulePath>> = BTreeMap::new();
    let mut current: Option<&str> = None;
    let at = |line: usize, detail: String| Violation { file: "ARCHITECTURE.md".into(), line, rule: "architecture", detail };
    for (n, line) in doc.lines().enumerate() {
        if let Some(heading) = line.strip_prefix("### ") {
            let krate = heading.trim().trim_matches('`').strip_suffix('/');
            current = krate.and_then(|k| crates.get_key_value(k).map(|(k, _)| k.as_str()));
            if krate.is_some() && current.is_none() {
                out.push(at(n + 1, format!("no crate {}", heading.trim())));
            }
            continue;
        }
        if line.starts_with("## ") {
            current = None;
            continue;
        }
        let Some(krate) = current else { continue };
        let Some(item) = line.strip_prefix("- `") else { continue };
        let Some(named) = item.split('`').next() else { continue };
        let module: ModulePath = named.trim_end_matches('/').split(['/', ':']).filter(|s| !s.is_empty()).map(str::to_string).collect();
        if crates[krate].contains(&module) {
            listed.entry(krate).or_default().insert(module);
        } else {
            out.push(at(n + 1, format!("{krate}/ has no module `{named}`")));
        }
    }
    for (krate, names) in &listed {
        for m in &crates[*krate] {
            if !m.is_empty() && !names.contains(m) {
                out.push(at(0, format!("module `{}` of {krate}/ is not in its list", name(m))));
            }
        }
    }
    out
}

/// The library and binary modules of a crate: every `.rs` file under its `src/`.
pub fn crate_sources(root: &Path, krate: &str) -> Vec<Source> {
    let src = root.join(krate).join("src");
    let mut out = Vec::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).expect("under src");
        if let Some(module) = module_of(relative) {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            out.push(Source { file: display(root, &file), module, text });
        }
    }
    out
}

/// Every `.rs` file under `dir`, in order, skipping build output and hidden directories.
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" {
                out.extend(rust_files(&path));
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
    out
}

pub fn display(root: &Path, file: &Path) -> String {
    file.strip_prefix(root).unwrap_or(file).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(module: &str, text: &str) -> Source {
        let module: ModulePath = module.split("::").filter(|s| !s.is_empty()).map(str::to_string).collect();
        Source { file: format!("{}.rs", name(&module)), module, text: text.to_string() }
    }

    #[test]
    fn a_file_without_a_header_is_caught() {
        assert!(check_file("a.rs", "//! What it is.\nfn f() {}\n").is_empty());
        let v = check_file("a.rs", "// not a doc line\nfn f() {}\n");
        assert_eq!(v.iter().map(|v| v.rule).collect::<Vec<_>>(), ["header"]);
    }

    #[test]
    fn silenced_argument_counts_and_ignored_tests_are_caught() {
        let planted = format!("//! x\n#[allow({})]\nfn f() {{}}\n{}]\n#[test]\nfn t() {{}}\n", TOO_MANY_ARGUMENTS.concat(), IGNORE.concat());
        let rules: Vec<&str> = check_file("a.rs", &planted).iter().map(|v| v.rule).collect();
        assert_eq!(rules, ["too-many-arguments", "ignored-test"]);
        // Said in a comment, it is not code.
        assert!(check_file("a.rs", &format!("//! x\n// {}]\n", IGNORE.concat())).is_empty());
    }

    #[test]
    fn modules_of_files() {
        let m = |p: &str| module_of(Path::new(p));
        assert_eq!(m("lib.rs"), Some(vec![]));
        assert_eq!(m("engine.rs"), Some(vec!["engine".to_string()]));
        assert_eq!(m("functions/mod.rs"), Some(vec!["functions".to_string()]));
        assert_eq!(m("functions/json.rs"), Some(vec!["functions".to_string(), "json".to_string()]));
        assert_eq!(m("bin/x.rs"), None);
    }

    #[test]
    fn a_cycle_through_any_kind_of_path_is_caught() {
        let root = source("", "mod a; mod b; mod c; mod f;");
        // a -> b -> c -> a, through a grouped `use`, a `super::` path and a plain `crate::` path.
        let a = source("a", "use crate::{error::E, b::{X, Y}};\n");
        let b = source("b", "fn f() { super::c::g() }\n");
        let c = source("c", "// crate::b in a comment is no use\nconst S: &str = \"crate::f\";\nfn g() { crate::a::h() }\n");
        let error = source("error", "");
        let f = source("f", "");
        let v = check_cycles(&[root, a, b, c, error, f]);
        assert_eq!(v.len(), 3, "{v:?}");
        assert!(v.iter().all(|v| v.rule == "import-cycle" && v.detail.ends_with("{a, b, c}")), "{v:?}");
        assert_eq!(v.iter().find(|v| v.file == "c.rs").map(|v| v.line), Some(3));
    }

    #[test]
    fn children_may_use_their_parent_but_not_close_a_cycle_through_it() {
        let parent = source("functions", "mod json;\npub fn register() { json::register() }\npub fn helper() {}\n");
        let child = source("functions::json", "use super::helper;\n");
        assert!(check_cycles(&[parent, child]).is_empty());
        // types -> functions::json -> (its parent's helper) -> ... -> types: a cycle through a child.
        let parent = source("functions", "mod json;\npub fn register() { json::register() }\n");
        let child = source("functions::json", "use crate::types::parse;\n");
        let types = source("types", "fn f() { crate::functions::json::field() }\n");
        assert_eq!(check_cycles(&[parent, child, types]).len(), 2);
        let parent = source("functions", "mod json;\nmod kernel;\npub fn register() { json::register() }\n");
        let kernel = source("functions::kernel", "pub fn helper() {}\n");
        let child = source("functions::json", "use super::kernel::helper;\n#[cfg(test)]\nmod tests {\n    use crate::functions::register;\n}\n");
        assert!(check_cycles(&[parent, kernel, child]).is_empty());
    }

    #[test]
    fn architecture_lists_must_name_modules_and_all_of_them() {
        let modules: BTreeSet<ModulePath> =
            [vec![], vec!["engine".to_string()], vec!["functions".to_string()], vec!["functions".to_string(), "json".to_string()]]
                .into_iter()
                .collect();
        let crates: BTreeMap<String, BTreeSet<ModulePath>> = [("query".to_string(), modules)].into_iter().collect();
        let good = "## Crates\n### query/\n- `engine`: runs queries\n- `functions/`: Trino's functions\n- `functions::json`: JSON\n## Next\n- `gone`: not a list of query/\n";
        assert!(check_architecture(good, &crates).is_empty());
        let planted = good.replace("- `functions::json`: JSON\n", "- `functions::jsn`: JSON\n");
        let details: Vec<String> = check_architecture(&planted, &crates).into_iter().map(|v| v.detail).collect();
        assert_eq!(details, ["query/ has no module `functions::jsn`", "module `functions::json` of query/ is not in its list"]);
    }
}
