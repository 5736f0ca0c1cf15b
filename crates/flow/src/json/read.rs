//! Reading export lines: the decoder generated from the schema
//! (`build/json_decode_codegen.rs`) and the helpers it reads each kind of
//! field with, on serde_json's parser.
//!
//! It accepts what Go's protojson reader (Cilium, `hubble observe -o jsonpb`)
//! accepts:
//!
//! - keys by their proto name (`pod_name`, `IP`) or lowerCamelCase JSON name
//!   (`podName`); keys the schema does not have are skipped and counted;
//! - enums by name (`"FORWARDED"`) or number (`1`, any number);
//! - integers as numbers or strings (`"42"`), 64-bit or not, and as
//!   numbers with an exponent or a zero fraction (`1e3`, `5.0`) when the
//!   value is whole;
//! - timestamps in RFC 3339 with any offset (`2023-08-21T14:12:18+02:00`)
//!   and 0 to 9 fraction digits;
//! - wrapper values (`is_reply`) bare;
//! - `null` for any field, which leaves it unset (empty for a list);
//! - `Any` as `{"@type":"type.googleapis.com/<name>",<payload fields>}`.
//!
//! Anything else is an error that says what was expected, and where
//! (serde_json's column).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use prost_types::{Any, Timestamp};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::ExportEvent;

mod generated {
    include!(concat!(env!("OUT_DIR"), "/hubble_json_read.rs"));
}

/// A message whose fields are read from JSON; generated for every message.
pub trait ReadFields: Default {
    /// Reads the value of `key` into the field it names; a key this message
    /// does not have is skipped and counted in `unknown`.
    fn read_field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A, unknown: &mut u32)
    -> Result<(), A::Error>;
}

/// One export line read: the event, and how many keys were not in the schema.
///
/// The line is a `&str`: serde_json then reads its strings without checking
/// their UTF-8 one by one, which took a sixth of the time.
pub fn read_event(line: &str) -> Result<(Option<ExportEvent>, u32), serde_json::Error> {
    let mut unknown = 0;
    let mut json = serde_json::Deserializer::from_str(line);
    let event = MessageSeed::<ExportEvent>::new(&mut unknown).deserialize(&mut json)?;
    json.end()?;
    Ok((event, unknown))
}

/// A key, borrowed from the line when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Reads a message; `None` for `null`.
#[derive(Debug)]
pub struct MessageSeed<'a, T> {
    unknown: &'a mut u32,
    message: PhantomData<T>,
}

impl<'a, T> MessageSeed<'a, T> {
    /// A seed counting unknown keys into `unknown`.
    pub fn new(unknown: &'a mut u32) -> Self {
        MessageSeed { unknown, message: PhantomData }
    }
}

impl<'de, T: ReadFields> DeserializeSeed<'de> for MessageSeed<'_, T> {
    type Value = Option<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, T: ReadFields> Visitor<'de> for MessageSeed<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        deserializer.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let mut message = T::default();
        while let Some(Key(key)) = map.next_key::<Key>()? {
            message.read_field(&key, &mut map, self.unknown)?;
        }
        Ok(Some(message))
    }
}

/// Reads a list of messages; `null` is empty, a `null` element an error.
#[derive(Debug)]
pub struct MessageListSeed<'a, T> {
    unknown: &'a mut u32,
    message: PhantomData<T>,
}

impl<'a, T> MessageListSeed<'a, T> {
    /// A seed counting unknown keys into `unknown`.
    pub fn new(unknown: &'a mut u32) -> Self {
        MessageListSeed { unknown, message: PhantomData }
    }
}

impl<'de, T: ReadFields> DeserializeSeed<'de> for MessageListSeed<'_, T> {
    type Value = Vec<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<T>, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, T: ReadFields> Visitor<'de> for MessageListSeed<'_, T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of objects, or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<T>, D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(MessageSeed::<T>::new(self.unknown))? {
            items.push(item.ok_or_else(|| de::Error::custom("null is not an element of a list"))?);
        }
        Ok(items)
    }
}

