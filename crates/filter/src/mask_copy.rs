//! A field mask applied to a flow itself, for the Hubble API's
//! `GetFlowsRequest.field_mask` (the exporters apply masks while encoding
//! JSON instead).
//!
//! The flow is encoded once and the protobuf records the mask does not
//! select are skipped, descending into the selected message fields that
//! have a sub-selection; what remains is decoded as the masked flow. This
//! works for every field of the schema, present and future, with no code
//! per field.

use flowlog_flow::Flow;
use flowlog_flow::json::Selection;
use prost::Message;
use prost::encoding::{WireType, decode_varint, encode_varint};

use crate::FieldMask;

impl FieldMask {
    /// `flow` with only the fields the mask selects; the whole flow when
    /// the mask is empty.
    pub fn apply(&self, flow: &Flow) -> Flow {
        let Some(selection) = self.selection() else { return flow.clone() };
        let encoded = flow.encode_to_vec();
        let mut kept = Vec::with_capacity(encoded.len());
        // The bytes are prost's own encoding: neither step can fail on them.
        match keep(&encoded, selection, &mut kept) {
            Some(()) => Flow::decode(kept.as_slice()).unwrap_or_default(),
            None => Flow::default(),
        }
    }
}

/// Appends to `out` the records of the message `input` that `selection`
/// keeps; `None` if `input` is not a valid encoding.
fn keep(mut input: &[u8], selection: &Selection, out: &mut Vec<u8>) -> Option<()> {
    while !input.is_empty() {
        let record = input;
        let key = decode_varint(&mut input).ok()?;
        let number = u32::try_from(key >> 3).ok()?;
        let value_start = record.len() - input.len();
        let payload = match WireType::try_from(key & 7).ok()? {
            WireType::Varint => {
                decode_varint(&mut input).ok()?;
                None
            }
            WireType::SixtyFourBit => {
                input = input.get(8..)?;
                None
            }
            WireType::ThirtyTwoBit => {
                input = input.get(4..)?;
                None
            }
            WireType::LengthDelimited => {
                let length = usize::try_from(decode_varint(&mut input).ok()?).ok()?;
                let payload = input.get(..length)?;
                input = &input[length..];
                Some(payload)
            }
            WireType::StartGroup | WireType::EndGroup => return None,
        };
        let whole = &record[..record.len() - input.len()];
        match (selection.get(number).map(|field| field.sub.as_ref()), payload) {
            (None, _) => {}
            (Some(Some(sub)), Some(payload)) => {
                let mut inner = Vec::new();
                keep(payload, sub, &mut inner)?;
                out.extend_from_slice(&record[..value_start]);
                encode_varint(inner.len() as u64, out);
                out.extend_from_slice(&inner);
            }
            (Some(_), _) => out.extend_from_slice(whole),
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use flowlog_flow::synthetic::FlowGenerator;
    use flowlog_flow::{Endpoint, Verdict};

    use super::*;

    #[test]
    fn keeps_only_the_selected_fields_at_every_depth() {
        let flow = FlowGenerator::new(7, "node").next_flow();
        let mask = FieldMask::new(["verdict", "source.pod_name", "l4", "destination"]).unwrap();
        let masked = mask.apply(&flow);
        assert_eq!(masked.verdict, flow.verdict);
        assert_eq!(masked.l4, flow.l4);
        assert_eq!(masked.destination, flow.destination);
        let source = flow.source.as_ref().unwrap();
        assert_eq!(masked.source, Some(Endpoint { pod_name: source.pod_name.clone(), ..Default::default() }));
        assert_eq!(
            Flow {
                verdict: flow.verdict,
                l4: flow.l4.clone(),
                destination: flow.destination.clone(),
                source: masked.source.clone(),
                ..Default::default()
            },
            masked,
            "nothing else is kept"
        );
    }

    #[test]
    fn an_empty_mask_keeps_the_whole_flow() {
        let flow = Flow { verdict: Verdict::Dropped as i32, uuid: "u".into(), ..Default::default() };
        assert_eq!(FieldMask::default().apply(&flow), flow);
    }
}
