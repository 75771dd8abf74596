//! Helpers shared by the ABI integration tests.
#![allow(dead_code)]

#[allow(unused_imports)] // each test binary uses its own subset
pub(crate) use test_support::{artifact_dir, cdylib, workspace_root};

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
