//! The simulcast consumer: one outgoing stream fed by one of the producer's encodings at a
//! time (its spatial layer), switched only at a keyframe of the encoding switched to, so the
//! receiver's decoder never sees a frame that refers to a picture it did not get.
//!
//! The target layer is the preferred one (`setPreferredLayers`, highest by default) or, when
//! that encoding is not arriving (the sender dropped it, or has not started it yet), the
//! highest lower one that is: a receiver never waits black for a layer that does not come.
//! Across a switch the outgoing sequence numbers stay contiguous (the consumer's rewriter) and
//! the RTP timestamps of the new encoding are carried onto the old one's timeline through the
//! two encodings' sender reports (from the last one sent plus the time since, before any
//! report), so the receiver's jitter buffer sees no jump; VP8's PictureID and TL0PICIDX continue the same way
//! (from the payload descriptor, which stays readable under end-to-end encryption).
//!
//! Temporal layers (VP8's TID in the payload descriptor): frames above the preferred temporal
//! layer are dropped, with the sequence numbers and PictureIDs after them moved down so the
//! receiver sees no gap; going down is immediate, going up waits for a layer sync frame (Y)
//! of the layer gone up to, or for the keyframe of a spatial switch.
//!
//! Owns the layer choice and the timestamp offset; the stream state is the consumer's.

use crate::core::codecs::dd;
use crate::core::codecs::vp8::Vp8Rewriter;
use crate::core::rtp::SrPoint;
use std::time::{Duration, Instant};

/// An encoding that sent nothing for this long is taken as stopped.
const INACTIVE_AFTER: Duration = Duration::from_millis(1500);

pub struct Simulcast {
    /// Encodings (spatial layers) of the producer, lowest first.
    pub spatial_layers: usize,
    pub temporal_layers: usize,
    pub preferred_spatial: usize,
    pub preferred_temporal: usize,
    /// The highest encoding the transport's bandwidth allows (None: no estimate applies).
    pub max_spatial: Option<usize>,
    /// The highest temporal layer the bandwidth allows in the encoding forwarded.
    pub max_temporal: Option<usize>,
    /// The bandwidth allows nothing: the consumer forwards nothing until it does.
    pub suspended: bool,
    /// The encoding being forwarded, once a keyframe started it.
    pub current: Option<usize>,
    /// The highest temporal layer being forwarded.
    pub current_temporal: Option<usize>,
    /// The encoding being switched to (waits for its keyframe).
    pub target: Option<usize>,
    last_seen: Vec<Option<Instant>>,
    /// Added to the producer encoding's RTP timestamps (wrapping).
    ts_offset: u32,
    last_out: Option<(u32, Instant)>,
    clock_rate: u32,
    /// currentLayers changed since the router last looked ('layerschange').
    pub layers_changed: bool,
    /// A new target was chosen since the router last looked: ask for its keyframe.
    pub keyframe_wanted: bool,
    /// VP8 PictureID / TL0PICIDX continuity across switches.
    pub vp8: Vp8Rewriter,
    /// Dependency-descriptor frame numbers: the offset onto the outgoing numbering and the
    /// last one sent.
    dd_frames: Option<(u16, u16)>,
}

/// What to do with a packet of the producer.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    Drop,
    /// Forward with this timestamp; `switched` when it starts a new encoding.
    Forward {
        timestamp: u32,
        switched: bool,
    },
}

impl Simulcast {
    pub fn new(spatial_layers: usize, temporal_layers: usize, clock_rate: u32) -> Self {
        let spatial_layers = spatial_layers.max(1);
        Self {
            spatial_layers,
            temporal_layers: temporal_layers.max(1),
            preferred_spatial: spatial_layers - 1,
            preferred_temporal: temporal_layers.max(1) - 1,
            max_spatial: None,
            max_temporal: None,
            suspended: false,
            current: None,
            current_temporal: None,
            target: None,
            last_seen: vec![None; spatial_layers],
            ts_offset: 0,
            last_out: None,
            clock_rate,
            layers_changed: false,
            keyframe_wanted: false,
            vp8: Vp8Rewriter::default(),
            dd_frames: None,
        }
    }

