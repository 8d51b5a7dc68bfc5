//! The workspace's files import each other without circles: for every crate under `crates/`, the
//! graph "file A names an item defined in file B" has no cycle, so each file can be read after the
//! files it depends on (issue 23, item 4). Crates already form a DAG (cargo enforces it); this test
//! looks inside each crate.
//!
//! The scanner is text-based and deliberately small. What it does:
//! - tokenises each `src/**/*.rs` (comments, strings and char literals skipped);
//! - maps files to module paths (`a/b.rs` and `a/b/mod.rs` are `a::b`; `lib.rs`/`main.rs` the root),
//!   and inline `mod x { … }` blocks to child modules of their file;
//! - drops `#[cfg(test)]` items (a test module importing its parent is not a circle of the code);
//! - reads every `use` tree (groups, `self`, `as`, globs) and every path in code that starts with
//!   `crate::`, `$crate::`, `super::`, `self::` or a child module's name;
//! - resolves a path to the file that *defines* the named item: it walks the module prefix, then
//!   looks for a top-level `struct/enum/fn/trait/type/const/static/union/macro_rules!` of that name,
//!   else follows the module's own `use`s (re-exports and globs) to the definition, so importing a
//!   name through `lib.rs`'s `pub use` points at the defining file, not at `lib.rs`.
//!
//! Its limits: no macro expansion (paths built inside `macro_rules!` bodies are read as written),
//! no `#[path]` attributes (the workspace has none), paths through a local alias (`use
//! crate::metric; metric::X`) stop at the aliased module, and a name that cannot be resolved is
//! attributed to the module file that should hold it (an over-report, never an under-report).
//! `#[cfg(any(test, …))]` items are read as production code.

mod common;

use common::source::strip;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Circles tolerated for now (none since the CPU engine moved into `nn/src/cpu/`).
const ALLOWED_CYCLES: &[&[&str]] = &[];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    PathSep,
    Punct(char),
}

/// The tokens of `src` that paths are made of: identifiers, `::` and single punctuation (comments,
/// literals and lifetimes are gone first: `common::source::strip`).
fn tokenize(src: &str) -> Vec<Tok> {
    let code = strip(src);
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let at = |k: usize| c.get(k).copied().unwrap_or('\0');
    let word = |k: usize| c.get(k).is_some_and(|ch| ch.is_alphanumeric() || *ch == '_');
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch.is_alphabetic() || ch == '_' || ch == '$' {
            let start = i;
            i += 1;
            while word(i) {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
        } else if ch.is_ascii_digit() {
            while word(i) || at(i) == '.' {
                i += 1;
            }
        } else if ch == ':' && at(i + 1) == ':' {
            out.push(Tok::PathSep);
            i += 2;
        } else {
            out.push(Tok::Punct(ch));
            i += 1;
        }
    }
    out
}

fn ident(t: Option<&Tok>) -> Option<&str> {
    match t {
        Some(Tok::Ident(s)) => Some(s),
        _ => None,
    }
}

/// Index just past the group that opens at `open` (`{`, `(` or `[`).
fn close_of(toks: &[Tok], open: usize) -> usize {
    let mut depth = 0i32;
    for (k, t) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::Punct('{' | '(' | '[') => depth += 1,
            Tok::Punct('}' | ')' | ']') => {
                depth -= 1;
                if depth == 0 {
                    return k + 1;
                }
            }
            _ => {}
        }
    }
    toks.len()
}

/// One `use` leaf: the full path (may end in `*`) and the name it binds.
#[derive(Debug, Clone)]
struct UseLeaf {
    path: Vec<String>,
    binds: String,
}

fn expand_use(toks: &[Tok], prefix: &[String], out: &mut Vec<UseLeaf>) {
    let mut path = prefix.to_vec();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::PathSep => i += 1,
            Tok::Punct('{') => {
                let end = close_of(toks, i);
                let inner = &toks[i + 1..end - 1];
                let mut depth = 0;
                let mut start = 0;
                for (k, t) in inner.iter().enumerate() {
                    match t {
                        Tok::Punct('{') => depth += 1,
                        Tok::Punct('}') => depth -= 1,
                        Tok::Punct(',') if depth == 0 => {
                            expand_use(&inner[start..k], &path, out);
                            start = k + 1;
                        }
                        _ => {}
                    }
                }
                expand_use(&inner[start..], &path, out);
                return;
            }
            Tok::Punct('*') => {
                path.push("*".into());
                out.push(UseLeaf { path, binds: "*".into() });
                return;
            }
            Tok::Ident(s) if s == "as" => {
                let alias = ident(toks.get(i + 1)).unwrap_or("_").to_string();
                out.push(UseLeaf { path, binds: alias });
                return;
            }
            Tok::Ident(s) if s == "self" && !path.is_empty() => {
                let binds = path.last().cloned().unwrap_or_default();
                if let Some(Tok::Ident(a)) = toks.get(i + 1) {
                    if a == "as" {
                        let alias = ident(toks.get(i + 2)).unwrap_or("_").to_string();
                        out.push(UseLeaf { path, binds: alias });
                        return;
                    }
                }
                out.push(UseLeaf { path, binds });
                return;
            }
            Tok::Ident(s) => {
                path.push(s.clone());
                i += 1;
            }
            _ => i += 1,
        }
    }
    if let Some(last) = path.last().cloned() {
        if path.len() > prefix.len() {
            out.push(UseLeaf { path, binds: last });
        }
    }
}

