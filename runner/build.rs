//! Builds the engine component (`runner/guest` for `wasm32-wasip2`) that the runner embeds, with
//! a nested cargo in its own target directory (the outer build holds the lock on the usual one).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir
        .parent()
        .expect("runner/ sits in the workspace")
        .to_path_buf();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("guest");
    for watched in [
        "core/src",
        "core/wit",
        "core/config",
        "core/Cargo.toml",
        "runner/guest",
        "Cargo.lock",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }

    ensure_wasip2_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .current_dir(&workspace)
        .args([
            "build",
            "--release",
            "-p",
            "twoleg-guest",
            "--target",
            "wasm32-wasip2",
        ])
        .args([
            "--config",
            "profile.release.debug=false",
            "--config",
            "profile.release.strip=true",
            // One unit, optimised across crates: the engine runs every datagram, and the
            // component is small enough that this costs seconds of build time.
            "--config",
            "profile.release.lto=\"fat\"",
            "--config",
            "profile.release.codegen-units=1",
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's wrappers and flags (clippy, coverage) are not for the guest.
    for var in [
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CLIPPY_ARGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        command.env_remove(var);
    }
    let status = command.status().expect("cargo runs");
    if !status.success() {
        panic!(
            "building the engine component for wasm32-wasip2 failed.\n\
             The output above says why; the target itself can be added with: \
             rustup target add wasm32-wasip2"
        );
    }
    let wasm = target_dir.join("wasm32-wasip2/release/twoleg_guest.wasm");
    std::fs::copy(&wasm, out_dir.join("twoleg_guest.wasm"))
        .unwrap_or_else(|e| panic!("copying {}: {e}", wasm.display()));
}

/// A toolchain installed before the project's `rust-toolchain.toml` was read lacks its wasm
/// targets (rustup adds a toolchain file's targets only when it installs the toolchain): add the
/// one the guest needs, and say so, so that `cargo run -p twoleg-runner` works on a fresh
/// machine with no other step.
fn ensure_wasip2_target() {
    const TARGET: &str = "wasm32-wasip2";
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let Ok(installed) = installed else {
        // No rustup: the toolchain came another way; the guest build says what is missing.
        return;
    };
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|line| line.trim() == TARGET)
    {
        return;
    }
    println!(
        "cargo:warning=the {TARGET} target is missing: adding it with `rustup target add {TARGET}`"
    );
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    match added {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("`rustup target add {TARGET}` failed ({status})"),
        Err(e) => panic!("running `rustup target add {TARGET}`: {e}"),
    }
}
