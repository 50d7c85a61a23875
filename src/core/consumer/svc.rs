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

use crate::core::codecs::{dd, vp9::Descriptor};

pub struct Svc {
    pub spatial_layers: usize,
    pub temporal_layers: usize,
    pub ksvc: bool,
    pub preferred_spatial: usize,
    pub preferred_temporal: usize,
    /// The highest layers the transport's bandwidth allows (None: no estimate applies).
    pub max_layers: Option<(usize, usize)>,
    /// The bandwidth allows nothing: the consumer forwards nothing until it does.
    pub suspended: bool,
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
            max_layers: None,
            suspended: false,
            current_spatial: None,
            current_temporal: None,
            layers_changed: false,
            keyframe_wanted: false,
        }
    }

    pub fn set_preferred(&mut self, spatial: usize, temporal: usize) {
        self.preferred_spatial = spatial.min(self.spatial_layers - 1);
        self.preferred_temporal = temporal.min(self.temporal_layers - 1);
        self.want_keyframe_if_needed();
    }

    /// The transport's allocation allows layers up to `max` (None: any).
    pub fn set_max_layers(&mut self, max: Option<(usize, usize)>) {
        if self.max_layers != max {
            self.max_layers = max;
            self.want_keyframe_if_needed();
        }
    }

    /// The bandwidth allows nothing (`true`), or something again (start at a keyframe).
    pub fn set_suspended(&mut self, suspended: bool) {
        if self.suspended == suspended {
            return;
        }
        self.suspended = suspended;
        if suspended {
            self.keyframe_wanted = false;
            if self.current_spatial.take().is_some() {
                self.current_temporal = None;
                self.layers_changed = true;
            }
        } else {
            self.keyframe_wanted = true;
        }
    }

    /// The layers to forward: the preferred ones within what the bandwidth allows.
    pub fn targets(&self) -> (usize, usize) {
        let (ps, pt) = (self.preferred_spatial, self.preferred_temporal);
        match self.max_layers {
            // Below the preferred spatial layer the cap's temporal layer is the limit; at it,
            // the preferred temporal layer bounds too.
            Some((ms, mt)) if ms < ps => (ms, mt),
            Some((ms, mt)) => (ms.min(ps), mt.min(pt)),
            None => (ps, pt),
        }
    }

    fn want_keyframe_if_needed(&mut self) {
        let (ts, _) = self.targets();
        if self.current_spatial.is_none_or(|c| ts > c)
            || (self.ksvc && self.current_spatial != Some(ts))
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
        if self.suspended {
            return SvcAdmit::Drop;
        }
        if sid >= self.spatial_layers || tid >= self.temporal_layers {
            return SvcAdmit::Drop;
        }
        let (target_s, target_t) = self.targets();
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

    /// Whether a packet goes out, by its dependency descriptor (`f`, read against its
    /// stream's `structure`; `active`: the decode targets the sender declared active). The
    /// same switching rules as [`Svc::admit`], with the decode targets deciding what a layer
    /// needs: a frame goes out when the decode target of the current layers needs it (which
    /// also keeps K-SVC to one chain and drops upper temporal layers), temporal layers go up
    /// at a frame that is a switch point of the new decode target.
    pub fn admit_dd(&mut self, f: &dd::Frame, structure: &dd::Structure, active: u32) -> SvcAdmit {
        let (sid, tid) = (f.spatial as usize, f.temporal as usize);
        if self.suspended {
            return SvcAdmit::Drop;
        }
        // The target: the highest active decode target within the target layers.
        let (want_s, want_t) = self.targets();
        let (target_s, target_t) = structure
            .dt_layers
            .iter()
            .enumerate()
            .filter(|&(dt, &(s, t))| {
                active >> dt & 1 == 1 && (s as usize) <= want_s && (t as usize) <= want_t
            })
            .map(|(_, &(s, t))| (s as usize, t as usize))
            .max()
            .unwrap_or((0, 0));
        let keyframe = f.is_keyframe();
        let before = (self.current_spatial, self.current_temporal);
        let (mut cs, mut ct) = match (self.current_spatial, self.current_temporal) {
            (Some(s), t) => (s, t.unwrap_or(0)),
            (None, _) if keyframe => (target_s, target_t),
            (None, _) => return SvcAdmit::Drop,
        };
        if keyframe && target_s > cs {
            (cs, ct) = (target_s, target_t);
        } else if target_s < cs
            && (if self.ksvc {
                keyframe
            } else {
                sid == target_s && f.end
            })
        {
            cs = target_s;
        }
        let needs = |s: usize, t: usize| match structure.decode_target(s as u8, t as u8) {
            Some(dt) => f.dti(dt) != dd::DTI_NOT_PRESENT,
            None => sid <= s && tid <= t,
        };
        if target_t > ct {
            let dt = structure.decode_target(cs as u8, tid as u8);
            if tid > ct
                && tid <= target_t
                && f.start
                && dt.is_some_and(|dt| f.dti(dt) == dd::DTI_SWITCH)
            {
                ct = tid;
            }
        } else if target_t < ct && tid == target_t && f.end {
            ct = target_t;
        }
        self.current_spatial = Some(cs);
        self.current_temporal = Some(ct);
        if before != (self.current_spatial, self.current_temporal) {
            self.layers_changed = true;
        }
        if !needs(cs, ct) {
            return SvcAdmit::Drop;
        }
        SvcAdmit::Forward {
            marker: sid == cs && f.end,
        }
    }

    /// The decode targets a receiver of the current layers can decode, of those the sender
    /// declared `active`: every one within them in full SVC, those of the current spatial
    /// layer in K-SVC (lower layers' chains are not forwarded between keyframes). None when
    /// that is all the sender's (nothing to tell the receiver).
    pub fn active_decode_targets(&self, structure: &dd::Structure, active: u32) -> Option<u32> {
        let cs = self.current_spatial?;
        let ct = self.current_temporal.unwrap_or(0);
        structure.active_mask(active, |s, t| s <= cs && t <= ct && (!self.ksvc || s == cs))
    }

    pub fn current_layers(&self) -> Option<(usize, usize)> {
        Some((self.current_spatial?, self.current_temporal.unwrap_or(0)))
    }

    /// Whether the consumer waits for a keyframe to reach its target.
    pub fn awaiting_keyframe(&self) -> bool {
        if self.suspended {
            return false;
        }
        match self.current_spatial {
            None => true,
            Some(c) => {
                let (ts, _) = self.targets();
                ts > c || (self.ksvc && ts < c)
            }
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

    /// L3T3 by the dependency descriptor: a frame of layers (s, t), first and last packet.
    fn dd_frame(st: &dd::Structure, s: usize, t: usize) -> dd::Frame {
        st.frame(s * 3 + t, true, true)
    }
    fn dd_key(st: &dd::Structure, s: usize) -> dd::Frame {
        st.frame(9 + s, true, true)
    }

    #[test]
    fn dependency_descriptor_full_svc() {
        let st = dd::Structure::synthetic(3, 3, false);
        let all = u32::MAX;
        let mut s = Svc::new(3, 3, false);
        s.set_preferred(1, 1);
        assert_eq!(
            s.admit_dd(&dd_frame(&st, 0, 0), &st, all),
            SvcAdmit::Drop,
            "no keyframe yet"
        );
        assert!(matches!(
            s.admit_dd(&dd_key(&st, 0), &st, all),
            SvcAdmit::Forward { marker: false }
        ));
        assert_eq!(s.current_layers(), Some((1, 1)));
        assert_eq!(
            s.admit_dd(&dd_key(&st, 1), &st, all),
            SvcAdmit::Forward { marker: true }
        );
        assert_eq!(s.admit_dd(&dd_key(&st, 2), &st, all), SvcAdmit::Drop);
        // Delta frames: S0 and S1 up to T1; T2 and S2 dropped.
        for (l, fwd) in [
            ((0, 0), true),
            ((1, 0), true),
            ((2, 0), false),
            ((0, 2), false),
            ((1, 1), true),
        ] {
            let got = s.admit_dd(&dd_frame(&st, l.0, l.1), &st, all);
            assert_eq!(got != SvcAdmit::Drop, fwd, "layers {l:?}");
        }
        // Temporal up at a switch point of T2; spatial down at the end of an S0 frame.
        s.set_preferred(0, 2);
        assert!(matches!(
            s.admit_dd(&dd_frame(&st, 0, 2), &st, all),
            SvcAdmit::Forward { marker: true }
        ));
        assert_eq!(s.current_layers(), Some((0, 2)));
        assert_eq!(s.admit_dd(&dd_frame(&st, 1, 0), &st, all), SvcAdmit::Drop);
        // Up to S2 waits for a keyframe; the sender's inactive S2 decode targets cap it at S1.
        s.set_preferred(2, 2);
        assert!(s.keyframe_wanted);
        assert_eq!(s.admit_dd(&dd_frame(&st, 1, 0), &st, all), SvcAdmit::Drop);
        let no_s2 = 0b111111;
        assert!(matches!(
            s.admit_dd(&dd_key(&st, 0), &st, no_s2),
            SvcAdmit::Forward { .. }
        ));
        assert_eq!(s.current_layers(), Some((1, 2)));
    }

    #[test]
    fn dependency_descriptor_ksvc() {
        let st = dd::Structure::synthetic(3, 1, true);
        let all = u32::MAX;
        let mut s = Svc::new(3, 1, true);
        s.set_preferred(1, 0);
        let key = |l: usize| st.frame(3 + l, true, true);
        let delta = |l: usize| st.frame(l, true, true);
        assert!(matches!(
            s.admit_dd(&key(0), &st, all),
            SvcAdmit::Forward { marker: false }
        ));
        assert_eq!(
            s.admit_dd(&key(1), &st, all),
            SvcAdmit::Forward { marker: true }
        );
        // Between keyframes only the S1 chain goes out.
        assert_eq!(s.admit_dd(&delta(0), &st, all), SvcAdmit::Drop);
        assert_eq!(
            s.admit_dd(&delta(1), &st, all),
            SvcAdmit::Forward { marker: true }
        );
        // Down waits for a keyframe.
        s.set_preferred(0, 0);
        assert_eq!(s.admit_dd(&delta(0), &st, all), SvcAdmit::Drop);
        assert_eq!(s.current_layers(), Some((1, 0)));
        assert_eq!(
            s.admit_dd(&key(0), &st, all),
            SvcAdmit::Forward { marker: true }
        );
        assert_eq!(s.current_layers(), Some((0, 0)));
        assert_eq!(
            s.admit_dd(&delta(0), &st, all),
            SvcAdmit::Forward { marker: true }
        );
    }
}
