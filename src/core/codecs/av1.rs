//! AV1 RTP payload (AV1 RTP specification §4.4): the aggregation header's N bit marks the first
//! packet of a new coded video sequence, i.e. a keyframe.

pub fn is_keyframe(p: &[u8]) -> bool {
    p.first().is_some_and(|&h| h & 0x08 != 0 && h & 0x80 == 0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn n_bit() {
        assert!(super::is_keyframe(&[0x18, 0x0a]));
        assert!(!super::is_keyframe(&[0x10, 0x0a]));
        // Z=1: continuation of a previous OBU, cannot start a sequence.
        assert!(!super::is_keyframe(&[0x88]));
        assert!(!super::is_keyframe(&[]));
    }
}
