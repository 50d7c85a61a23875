//! H.264 RTP payload (RFC 6184) keyframe detection: an IDR slice (NAL type 5) or an SPS (7)
//! in a single NAL unit, a STAP-A aggregate, or the first fragment of an FU-A.

pub fn is_keyframe(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    let key = |t: u8| t == 5 || t == 7;
    match b0 & 0x1f {
        24 => {
            let mut i = 1;
            while i + 2 < p.len() {
                let size = u16::from_be_bytes([p[i], p[i + 1]]) as usize;
                if size == 0 || i + 2 + size > p.len() {
                    return false;
                }
                if key(p[i + 2] & 0x1f) {
                    return true;
                }
                i += 2 + size;
            }
            false
        }
        28 => p.get(1).is_some_and(|&h| h & 0x80 != 0 && key(h & 0x1f)),
        t => key(t),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nal_kinds() {
        assert!(super::is_keyframe(&[0x65, 0x88]));
        assert!(!super::is_keyframe(&[0x41, 0x9a]));
        // STAP-A with SPS (len 2) and PPS (len 2).
        assert!(super::is_keyframe(&[
            0x18, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce
        ]));
        // STAP-A with a truncated size.
        assert!(!super::is_keyframe(&[0x18, 0x00, 0x09, 0x67]));
        // FU-A start of an IDR, and a middle fragment.
        assert!(super::is_keyframe(&[0x7c, 0x85, 0x00]));
        assert!(!super::is_keyframe(&[0x7c, 0x05, 0x00]));
    }
}