/// A module's contents as the scanner sees them.
#[derive(Debug, Default)]
struct Scope {
    file: PathBuf,
    uses: Vec<UseLeaf>,
    /// paths written in code (outside `use`), from their first segment
    paths: Vec<Vec<String>>,
    defs: BTreeSet<String>,
}

struct CrateIndex {
    modules: BTreeMap<Vec<String>, Scope>,
    /// files declared by `#[cfg(test)] mod x;` (module paths)
    test_modules: BTreeSet<Vec<String>>,
}

const DEF_KEYWORDS: &[&str] = &["struct", "enum", "fn", "trait", "type", "const", "static", "union"];

fn is_cfg_test(toks: &[Tok], i: usize) -> bool {
    let want = [
        Tok::Punct('#'),
        Tok::Punct('['),
        Tok::Ident("cfg".into()),
        Tok::Punct('('),
        Tok::Ident("test".into()),
        Tok::Punct(')'),
        Tok::Punct(']'),
    ];
    toks.len() >= i + want.len() && toks[i..i + want.len()] == want
}

/// End of the item that starts at `i`: past its `;` or its closing brace, whichever comes first.
fn item_end(toks: &[Tok], mut i: usize) -> usize {
    while i < toks.len() {
        match toks[i] {
            Tok::Punct(';') => return i + 1,
            Tok::Punct('{') => return close_of(toks, i),
            Tok::Punct('(' | '[') => i = close_of(toks, i),
            _ => i += 1,
        }
    }
    i
}

fn scan_scope(toks: &[Tok], module: &[String], file: &Path, index: &mut CrateIndex) {
    let mut scope = Scope { file: file.to_path_buf(), ..Default::default() };
    let mut i = 0;
    let mut depth = 0i32;
    while i < toks.len() {
        if is_cfg_test(toks, i) {
            let mut k = i + 7;
            // further attributes on the same item
            while toks.get(k) == Some(&Tok::Punct('#')) {
                k = close_of(toks, k + 1);
            }
            let mut m = k;
            while matches!(ident(toks.get(m)), Some("pub")) {
                m += 1;
                if toks.get(m) == Some(&Tok::Punct('(')) {
                    m = close_of(toks, m);
                }
            }
            if ident(toks.get(m)) == Some("mod") && toks.get(m + 2) == Some(&Tok::Punct(';')) {
                let mut child = module.to_vec();
                child.push(ident(toks.get(m + 1)).unwrap_or_default().to_string());
                index.test_modules.insert(child);
            }
            i = item_end(toks, k);
            continue;
        }
        match &toks[i] {
            Tok::Punct('{') => {
                depth += 1;
                i += 1;
            }
            Tok::Punct('}') => {
                depth -= 1;
                i += 1;
            }
            Tok::Ident(kw) if kw == "mod" && toks.get(i + 2) == Some(&Tok::Punct('{')) => {
                let name = ident(toks.get(i + 1)).unwrap_or_default().to_string();
                let end = close_of(toks, i + 2);
                let mut child = module.to_vec();
                child.push(name);
                scan_scope(&toks[i + 3..end - 1], &child, file, index);
                i = end;
            }
            Tok::Ident(kw) if kw == "use" => {
                let end = toks[i..].iter().position(|t| *t == Tok::Punct(';')).map_or(toks.len(), |p| i + p);
                expand_use(&toks[i + 1..end], &[], &mut scope.uses);
                i = end + 1;
            }
            Tok::Ident(kw) if kw == "macro_rules" && depth == 0 => {
                if let Some(name) = ident(toks.get(i + 2)) {
                    scope.defs.insert(name.to_string());
                }
                i += 3;
            }
            Tok::Ident(kw) if DEF_KEYWORDS.contains(&kw.as_str()) && depth == 0 => {
                if let Some(name) = ident(toks.get(i + 1)) {
                    if !DEF_KEYWORDS.contains(&name) && name != "mut" {
                        scope.defs.insert(name.to_string());
                    }
                }
                i += 1;
            }
            Tok::Ident(first)
                if toks.get(i + 1) == Some(&Tok::PathSep) && toks.get(i.wrapping_sub(1)) != Some(&Tok::PathSep) =>
            {
                let mut path = vec![first.clone()];
                let mut k = i + 1;
                while toks.get(k) == Some(&Tok::PathSep) {
                    match ident(toks.get(k + 1)) {
                        Some(s) => path.push(s.to_string()),
                        None => break,
                    }
                    k += 2;
                }
                scope.paths.push(path);
                i = k;
            }
            _ => i += 1,
        }
    }
    index.modules.insert(module.to_vec(), scope);
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let p = entry.path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !(parts.is_empty() && (stem == "lib" || stem == "main")) && stem != "mod" {
        parts.push(stem.to_string());
    }
    parts
}