    pub fn set_preferred(&mut self, now: Instant, spatial: usize, temporal: usize) {
        self.preferred_spatial = spatial.min(self.spatial_layers - 1);
        self.preferred_temporal = temporal.min(self.temporal_layers - 1);
        self.retarget(now);
    }

    /// The transport's allocation allows encodings up to `spatial` and, in it, temporal
    /// layers up to `temporal` (None: any).
    pub fn set_max_layers(
        &mut self,
        now: Instant,
        spatial: Option<usize>,
        temporal: Option<usize>,
    ) {
        self.max_temporal = temporal;
        if self.max_spatial != spatial {
            self.max_spatial = spatial;
            self.retarget(now);
        }
    }

    /// The bandwidth allows nothing (`true`), or something again: stop forwarding (no layers),
    /// or start again at a keyframe of the encoding chosen.
    pub fn set_suspended(&mut self, now: Instant, suspended: bool) {
        if self.suspended == suspended {
            return;
        }
        self.suspended = suspended;
        if suspended {
            self.target = None;
            self.keyframe_wanted = false;
            if self.current.take().is_some() {
                self.current_temporal = None;
                self.layers_changed = true;
            }
        } else {
            self.retarget(now);
        }
    }

    /// The temporal layer to forward: the preferred one within what the bandwidth allows.
    pub fn target_temporal(&self) -> usize {
        self.max_temporal
            .map_or(self.preferred_temporal, |m| m.min(self.preferred_temporal))
    }

    fn retarget(&mut self, now: Instant) {
        if self.suspended {
            return;
        }
        let want = self.choose(now);
        let target = (Some(want) != self.current).then_some(want);
        if target.is_some() && target != self.target {
            self.keyframe_wanted = true;
        }
        self.target = target;
    }

    /// The encoding to go to now: the preferred one (within what the bandwidth allows) if it
    /// is arriving, else the highest lower one that is (else the lowest that is, else the
    /// preferred).
    fn choose(&self, now: Instant) -> usize {
        let active =
            |e: usize| self.last_seen[e].is_some_and(|t| now.duration_since(t) < INACTIVE_AFTER);
        let top = self
            .max_spatial
            .map_or(self.preferred_spatial, |m| m.min(self.preferred_spatial));
        (0..=top)
            .rev()
            .find(|&e| active(e))
            .or_else(|| (0..self.spatial_layers).find(|&e| active(e)))
            .unwrap_or(top)
    }

    /// Whether this consumer waits for a keyframe of `encoding` to switch to it (a packet of
    /// it arrived now).
    pub fn waits_for_keyframe(&mut self, now: Instant, encoding: usize) -> bool {
        if encoding >= self.spatial_layers {
            return false;
        }
        self.last_seen[encoding] = Some(now);
        self.retarget(now);
        self.target == Some(encoding)
    }

    /// Whether a packet of `encoding` goes out, and with which timestamp. `srs`: the last
    /// sender report of each encoding, when one came.
    pub fn admit(
        &mut self,
        now: Instant,
        encoding: usize,
        timestamp: u32,
        keyframe: bool,
        srs: &[Option<SrPoint>],
    ) -> Admit {
        if encoding >= self.spatial_layers {
            return Admit::Drop;
        }
        self.last_seen[encoding] = Some(now);
        self.retarget(now);
        let mut switched = false;
        if self.target == Some(encoding) && keyframe {
            self.ts_offset = self.offset_for(now, encoding, timestamp, srs);
            self.current = Some(encoding);
            self.target = None;
            self.layers_changed = true;
            self.vp8.request_resync();
            switched = true;
        }
        if self.current != Some(encoding) {
            return Admit::Drop;
        }
        let out = timestamp.wrapping_add(self.ts_offset);
        self.last_out = Some((out, now));
        Admit::Forward {
            timestamp: out,
            switched,
        }
    }

