//! Holding a whole-frame encrypted frame while a consumer waits for a keyframe of its stream:
//! the keyframe verdict (`codecs::blind`) comes with the frame's last packet, and then the
//! whole frame must go out from its first packet. The consumer copies the packets of the
//! stream's current frame only while it waits.

use super::{Consumer, ConsumerType, SourcePacket};
use crate::core::codecs::blind;
use std::time::{Duration, Instant};

/// How long a consumer waits for a keyframe it can recognise before it starts at a base-layer
/// frame anyway (see `codecs::blind`): the keyframe asked for when it began to wait came long
/// before (a round trip and a frame or two: a recognisable one is taken within ~100 ms), and
/// the request has been repeated once.
const GIVE_UP: Duration = Duration::from_millis(1200);

/// The current frame of a whole-frame encrypted stream, held (copied) while the consumer
/// waits for a keyframe of it: the verdict comes with the frame's last packet, and then the
/// whole frame must go out, from its first packet.
#[derive(Default)]
pub struct Held {
    pub encoding: usize,
    ts: u32,
    /// Holding a frame from its first packet (a frame joined midway is not held).
    open: bool,
    /// The frame ended as a keyframe: send it.
    pub ready: bool,
    /// Since when the consumer waits for a keyframe of `encoding`.
    waiting_since: Option<(usize, Instant)>,
    pub packets: Vec<HeldPacket>,
}

pub struct HeldPacket {
    pub data: Vec<u8>,
    pub mapped_pt: u8,
    pub seq: u16,
    pub payload_off: usize,
}

impl Consumer {
    /// Whether the consumer waits for a keyframe of producer encoding `encoding` (its
    /// outgoing stream `si`): a simulcast consumer switching to it, or any consumer that
    /// needs a keyframe to start or resume.
    fn waits_for_keyframe(&mut self, now: Instant, si: usize, encoding: usize) -> bool {
        let required = self.streams[si].keyframe_required;
        match &mut self.ctype {
            ConsumerType::Simulcast(sim) => {
                sim.waits_for_keyframe(now, encoding) || (required && sim.current == Some(encoding))
            }
            _ => required,
        }
    }

    /// For a packet of a whole-frame encrypted stream (`src.blind` set): holds it if the
    /// consumer waits for a keyframe of its stream (true: it is not forwarded now); else lets go
    /// of what it held from an earlier wait on that stream.
    pub(super) fn held_while_waiting(
        &mut self,
        now: Instant,
        si: usize,
        src: &SourcePacket<'_>,
    ) -> bool {
        let Some(mark) = src.blind else {
            return false;
        };
        if self.waits_for_keyframe(now, si, src.encoding) {
            self.hold(now, src, mark);
            return true;
        }
        // No longer waiting on this stream (switched, or the target moved): let go of it.
        if self
            .held
            .as_ref()
            .is_some_and(|h| h.waiting_since.is_some_and(|(e, _)| e == src.encoding))
        {
            self.held = None;
        }
        false
    }

    /// Keeps a copy of a packet of the frame it waits on (see `Held`).
    fn hold(&mut self, now: Instant, src: &SourcePacket<'_>, mark: blind::Mark) {
        let h = self.held.get_or_insert_with(Default::default);
        let ts = src.view.timestamp();
        if h.waiting_since.is_none_or(|(e, _)| e != src.encoding) {
            h.waiting_since = Some((src.encoding, now));
        }
        if mark.frame_start {
            h.encoding = src.encoding;
            h.ts = ts;
            h.open = true;
            h.ready = false;
            h.packets.clear();
        } else if !h.open || h.encoding != src.encoding || h.ts != ts {
            return;
        }
        h.packets.push(HeldPacket {
            data: src.view.buf.to_vec(),
            mapped_pt: src.mapped_pt,
            seq: src.seq,
            payload_off: src.payload_off,
        });
        let waited = h
            .waiting_since
            .map_or(Duration::ZERO, |(_, t)| now.duration_since(t));
        if mark.frame_end_key || (mark.frame_end_base && waited >= GIVE_UP) {
            h.ready = true;
        }
    }

    /// The held keyframe, once its last packet came: the router forwards its packets, the
    /// first one marked as a keyframe.
    pub fn take_ready_keyframe(&mut self) -> Option<Box<Held>> {
        if self.held.as_ref().is_some_and(|h| h.ready) {
            self.held.take()
        } else {
            None
        }
    }
}
