//! A protobuf message as a CEL value, read straight from its encoding.
//!
//! Decoding a whole flow into a reflective message costs several
//! microseconds, most of it spent on fields an expression never reads. This
//! view keeps the encoded bytes and the message descriptor, and decodes a
//! field only when the expression selects it: a scan over the (small)
//! message's tags, and strings borrowed from the bytes.

use std::collections::HashMap;
use std::sync::LazyLock;

use cel::ExecutionError;
use cel::common::traits::Indexer;
use cel::common::types::{
    CelBool, CelBytes, CelDouble, CelInt, CelList, CelNull, CelString, CelTimestamp, CelUInt, Type,
};
use cel::common::value::{CowVal, Val};
use flowlog_flow::descriptors;
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};

/// CEL struct types of the schema's messages, so that a value can hand out a
/// `&'static Type` without allocating.
static MESSAGE_TYPES: LazyLock<HashMap<String, Type>> = LazyLock::new(|| {
    descriptors::pool()
        .all_messages()
        .map(|m| (m.full_name().to_owned(), Type::new_struct(m.full_name().to_owned())))
        .collect()
});

/// The type of a message the schema does not know (never expected).
static UNKNOWN_MESSAGE: Type = Type::new_struct_type("flow.Unknown");

const TIMESTAMP: &str = "google.protobuf.Timestamp";

/// Well-known messages that read as one CEL value rather than as a struct.
pub(super) fn is_scalar_message(full_name: &str) -> bool {
    full_name == TIMESTAMP
        || matches!(
            full_name.strip_prefix("google.protobuf."),
            Some(
                "BoolValue"
                    | "Int32Value"
                    | "Int64Value"
                    | "UInt32Value"
                    | "UInt64Value"
                    | "FloatValue"
                    | "DoubleValue"
                    | "StringValue"
                    | "BytesValue"
            )
        )
}

/// An encoded message of type `descriptor`, as a CEL struct.
#[derive(Debug, Clone)]
pub(super) struct MessageVal<'a> {
    bytes: &'a [u8],
    descriptor: MessageDescriptor,
    r#type: &'static Type,
}

impl<'a> MessageVal<'a> {
    pub(super) fn new(bytes: &'a [u8], descriptor: MessageDescriptor) -> Self {
        let r#type = MESSAGE_TYPES.get(descriptor.full_name()).unwrap_or(&UNKNOWN_MESSAGE);
        Self { bytes, descriptor, r#type }
    }

    /// The field's value. An unset message field (a oneof variant not taken
    /// included) is missing, which `has()` reports as false; an unset scalar
    /// reads as its default, a repeated field as a list.
    fn field(&self, field: &FieldDescriptor) -> Option<Box<dyn Val + 'a>> {
        let number = field.number();
        let kind = field.kind();
        if field.is_list() || field.is_map() {
            let mut items: Vec<Box<dyn Val + 'a>> = Vec::new();
            for payload in Fields(self.bytes).filter(|(n, _)| *n == number).map(|(_, payload)| payload) {
                match payload {
                    Payload::Bytes(packed) if is_packable(&kind) => unpack(&kind, packed, &mut items),
                    payload => items.extend(decode(&kind, payload)),
                }
            }
            return Some(Box::new(CelList::from(items)));
        }
        let last = Fields(self.bytes).filter(|(n, _)| *n == number).map(|(_, payload)| payload).last();
        match (last, &kind) {
            (Some(payload), _) => decode(&kind, payload),
            (None, Kind::Message(_)) => None,
            (None, kind) => Some(default_value(kind)),
        }
    }
}