    /// The timestamp offset for `encoding` when it starts with a packet of `timestamp`:
    /// - switching from an encoding when both sent sender reports: the new encoding's
    ///   timestamps are carried onto the old one's timeline through the reports' wall-clock
    ///   times (a frame keeps its capture time whichever encoding carries it);
    /// - otherwise (no reports yet, or a restart): from the last timestamp sent, advanced by
    ///   the time that passed;
    /// - and never at or before the last timestamp sent (the receiver would take the frame
    ///   as old): then one tick after it.
    fn offset_for(
        &self,
        now: Instant,
        encoding: usize,
        timestamp: u32,
        srs: &[Option<SrPoint>],
    ) -> u32 {
        let Some((last_ts, at)) = self.last_out else {
            return 0;
        };
        let elapsed = now.duration_since(at).as_micros() as u64;
        let advance = (elapsed * self.clock_rate as u64 / 1_000_000).max(1) as u32;
        let by_clock = last_ts.wrapping_add(advance).wrapping_sub(timestamp);
        let from = self.current.filter(|&c| c != encoding);
        let offset = match (
            from.and_then(|c| srs.get(c).copied().flatten()),
            srs.get(encoding).copied().flatten(),
        ) {
            (Some(old), Some(new)) => {
                // NTP is 32.32 fixed point: the new report's time minus the old one's, in
                // RTP ticks.
                let dt = (new.ntp as i128 - old.ntp as i128) as f64 / 4_294_967_296.0;
                let ticks = (dt * self.clock_rate as f64).round() as i64 as u32;
                old.rtp_ts
                    .wrapping_add(ticks)
                    .wrapping_sub(new.rtp_ts)
                    .wrapping_add(self.ts_offset)
            }
            _ => by_clock,
        };
        let out = timestamp.wrapping_add(offset);
        if (out.wrapping_sub(last_ts) as i32) <= 0 {
            return last_ts.wrapping_add(1).wrapping_sub(timestamp);
        }
        offset
    }

    /// Whether a packet of temporal layer `tid` goes out (`sync`: a layer sync point;
    /// `switched`: the packet starts an encoding, at its keyframe).
    pub fn admit_temporal(&mut self, tid: u8, sync: bool, switched: bool) -> bool {
        let target = self.target_temporal();
        let before = self.current_temporal;
        let mut cur = match before {
            Some(c) if !switched => c.min(target),
            _ => target,
        };
        let tid = tid as usize;
        let admit = if tid > target {
            false
        } else if tid > cur {
            if sync {
                cur = tid;
            }
            sync
        } else {
            true
        };
        self.current_temporal = Some(cur);
        if before.is_some() && before != self.current_temporal {
            self.layers_changed = true;
        }
        admit
    }

    /// The encoding a keyframe is needed from: the target if switching, else the current one.
    pub fn keyframe_encoding(&self) -> usize {
        self.target
            .or(self.current)
            .unwrap_or(self.preferred_spatial)
    }

    /// The outgoing dependency-descriptor frame number of a packet of frame `frame` of the
    /// forwarded encoding (`switched`: its first packet after a switch): each encoding numbers
    /// its frames on its own, so a switch continues from the last number sent.
    pub fn dd_frame_number(&mut self, frame: u16, switched: bool) -> u16 {
        let offset = match self.dd_frames {
            Some((_, last)) if switched => last.wrapping_add(1).wrapping_sub(frame),
            Some((offset, _)) => offset,
            None => 0,
        };
        let out = frame.wrapping_add(offset);
        let last = match self.dd_frames {
            Some((_, last)) if (out.wrapping_sub(last) as i16) < 0 => last,
            _ => out,
        };
        self.dd_frames = Some((offset, last));
        out
    }

    /// The decode targets of the forwarded encoding's `structure` a receiver can decode with
    /// the temporal layers forwarded, of those the sender declared `active`; None when that is
    /// all of the sender's.
    pub fn active_decode_targets(&self, structure: &dd::Structure, active: u32) -> Option<u32> {
        let ct = self.current_temporal?;
        structure.active_mask(active, |_, t| t <= ct)
    }

    /// A stream restarts (pause/resume, transport reconnect): it starts again at a keyframe.
    pub fn restart(&mut self) {
        if self.current.is_some() {
            self.target = self.current;
            self.current = None;
            self.layers_changed = true;
        }
    }