/// A value of one kind, read by its own rules; `.0` is what the field holds.
pub trait Plain<'de>: Deserialize<'de> {
    /// What the field holds.
    type Out;
    /// Unwraps it.
    fn out(self) -> Self::Out;
}

/// A bool; `null` is false.
#[derive(Debug)]
pub struct Bool(pub bool);

impl<'de> Deserialize<'de> for Bool {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<bool>::deserialize(deserializer).map(|value| Bool(value.unwrap_or_default()))
    }
}

impl Plain<'_> for Bool {
    type Out = bool;
    fn out(self) -> bool {
        self.0
    }
}

/// A string; `null` is empty.
#[derive(Debug)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<String>::deserialize(deserializer).map(|value| Text(value.unwrap_or_default()))
    }
}

impl Plain<'_> for Text {
    type Out = String;
    fn out(self) -> String {
        self.0
    }
}

/// An integer of any width, from a number or a string; `null` is 0.
#[derive(Debug)]
pub struct Int<T>(pub T);

impl<'de, T> Deserialize<'de> for Int<T>
where
    T: TryFrom<i64> + TryFrom<u64> + FromStr + Default,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(IntVisitor(PhantomData)).map(Int)
    }
}

impl<'de, T: TryFrom<i64> + TryFrom<u64> + FromStr + Default> Plain<'de> for Int<T> {
    type Out = T;
    fn out(self) -> T {
        self.0
    }
}

struct IntVisitor<T>(PhantomData<T>);

impl<T: TryFrom<i64> + TryFrom<u64> + FromStr + Default> IntVisitor<T> {
    fn out_of_range<E: de::Error>(value: impl fmt::Display) -> E {
        E::custom(format_args!("{value} is out of range for {}", std::any::type_name::<T>()))
    }
}

impl<'de, T: TryFrom<i64> + TryFrom<u64> + FromStr + Default> Visitor<'de> for IntVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer, as a number or a string")
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| Self::out_of_range(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| Self::out_of_range(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        // protojson takes 1e3 and 5.0 for integers, when they are whole.
        if v.fract() != 0.0 || !v.is_finite() {
            return Err(E::custom(format_args!("{v} is not an integer")));
        }
        if v < 0.0 {
            if v < i64::MIN as f64 {
                return Err(Self::out_of_range(v));
            }
            self.visit_i64(v as i64)
        } else {
            if v > u64::MAX as f64 {
                return Err(Self::out_of_range(v));
            }
            self.visit_u64(v as u64)
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        match v.parse::<T>() {
            Ok(value) => Ok(value),
            // "1e3" and "5.0" as strings too.
            Err(_) => match v.parse::<f64>() {
                Ok(number) if !v.trim().is_empty() && !v.starts_with(['+', ' ']) => self.visit_f64(number),
                _ => Err(E::custom(format_args!("{v:?} is not an integer"))),
            },
        }
    }
}

/// A timestamp in RFC 3339; `null` is unset.
#[derive(Debug)]
pub struct Time(pub Option<Timestamp>);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Some(text) = Option::<Cow<'de, str>>::deserialize(deserializer)? else { return Ok(Time(None)) };
        parse_timestamp(&text).map(|ts| Time(Some(ts))).map_err(de::Error::custom)
    }
}

impl Plain<'_> for Time {
    type Out = Option<Timestamp>;
    fn out(self) -> Option<Timestamp> {
        self.0
    }
}

/// An RFC 3339 timestamp (`2023-08-21T12:12:18.510175415Z`, any offset) as
/// seconds and nanoseconds since the Unix epoch.
pub fn parse_timestamp(text: &str) -> Result<Timestamp, String> {
    let time = chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|error| format!("{text:?} is not an RFC 3339 timestamp: {error}"))?;
    Ok(Timestamp { seconds: time.timestamp(), nanos: time.timestamp_subsec_nanos() as i32 })
}

/// A wrapper value: bare, `null` unset.
#[derive(Debug)]
pub struct Maybe<T>(pub Option<T>);

