//! The committed header and JSON Schemas must equal what the code generates.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly by design

mod common;

use common::{ensure_file_contents, workspace_root};

/// The header's opening comment: the `//!` overview of `abi/src/raw.rs`, so that every word of the header
/// comes from that one file.
fn preamble(raw: &str) -> String {
    let mut out = String::from("/* connector_abi.h\n *\n");
    for line in raw.lines().take_while(|l| l.starts_with("//!")) {
        let text = line.trim_start_matches("//!").strip_prefix(' ').unwrap_or("");
        assert!(!text.contains("*/"), "the overview must not close the C comment: {text}");
        out.push_str(if text.is_empty() { " *" } else { " * " });
        out.push_str(text);
        out.push('\n');
    }
    out.push_str(" */");
    out
}

/// Generates `include/connector_abi.h` from `abi/src/raw.rs`.
///
/// Everything comes from `raw.rs`: the constants, structs and typedefs with their doc comments; the
/// prototypes of the entry points, from the `#[cfg(doc)] extern "C"` block there (cbindgen declares the
/// functions of an extern block and does not evaluate `cfg`); the opening comment, from its `//!` overview.
/// The one line written here is the incomplete type `ConnInstance`, which cbindgen cannot express.
fn generate_header() -> String {
    let raw_path = workspace_root().join("abi/src/raw.rs");
    let raw = std::fs::read_to_string(&raw_path).expect("read abi/src/raw.rs");
    let config = cbindgen::Config {
        language: cbindgen::Language::C,
        header: Some(preamble(&raw)),
        include_guard: Some("CONNECTOR_ABI_H".into()),
        // Wraps the prototypes in `extern "C"` for C++ hosts.
        cpp_compat: true,
        sys_includes: vec!["stddef.h".into(), "stdint.h".into()],
        no_includes: true,
        after_includes: Some(
            "\n/** An opaque connector instance: see ConnInstance in abi/src/raw.rs, instance_new and instance_free. */\ntypedef struct ConnInstance ConnInstance;"
                .into(),
        ),
        style: cbindgen::Style::Both,
        documentation: true,
        documentation_style: cbindgen::DocumentationStyle::Doxy,
        usize_is_size_t: true,
        export: cbindgen::ExportConfig {
            exclude: vec!["ConnInstance".into()],
            include: ["ConnBuf", "ConnHostV1", "ConnPluginV1", "ConnOperationFn", "ConnAbiVersionFn", "ConnPluginEntryFn"]
                .map(String::from)
                .to_vec(),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(raw_path)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut out);
    String::from_utf8(out).expect("header is UTF-8")
}

#[test]
fn header_is_fresh() {
    ensure_file_contents(&workspace_root().join("include/connector_abi.h"), &generate_header());
}

#[test]
fn header_declares_the_contract() {
    let h = generate_header();
    for needle in [
        "#define CONN_ABI_MAJOR 1",
        "#define CONN_OK 0",
        "#define CONN_ERR_PANIC 5",
        "typedef struct ConnPluginV1",
        "typedef struct ConnHostV1",
        "typedef struct ConnBuf",
        "uint32_t conn_abi_version(void);",
        "int32_t conn_plugin_entry(",
        "typedef uint32_t (*ConnAbiVersionFn)(void);",
        "typedef int32_t (*ConnPluginEntryFn)(",
        "typedef int32_t (*ConnOperationFn)(",
        "ConnOperationFn test;",
        "ConnOperationFn provision;",
        "ConnOperationFn search;",
        "uint32_t struct_size;",
        "extern \"C\" {",
    ] {
        assert!(h.contains(needle), "header lacks `{needle}`");
    }
    // No Rust enum crosses the boundary.
    assert!(!h.contains("enum "), "the header must not declare C enums");
}

#[test]
fn schemas_are_fresh_and_agree_with_the_types() {
    for (name, schema) in connector_abi::payload::schemas() {
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        ensure_file_contents(&workspace_root().join(format!("include/schemas/{name}.schema.json")), &text);
    }
}
