//! VP8 payload descriptor (RFC 7741 §4.2) and keyframe detection.

/// Returns the offset of the VP8 payload header after the descriptor, and whether this packet
/// starts a partition (S=1, PID=0).
fn descriptor(p: &[u8]) -> Option<(usize, bool)> {
    let b0 = *p.first()?;
    let start = b0 & 0x10 != 0 && b0 & 0x07 == 0;
    let mut i = 1;
    if b0 & 0x80 != 0 {
        let x = *p.get(i)?;
        i += 1;
        if x & 0x80 != 0 {
            let m = *p.get(i)?;
            i += if m & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1;
        }
        if x & 0x30 != 0 {
            i += 1;
        }
    }
    (i < p.len()).then_some((i, start))
}

pub fn is_keyframe(p: &[u8]) -> bool {
    match descriptor(p) {
        // VP8 payload header: P bit (inverse keyframe flag) is bit 0 of the first byte.
        Some((i, true)) => p[i] & 0x01 == 0,
        _ => false,
    }
}

/// The temporal-layer facts of a packet's descriptor: its temporal layer (TID), whether it is
/// a layer sync point (Y: decodable from the base layer alone, where a receiver may start
/// getting this layer) and its PictureID. None when the descriptor carries no TID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Temporal {
    pub tid: u8,
    pub sync: bool,
    pub picture_id: Option<u16>,
}

pub fn temporal(p: &[u8]) -> Option<Temporal> {
    let b0 = *p.first()?;
    if b0 & 0x80 == 0 {
        return None;
    }
    let x = *p.get(1)?;
    let mut i = 2;
    let mut picture_id = None;
    if x & 0x80 != 0 {
        let m = *p.get(i)?;
        if m & 0x80 != 0 {
            picture_id = Some(u16::from_be_bytes([m & 0x7f, *p.get(i + 1)?]));
            i += 2;
        } else {
            picture_id = Some(u16::from(m));
            i += 1;
        }
    }
    if x & 0x40 != 0 {
        i += 1;
    }
    if x & 0x20 == 0 {
        return None;
    }
    let t = *p.get(i)?;
    Some(Temporal {
        tid: t >> 6,
        sync: t & 0x20 != 0,
        picture_id,
    })
}

/// PictureID and TL0PICIDX continuity across the streams a simulcast consumer switches
/// between (RFC 7741 §4.2): each forwarded descriptor gets the stream's values moved by an
/// offset chosen at the switch, so the receiver sees them go on from the last ones it got. The
/// descriptor is written by the sender's packetizer after any end-to-end encryption, so this
/// reads nothing of the frame.
#[derive(Debug, Default, Clone)]
pub struct Vp8Rewriter {
    pid_offset: u16,
    tl0_offset: u8,
    last_pid: Option<u16>,
    last_tl0: Option<u8>,
    resync: bool,
    /// The last picture dropped (its PictureID as received), so that each dropped picture
    /// moves the numbering once however many packets it has.
    last_dropped: Option<u16>,
}

impl Vp8Rewriter {
    /// The next packet starts another stream: continue from the last values sent.
    pub fn request_resync(&mut self) {
        self.resync = true;
    }

    /// A picture (temporal layer above the target) is not forwarded: the pictures after it
    /// are numbered down by one, so the receiver sees no gap where nothing was lost.
    pub fn drop_picture(&mut self, picture_id: u16) {
        if self.last_dropped != Some(picture_id) {
            self.last_dropped = Some(picture_id);
            self.pid_offset = self.pid_offset.wrapping_sub(1);
        }
    }