    /// `{ spatialLayer, temporalLayer }` being forwarded, if any.
    pub fn current_layers(&self) -> Option<(usize, usize)> {
        self.current.map(|s| {
            let t = self
                .current_temporal
                .unwrap_or(self.target_temporal())
                .min(self.temporal_layers - 1);
            (s, t)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_only_at_a_keyframe_and_keeps_timestamps_continuous() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut s = Simulcast::new(3, 1, 90000);
        s.set_preferred(t0, 0, 0);
        // Layer 0 starts at its keyframe; delta frames of layer 1 are dropped.
        assert_eq!(s.admit(ms(0), 0, 1000, false, &[]), Admit::Drop);
        assert!(matches!(
            s.admit(ms(10), 0, 1900, true, &[]),
            Admit::Forward {
                timestamp: 1900,
                switched: true
            }
        ));
        assert_eq!(s.admit(ms(20), 1, 50_000, true, &[]), Admit::Drop);
        assert_eq!(s.current_layers(), Some((0, 0)));
        // Prefer layer 2: nothing changes until its keyframe comes.
        s.set_preferred(ms(43), 2, 0);
        assert!(matches!(
            s.admit(ms(43), 0, 4900, false, &[]),
            Admit::Forward {
                timestamp: 4900,
                ..
            }
        ));
        assert_eq!(s.admit(ms(44), 2, 700_000, false, &[]), Admit::Drop);
        assert_eq!(s.keyframe_encoding(), 2);
        assert!(matches!(
            s.admit(ms(50), 0, 5800, false, &[]),
            Admit::Forward { .. }
        ));
        // Its keyframe 20 ms after the last packet sent: 1800 ticks later at 90 kHz.
        match s.admit(ms(70), 2, 700_300, true, &[]) {
            Admit::Forward {
                timestamp,
                switched,
            } => {
                assert!(switched);
                assert_eq!(timestamp, 5800 + 1800);
            }
            Admit::Drop => panic!("the keyframe of the target starts it"),
        }
        assert_eq!(s.admit(ms(80), 0, 6700, false, &[]), Admit::Drop);
        assert!(matches!(
            s.admit(ms(103), 2, 703_300, false, &[]),
            Admit::Forward {
                timestamp: 10_600,
                ..
            }
        ));
        assert_eq!(s.current_layers(), Some((2, 0)));
    }

    #[test]
    fn temporal_layers_go_down_at_once_and_up_at_a_sync_frame() {
        let mut s = Simulcast::new(1, 3, 90000);
        assert!(s.admit_temporal(0, false, true));
        assert!(
            s.admit_temporal(2, false, false),
            "all layers after the keyframe"
        );
        s.set_preferred(Instant::now(), 0, 0);
        assert!(!s.admit_temporal(1, true, false));
        assert!(s.admit_temporal(0, false, false));
        assert_eq!(s.current_temporal, Some(0));
        s.set_preferred(Instant::now(), 0, 2);
        assert!(!s.admit_temporal(2, false, false), "not a sync frame");
        assert!(s.admit_temporal(1, true, false));
        assert_eq!(s.current_temporal, Some(1));
        assert!(s.admit_temporal(1, false, false));
        assert!(s.admit_temporal(2, true, false));
        assert_eq!(s.current_temporal, Some(2));
    }

    #[test]
    fn an_encoding_that_does_not_arrive_is_not_waited_for() {
        let t0 = Instant::now();
        let mut s = Simulcast::new(3, 3, 90000);
        // Preferred is the highest (2), but only layer 1 arrives.
        assert!(matches!(
            s.admit(t0, 1, 0, true, &[]),
            Admit::Forward { switched: true, .. }
        ));
        assert_eq!(s.current_layers(), Some((1, 2)));
        // Layer 2 appears: switch at its keyframe.
        assert_eq!(
            s.admit(t0 + Duration::from_millis(5), 2, 10, false, &[]),
            Admit::Drop
        );
        assert!(matches!(
            s.admit(t0 + Duration::from_millis(9), 2, 20, true, &[]),
            Admit::Forward { switched: true, .. }
        ));
        // Layer 2 stops for 2 s: back down at layer 1's next keyframe.
        let later = t0 + Duration::from_millis(2100);
        assert_eq!(s.admit(later, 1, 5000, false, &[]), Admit::Drop);
        assert!(matches!(
            s.admit(later, 1, 5000, true, &[]),
            Admit::Forward { switched: true, .. }
        ));
    }

    #[test]
    fn sender_reports_line_the_encodings_up() {
        // Two encodings of one camera with unrelated RTP bases: encoding 0 reads 1000 and
        // encoding 1 reads 500_000 at the same wall-clock moment (NTP 100 s).
        let ntp = |ms: u64| (100u64 << 32) + ms * (1u64 << 32) / 1000;
        let srs = [
            Some(SrPoint {
                ntp: ntp(0),
                rtp_ts: 1000,
            }),
            Some(SrPoint {
                ntp: ntp(500),
                rtp_ts: 500_000 + 45_000,
            }),
        ];
        let t0 = Instant::now();
        let mut s = Simulcast::new(2, 1, 90000);
        s.set_preferred(t0, 0, 0);
        let Admit::Forward {
            timestamp: first, ..
        } = s.admit(t0, 0, 1000 + 9000, true, &srs)
        else {
            panic!("start");
        };
        // Up to encoding 1 at its keyframe captured 40 ms after that frame: 3600 ticks later
        // on the outgoing timeline, however late it arrives.
        s.set_preferred(t0, 1, 0);
        let later = t0 + Duration::from_millis(700);
        let Admit::Forward {
            timestamp,
            switched,
        } = s.admit(later, 1, 500_000 + 9000 + 3600, true, &srs)
        else {
            panic!("switch");
        };
        assert!(switched);
        assert_eq!(timestamp, first + 3600);
        // Without reports the elapsed time is used.
        let mut s = Simulcast::new(2, 1, 90000);
        s.set_preferred(t0, 0, 0);
        s.admit(t0, 0, 10_000, true, &[]);
        s.set_preferred(t0, 1, 0);
        let Admit::Forward { timestamp, .. } = s.admit(later, 1, 7, true, &[]) else {
            panic!("switch");
        };
        assert_eq!(timestamp, 10_000 + 63_000);
        // A report pair that would put the new frame before the last one sent: one tick after.
        let mut s = Simulcast::new(2, 1, 90000);
        s.set_preferred(t0, 0, 0);
        let Admit::Forward {
            timestamp: first, ..
        } = s.admit(t0, 0, 1000 + 9000, true, &srs)
        else {
            panic!("start");
        };
        s.set_preferred(t0, 1, 0);
        let Admit::Forward { timestamp, .. } = s.admit(later, 1, 500_000, true, &srs) else {
            panic!("switch");
        };
        assert_eq!(timestamp, first + 1);
    }

    #[test]
    fn suspended_by_the_bandwidth_forwards_nothing_until_allowed_again() {
        let t0 = Instant::now();
        let mut s = Simulcast::new(2, 1, 90000);
        assert!(matches!(
            s.admit(t0, 1, 0, true, &[]),
            Admit::Forward { .. }
        ));
        s.layers_changed = false;
        s.set_suspended(t0, true);
        assert!(s.layers_changed && s.current_layers().is_none());
        assert_eq!(s.admit(t0, 1, 100, true, &[]), Admit::Drop);
        assert_eq!(s.keyframe_encoding(), 1, "no target while suspended");
        assert!(s.target.is_none());
        s.set_suspended(t0, false);
        assert!(s.keyframe_wanted);
        assert_eq!(s.admit(t0, 1, 200, false, &[]), Admit::Drop);
        assert!(matches!(
            s.admit(t0, 1, 300, true, &[]),
            Admit::Forward { switched: true, .. }
        ));
    }

    #[test]
    fn active_decode_targets_follow_the_temporal_layer_forwarded() {
        let st = dd::Structure::synthetic(1, 3, false);
        let mut s = Simulcast::new(1, 3, 90000);
        assert_eq!(
            s.active_decode_targets(&st, u32::MAX),
            None,
            "nothing forwarded yet"
        );
        s.current_temporal = Some(0);
        assert_eq!(s.active_decode_targets(&st, u32::MAX), Some(0b001));
        s.current_temporal = Some(2);
        assert_eq!(s.active_decode_targets(&st, u32::MAX), None, "all of them");
        // The sender's own inactive targets stay inactive.
        s.current_temporal = Some(1);
        assert_eq!(s.active_decode_targets(&st, 0b001), None);
        assert_eq!(s.active_decode_targets(&st, 0b111), Some(0b011));
    }
}
