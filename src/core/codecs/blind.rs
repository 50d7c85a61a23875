//! Keyframes of end-to-end encrypted frames, inferred without reading them.
//!
//! Under whole-frame encryption (`e2ee: 'whole-frame'`) a VP8 or H264 keyframe cannot be
//! recognised by its bytes: the VP8 payload header's P bit, the H264 NAL type are ciphertext.
//! What stays readable, and what each tells:
//!
//! - **The video-orientation header extension** (urn:3gpp:video-orientation). libwebrtc, the
//!   engine inside Chromium and Firefox, puts it on the last packet of every keyframe, and on
//!   other frames only while the rotation is not 0 or when it changes. So a frame whose last
//!   packet carries it with rotation 0 is a keyframe (or the one frame where a rotation went
//!   back to 0: rare, and recovered from as below). The encoded-transform API keeps a frame's
//!   type, so this survives encryption. It is the precise signal; the others are the fallback
//!   for a sender that does not negotiate the extension or sends a rotated picture.
//! - **Frame size and temporal layer.** A keyframe is several times the size of the delta
//!   frames around it and, with temporal layers, in layer 0 (the VP8 payload descriptor,
//!   added by the packetizer after encryption, stays readable). The SFU also knows when it
//!   asked the sender for a keyframe: a large layer-0 frame shortly after a request is taken as
//!   the answer; without a request it must be much larger.
//! - **The receivers.** A consumer that switched on a wrong guess gets a PLI from its receiver
//!   (it cannot decode); that PLI goes to the sender as every PLI does, and the keyframe it
//!   brings repairs the picture within a round trip.
//! - **A deadline.** Some keyframes look like any other frame: a flat picture (Firefox's fake
//!   camera, a black screen) encodes to a keyframe no larger than its delta frames, and
//!   Firefox sends no orientation extension. A consumer that has waited 1.2 s for a
//!   recognisable keyframe starts at the next whole base-layer frame anyway, leaving the rest
//!   to the receiver's PLI, as an SFU that cannot read keyframes at all would.
//!
//! The verdict comes at a frame's last packet (RTP marker): the frame size is known only
//! then. A consumer waiting for a keyframe of a stream therefore holds that stream's current
//! frame (its own copy, only while it waits) and sends it whole once the verdict is in.

use std::time::{Duration, Instant};

/// A large layer-0 frame within this long of a keyframe request answers it.
const ANSWER_WINDOW: Duration = Duration::from_secs(3);
/// How much larger than the average layer-0 delta frame a keyframe is, at least: after a
/// request, and without one.
const RATIO_REQUESTED: f64 = 2.5;
const RATIO_UNASKED: f64 = 6.0;

/// What the routing of one packet of a blind stream learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    /// The packet starts a frame (first packet of a new RTP timestamp).
    pub frame_start: bool,
    /// The packet ends a frame inferred to be a keyframe.
    pub frame_end_key: bool,
    /// The packet ends a base-layer frame (a keyframe or not): where a consumer that has
    /// waited too long for a recognisable keyframe starts anyway.
    pub frame_end_base: bool,
}

/// Per incoming stream of a whole-frame encrypted VP8 or H264 producer.
#[derive(Debug, Default)]
pub struct BlindKeyframes {
    frame_ts: Option<u32>,
    frame_bytes: usize,
    /// The frame's packets say temporal layer 0 (or carry no temporal layer).
    frame_base_layer: bool,
    /// Average size of the recent layer-0 delta frames (0: none seen yet).
    avg_base: f64,
    /// When the SFU last asked the sender for a keyframe of this stream.
    pub requested_at: Option<Instant>,
    /// Frames judged so far (the first frame of a stream is its keyframe).
    frames: u64,
    /// Keyframes inferred, and how many by the orientation extension (stats, tests).
    pub keyframes: u64,
    pub by_orientation: u64,
}

