//! Rust source as the workspace scans see it (`short_functions.rs`, `no_import_cycles.rs`): the
//! code without its comments, literals and lifetimes, so that a brace, a `::` path or a `fn` inside
//! them is never read as code.

/// `src` with every comment (`//…`, nested `/* … */`), string literal (`"…"`, `b"…"`, raw
/// `r#"…"#` / `br"…"`), char literal (`'x'`, `'\n'`, `'\u{..}'`, `b'x'`) and lifetime (`'a`)
/// replaced by spaces. Newlines are kept, so the result has the same lines as `src` (a literal or a
/// comment spanning lines leaves blank lines behind).
pub fn strip(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < c.len() {
        let end = literal_end(&c, i);
        if end > i {
            out.extend(c[i..end].iter().map(|&ch| if ch == '\n' { '\n' } else { ' ' }));
            i = end;
        } else if c[i].is_alphanumeric() || c[i] == '_' {
            // a whole word: a raw-string prefix only at a word's start
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.extend(&c[start..i]);
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// The index just past the comment, literal or lifetime that starts at `i` (`i` when none does).
fn literal_end(c: &[char], i: usize) -> usize {
    let at = |k: usize| c.get(k).copied().unwrap_or('\0');
    match (at(i), at(i + 1)) {
        ('/', '/') => (i..c.len()).find(|&k| c[k] == '\n').unwrap_or(c.len()),
        ('/', '*') => block_comment_end(c, i),
        ('"', _) => quoted_end(c, i + 1, '"'),
        ('b', '"') => quoted_end(c, i + 2, '"'),
        ('b', '\'') => quoted_end(c, i + 2, '\''),
        ('r', _) | ('b', 'r') => raw_string_end(c, i + if at(i) == 'b' { 2 } else { 1 }).unwrap_or(i),
        ('\'', '\\') => quoted_end(c, i + 1, '\''),
        ('\'', _) if at(i + 2) == '\'' => i + 3,
        // a lifetime or a label: the quote and its name
        ('\'', _) => (i + 1..c.len()).find(|&k| !(c[k].is_alphanumeric() || c[k] == '_')).unwrap_or(c.len()),
        _ => i,
    }
}

/// Past the closing `close` of a literal whose contents start at `from` (escapes skipped).
fn quoted_end(c: &[char], mut from: usize, close: char) -> usize {
    while from < c.len() && c[from] != close {
        from += if c[from] == '\\' { 2 } else { 1 };
    }
    (from + 1).min(c.len())
}

/// Past the end of a nested block comment that opens at `i`.
fn block_comment_end(c: &[char], mut i: usize) -> usize {
    let mut depth = 0;
    while i < c.len() {
        match (c[i], c.get(i + 1).copied()) {
            ('/', Some('*')) => {
                depth += 1;
                i += 2;
            }
            ('*', Some('/')) => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    c.len()
}

/// Past a raw string whose hashes (or opening quote) start at `from`; None when none starts there
/// (`r` is then a plain word, e.g. `r#type`).
fn raw_string_end(c: &[char], from: usize) -> Option<usize> {
    let hashes = c[from.min(c.len())..].iter().take_while(|&&ch| ch == '#').count();
    let open = from + hashes;
    if c.get(open) != Some(&'"') {
        return None;
    }
    let closes = |k: usize| c[k] == '"' && (1..=hashes).all(|h| c.get(k + h) == Some(&'#'));
    Some((open + 1..c.len()).find(|&k| closes(k)).map_or(c.len(), |k| k + 1 + hashes))
}
