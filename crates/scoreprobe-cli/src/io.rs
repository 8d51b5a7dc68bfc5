//! Output helpers shared by subcommands: atomic writes (temp file + rename) and JSON printing.

use anyhow::{Context, Result};
use ndarray::{ArrayBase, Data, Dimension};
use ndarray_npy::WritableElement;
use std::path::Path;

/// Runs `write` on a temporary file and renames it onto `path` (see `scoreprobe_core::fsio`).
pub fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    scoreprobe_core::fsio::write_atomic_with(path, |tmp| write(tmp).map_err(|e| format!("{e:#}")))
        .map_err(anyhow::Error::msg)
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
