//! The SVC consumer: one outgoing stream fed by the producer's single encoding, of which it
//! forwards the spatial and temporal layers up to a target, by the VP9 payload descriptor
//! (SID, TID, switching-up point, start/end of layer frame), as mediasoup's SVC consumer does:
//! - going up in spatial layers waits for a keyframe (asked for); going down is immediate at
//!   the end of a picture's target layer in full SVC, and waits for a keyframe in K-SVC
//!   (`..._KEY` modes, where upper layers depend on lower ones only at keyframes);
//! - in K-SVC, inter-picture predicted frames of other spatial layers than the current one
//!   are dropped (each layer is its own chain between keyframes);
//! - temporal layers go up at a switching-up point that starts a layer frame, down at the end
//!   of a frame of the target temporal layer;
//! - the marker bit is set on the last packet of the current spatial layer (the receiver's
//!   end of picture when upper layers are not forwarded).
//!
//! Dropped packets leave no gap in the outgoing sequence numbers (the consumer's rewriter).
//! Owns the layer state; the stream state is the consumer's.

use crate::core::codecs::vp9::Descriptor;

pub struct Svc {
    pub spatial_layers: usize,
    pub temporal_layers: usize,
    pub ksvc: bool,
    pub preferred_spatial: usize,
    pub preferred_temporal: usize,
    pub current_spatial: Option<usize>,
    pub current_temporal: Option<usize>,
    /// currentLayers changed since the router last looked ('layerschange').
    pub layers_changed: bool,
    /// The target went above what is forwarded: the router asks for a keyframe.
    pub keyframe_wanted: bool,
}

/// What to do with a packet.
#[derive(Debug, PartialEq, Eq)]
pub enum SvcAdmit {
    Drop,
    /// Forward, with the marker bit set when `marker`.
    Forward {
        marker: bool,
    },
}

impl Svc {
    pub fn new(spatial_layers: usize, temporal_layers: usize, ksvc: bool) -> Self {
        let spatial_layers = spatial_layers.max(1);
        let temporal_layers = temporal_layers.max(1);
        Self {
            spatial_layers,
            temporal_layers,
            ksvc,
            preferred_spatial: spatial_layers - 1,
            preferred_temporal: temporal_layers - 1,
            current_spatial: None,
            current_temporal: None,
            layers_changed: false,
            keyframe_wanted: false,
        }
    }

    pub fn set_preferred(&mut self, spatial: usize, temporal: usize) {
        self.preferred_spatial = spatial.min(self.spatial_layers - 1);
        self.preferred_temporal = temporal.min(self.temporal_layers - 1);
        if self
            .current_spatial
            .is_none_or(|c| self.preferred_spatial > c)
            || (self.ksvc && self.current_spatial != Some(self.preferred_spatial))
        {
            self.keyframe_wanted = true;
        }
    }

    /// Restart (pause/resume, transport reconnect): start again at a keyframe.
    pub fn restart(&mut self) {
        if self.current_spatial.take().is_some() {
            self.current_temporal = None;
            self.layers_changed = true;
        }
    }

    /// Whether a packet with descriptor `d` goes out.
    pub fn admit(&mut self, d: &Descriptor) -> SvcAdmit {
        let (sid, tid) = (d.sid as usize, d.tid as usize);
        if sid >= self.spatial_layers || tid >= self.temporal_layers {
            return SvcAdmit::Drop;
        }
        let target_s = self.preferred_spatial;
        let target_t = self.preferred_temporal;
        let before = (self.current_spatial, self.current_temporal);
        let mut cur_s = self.current_spatial;
        let mut cur_t = self.current_temporal;
        match cur_s {
            None => {
                if !d.keyframe {
                    return SvcAdmit::Drop;
                }
                cur_s = Some(target_s);
                cur_t = Some(0);
            }
            Some(c) if target_s > c && d.keyframe => {
                cur_s = Some(target_s);
                cur_t = Some(0);
            }
            Some(c) if target_s < c => {
                let now = if self.ksvc {
                    d.keyframe
                } else {
                    sid == target_s && d.end
                };
                if now {
                    cur_s = Some(target_s);
                }
            }
            _ => {}
        }
        let cs = cur_s.expect("set above");
        let spatial_ok = sid <= cs && !(self.ksvc && d.inter_picture && sid != cs);
        let mut ct = cur_t.unwrap_or(0);
        if target_t > ct {
            if tid > ct && d.switch_up && d.start && tid <= target_t {
                ct = tid;
            }
        } else if target_t < ct && tid == target_t && d.end {
            ct = target_t;
        }
        self.current_spatial = cur_s;
        self.current_temporal = Some(ct);
        if before.0.is_some() && before != (self.current_spatial, self.current_temporal) {
            self.layers_changed = true;
        }
        if before.0.is_none() {
            self.layers_changed = true;
        }
        if !spatial_ok || tid > ct {
            return SvcAdmit::Drop;
        }
        SvcAdmit::Forward {
            marker: sid == cs && d.end,
        }
    }

