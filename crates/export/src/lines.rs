//! Export lines, encoded at most once per event and field mask however many
//! consumers ask for them.
//!
//! Consumers that write JSON lines hold their field mask as a [`SharedMask`]
//! from the pipeline's [`Masks`], which makes equal masks one mask. The
//! pipeline hands each event to the consumers as an [`Event`]; the first
//! consumer to ask for the event's line with a mask encodes it, the others
//! get the same bytes.

use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use flowlog_filter::FieldMask;
use flowlog_flow::ExportEvent;
use flowlog_flow::json::{EncodeError, encode_line};

/// The field masks of one pipeline's consumers, each kept once. Cloning
/// shares them.
#[derive(Debug, Clone, Default)]
pub struct Masks(Arc<Mutex<Vec<Weak<FieldMask>>>>);

/// A field mask shared by every consumer that uses an equal one.
///
/// Equality is by the mask's paths; within one pipeline, equal masks from
/// [`Masks::share`] are also one allocation, which is what makes an event
/// encode once for all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedMask(Arc<FieldMask>);

impl Masks {
    /// The pipeline's copy of `mask`: the one already in use by another
    /// consumer if there is one, else `mask`, now shared.
    ///
    /// Called when a consumer is built, never per event. Masks no consumer
    /// holds any more are forgotten.
    pub fn share(&self, mask: &FieldMask) -> SharedMask {
        let mut masks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        masks.retain(|weak| weak.strong_count() > 0);
        if let Some(existing) = masks.iter().filter_map(Weak::upgrade).find(|existing| **existing == *mask) {
            return SharedMask(existing);
        }
        let shared = Arc::new(mask.clone());
        masks.push(Arc::downgrade(&shared));
        SharedMask(shared)
    }
}

impl SharedMask {
    /// The mask.
    pub fn mask(&self) -> &FieldMask {
        &self.0
    }

    /// The identity the line cache knows this mask by.
    fn key(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }
}

/// One event on its way through the pipeline, with its lines as encoded so far.
#[derive(Debug)]
pub struct Event<'a> {
    event: &'a Arc<ExportEvent>,
    lines: &'a mut Lines,
}

/// The lines of the current event: where in `scratch` each mask's line is.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    scratch: Vec<u8>,
    /// (mask key, line) for each mask the event was encoded with; a handful
    /// at most, so a scan beats a map.
    encoded: Vec<(usize, Range<usize>)>,
}

impl Lines {
    /// `event`, with no line encoded yet.
    pub(crate) fn start<'a>(&'a mut self, event: &'a Arc<ExportEvent>) -> Event<'a> {
        self.scratch.clear();
        self.encoded.clear();
        Event { event, lines: self }
    }
}

impl Event<'_> {
    /// The event.
    pub fn get(&self) -> &ExportEvent {
        self.event
    }

    /// The event itself, for a consumer that keeps it (the Hubble server's
    /// ring buffer): a reference count, never a copy.
    pub fn shared(&self) -> Arc<ExportEvent> {
        Arc::clone(self.event)
    }

    /// The event's export line shaped by `mask`, ending in `\n`: encoded on
    /// the first ask, the same bytes on every later one.
    ///
    /// Fails when the event holds a value JSON cannot express (Cilium
    /// refuses such events too).
    pub fn line(&mut self, mask: &SharedMask) -> Result<&[u8], EncodeError> {
        let key = mask.key();
        let lines = &mut *self.lines;
        let range = match lines.encoded.iter().find(|(k, _)| *k == key) {
            Some((_, range)) => range.clone(),
            None => {
                let start = lines.scratch.len();
                if let Err(error) = encode_line(self.event, mask.mask().selection(), &mut lines.scratch) {
                    lines.scratch.truncate(start);
                    return Err(error);
                }
                let range = start..lines.scratch.len();
                lines.encoded.push((key, range.clone()));
                range
            }
        };
        Ok(&lines.scratch[range])
    }
}

#[cfg(test)]
mod tests {
    use flowlog_flow::export_event::ResponseTypes;
    use flowlog_flow::{Flow, Verdict};

    use super::*;

    #[test]
    fn equal_masks_are_one_and_encode_once() {
        let masks = Masks::default();
        let verdict = masks.share(&FieldMask::new(["verdict"]).unwrap());
        let again = masks.share(&FieldMask::new(["verdict"]).unwrap());
        let whole = masks.share(&FieldMask::default());
        assert_eq!(verdict.key(), again.key());
        assert_ne!(verdict.key(), whole.key());

        let flow = Flow { verdict: Verdict::Dropped as i32, uuid: "u".into(), ..Default::default() };
        let event = Arc::new(ExportEvent { response_types: Some(ResponseTypes::Flow(flow)), ..Default::default() });
        let mut lines = Lines::default();
        let mut offered = lines.start(&event);
        assert_eq!(offered.line(&verdict).unwrap(), b"{\"flow\":{\"verdict\":\"DROPPED\"}}\n");
        assert_eq!(offered.line(&whole).unwrap(), b"{\"flow\":{\"uuid\":\"u\",\"verdict\":\"DROPPED\"}}\n");
        assert_eq!(offered.line(&again).unwrap(), b"{\"flow\":{\"verdict\":\"DROPPED\"}}\n");
        assert_eq!(lines.encoded.len(), 2, "one line per distinct mask");

        drop((verdict, again));
        masks.share(&FieldMask::default());
        assert_eq!(masks.0.lock().unwrap().len(), 1, "masks nobody holds are forgotten");
    }
}