    /// Rewrites the descriptor at the start of `payload` in place (nothing if it has neither
    /// field, or is malformed).
    pub fn rewrite(&mut self, payload: &mut [u8]) {
        let Some(&b0) = payload.first() else { return };
        if b0 & 0x80 == 0 || payload.len() < 3 {
            return;
        }
        let x = payload[1];
        let mut i = 2;
        let mut pid_at = None;
        if x & 0x80 != 0 {
            let wide = payload[i] & 0x80 != 0;
            if wide && payload.len() < i + 2 {
                return;
            }
            pid_at = Some((i, wide));
            i += if wide { 2 } else { 1 };
        }
        let tl0_at = (x & 0x40 != 0 && i < payload.len()).then_some(i);
        let read_pid = |p: &[u8], (at, wide): (usize, bool)| {
            if wide {
                u16::from_be_bytes([p[at] & 0x7f, p[at + 1]])
            } else {
                (p[at] & 0x7f) as u16
            }
        };
        if std::mem::take(&mut self.resync) {
            if let (Some(at), Some(last)) = (pid_at, self.last_pid) {
                self.pid_offset = last.wrapping_add(1).wrapping_sub(read_pid(payload, at));
            }
            if let (Some(at), Some(last)) = (tl0_at, self.last_tl0) {
                self.tl0_offset = last.wrapping_add(1).wrapping_sub(payload[at]);
            }
        }
        if let Some(at) = pid_at {
            let (pos, wide) = at;
            let mask = if wide { 0x7fff } else { 0x7f };
            let pid = read_pid(payload, at).wrapping_add(self.pid_offset) & mask;
            if wide {
                payload[pos] = 0x80 | (pid >> 8) as u8;
                payload[pos + 1] = pid as u8;
            } else {
                payload[pos] = pid as u8;
            }
            // A late packet (older picture) does not move the point a switch continues from.
            if self
                .last_pid
                .is_none_or(|l| pid.wrapping_sub(l) & mask < mask / 2)
            {
                self.last_pid = Some(pid);
            }
        }
        if let Some(at) = tl0_at {
            let tl0 = payload[at].wrapping_add(self.tl0_offset);
            payload[at] = tl0;
            if self.last_tl0.is_none_or(|l| tl0.wrapping_sub(l) < 128) {
                self.last_tl0 = Some(tl0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn detects_keyframe_with_extended_picture_id() {
        // X=1 S=1 PID=0; I=1 with 15-bit picture id; payload header P=0.
        assert!(super::is_keyframe(&[
            0x90, 0x80, 0x81, 0x23, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a
        ]));
        // Same with P=1 (interframe).
        assert!(!super::is_keyframe(&[
            0x90, 0x80, 0x81, 0x23, 0x11, 0x02, 0x00
        ]));
        // Not the start of a partition.
        assert!(!super::is_keyframe(&[0x80, 0x80, 0x81, 0x23, 0x10]));
        assert!(!super::is_keyframe(&[0x90]));
        assert!(!super::is_keyframe(&[]));
    }

    #[test]
    fn reads_temporal_layer_and_sync() {
        // X=1 S=1; I=1 L=1 T=1; 15-bit PictureID 0x0123; TL0PICIDX; TID=2 Y=1.
        let p = [0x90, 0xe0, 0x81, 0x23, 0x05, 0xa0, 0x00];
        assert_eq!(
            super::temporal(&p),
            Some(super::Temporal {
                tid: 2,
                sync: true,
                picture_id: Some(0x123)
            })
        );
        // T=0: no temporal facts.
        assert_eq!(super::temporal(&[0x90, 0xc0, 0x81, 0x23, 0x05, 0x00]), None);
        // Truncated.
        assert_eq!(super::temporal(&[0x90, 0xe0, 0x81, 0x23, 0x05]), None);
    }

    #[test]
    fn a_dropped_picture_leaves_no_gap() {
        let pkt = |pid: u16| vec![0x90, 0x80, 0x80 | (pid >> 8) as u8, pid as u8, 0x00];
        let mut r = super::Vp8Rewriter::default();
        let mut a = pkt(10);
        r.rewrite(&mut a);
        // Picture 11 dropped (two packets): 12 goes out as 11.
        r.drop_picture(11);
        r.drop_picture(11);
        let mut b = pkt(12);
        r.rewrite(&mut b);
        assert_eq!(b, pkt(11));
    }

    #[test]
    fn picture_id_and_tl0picidx_continue_across_a_stream_switch() {
        // X=1 S=1; I=1 L=1; 15-bit PictureID; TL0PICIDX; payload.
        let pkt =
            |pid: u16, tl0: u8| vec![0x90, 0xc0, 0x80 | (pid >> 8) as u8, pid as u8, tl0, 0x00];
        let mut r = super::Vp8Rewriter::default();
        let mut a = pkt(100, 7);
        r.rewrite(&mut a);
        assert_eq!(a, pkt(100, 7));
        let mut a = pkt(101, 8);
        r.rewrite(&mut a);
        assert_eq!(a, pkt(101, 8));
        // Another stream, far away in both: continues at 102 / 9.
        r.request_resync();
        let mut b = pkt(30_000, 200);
        r.rewrite(&mut b);
        assert_eq!(b, pkt(102, 9));
        let mut b = pkt(30_001, 200);
        r.rewrite(&mut b);
        assert_eq!(b, pkt(103, 9));
        // The 15-bit PictureID wraps within 15 bits.
        let mut c = pkt(32_767 - 30_000 + 30_000, 201);
        r.rewrite(&mut c);
        assert_eq!(
            c,
            pkt(
                (32_767u16.wrapping_add(102).wrapping_sub(30_000)) & 0x7fff,
                10
            )
        );
        // No extension: untouched.
        let mut d = vec![0x10, 0x00, 0x9d];
        r.rewrite(&mut d);
        assert_eq!(d, vec![0x10, 0x00, 0x9d]);
    }
}