fn index_crate(src: &Path) -> CrateIndex {
    let mut files = Vec::new();
    rs_files(src, &mut files);
    files.sort();
    let mut index = CrateIndex { modules: BTreeMap::new(), test_modules: BTreeSet::new() };
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        scan_scope(&tokenize(&text), &module_of(src, file), file, &mut index);
    }
    index
}

impl CrateIndex {
    fn is_module(&self, m: &[String]) -> bool {
        self.modules.contains_key(m)
    }

    /// The module a path starts from and how many of its segments that consumed, or `None` for a
    /// path into another crate (or through a local name the scanner does not track).
    fn base(&self, from: &[String], path: &[String]) -> Option<(Vec<String>, usize)> {
        let first = path.first()?;
        match first.as_str() {
            "crate" | "$crate" => Some((vec![], 1)),
            "self" => Some((from.to_vec(), 1)),
            "super" => {
                let mut m = from.to_vec();
                let mut n = 0;
                while path.get(n).map(String::as_str) == Some("super") {
                    m.pop()?;
                    n += 1;
                }
                Some((m, n))
            }
            _ => {
                let mut child = from.to_vec();
                child.push(first.clone());
                self.is_module(&child).then(|| (from.to_vec(), 0))
            }
        }
    }

    /// The module that defines `name` as seen from module `m` (following `use`s), bounded in depth.
    fn definer(&self, m: &[String], name: &str, depth: usize) -> Option<Vec<String>> {
        let scope = self.modules.get(m)?;
        if scope.defs.contains(name) {
            return Some(m.to_vec());
        }
        if depth > 8 {
            return None;
        }
        for leaf in &scope.uses {
            if leaf.binds == name {
                return self.resolve(m, &leaf.path, depth + 1);
            }
        }
        for leaf in scope.uses.iter().filter(|l| l.binds == "*") {
            let mut to_module = leaf.path.clone();
            to_module.pop();
            if let Some((base, used)) = self.base(m, &to_module) {
                let target = walk_modules(self, base, &to_module[used..]).0;
                if let Some(found) = self.definer(&target, name, depth + 1) {
                    return Some(found);
                }
            }
        }
        None
    }

    /// The module (file) that a path written in module `from` points at.
    fn resolve(&self, from: &[String], path: &[String], depth: usize) -> Option<Vec<String>> {
        let (base, used) = self.base(from, path)?;
        let (module, rest) = walk_modules(self, base, &path[used..]);
        match rest.first().map(String::as_str) {
            None | Some("*") | Some("self") => Some(module),
            Some(name) => Some(self.definer(&module, name, depth).unwrap_or(module)),
        }
    }
}

/// Follows the path's segments while they name modules; returns the deepest module and the rest.
fn walk_modules<'p>(index: &CrateIndex, mut module: Vec<String>, path: &'p [String]) -> (Vec<String>, &'p [String]) {
    let mut k = 0;
    while k < path.len() {
        let mut child = module.clone();
        child.push(path[k].clone());
        if !index.is_module(&child) {
            break;
        }
        module = child;
        k += 1;
    }
    (module, &path[k..])
}

/// Edges between files of one crate: (from, to) → names that make the edge.
type FileGraph = BTreeMap<(PathBuf, PathBuf), BTreeSet<String>>;

fn file_graph(index: &CrateIndex) -> FileGraph {
    let mut edges = FileGraph::new();
    let is_test = |m: &[String]| index.test_modules.iter().any(|t| m.starts_with(t));
    for (module, scope) in &index.modules {
        if is_test(module) {
            continue;
        }
        let written = scope.uses.iter().map(|l| &l.path).chain(scope.paths.iter());
        for path in written {
            let Some(target) = index.resolve(module, path, 0) else { continue };
            if is_test(&target) {
                continue;
            }
            let to = &index.modules[&target].file;
            if *to != scope.file {
                edges.entry((scope.file.clone(), to.clone())).or_default().insert(path.join("::"));
            }
        }
    }
    edges
}

