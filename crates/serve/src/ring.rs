//! The ring buffer of recent events, as Hubble's (`pkg/hubble/container/ring.go`):
//! one writer that never waits, any number of readers that each keep their
//! own position and notice when the writer has lapped them.
//!
//! Positions count every event ever written: position `p` lives in slot
//! `p mod 2^n`. The ring holds `2^n − 1` events, so the slot the writer is
//! about to fill is never one a reader may read (Hubble keeps the same
//! spare slot). A reader whose position has been overwritten is told how
//! many events it missed and moves on to the oldest one left.
//!
//! Each slot has its own lock, held only to swap or clone a reference
//! count: the writer never waits for a reader for longer than that, and a
//! slow reader only ever slows itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use flowlog_flow::ExportEvent;
use tokio::sync::Notify;

/// How many events a ring holds: one less than a power of two, from 1 to
/// 65535 (Hubble's rule; its default is 4095).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity(u64);

/// A capacity that is not one less than a power of two.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0} is not a ring buffer capacity: it must be one less than a power of two, from 1 to 65535 (4095 by default)"
)]
pub struct CapacityError(pub u64);

impl Capacity {
    /// Hubble's default: 4095 events.
    pub const DEFAULT: Capacity = Capacity(4095);

    /// `events`, if it is one less than a power of two and at most 65535.
    pub fn new(events: u64) -> Result<Self, CapacityError> {
        match events.checked_add(1) {
            Some(slots) if (1..=65535).contains(&events) && slots.is_power_of_two() => Ok(Capacity(events)),
            _ => Err(CapacityError(events)),
        }
    }

    /// The number of events.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl std::str::FromStr for Capacity {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let events = text.trim().parse().map_err(|_| format!("{text:?} is not a number of events"))?;
        Capacity::new(events).map_err(|error| error.to_string())
    }
}

/// What a reader finds at its position.
#[derive(Debug)]
pub enum Read {
    /// The event written there.
    Event(Arc<ExportEvent>),
    /// The writer has overwritten it and `missed` more events: read on at
    /// `next`, the oldest event left.
    Lapped {
        /// How many events were lost to this reader.
        missed: u64,
        /// Where the ring's oldest event is now.
        next: u64,
    },
    /// Nothing has been written there yet.
    Ahead,
}

/// The ring. Shared between the pipeline's thread, which writes, and the
/// server's, which read.
#[derive(Debug)]
pub struct Ring {
    slots: Box<[Mutex<Slot>]>,
    capacity: u64,
    /// The position of the next write: how many events were ever written.
    written: AtomicU64,
    /// Wakes readers waiting for the next write.
    wake: Notify,
}

#[derive(Debug, Default)]
struct Slot {
    position: u64,
    event: Option<Arc<ExportEvent>>,
}

impl Ring {
    /// An empty ring of `capacity` events.
    pub fn new(capacity: Capacity) -> Self {
        let slots = (0..=capacity.0).map(|_| Mutex::default()).collect();
        Self { slots, capacity: capacity.0, written: AtomicU64::new(0), wake: Notify::new() }
    }

    /// Writes `event` over the oldest one, which it returns. Only one thread
    /// writes; it never waits for readers beyond a slot's swap. Readers
    /// waiting for it are woken by [`wake_readers`](Self::wake_readers), not
    /// here, so that a burst costs one wake-up.
    pub fn push(&self, event: Arc<ExportEvent>) -> Option<Arc<ExportEvent>> {
        let position = self.written.load(Ordering::Relaxed);
        let overwritten = {
            let mut slot = self.slot(position).lock().unwrap_or_else(PoisonError::into_inner);
            slot.position = position;
            slot.event.replace(event)
        };
        self.written.store(position + 1, Ordering::Release);
        overwritten
    }

    /// Wakes every reader waiting for an event beyond the last.
    pub fn wake_readers(&self) {
        self.wake.notify_waiters();
    }

    /// What is at `position`.
    pub fn read(&self, position: u64) -> Read {
        if position >= self.written() {
            return Read::Ahead;
        }
        let lapped = || {
            let next = self.oldest();
            Read::Lapped { missed: next.saturating_sub(position).max(1), next: next.max(position + 1) }
        };
        // The spare slot may still hold the event just out of the ring.
        if position < self.oldest() {
            return lapped();
        }
        let slot = self.slot(position).lock().unwrap_or_else(PoisonError::into_inner);
        match &slot.event {
            Some(event) if slot.position == position => Read::Event(Arc::clone(event)),
            _ => {
                drop(slot);
                lapped()
            }
        }
    }

    /// Returns once an event exists at `position` (at once if it does).
    pub async fn written_beyond(&self, position: u64) {
        loop {
            let woken = self.wake.notified();
            tokio::pin!(woken);
            // Registered before looking, so a wake between the look and
            // the wait is not missed.
            woken.as_mut().enable();
            if position < self.written() {
                return;
            }
            woken.await;
        }
    }

    /// How many events were ever written: the position of the next.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// The position of the oldest event still held.
    pub fn oldest(&self) -> u64 {
        self.written().saturating_sub(self.capacity)
    }

    /// How many events it holds now.
    pub fn len(&self) -> u64 {
        self.written().min(self.capacity)
    }

    /// True before the first write.
    pub fn is_empty(&self) -> bool {
        self.written() == 0
    }

    /// How many events it can hold.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    fn slot(&self, position: u64) -> &Mutex<Slot> {
        // The slot count is a power of two: the mask is a modulo.
        &self.slots[(position & self.capacity) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u64) -> Arc<ExportEvent> {
        Arc::new(ExportEvent { node_name: n.to_string(), ..Default::default() })
    }

    fn name(read: Read) -> String {
        match read {
            Read::Event(event) => event.node_name.clone(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn capacities_are_one_less_than_a_power_of_two() {
        for good in [1, 3, 7, 4095, 65535] {
            assert_eq!(Capacity::new(good).unwrap().get(), good);
        }
        for bad in [0, 2, 4, 4096, 5000, 131071, u64::MAX] {
            assert_eq!(Capacity::new(bad), Err(CapacityError(bad)));
        }
        assert!("4096".parse::<Capacity>().unwrap_err().contains("one less than a power of two"));
        assert!("many".parse::<Capacity>().unwrap_err().contains("not a number"));
    }

    #[test]
    fn readers_see_the_last_capacity_events_and_learn_what_they_missed() {
        let ring = Ring::new(Capacity::new(3).unwrap());
        assert!(matches!(ring.read(0), Read::Ahead));
        for n in 0..5 {
            let _ = ring.push(event(n));
        }
        assert_eq!((ring.len(), ring.oldest(), ring.written()), (3, 2, 5));
        assert_eq!(name(ring.read(0)), "Lapped { missed: 2, next: 2 }");
        assert_eq!(name(ring.read(1)), "Lapped { missed: 1, next: 2 }");
        assert_eq!([2, 3, 4].map(|p| name(ring.read(p))), ["2", "3", "4"]);
        assert!(matches!(ring.read(5), Read::Ahead));
    }

    #[tokio::test]
    async fn a_waiting_reader_is_woken_by_the_next_write() {
        let ring = Arc::new(Ring::new(Capacity::new(7).unwrap()));
        let waiting = tokio::spawn({
            let ring = Arc::clone(&ring);
            async move { ring.written_beyond(0).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        let _ = ring.push(event(0));
        ring.wake_readers();
        waiting.await.unwrap();
        // Already written: no wait at all.
        ring.written_beyond(0).await;
    }
}