impl BlindKeyframes {
    /// A media packet (not a retransmission) of the stream: its RTP timestamp and marker,
    /// payload size, temporal layer from the payload descriptor when it has one, and the
    /// video-orientation byte when the packet carries that extension.
    pub fn packet(
        &mut self,
        now: Instant,
        ts: u32,
        marker: bool,
        payload_len: usize,
        tid: Option<u8>,
        orientation: Option<u8>,
    ) -> Mark {
        let mut mark = Mark::default();
        if self.frame_ts != Some(ts) {
            self.frame_ts = Some(ts);
            self.frame_bytes = 0;
            self.frame_base_layer = true;
            mark.frame_start = true;
        }
        self.frame_bytes += payload_len;
        if tid.is_some_and(|t| t > 0) {
            self.frame_base_layer = false;
        }
        if !marker {
            return mark;
        }
        let size = self.frame_bytes as f64;
        let by_orientation = orientation.is_some_and(|o| o & 0x03 == 0);
        let key = if self.frames == 0 || by_orientation {
            true
        } else if !self.frame_base_layer || self.avg_base == 0.0 {
            false
        } else {
            let asked = self
                .requested_at
                .is_some_and(|t| now.duration_since(t) < ANSWER_WINDOW);
            let ratio = if asked {
                RATIO_REQUESTED
            } else {
                RATIO_UNASKED
            };
            size >= ratio * self.avg_base
        };
        self.frames += 1;
        if key {
            self.keyframes += 1;
            self.by_orientation += u64::from(by_orientation);
            // The request is answered: a later large frame needs the stricter ratio.
            self.requested_at = None;
        } else if self.frame_base_layer {
            // An unusually large delta frame (a scene change) moves the average only as far
            // as twice it.
            self.avg_base = if self.avg_base == 0.0 {
                size
            } else {
                self.avg_base + (size.min(2.0 * self.avg_base) - self.avg_base) / 8.0
            };
        }
        mark.frame_end_key = key;
        mark.frame_end_base = self.frame_base_layer;
        mark
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(
        b: &mut BlindKeyframes,
        now: Instant,
        ts: u32,
        bytes: usize,
        tid: u8,
        o: Option<u8>,
    ) -> bool {
        let n = bytes.div_ceil(1000);
        let mut key = false;
        for i in 0..n {
            let last = i + 1 == n;
            let m = b.packet(
                now,
                ts,
                last,
                bytes / n,
                Some(tid),
                if last { o } else { None },
            );
            assert_eq!(m.frame_start, i == 0);
            key = m.frame_end_key;
        }
        key
    }

    #[test]
    fn orientation_on_a_frame_with_rotation_zero_marks_its_keyframe() {
        let now = Instant::now();
        let mut b = BlindKeyframes::default();
        assert!(frame(&mut b, now, 0, 20_000, 0, Some(0)));
        for i in 1..30u32 {
            assert!(!frame(
                &mut b,
                now,
                i * 3000,
                3_000,
                (i % 4 != 0) as u8,
                None
            ));
        }
        // Small as a delta frame, but the sender marked it.
        assert!(frame(&mut b, now, 90_000, 3_000, 0, Some(0)));
        // A rotated picture carries the extension on every frame: not a sign.
        assert!(!frame(&mut b, now, 93_000, 3_000, 0, Some(1)));
        assert_eq!((b.keyframes, b.by_orientation), (2, 2));
    }

    #[test]
    fn without_orientation_a_large_base_layer_frame_after_a_request_is_the_keyframe() {
        let t0 = Instant::now();
        let mut b = BlindKeyframes::default();
        assert!(frame(&mut b, t0, 0, 20_000, 0, None), "first frame");
        for i in 1..40u32 {
            let tid = [0, 2, 1, 2][i as usize % 4];
            let size = if tid == 0 { 4_000 } else { 2_000 };
            assert!(!frame(&mut b, t0, i * 3000, size, tid, None));
        }
        // 3× the base layer's average: not enough unasked, enough after a request.
        assert!(!frame(&mut b, t0, 200_000, 12_000, 0, None));
        b.requested_at = Some(t0);
        // Large but in an upper temporal layer: not a keyframe.
        assert!(!frame(&mut b, t0, 203_000, 12_000, 2, None));
        assert!(frame(
            &mut b,
            t0 + Duration::from_millis(200),
            206_000,
            12_000,
            0,
            None
        ));
        // Answered: the next such frame needs the unasked ratio again.
        assert!(!frame(&mut b, t0, 209_000, 12_000, 0, None));
        assert!(frame(&mut b, t0, 212_000, 40_000, 0, None));
    }
}