impl Val for MessageVal<'_> {
    fn get_type(&self) -> &Type {
        self.r#type
    }

    fn cel_type() -> &'static Type
    where
        Self: Sized,
    {
        &UNKNOWN_MESSAGE
    }

    fn as_indexer<'b, 'v>(&'b self) -> Option<&'b (dyn Indexer + 'v)>
    where
        Self: 'v,
    {
        Some(self)
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(self.clone())
    }
}

impl Indexer for MessageVal<'_> {
    fn get<'b, 'v>(&'b self, index: &dyn Val) -> Result<CowVal<'b, 'v>, ExecutionError>
    where
        Self: 'v,
    {
        let Some(name) = index.downcast_ref::<CelString>() else {
            return Err(ExecutionError::UnexpectedType {
                got: index.get_type().name().to_owned(),
                want: "string".to_owned(),
            });
        };
        let name = name.inner();
        self.descriptor
            .get_field_by_name(name)
            .and_then(|field| self.field(&field))
            .map(CowVal::Owned)
            .ok_or_else(|| ExecutionError::no_such_key(name))
    }

    fn steal<'v>(self: Box<Self>, index: &dyn Val) -> Result<Box<dyn Val + 'v>, ExecutionError>
    where
        Self: 'v,
    {
        self.get(index).map(CowVal::into_owned)
    }
}

/// One field occurrence's payload, by wire type.
#[derive(Debug, Clone, Copy)]
enum Payload<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

/// The (field number, payload) pairs of an encoded message. Stops at
/// malformed input, which our own encoding never is.
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = (u32, Payload<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let key = read_varint(&mut self.0)?;
        let number = u32::try_from(key >> 3).ok()?;
        let payload = match key & 7 {
            0 => Payload::Varint(read_varint(&mut self.0)?),
            1 => Payload::Fixed64(u64::from_le_bytes(take(&mut self.0, 8)?.try_into().ok()?)),
            2 => {
                let len = usize::try_from(read_varint(&mut self.0)?).ok()?;
                Payload::Bytes(take(&mut self.0, len)?)
            }
            5 => Payload::Fixed32(u32::from_le_bytes(take(&mut self.0, 4)?.try_into().ok()?)),
            _ => {
                self.0 = &[];
                return None;
            }
        };
        Some((number, payload))
    }
}

fn take<'a>(bytes: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    if bytes.len() < len {
        *bytes = &[];
        return None;
    }
    let (head, tail) = bytes.split_at(len);
    *bytes = tail;
    Some(head)
}

fn read_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Some(value);
        }
    }
    *bytes = &[];
    None
}

fn is_packable(kind: &Kind) -> bool {
    !matches!(kind, Kind::String | Kind::Bytes | Kind::Message(_))
}

/// The elements of a packed repeated scalar field.
fn unpack<'a>(kind: &Kind, mut packed: &'a [u8], items: &mut Vec<Box<dyn Val + 'a>>) {
    while !packed.is_empty() {
        let payload = match kind {
            Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => {
                take(&mut packed, 8).and_then(|b| b.try_into().ok()).map(|b| Payload::Fixed64(u64::from_le_bytes(b)))
            }
            Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => {
                take(&mut packed, 4).and_then(|b| b.try_into().ok()).map(|b| Payload::Fixed32(u32::from_le_bytes(b)))
            }
            _ => read_varint(&mut packed).map(Payload::Varint),
        };
        let Some(payload) = payload else { return };
        items.extend(decode(kind, payload));
    }
}

/// A field value of `kind` as a CEL value; `None` when the wire type does not fit.
#[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap, reason = "protobuf's own integer conversions")]
fn decode<'a>(kind: &Kind, payload: Payload<'a>) -> Option<Box<dyn Val + 'a>> {
    Some(match (kind, payload) {
        (Kind::Bool, Payload::Varint(n)) => Box::new(CelBool::from(n != 0)),
        (Kind::Int32 | Kind::Enum(_), Payload::Varint(n)) => Box::new(CelInt::from(i64::from(n as i32))),
        (Kind::Int64, Payload::Varint(n)) => Box::new(CelInt::from(n as i64)),
        (Kind::Uint32, Payload::Varint(n)) => Box::new(CelUInt::from(u64::from(n as u32))),
        (Kind::Uint64, Payload::Varint(n)) => Box::new(CelUInt::from(n)),
        (Kind::Sint32, Payload::Varint(n)) => Box::new(CelInt::from(i64::from(((n >> 1) as i32) ^ -((n & 1) as i32)))),
        (Kind::Sint64, Payload::Varint(n)) => Box::new(CelInt::from(((n >> 1) as i64) ^ -((n & 1) as i64))),
        (Kind::Fixed32, Payload::Fixed32(n)) => Box::new(CelUInt::from(u64::from(n))),
        (Kind::Sfixed32, Payload::Fixed32(n)) => Box::new(CelInt::from(i64::from(n as i32))),
        (Kind::Float, Payload::Fixed32(n)) => Box::new(CelDouble::from(f64::from(f32::from_bits(n)))),
        (Kind::Fixed64, Payload::Fixed64(n)) => Box::new(CelUInt::from(n)),
        (Kind::Sfixed64, Payload::Fixed64(n)) => Box::new(CelInt::from(n as i64)),
        (Kind::Double, Payload::Fixed64(n)) => Box::new(CelDouble::from(f64::from_bits(n))),
        (Kind::String, Payload::Bytes(bytes)) => match std::str::from_utf8(bytes) {
            Ok(text) => Box::new(CelString::from(text)),
            Err(_) => Box::new(CelString::from(String::from_utf8_lossy(bytes).into_owned())),
        },
        (Kind::Bytes, Payload::Bytes(bytes)) => Box::new(CelBytes::from(bytes)),
        (Kind::Message(message), Payload::Bytes(bytes)) => message_value(message, bytes),
        _ => return None,
    })
}

