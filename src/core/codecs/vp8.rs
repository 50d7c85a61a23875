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
}
