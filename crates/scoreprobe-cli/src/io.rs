//! Output helpers shared by subcommands: atomic writes (temp file + rename) and JSON printing.

use anyhow::{Context, Result};
use ndarray::{ArrayBase, Data, Dimension};
use ndarray_npy::WritableElement;
use std::path::Path;

/// Writes `bytes` to `path` atomically: a crash leaves either the old file or the new one.
pub fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create directory {}", parent.display()))?;
    }
    let tmp = path.with_extension(format!("{}.tmp", path.extension().and_then(|e| e.to_str()).unwrap_or("")));
    write(&tmp)?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
}

/// Writes an array as `.npy` atomically.
pub fn write_npy<S, D, A>(path: &Path, array: &ArrayBase<S, D>) -> Result<()>
where
    S: Data<Elem = A>,
    D: Dimension,
    A: WritableElement,
{
    write_atomic(path, |tmp| {
        ndarray_npy::write_npy(tmp, array).with_context(|| format!("cannot write {}", path.display()))
    })
}

/// Prints pretty JSON to stdout; a closed pipe (`| head`) ends output quietly instead of panicking.
pub fn print_json(value: &serde_json::Value) {
    print_text(&serde_json::to_string_pretty(value).expect("JSON values serialise"));
}

/// Prints a line to stdout, ignoring a closed pipe.
pub fn print_text(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}
