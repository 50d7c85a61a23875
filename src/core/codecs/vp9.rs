//! VP9 payload descriptor (RFC 9628 §4.2) keyframe detection: a packet that begins a frame
//! (B=1) and is not inter-picture predicted (P=0) in the base spatial layer.

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
    fn keyframe_bits() {
        assert!(super::is_keyframe(&[0x88, 0x81, 0x02, 0x00]));
        assert!(!super::is_keyframe(&[0xc8, 0x81, 0x02]));
        assert!(!super::is_keyframe(&[0x80, 0x81, 0x02]));
        // L=1 with spatial id 1.
        assert!(!super::is_keyframe(&[0xa8, 0x01, 0x02, 0x00]));
        assert!(super::is_keyframe(&[0xa8, 0x01, 0x00, 0x00]));
    }
}
