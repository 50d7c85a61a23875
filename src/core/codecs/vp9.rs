//! VP9 payload descriptor (RFC 9628 §4.2): keyframe detection (a packet that begins a frame,
//! B=1, not inter-picture predicted, P=0, in the base spatial layer) and the layer facts an
//! SVC consumer routes by (`Descriptor`). Nothing past the descriptor is read: it is written by
//! the sender's packetizer, outside any end-to-end encryption of the frame.

/// What the descriptor of one packet says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Descriptor {
    pub picture_id: Option<u16>,
    /// Inter-picture predicted (P).
    pub inter_picture: bool,
    /// Start (B) and end (E) of a layer frame.
    pub start: bool,
    pub end: bool,
    /// Spatial and temporal layer (0 when the descriptor has no layer indices).
    pub sid: u8,
    pub tid: u8,
    /// Switching up point (U): higher temporal layers may start being forwarded here.
    pub switch_up: bool,
    /// The keyframe of a picture: base spatial layer, not inter-picture predicted, its start.
    pub keyframe: bool,
}

impl Descriptor {
    /// None when the descriptor is truncated.
    pub fn parse(p: &[u8]) -> Option<Self> {
        let b0 = *p.first()?;
        let mut d = Descriptor {
            inter_picture: b0 & 0x40 != 0,
            start: b0 & 0x08 != 0,
            end: b0 & 0x04 != 0,
            ..Default::default()
        };
        let mut i = 1;
        if b0 & 0x80 != 0 {
            let m = *p.get(i)?;
            if m & 0x80 != 0 {
                d.picture_id = Some(u16::from_be_bytes([m & 0x7f, *p.get(i + 1)?]));
                i += 2;
            } else {
                d.picture_id = Some(u16::from(m));
                i += 1;
            }
        }
        if b0 & 0x20 != 0 {
            let l = *p.get(i)?;
            d.tid = l >> 5;
            d.switch_up = l & 0x10 != 0;
            d.sid = (l >> 1) & 0x07;
        }
        d.keyframe = !d.inter_picture && d.start && d.sid == 0;
        Some(d)
    }
}

pub fn is_keyframe(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    let (i_bit, p_bit, l_bit, b_bit) = (
        b0 & 0x80 != 0,
        b0 & 0x40 != 0,
        b0 & 0x20 != 0,
        b0 & 0x08 != 0,
    );
    if p_bit || !b_bit {
        return false;
    }
    let mut i = 1;
    if i_bit {
        let Some(&pid) = p.get(i) else { return false };
        i += if pid & 0x80 != 0 { 2 } else { 1 };
    }
    if l_bit {
        let Some(&layer) = p.get(i) else { return false };
        // Spatial id in bits 3..1: a keyframe starts at spatial layer 0.
        return (layer >> 1) & 0x07 == 0;
    }
    i <= p.len()
}

#[cfg(test)]
mod tests {
    #[test]
    fn descriptor_layers() {
        // I=1 P=1 L=1 B=1 E=1; PictureID 0x0102 (15 bits); TID=2 U=1 SID=1 D=1; TL0PICIDX.
        let d = super::Descriptor::parse(&[0xec, 0x81, 0x02, 0x53, 0x07, 0x00]).unwrap();
        assert_eq!(d.picture_id, Some(0x102));
        assert!(d.inter_picture && d.start && d.end && d.switch_up);
        assert_eq!((d.sid, d.tid), (1, 2));
        assert!(!d.keyframe);
        let k = super::Descriptor::parse(&[0xa8, 0x05, 0x00, 0x00]).unwrap();
        assert!(k.keyframe);
        assert_eq!(k.picture_id, Some(5));
        assert!(super::Descriptor::parse(&[0xa8, 0x85]).is_none());
    }

    #[test]
    fn keyframe_bits() {
        assert!(super::is_keyframe(&[0x88, 0x81, 0x02, 0x00]));
        assert!(!super::is_keyframe(&[0xc8, 0x81, 0x02]));
        assert!(!super::is_keyframe(&[0x80, 0x81, 0x02]));
        // L=1 with spatial id 1.
        assert!(!super::is_keyframe(&[0xa8, 0x01, 0x02, 0x00]));
        assert!(super::is_keyframe(&[0xa8, 0x01, 0x00, 0x00]));
    }
}
