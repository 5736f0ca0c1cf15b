//! Compiles the `.proto` files into prost types, a descriptor set for
//! prost-reflect, and the Hubble JSON encoder and decoder for every message.
//!
//! protox is a protobuf compiler written in Rust, so building needs no `protoc`.

#[path = "build/json_codegen.rs"]
mod json_codegen;
#[path = "build/json_decode_codegen.rs"]
mod json_decode_codegen;

use std::path::PathBuf;

const PROTOS: &[&str] = &["flow/flow.proto", "relay/relay.proto", "observer/observer.proto", "peer/peer.proto"];

fn main() {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=build");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));

    let descriptors = protox::compile(PROTOS, ["proto"]).unwrap_or_else(|e| panic!("{e}"));

    let encoded = prost::Message::encode_to_vec(&descriptors);
    std::fs::write(out_dir.join("descriptors.bin"), encoded).expect("write descriptors.bin");

    let encoder = json_codegen::generate(&descriptors);
    std::fs::write(out_dir.join("hubble_json.rs"), encoder).expect("write hubble_json.rs");

    let decoder = json_decode_codegen::generate(&descriptors);
    std::fs::write(out_dir.join("hubble_json_read.rs"), decoder).expect("write hubble_json_read.rs");

    prost_build::Config::new().compile_fds(descriptors).expect("generate prost types");
}
