//! Generates the Observer and Peer gRPC services (server and client) with
//! tonic. Their messages are flowlog-flow's: the schema lives in one place,
//! `crates/flow/proto`, and is compiled by protox, so building needs no
//! `protoc`.

use std::path::PathBuf;

const SERVICES: &[&str] = &["observer/observer.proto", "peer/peer.proto"];

fn main() {
    let proto = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("../flow/proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    let descriptors = protox::compile(SERVICES, [&proto]).unwrap_or_else(|e| panic!("{e}"));
    let mut config = tonic_prost_build::configure().build_server(true).build_client(true);
    for package in ["flow", "relay", "observer", "peer"] {
        config = config.extern_path(format!(".{package}"), format!("::flowlog_flow::proto::{package}"));
    }
    config.compile_fds(descriptors).expect("generate the gRPC services");
}
