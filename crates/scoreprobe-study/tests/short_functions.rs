//! No function outside tests is longer than 80 lines (issue 23, item 4): a long function has to be
//! read by scrolling, while named steps say what each part does.
//!
//! The scan is line-based and small: every `crates/*/src/**/*.rs` has its comments, literals and
//! lifetimes blanked (`common::source::strip`, shared with `no_import_cycles.rs`); it skips the
//! item after each `#[cfg(test)]`; and a function runs from its `fn` line to the line where its
//! braces balance again (its doc comment and attributes are not counted).

mod common;

use common::source::strip;
use std::fs;
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 80;

/// Functions over the limit that are tolerated (none: keep it that way).
const ALLOWED: &[(&str, &str)] = &[];

/// The function's name when `line` starts one (`pub(crate) const unsafe fn name…`).
fn fn_name(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    loop {
        let before = rest;
        for prefix in ["pub(crate) ", "pub(super) ", "pub ", "const ", "unsafe ", "async ", "extern \"C\" "] {
            rest = rest.strip_prefix(prefix).unwrap_or(rest);
        }
        if rest == before {
            break;
        }
    }
    let name = rest.strip_prefix("fn ")?;
    let end = name.find(|ch: char| !(ch.is_alphanumeric() || ch == '_')).unwrap_or(name.len());
    Some(&name[..end])
}

/// The index of the line where the item starting at `start` ends: where its braces balance after
/// the first `{`, or its first `;` before any brace (a declaration without a body: `None`).
fn item_end(code: &[String], start: usize) -> Option<usize> {
    let mut depth = 0i64;
    let mut opened = false;
    for (k, line) in code.iter().enumerate().skip(start) {
        for ch in line.chars() {
            match ch {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => depth -= 1,
                ';' if !opened && depth == 0 => return None,
                _ => {}
            }
            if opened && depth == 0 {
                return Some(k);
            }
        }
    }
    None
}

/// (name, first line, length in lines) of every function of `text` outside `#[cfg(test)]` items.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let code: Vec<String> = strip(text).lines().map(String::from).collect();
    let mut found = Vec::new();
    let mut k = 0;
    while k < code.len() {
        if code[k].trim_start().starts_with("#[cfg(test)]") {
            k = item_end(&code, k + 1).map_or(k + 1, |end| end + 1);
            continue;
        }
        if let Some(name) = fn_name(&code[k]) {
            if let Some(end) = item_end(&code, k) {
                found.push((name.to_string(), k + 1, end - k + 1));
            }
        }
        k += 1;
    }
    found
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

#[test]
fn no_function_outside_tests_is_longer_than_80_lines() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    for entry in fs::read_dir(crates).unwrap().flatten() {
        rs_files(&entry.path().join("src"), &mut files);
    }
    files.sort();
    assert!(files.len() > 100, "read only {} files: is the layout still crates/*/src?", files.len());
    let mut long = Vec::new();
    for file in &files {
        let short = file.strip_prefix(crates).unwrap().display().to_string();
        for (name, line, len) in functions(&fs::read_to_string(file).unwrap()) {
            if len > MAX_LINES && !ALLOWED.contains(&(short.as_str(), name.as_str())) {
                long.push(format!("{short}:{line} fn {name}: {len} lines"));
            }
        }
    }
    assert!(long.is_empty(), "functions over {MAX_LINES} lines (split them into named steps):\n{}", long.join("\n"));
}

/// The scan itself: it measures a function from `fn` to its closing brace, is not fooled by
/// braces in strings, chars and comments, and skips `#[cfg(test)]` items.
#[test]
fn the_scan_measures_functions_and_skips_tests() {
    let body = "    let s = \"}}}\"; let c = '{'; // }\n".repeat(3);
    let text = format!(
        "/// doc\npub(crate) fn outer(x: u8) -> u8 {{\n{body}    x\n}}\n\nfn decl();\n\
         #[cfg(test)]\nmod tests {{\n    fn hidden() {{\n    }}\n}}\nconst fn last() {{}}\n"
    );
    let found = functions(&text);
    assert_eq!(found, vec![("outer".to_string(), 2, 6), ("last".to_string(), 15, 1)]);
}

/// The shared stripper: comments, literals of every kind and lifetimes become spaces, the code and
/// the line breaks stay where they were.
#[test]
fn strip_blanks_comments_literals_and_lifetimes_and_keeps_lines() {
    let src = [
        r#"fn f<'a>(x: &'a str) -> char { // { "#,
        r##"let s = "}\"{"; let r = r#"}"#; let b = b'{'; let e = '\''; /* { /* } */ { */"##,
        r#"let raw = r#type; 'outer: loop {} '}' }"#,
        r#"/* spans"#,
        r#"{ lines */ fn g() {}"#,
    ]
    .join("\n");
    let out = strip(&src);
    let widths = |t: &str| t.lines().map(|l| l.chars().count()).collect::<Vec<_>>();
    assert_eq!(widths(&out), widths(&src), "lines and columns stay where they were");
    let words: Vec<&str> = out.split_whitespace().collect();
    let want =
        "fn f< >(x: & str) -> char { let s = ; let r = ; let b = ; let e = ; let raw = r#type; : loop {} } fn g() {}";
    assert_eq!(words.join(" "), want);
}
