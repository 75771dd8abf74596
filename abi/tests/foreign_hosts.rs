//! The C host (under valgrind) and the Java/JNA host drive the real fake connector library.
//! Both need system packages that `.ci/run` installs: gcc, valgrind, openjdk-17, libjna-java.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly by design

mod common;

use std::process::Command;

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{what} failed ({}):\n{stdout}\n{stderr}", out.status);
    stdout
}

/// Compiles tests/c/host.c with the strict flags (plus `defines`); returns the binary path.
pub fn build_c_host(name: &str, defines: &[&str]) -> std::path::PathBuf {
    let root = common::workspace_root();
    let bin = common::artifact_dir().join(name);
    run(
        Command::new("gcc")
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-g"])
            .args(defines)
            .arg("-I")
            .arg(root.join("include"))
            .arg(root.join("tests/c/host.c"))
            .args(["-ldl", "-lpthread"])
            .arg("-o")
            .arg(&bin),
        "gcc tests/c/host.c",
    );
    bin
}

fn valgrind_fake(bin: &std::path::Path, lib: &std::path::Path) -> String {
    run(
        Command::new("valgrind")
            .args(["-q", "--error-exitcode=1", "--leak-check=full", "--errors-for-leak-kinds=definite,possible"])
            .arg(bin)
            .arg("fake")
            .arg(lib)
            .env("RUST_BACKTRACE", "0"),
        "valgrind c-host (is valgrind installed? apt-get install -y valgrind)",
    )
}

/// The 1.1 C host against a 1.1 connector (cancel, per-instance logs, handles) and a 1.0 one; a host
/// written for 1.0 against the 1.1 connector. All under valgrind.
#[test]
fn c_host_under_valgrind_both_abi_directions() {
    let host_1_1 = build_c_host("c-host", &[]);
    let host_1_0 = build_c_host("c-host-1-0", &["-DHOST_ABI_1_0"]);
    for (bin, lib) in [
        (&host_1_1, common::cdylib("fake_connector")),
        (&host_1_1, common::cdylib("fake_connector_1_0")),
        (&host_1_0, common::cdylib("fake_connector")),
    ] {
        let out = valgrind_fake(bin, &lib);
        assert!(out.contains(" passed, 0 failed"), "{} with {}: {out}", bin.display(), lib.display());
    }
}

#[test]
fn java_host_through_jna() {
    let root = common::workspace_root();
    let jna = std::path::Path::new("/usr/share/java/jna.jar");
    assert!(jna.exists(), "JNA is missing: apt-get install -y libjna-java");
    let classes = common::artifact_dir().join("java-host");
    run(
        Command::new("javac")
            .args(["--release", "17", "-cp"])
            .arg(jna)
            .arg("-d")
            .arg(&classes)
            .arg(root.join("tests/java/ConnHost.java")),
        "javac ConnHost.java",
    );
    // The 1.1 Java host with a 1.1 connector (cancel) and with a 1.0 connector.
    for lib in ["fake_connector", "fake_connector_1_0"] {
        let out = run(
            Command::new("java")
                .arg("-cp")
                .arg(format!("{}:{}", jna.display(), classes.display()))
                .arg("ConnHost")
                .arg(common::cdylib(lib))
                .env("RUST_BACKTRACE", "0"),
            "java ConnHost",
        );
        assert!(out.contains(" passed, 0 failed"), "{lib}: {out}");
    }
}
