//! Where a study's numbers come from: the build, the command, the reference and its feature
//! extractor (with the file's SHA-256), the machine and the wall time. Written as
//! `provenance.json` beside the report and shown in the page's footer; every field that cannot
//! be known (no git at build time, no hostname) is left empty, never an error.

use crate::reference::Reference;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The commit this crate was built from, when built from a git checkout.
pub const GIT_COMMIT: Option<&str> = option_env!("SCOREPROBE_GIT_COMMIT");
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Provenance {
    pub scoreprobe_version: String,
    #[serde(default)]
    pub git_commit: Option<String>,
    pub title: String,
    pub command: String,
    pub reference: String,
    /// The feature space of fd/kid/w2 on a data-set reference.
    #[serde(default)]
    pub features: Option<String>,
    #[serde(default)]
    pub feature_file: Option<PathBuf>,
    #[serde(default)]
    pub feature_sha256: Option<String>,
    pub hostname: String,
    pub cpus: usize,
    /// UTC, `YYYY-MM-DD HH:MM:SS`.
    pub started_utc: String,
    pub wall_seconds: f64,
}

impl Provenance {
    /// The provenance of a study starting now.
    pub fn begin(title: &str, command: &str, reference: &Reference) -> Self {
        let (features, feature_file) = match reference {
            Reference::Data { data, .. } => (Some(data.features.clone()), feature_file(&data.features)),
            Reference::Target(_) => (None, None),
        };
        Provenance {
            scoreprobe_version: VERSION.into(),
            git_commit: GIT_COMMIT.map(String::from),
            title: title.into(),
            command: command.into(),
            reference: reference.name(),
            features,
            feature_sha256: feature_file.as_deref().and_then(sha256_file),
            feature_file,
            hostname: hostname(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            started_utc: utc(SystemTime::now()),
            wall_seconds: 0.0,
        }
    }
}

/// The model file behind a feature space: `kind:PATH`, or the shared data folder's file of
/// `mnist-cnn` / `mobilenet`; none for `identity` (or when the file cannot be found).
pub fn feature_file(features: &str) -> Option<PathBuf> {
    if let Some((_, path)) = features.split_once(':') {
        return Some(PathBuf::from(path));
    }
    let file = match features.to_ascii_lowercase().as_str() {
        "mnist-cnn" => scoreprobe_features::MnistCnn::MODEL_FILE,
        "mobilenet" => scoreprobe_features::MobileNet::MODEL_FILE,
        _ => return None,
    };
    scoreprobe_features::model_path(file, None).ok()
}

/// Hex SHA-256 of a file, none when it cannot be read.
pub fn sha256_file(path: &Path) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).ok()?;
    Some(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The machine's name (Linux: the kernel's; elsewhere `$HOSTNAME`/`$COMPUTERNAME`), or empty.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `YYYY-MM-DD HH:MM:SS` in UTC (civil date from days since 1970, H. Hinnant's algorithm).
pub fn utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_dates_match_known_instants() {
        assert_eq!(utc(UNIX_EPOCH), "1970-01-01 00:00:00");
        // 2000-02-29 12:34:56 (a leap day of a century leap year)
        assert_eq!(utc(UNIX_EPOCH + Duration::from_secs(951_827_696)), "2000-02-29 12:34:56");
        assert_eq!(utc(UNIX_EPOCH + Duration::from_secs(1_798_761_599)), "2026-12-31 23:59:59");
    }

    #[test]
    fn sha256_of_a_known_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(sha256_file(&p).unwrap(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(sha256_file(&dir.path().join("absent")), None);
        assert_eq!(feature_file("inception:/x/y.onnx"), Some(PathBuf::from("/x/y.onnx")));
        assert_eq!(feature_file("identity"), None);
    }
}
