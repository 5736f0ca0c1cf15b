//! Keeps the committed `bpf/flowlog.bpf.o` in step with the C sources.
//!
//! The object is committed so that building needs no clang. When clang is on
//! PATH we compile the sources into OUT_DIR with `bpf/build.sh` (the one place
//! the flags live; the output is byte-for-byte reproducible) and, when the
//! bytes differ from the committed object, overwrite it and say so. Without
//! clang, or when compiling fails (e.g. libbpf headers missing), the committed
//! object is used as is, with a warning in the second case.
//!
//! Set `FLOWLOG_EBPF_NO_REBUILD=1` to never touch the committed object.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=bpf");
    println!("cargo:rerun-if-env-changed=FLOWLOG_EBPF_NO_REBUILD");
    println!("cargo:rerun-if-env-changed=CLANG");
    if env::var_os("FLOWLOG_EBPF_NO_REBUILD").is_some_and(|v| v != "0") {
        return;
    }
    if env::var_os("CLANG").is_none() && !on_path("clang-19") && !on_path("clang") {
        return;
    }

    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let bpf_dir = manifest_dir.join("bpf");
    let committed = bpf_dir.join("flowlog.bpf.o");
    let fresh = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("flowlog.bpf.o");

    let output = Command::new("bash").arg(bpf_dir.join("build.sh")).arg(&fresh).output();
    let output = match output {
        Ok(output) => output,
        Err(e) => {
            println!(
                "cargo:warning=flowlog-capture-ebpf: could not run bpf/build.sh ({e}); using the committed object"
            );
            return;
        }
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().find(|line| !line.trim().is_empty()).unwrap_or("no output");
        println!(
            "cargo:warning=flowlog-capture-ebpf: compiling bpf/flowlog.bpf.c failed ({first}); \
             using the committed object, which may be stale"
        );
        return;
    }

    let fresh_bytes = fs::read(&fresh).expect("build.sh wrote its output");
    if fs::read(&committed).ok().as_deref() == Some(fresh_bytes.as_slice()) {
        return;
    }
    fs::write(&committed, &fresh_bytes).expect("bpf/ is writable");
    println!(
        "cargo:warning=flowlog-capture-ebpf: refreshed bpf/flowlog.bpf.o from the C sources; commit it \
         (bpf/check-object.sh fails until you do)"
    );
}

fn on_path(tool: &str) -> bool {
    env::var_os("PATH").is_some_and(|paths| env::split_paths(&paths).any(|dir| is_file(&dir.join(tool))))
}

fn is_file(path: &Path) -> bool {
    path.metadata().is_ok_and(|m| m.is_file())
}