fn message_value<'a>(descriptor: &MessageDescriptor, bytes: &'a [u8]) -> Box<dyn Val + 'a> {
    let full_name = descriptor.full_name();
    if full_name == TIMESTAMP {
        let (mut seconds, mut nanos) = (0i64, 0u32);
        for (number, payload) in Fields(bytes) {
            match (number, payload) {
                #[allow(clippy::cast_possible_wrap, reason = "int64 on the wire")]
                (1, Payload::Varint(n)) => seconds = n as i64,
                #[allow(clippy::cast_possible_truncation, reason = "int32 on the wire")]
                (2, Payload::Varint(n)) => nanos = u32::try_from(n as i32).unwrap_or(0),
                _ => {}
            }
        }
        return match chrono::DateTime::from_timestamp(seconds, nanos) {
            Some(time) => Box::new(CelTimestamp::from(time.fixed_offset())),
            None => Box::new(CelNull),
        };
    }
    if is_scalar_message(full_name) {
        // Wrappers hold their value in field 1.
        return match descriptor.get_field(1) {
            Some(field) => {
                MessageVal::new(bytes, descriptor.clone()).field(&field).unwrap_or_else(|| Box::new(CelNull))
            }
            None => Box::new(CelNull),
        };
    }
    Box::new(MessageVal::new(bytes, descriptor.clone()))
}

fn default_value<'a>(kind: &Kind) -> Box<dyn Val + 'a> {
    match kind {
        Kind::Bool => Box::new(CelBool::from(false)),
        Kind::Int32 | Kind::Int64 | Kind::Sint32 | Kind::Sint64 | Kind::Sfixed32 | Kind::Sfixed64 => {
            Box::new(CelInt::from(0))
        }
        Kind::Enum(enumeration) => Box::new(CelInt::from(i64::from(enumeration.default_value().number()))),
        Kind::Uint32 | Kind::Uint64 | Kind::Fixed32 | Kind::Fixed64 => Box::new(CelUInt::from(0)),
        Kind::Float | Kind::Double => Box::new(CelDouble::from(0.0)),
        Kind::String => Box::new(CelString::from("")),
        Kind::Bytes => Box::new(CelBytes::from(&[][..])),
        Kind::Message(_) => Box::new(CelNull),
    }
}

#[cfg(test)]
mod tests {
    use cel::common::types::Kind as CelKind;
    use flowlog_flow::{Endpoint, Flow, IpTraceId, Verdict};
    use prost::Message;

    use super::*;

    fn get<'a>(message: &MessageVal<'a>, name: &str) -> Option<Box<dyn Val + 'a>> {
        message.field(&message.descriptor.get_field_by_name(name).unwrap())
    }

    #[test]
    fn reads_fields_from_the_encoding() {
        let flow = Flow {
            verdict: Verdict::Dropped as i32,
            node_name: "node".to_owned(),
            ip_trace_id: Some(IpTraceId { trace_id: u64::MAX, ip_option_type: 0 }),
            source: Some(Endpoint { labels: vec!["a".to_owned(), "b".to_owned()], ..Default::default() }),
            is_reply: Some(false),
            ..Default::default()
        };
        let bytes = flow.encode_to_vec();
        let message = MessageVal::new(&bytes, descriptors::message("flow.Flow"));
        assert_eq!(message.get_type().kind(), CelKind::Struct);
        assert!(get(&message, "verdict").unwrap().equals(&CelInt::from(2)));
        assert!(get(&message, "node_name").unwrap().equals(&CelString::from("node")));
        assert!(get(&message, "uuid").unwrap().equals(&CelString::from("")));
        assert!(get(&message, "is_reply").unwrap().equals(&CelBool::from(false)));
        assert!(get(&message, "l4").is_none());
        assert!(get(&message, "destination").is_none());
        let source = get(&message, "source").unwrap();
        let labels = source.as_indexer().unwrap().get(&CelString::from("labels")).unwrap();
        assert_eq!(labels.get_type().kind(), CelKind::List);
        let trace = get(&message, "ip_trace_id").unwrap();
        let id = trace.as_indexer().unwrap().get(&CelString::from("trace_id")).unwrap();
        assert!(id.equals(&CelUInt::from(u64::MAX)));
    }

    #[test]
    fn zigzag_and_negative_varints() {
        assert!(decode(&Kind::Sint32, Payload::Varint(3)).unwrap().equals(&CelInt::from(-2)), "zigzag 3 is -2");
        assert!(decode(&Kind::Int32, Payload::Varint(u64::MAX)).unwrap().equals(&CelInt::from(-1)));
    }
}
