//! Helpers shared by the fuzz targets: most parsers read paths, so each input is written to a
//! per-process scratch file (in /dev/shm where it exists, so no disk is touched).

use std::path::PathBuf;

/// Writes `bytes` to this process's scratch file with extension `ext` and returns its path.
pub fn scratch(bytes: &[u8], ext: &str) -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let path = dir.join(format!("scoreprobe-fuzz-{}.{ext}", std::process::id()));
    std::fs::write(&path, bytes).expect("the scratch file is writable");
    path
}

/// This process's scratch folder (for parsers that read files beside the one they are given).
pub fn scratch_dir() -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let dir = dir.join(format!("scoreprobe-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("the scratch folder can be made");
    dir
}
