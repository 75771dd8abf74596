//! Dev-only helpers shared by the workspace's tests and benchmarks.
//!
//! - [`artifact_dir`], [`cdylib`]: where cargo put the libraries a test loads. A test that loads a
//!   connector fails loudly when the library is missing or older than its crate's sources (a stale
//!   library would test old code): `cargo build --workspace --all-targets` first, as `scripts/test.sh`
//!   does.
//! - [`workspace_root`].
//! - [`config`]: the provisioner configuration the host's tests and benchmarks write.
//! - [`postgres`]: a throwaway PostgreSQL server on loopback (as the `postgres` user when run as root).

// A test-only crate: panicking with a message is how a test reports a broken set-up.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

pub mod config;
pub mod postgres;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The cargo profile directory of the running test or bench executable (`target/debug` or
/// `target/release`): executables live in `<profile>/deps/`.
pub fn artifact_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let deps = exe.parent().expect("the executable's directory");
    deps.parent().expect("the profile directory").to_path_buf()
}

/// The peak resident memory (VmHWM) of a running process, in KiB (Linux `/proc`), for benchmarks.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the workspace root")
}

/// Which crate builds each cdylib the tests load.
fn crate_dir(lib: &str) -> Option<&'static str> {
    match lib {
        "connector_slack" => Some("connector-slack"),
        "fake_connector" | "fake_connector_1_0" => Some("tests/fake-connector"),
        _ => None,
    }
}

/// The newest modification time of the files under `dir` (recursively).
fn newest(dir: &Path) -> Option<SystemTime> {
    let mut best = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let t = if path.is_dir() { newest(&path) } else { entry.metadata().ok()?.modified().ok() };
        best = best.max(t);
    }
    best
}

/// The path of `lib<name>.so` in [`artifact_dir`]. Panics, naming the build command, when the library
/// is missing or older than its own crate's `src/` or `Cargo.toml` or the `abi/` crate's sources.
pub fn cdylib(name: &str) -> PathBuf {
    let path = artifact_dir().join(format!("lib{name}.so"));
    let built = std::fs::metadata(&path).and_then(|m| m.modified()).unwrap_or_else(|_| {
        panic!(
            "{} is missing: build the workspace first (`cargo build --workspace --all-targets`, or `bash scripts/test.sh`)",
            path.display()
        )
    });
    if let Some(dir) = crate_dir(name) {
        let root = workspace_root();
        let sources = [root.join(dir).join("src"), root.join(dir).join("Cargo.toml"), root.join("abi/src")];
        let newest_source = sources
            .iter()
            .filter_map(|p| if p.is_dir() { newest(p) } else { std::fs::metadata(p).ok()?.modified().ok() })
            .max();
        if let Some(src) = newest_source.filter(|src| *src > built) {
            let age = src.duration_since(built).unwrap_or_default();
            panic!(
                "{} is older than its sources (by {:.0} s): rebuild it (`cargo build --workspace --all-targets`) so the tests load the code they test",
                path.display(),
                age.as_secs_f64()
            );
        }
    }
    path
}
