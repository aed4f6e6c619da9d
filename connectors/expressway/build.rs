//! Stamps the binary with the git commit it is built from, for
//! `expressway --version` and the `expressway_build_info` metric.
//! `EXPRESSWAY_GIT_COMMIT` wins (builds without `.git`, such as the container
//! image's); otherwise `git rev-parse`; otherwise `unknown`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=EXPRESSWAY_GIT_COMMIT");
    let commit = match std::env::var("EXPRESSWAY_GIT_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => {
            watch_git_head();
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into())
        }
    };
    println!("cargo:rustc-env=EXPRESSWAY_GIT_COMMIT={commit}");
}

/// Rebuild when HEAD moves: HEAD itself (a checkout), the branch it names (a
/// commit) and packed-refs, each where git keeps it (also in a worktree). A
/// path that does not exist is not watched: cargo would rerun every build.
fn watch_git_head() {
    println!("cargo:rerun-if-changed=build.rs");
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    for name in ["HEAD", "packed-refs"].into_iter().chain(branch.as_deref()) {
        if let Some(path) = git(&["rev-parse", "--git-path", name]).filter(|p| std::path::Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}