    pub fn current_layers(&self) -> Option<(usize, usize)> {
        Some((self.current_spatial?, self.current_temporal.unwrap_or(0)))
    }

    /// Whether the consumer waits for a keyframe to reach its target.
    pub fn awaiting_keyframe(&self) -> bool {
        match self.current_spatial {
            None => true,
            Some(c) => self.preferred_spatial > c || (self.ksvc && self.preferred_spatial < c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(sid: u8, tid: u8, key: bool, start: bool, end: bool, u: bool) -> Descriptor {
        Descriptor {
            picture_id: Some(1),
            inter_picture: !key,
            start,
            end,
            sid,
            tid,
            switch_up: u,
            keyframe: key && sid == 0 && start,
        }
    }

    #[test]
    fn full_svc_drops_upper_layers_and_moves_the_marker() {
        let mut s = Svc::new(3, 3, false);
        s.set_preferred(1, 2);
        assert_eq!(
            s.admit(&pkt(0, 0, false, true, true, false)),
            SvcAdmit::Drop,
            "no keyframe yet"
        );
        assert_eq!(
            s.admit(&pkt(0, 0, true, true, true, false)),
            SvcAdmit::Forward { marker: false }
        );
        assert_eq!(
            s.admit(&pkt(1, 0, true, true, true, false)),
            SvcAdmit::Forward { marker: true },
            "end of the top forwarded spatial layer"
        );
        assert_eq!(s.admit(&pkt(2, 0, true, true, true, false)), SvcAdmit::Drop);
        assert_eq!(s.current_layers(), Some((1, 0)));
        // Temporal layer 1 starts at a switching-up point.
        assert_eq!(
            s.admit(&pkt(0, 1, false, true, false, false)),
            SvcAdmit::Drop
        );
        assert!(matches!(
            s.admit(&pkt(0, 1, false, true, false, true)),
            SvcAdmit::Forward { .. }
        ));
        assert_eq!(s.current_layers(), Some((1, 1)));
        // Down to spatial 0 without a keyframe, at the end of a layer-0 frame.
        s.set_preferred(0, 2);
        assert!(matches!(
            s.admit(&pkt(0, 0, false, true, true, false)),
            SvcAdmit::Forward { marker: true }
        ));
        assert_eq!(
            s.admit(&pkt(1, 0, false, true, true, false)),
            SvcAdmit::Drop
        );
        assert_eq!(s.current_layers(), Some((0, 1)));
        // Up to 2 needs a keyframe.
        s.set_preferred(2, 2);
        assert!(s.keyframe_wanted);
        assert_eq!(
            s.admit(&pkt(1, 0, false, true, true, false)),
            SvcAdmit::Drop
        );
        assert!(matches!(
            s.admit(&pkt(0, 0, true, true, false, false)),
            SvcAdmit::Forward { marker: false }
        ));
        assert_eq!(s.current_layers(), Some((2, 0)));
    }

    #[test]
    fn ksvc_keeps_to_one_chain_between_keyframes() {
        let mut s = Svc::new(3, 1, true);
        s.set_preferred(1, 0);
        assert!(matches!(
            s.admit(&pkt(0, 0, true, true, true, false)),
            SvcAdmit::Forward { .. }
        ));
        assert!(matches!(
            s.admit(&pkt(1, 0, true, true, true, false)),
            SvcAdmit::Forward { marker: true }
        ));
        // Between keyframes the base layer's delta frames are not needed by layer 1.
        assert_eq!(
            s.admit(&pkt(0, 0, false, true, true, false)),
            SvcAdmit::Drop
        );
        assert!(matches!(
            s.admit(&pkt(1, 0, false, true, true, false)),
            SvcAdmit::Forward { .. }
        ));
        // Down waits for a keyframe in K-SVC.
        s.set_preferred(0, 0);
        assert_eq!(
            s.admit(&pkt(0, 0, false, true, true, false)),
            SvcAdmit::Drop
        );
        assert!(matches!(
            s.admit(&pkt(0, 0, true, true, true, false)),
            SvcAdmit::Forward { marker: true }
        ));
        assert_eq!(s.current_layers(), Some((0, 0)));
    }
}
