//! `provisioner connectors inspect PATH`: load a connector and print its descriptor.

use super::CommandError;
use anyhow::Context as _;
use connector_abi::{ConnectorLibrary, Descriptor};
use std::fmt::Write as _;
use std::path::Path;

/// `provisioner connectors inspect PATH [--json]`.
pub fn run(path: &Path, json: bool) -> Result<(), CommandError> {
    let lib = ConnectorLibrary::load(path).map_err(|e| CommandError::Load(e.into()))?;
    let out = if json { render_json(&lib).context("encoding the descriptor")? } else { render_table(&lib) };
    println!("{}", out.trim_end());
    Ok(())
}

/// Renders the descriptor as a readable report.
pub fn render_table(lib: &ConnectorLibrary) -> String {
    let d: &Descriptor = lib.descriptor();
    let (maj, min) = lib.connector_abi();
    let mut s = String::new();
    let _ = writeln!(s, "Connector      {} ({})", d.display_name, d.name);
    let _ = writeln!(s, "Version        {}", d.version);
    let _ = writeln!(s, "ABI            {maj}.{min} (negotiated minor {})", lib.negotiated_minor());
    let _ = writeln!(s, "Library        {}", lib.path().display());
    if !d.description.is_empty() {
        let _ = writeln!(s, "Description    {}", d.description);
    }
    let _ = writeln!(s, "Capabilities   {}", d.capabilities.join(", "));
    let _ = writeln!(s);
    let _ = writeln!(s, "Configuration fields");
    let width = d.configuration.iter().map(|f| f.name.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(
        s,
        "  {:width$}  {:8}  {:8}  {:12}  {:14}  help",
        "name", "type", "required", "confidential", "default"
    );
    for f in &d.configuration {
        let ty =
            serde_json::to_value(f.field_type).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let default = match &f.default {
            Some(v) if f.confidential => {
                let _ = v;
                "(hidden)".to_owned()
            }
            Some(serde_json::Value::String(v)) => v.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        };
        let mut help = f.help.clone();
        if !f.allowed_values.is_empty() {
            help = format!("{help} [one of: {}]", f.allowed_values.join(", "));
        }
        let _ = writeln!(
            s,
            "  {:width$}  {:8}  {:8}  {:12}  {:14}  {}",
            f.name,
            ty,
            if f.required { "yes" } else { "no" },
            if f.confidential { "yes" } else { "no" },
            default,
            help
        );
    }
    for oc in &d.object_classes {
        let _ = writeln!(s);
        let _ = writeln!(s, "Object class {}", oc.name.as_str());
        let width = oc.attributes.iter().map(|a| a.name.len()).max().unwrap_or(4).max(4);
        let _ = writeln!(
            s,
            "  {:width$}  {:9}  {:6}  {:8}  {:9}  target",
            "attribute", "type", "multi", "required", "flags"
        );
        for a in &oc.attributes {
            let mut flags = Vec::new();
            if !a.creatable {
                flags.push("no-create");
            }
            if !a.updateable {
                flags.push("no-update");
            }
            if !a.readable {
                flags.push("no-read");
            }
            let _ = writeln!(
                s,
                "  {:width$}  {:9}  {:6}  {:8}  {:9}  {}",
                a.name,
                a.attr_type,
                if a.multivalued { "yes" } else { "no" },
                if a.required { "yes" } else { "no" },
                flags.join(","),
                a.target_field
            );
        }
    }
    s
}

/// The descriptor as pretty JSON, with the load facts the host learnt.
pub fn render_json(lib: &ConnectorLibrary) -> serde_json::Result<String> {
    let (maj, min) = lib.connector_abi();
    let v = serde_json::json!({
        "library": lib.path().display().to_string(),
        "abi": {"major": maj, "minor": min, "negotiated_minor": lib.negotiated_minor()},
        "descriptor": lib.descriptor(),
    });
    serde_json::to_string_pretty(&v)
}
