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

/// Compiles tests/c/host.c with the strict flags; returns the binary path.
pub fn build_c_host() -> std::path::PathBuf {
    let root = common::workspace_root();
    let bin = common::artifact_dir().join("c-host");
    run(
        Command::new("gcc")
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-I"])
            .arg(root.join("include"))
            .arg(root.join("tests/c/host.c"))
            .arg("-ldl")
            .arg("-o")
            .arg(&bin),
        "gcc tests/c/host.c",
    );
    bin
}

#[test]
fn c_host_under_valgrind() {
    let bin = build_c_host();
    let lib = common::cdylib("fake_connector");
    let out = run(
        Command::new("valgrind")
            .args(["-q", "--error-exitcode=1", "--leak-check=full", "--errors-for-leak-kinds=definite,possible"])
            .arg(&bin)
            .arg("fake")
            .arg(&lib)
            .env("RUST_BACKTRACE", "0"),
        "valgrind c-host (is valgrind installed? apt-get install -y valgrind)",
    );
    assert!(out.contains(" passed, 0 failed"), "{out}");
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
    let out = run(
        Command::new("java")
            .arg("-cp")
            .arg(format!("{}:{}", jna.display(), classes.display()))
            .arg("ConnHost")
            .arg(common::cdylib("fake_connector"))
            .env("RUST_BACKTRACE", "0"),
        "java ConnHost",
    );
    assert!(out.contains(" passed, 0 failed"), "{out}");
}
