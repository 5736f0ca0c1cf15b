//! `ServerStatus`: the ring's figures, the uptime, and the flow rate.

use std::time::{Duration, SystemTime};

use super::{event_time, is_flow};
use crate::ring::{Read, Ring};

/// The window the flow rate is measured over (Hubble's minute).
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Flows per second over the last minute, from the flows in the ring: the
/// flows of the last minute over the time they span, or over the minute
/// when the ring holds more than a minute. Read back from the newest flow
/// without counting anything as lost (the ring's start is not a loss:
/// cilium/cilium#46584).
pub fn flow_rate(ring: &Ring, now: SystemTime) -> f64 {
    let window_start = now.checked_sub(RATE_WINDOW).unwrap_or(SystemTime::UNIX_EPOCH);
    let mut count = 0u64;
    let mut earliest = None;
    let oldest = ring.oldest();
    let mut position = ring.written();
    while position > oldest {
        position -= 1;
        let Read::Event(event) = ring.read(position) else { break };
        if !is_flow(&event) {
            continue;
        }
        let Some(time) = event_time(&event) else { continue };
        if time < window_start {
            earliest = Some(window_start);
            break;
        }
        count += 1;
        earliest = Some(time);
    }
    match earliest.and_then(|earliest| now.duration_since(earliest).ok()) {
        Some(span) if count > 0 && !span.is_zero() => count as f64 / span.as_secs_f64(),
        _ => 0.0,
    }
}
