//! The compiled schema, for code that works with field names at run time.

use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, MessageDescriptor};

static POOL: LazyLock<DescriptorPool> =
    LazyLock::new(|| DescriptorPool::decode(ENCODED).expect("the descriptor set compiled by build.rs is valid"));

/// Every file of the schema, with the well-known types it imports.
pub fn pool() -> &'static DescriptorPool {
    &POOL
}

/// The descriptor of the message `full_name` (e.g. `flow.Flow`).
///
/// # Panics
/// If the schema has no such message: names are fixed at compile time.
pub fn message(full_name: &str) -> MessageDescriptor {
    POOL.get_message_by_name(full_name).unwrap_or_else(|| panic!("the flow schema defines {full_name}"))
}

/// The schema as an encoded `FileDescriptorSet`, for gRPC reflection.
pub const ENCODED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));
