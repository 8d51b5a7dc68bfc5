//! Records the git commit the crate is built from (for the provenance of every report), when the
//! source is a git checkout with `git` installed; otherwise nothing, and reports say "unknown".
//! (The commit of HEAD: changes not yet committed are not marked.)

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let Some(commit) = git(&["rev-parse", "HEAD"]) else { return };
    println!("cargo:rustc-env=SCOREPROBE_GIT_COMMIT={commit}");
    // rebuild when HEAD moves (a commit, a checkout); uncommitted changes are not tracked (that
    // would rebuild the crate on every `git add`)
    for (flag, file) in [("--git-dir", "HEAD"), ("--git-common-dir", "packed-refs")] {
        if let Some(dir) = git(&["rev-parse", flag]) {
            println!("cargo:rerun-if-changed={}", Path::new(&dir).join(file).display());
        }
    }
    if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
        if let Some(dir) = git(&["rev-parse", "--git-common-dir"]) {
            println!("cargo:rerun-if-changed={}", Path::new(&dir).join(head_ref).display());
        }
    }
}
