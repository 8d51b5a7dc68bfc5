//! Atomic file writes shared by every crate: write to a temporary sibling, then rename, so a
//! crash or kill leaves either the old file or the complete new one, never a torn file.

use crate::error::CoreError;
use std::path::{Path, PathBuf};

/// The temporary sibling used while writing `path`.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// Creates the parent directory, lets `write` fill the temporary file, then renames it onto `path`.
/// The writer's own error is kept as the source of [`CoreError::Write`].
pub fn write_atomic_with<E>(path: &Path, write: impl FnOnce(&Path) -> Result<(), E>) -> Result<(), CoreError>
where
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| CoreError::Io {
            path: parent.to_path_buf(),
            action: "cannot create directory",
            source,
        })?;
    }
    let tmp = temp_path(path);
    if let Err(e) = write(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(CoreError::Write { path: path.to_path_buf(), source: e.into() });
    }
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        CoreError::Io { path: path.to_path_buf(), action: "cannot move the finished temporary file into place", source }
    })
}

/// Writes `bytes` to `path` atomically, flushed to disk before the rename (checkpoints survive a
/// power loss, not only a kill).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CoreError> {
    write_atomic_with(path, |tmp| -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_and_replaces() {
        let dir = std::env::temp_dir().join(format!("scoreprobe-fsio-{}", std::process::id()));
        let p = dir.join("sub/a.json");
        super::write_atomic(&p, b"one").unwrap();
        super::write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let err = super::write_atomic_with(&p, |_| Err::<(), _>("disk full")).unwrap_err().to_string();
        assert!(err.contains("disk full") && err.contains("a.json"), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