impl<'de, P: Plain<'de>> Deserialize<'de> for Maybe<P> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<P>::deserialize(deserializer).map(|value| Maybe(value))
    }
}

impl<'de, P: Plain<'de>> Plain<'de> for Maybe<P> {
    type Out = Option<P::Out>;
    fn out(self) -> Option<P::Out> {
        self.0.map(Plain::out)
    }
}

/// A list of plain values; `null` is empty.
#[derive(Debug)]
pub struct List<P>(pub Vec<P>);

impl<'de, P: Plain<'de>> Deserialize<'de> for List<P> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<Vec<P>>::deserialize(deserializer).map(|items| List(items.unwrap_or_default()))
    }
}

impl<'de, P: Plain<'de>> Plain<'de> for List<P> {
    type Out = Vec<P::Out>;
    fn out(self) -> Vec<P::Out> {
        self.0.into_iter().map(Plain::out).collect()
    }
}

/// Reads an enum by name or number; `null` is 0.
#[derive(Debug)]
pub struct EnumSeed(pub fn(&str) -> Option<i32>);

impl<'de> DeserializeSeed<'de> for EnumSeed {
    type Value = i32;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<i32, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EnumSeed {
    type Value = i32;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an enum value, by name or number")
    }

    fn visit_unit<E: de::Error>(self) -> Result<i32, E> {
        Ok(0)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i32, E> {
        i32::try_from(v).map_err(|_| E::custom(format_args!("{v} is out of range for an enum")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i32, E> {
        i32::try_from(v).map_err(|_| E::custom(format_args!("{v} is out of range for an enum")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<i32, E> {
        (self.0)(v).ok_or_else(|| E::custom(format_args!("{v:?} is not a value of this enum")))
    }
}

/// Reads a list of enums; `null` is empty.
#[derive(Debug)]
pub struct EnumListSeed(pub fn(&str) -> Option<i32>);

impl<'de> DeserializeSeed<'de> for EnumListSeed {
    type Value = Vec<i32>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<i32>, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for EnumListSeed {
    type Value = Vec<i32>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of enum values, or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Vec<i32>, E> {
        Ok(Vec::new())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Vec<i32>, E> {
        Ok(Vec::new())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<i32>, D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<i32>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(EnumSeed(self.0))? {
            items.push(item);
        }
        Ok(items)
    }
}

/// Reads a `google.protobuf.Any`; `None` for `null`.
#[derive(Debug)]
pub struct AnySeed<'a> {
    unknown: &'a mut u32,
}

impl<'a> AnySeed<'a> {
    /// A seed counting the payload's unknown keys into `unknown`.
    pub fn new(unknown: &'a mut u32) -> Self {
        AnySeed { unknown }
    }
}

impl<'de> DeserializeSeed<'de> for AnySeed<'_> {
    type Value = Option<Any>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<Any>, D::Error> {
        // `@type` may come after the payload's fields: read the object whole.
        let Some(serde_json::Value::Object(mut object)) = Option::<serde_json::Value>::deserialize(deserializer)?
        else {
            return Ok(None);
        };
        let Some(serde_json::Value::String(type_url)) = object.remove("@type") else {
            return Err(de::Error::custom("an Any without a string \"@type\""));
        };
        let full_name = type_url.rsplit('/').next().unwrap_or_default();
        let payload = generated::read_any_message(full_name, serde_json::Value::Object(object), self.unknown)
            .ok_or_else(|| de::Error::custom(format_args!("an Any of unknown type {type_url:?}")))?
            .map_err(de::Error::custom)?;
        Ok(Some(Any { type_url, value: payload }))
    }
}

/// An `Any`'s payload of type `T`, read from its fields and encoded.
pub(crate) fn any_payload<T: ReadFields + prost::Message>(
    value: serde_json::Value,
    unknown: &mut u32,
) -> Result<Vec<u8>, serde_json::Error> {
    let message = MessageSeed::<T>::new(unknown).deserialize(value)?.unwrap_or_default();
    Ok(message.encode_to_vec())
}
