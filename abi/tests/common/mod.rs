//! Helpers shared by the ABI integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The directory holding this build's artifacts (`target/debug` or `target/release`).
pub(crate) fn artifact_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent().and_then(|p| p.parent()).expect("target/<profile>").to_path_buf()
}

/// Path of a workspace cdylib built in this profile (run `cargo build --workspace` first).
pub(crate) fn cdylib(name: &str) -> PathBuf {
    let p = artifact_dir().join(format!("lib{name}.so"));
    assert!(p.exists(), "{} is missing: run `cargo build --workspace` before the tests", p.display());
    p
}

/// The workspace root.
pub(crate) fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Compares `actual` with the committed file at `path`; with `UPDATE_EXPECT=1` rewrites it instead.
pub(crate) fn ensure_file_contents(path: &std::path::Path, actual: &str) {
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if committed == actual {
        return;
    }
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    panic!(
        "{} is stale: it differs from what the code generates. Run `UPDATE_EXPECT=1 cargo test -p connector-abi --test generated` and commit the result.",
        path.display()
    );
}