/// Strongly connected components with more than one file (Tarjan, iterative enough for crate sizes).
fn cycles(edges: &FileGraph) -> Vec<Vec<PathBuf>> {
    let nodes: BTreeSet<&PathBuf> = edges.keys().flat_map(|(a, b)| [a, b]).collect();
    let succ = |n: &PathBuf| -> Vec<&PathBuf> { edges.keys().filter(|(a, _)| a == n).map(|(_, b)| b).collect() };
    // reachability closure: a and b share a component iff each reaches the other
    let reach = |start: &PathBuf| -> BTreeSet<PathBuf> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![start.clone()];
        while let Some(n) = stack.pop() {
            for s in succ(&n) {
                if seen.insert(s.clone()) {
                    stack.push(s.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&PathBuf, BTreeSet<PathBuf>> = nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for n in &nodes {
        if done.contains(*n) || !reaches[n].contains(*n) {
            continue;
        }
        let comp: Vec<PathBuf> = nodes
            .iter()
            .filter(|m| reaches[n].contains(**m) && reaches[**m].contains(*n))
            .map(|m| (*m).clone())
            .collect();
        done.extend(comp.iter().cloned());
        if comp.len() > 1 {
            out.push(comp);
        }
    }
    out
}

fn workspace_crates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn short(crates: &Path, p: &Path) -> String {
    p.strip_prefix(crates).unwrap_or(p).display().to_string()
}

/// Every circle in the workspace, as a readable description, minus the allowed ones.
fn workspace_cycles() -> (Vec<String>, usize) {
    let crates = workspace_crates();
    let mut dirs: Vec<PathBuf> = fs::read_dir(&crates).unwrap().flatten().map(|e| e.path().join("src")).collect();
    dirs.sort();
    let mut found = Vec::new();
    let mut files_scanned = 0;
    for src in dirs.iter().filter(|d| d.is_dir()) {
        let index = index_crate(src);
        files_scanned += index.modules.values().map(|s| &s.file).collect::<BTreeSet<_>>().len();
        let edges = file_graph(&index);
        for comp in cycles(&edges) {
            let names: BTreeSet<String> = comp.iter().map(|p| short(&crates, p)).collect();
            let allowed =
                ALLOWED_CYCLES.iter().any(|a| a.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>() == names);
            if allowed {
                continue;
            }
            let mut text = format!("circle of {} files:", comp.len());
            for ((a, b), why) in &edges {
                if comp.contains(a) && comp.contains(b) {
                    let why: Vec<&String> = why.iter().collect();
                    text += &format!("\n    {} -> {}  ({:?})", short(&crates, a), short(&crates, b), why);
                }
            }
            found.push(text);
        }
    }
    (found, files_scanned)
}

#[test]
fn workspace_files_import_each_other_without_circles() {
    let (found, files) = workspace_cycles();
    assert!(files > 100, "the scanner read only {files} files: is the workspace layout still crates/*/src?");
    assert!(found.is_empty(), "{} import circle(s) between files:\n{}", found.len(), found.join("\n"));
}

/// The scanner itself: it must see a circle made through `super::`, a re-export and a glob, and
/// not one that only a test module closes.
#[test]
fn scanner_finds_a_circle_through_reexports_and_ignores_test_modules() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("m")).unwrap();
    fs::write(src.join("lib.rs"), "pub mod m;\npub mod leaf;\npub use m::Thing;\n").unwrap();
    fs::write(src.join("leaf.rs"), "pub struct Leaf;\n#[cfg(test)]\nmod tests { use crate::m::a::A; }\n").unwrap();
    fs::write(src.join("m/mod.rs"), "pub mod a;\nmod b;\npub use b::*;\npub struct Thing(a::A);\n").unwrap();
    fs::write(src.join("m/a.rs"), "use crate::leaf::Leaf;\npub struct A(crate::Thing, Leaf);\n").unwrap();
    fs::write(src.join("m/b.rs"), "pub struct B(String); // crate::m::a::A in a comment\n").unwrap();
    let edges = file_graph(&index_crate(&src));
    let comps = cycles(&edges);
    assert_eq!(comps, vec![vec![src.join("m/a.rs"), src.join("m/mod.rs")]], "edges: {edges:#?}");
    assert!(edges.contains_key(&(src.join("m/a.rs"), src.join("leaf.rs"))));
    assert!(!edges.contains_key(&(src.join("leaf.rs"), src.join("m/a.rs"))), "a test module's import counted");
    assert!(!edges.contains_key(&(src.join("m/b.rs"), src.join("m/a.rs"))), "a comment's path counted");
}
