//! RTP payloads back into the codec's frames, as Matroska stores them:
//!
//! - VP8 (RFC 7741): the payload after the descriptor, concatenated;
//! - VP9 (RFC 9628): each layer frame (B … E) after its descriptor; several spatial layers of one
//!   picture become a superframe (the layer frames followed by the superframe index);
//! - H264 (RFC 6184): single NAL units, STAP-A and FU-A into length-prefixed NAL units (AVCC,
//!   4-byte lengths); SPS and PPS are kept for the track's `avcC` record;
//! - AV1 (AV1 RTP payload format): OBU elements (fragments joined) into the low-overhead format
//!   with a size field on every OBU, temporal delimiters dropped (Matroska's AV1 mapping);
//! - Opus: the payload as is.
//!
//! Also what the track header needs from the first keyframe: the picture size (VP8 frame
//! header, VP9 scalability structure or uncompressed header, H264 SPS, AV1 sequence header) and
//! the codec private data (`avcC`, `av1C`, `OpusHead`). The recorder only exists for producers
//! that are not end-to-end encrypted, so reading the payload is its job.

use crate::core::codecs::CodecKind;

#[derive(Debug, PartialEq, Eq)]
pub struct Malformed;

/// The frame being put together from one RTP timestamp's packets.
#[derive(Default)]
pub struct Assembler {
    pub data: Vec<u8>,
    pub keyframe: bool,
    /// VP9: end offset of each layer frame of this picture.
    layer_ends: Vec<usize>,
    /// H264 FU-A: where the length of the NAL unit being reassembled sits.
    fu_at: Option<usize>,
    /// AV1: the OBU being reassembled across OBU elements (fragments).
    obu: Vec<u8>,
    pub sps: Option<Vec<u8>>,
    pub pps: Option<Vec<u8>>,
    /// AV1 sequence header OBU (with its size field).
    pub av1_seq: Option<Vec<u8>>,
    /// VP9 scalability structure: the size of the top spatial layer.
    pub vp9_size: Option<(u32, u32)>,
}

impl Assembler {
    /// Forgets a partial frame.
    pub fn reset(&mut self) {
        self.data.clear();
        self.keyframe = false;
        self.layer_ends.clear();
        self.fu_at = None;
        self.obu.clear();
    }

    /// Appends one packet's payload (RTP header and padding stripped; `first` when it is the
    /// first packet of the frame).
    pub fn push(&mut self, codec: CodecKind, p: &[u8], first: bool) -> Result<(), Malformed> {
        match codec {
            CodecKind::Vp8 => self.vp8(p, first),
            CodecKind::Vp9 => self.vp9(p),
            CodecKind::H264 => self.h264(p),
            CodecKind::Av1 => self.av1(p, first),
            CodecKind::Opus | CodecKind::Other => {
                self.data.extend_from_slice(p);
                self.keyframe = true;
                Ok(())
            }
        }
    }

    /// The finished frame's bytes (VP9 superframe index added), leaving the assembler empty.
    pub fn take(&mut self, codec: CodecKind) -> Option<Vec<u8>> {
        if codec == CodecKind::Vp9 && self.layer_ends.len() > 1 {
            vp9_superframe_index(&mut self.data, &self.layer_ends);
        }
        let frame = std::mem::take(&mut self.data);
        let complete = !frame.is_empty() && self.obu.is_empty() && self.fu_at.is_none();
        self.reset();
        complete.then_some(frame)
    }

    fn vp8(&mut self, p: &[u8], first: bool) -> Result<(), Malformed> {
        let b0 = *p.first().ok_or(Malformed)?;
        let mut i = 1;
        if b0 & 0x80 != 0 {
            let x = *p.get(i).ok_or(Malformed)?;
            i += 1;
            if x & 0x80 != 0 {
                i += if *p.get(i).ok_or(Malformed)? & 0x80 != 0 {
                    2
                } else {
                    1
                };
            }
            i += usize::from(x & 0x40 != 0) + usize::from(x & 0x30 != 0);
        }
        let body = p.get(i..).filter(|b| !b.is_empty()).ok_or(Malformed)?;
        if first {
            // The P bit of the frame tag: 0 for a keyframe.
            self.keyframe = b0 & 0x10 != 0 && body[0] & 0x01 == 0;
        }
        self.data.extend_from_slice(body);
        Ok(())
    }

    fn vp9(&mut self, p: &[u8]) -> Result<(), Malformed> {
        let b0 = *p.first().ok_or(Malformed)?;
        let (pic_id, inter, layers, flexible, start, end, ss) = (
            b0 & 0x80 != 0,
            b0 & 0x40 != 0,
            b0 & 0x20 != 0,
            b0 & 0x10 != 0,
            b0 & 0x08 != 0,
            b0 & 0x04 != 0,
            b0 & 0x02 != 0,
        );
        let at = |i: usize| p.get(i).copied().ok_or(Malformed);
        let mut i = 1;
        if pic_id {
            i += if at(i)? & 0x80 != 0 { 2 } else { 1 };
        }
        let mut sid = 0;
        if layers {
            sid = (at(i)? >> 1) & 0x07;
            i += if flexible { 1 } else { 2 };
        }
        if flexible && inter {
            // Up to three reference indices, each with a "one more follows" bit.
            for _ in 0..3 {
                let r = at(i)?;
                i += 1;
                if r & 0x01 == 0 {
                    break;
                }
            }
        }
        if ss {
            let h = at(i)?;
            i += 1;
            let n_s = usize::from(h >> 5) + 1;
            if h & 0x10 != 0 {
                for s in 0..n_s {
                    let w = u16::from_be_bytes([at(i)?, at(i + 1)?]);
                    let hh = u16::from_be_bytes([at(i + 2)?, at(i + 3)?]);
                    if s == n_s - 1 {
                        self.vp9_size = Some((w.into(), hh.into()));
                    }
                    i += 4;
                }
            }
            if h & 0x08 != 0 {
                let groups = at(i)?;
                i += 1;
                for _ in 0..groups {
                    let g = at(i)?;
                    i += 1 + usize::from((g >> 2) & 0x03);
                }
            }
        }
        let body = p.get(i..).ok_or(Malformed)?;
        if start && sid == 0 && self.data.is_empty() {
            self.keyframe = !inter;
        }
        if start && !self.data.is_empty() && self.layer_ends.last() != Some(&self.data.len()) {
            // A layer frame began before the previous one ended: a packet is missing.
            return Err(Malformed);
        }
        self.data.extend_from_slice(body);
        if end {
            self.layer_ends.push(self.data.len());
        }
        Ok(())
    }

    fn h264(&mut self, p: &[u8]) -> Result<(), Malformed> {
        let nal_type = p.first().ok_or(Malformed)? & 0x1f;
        match nal_type {
            1..=23 => self.nal(p),
            24 => {
                let mut i = 1;
                while i + 2 <= p.len() {
                    let n = usize::from(u16::from_be_bytes([p[i], p[i + 1]]));
                    let nal = p
                        .get(i + 2..i + 2 + n)
                        .filter(|n| !n.is_empty())
                        .ok_or(Malformed)?;
                    self.nal(nal);
                    i += 2 + n;
                }
            }
            28 => {
                let fu = *p.get(1).ok_or(Malformed)?;
                let body = &p[2..];
                if fu & 0x80 != 0 {
                    if self.fu_at.is_some() {
                        return Err(Malformed);
                    }
                    self.fu_at = Some(self.data.len());
                    self.data.extend_from_slice(&[0; 4]);
                    self.data.push((p[0] & 0xe0) | (fu & 0x1f));
                } else if self.fu_at.is_none() {
                    return Err(Malformed);
                }
                self.data.extend_from_slice(body);
                if fu & 0x40 != 0 {
                    let at = self.fu_at.take().expect("checked");
                    let n = (self.data.len() - at - 4) as u32;
                    self.data[at..at + 4].copy_from_slice(&n.to_be_bytes());
                    let nal = self.data[at + 4..].to_vec();
                    self.note_nal(&nal);
                }
            }
            _ => return Err(Malformed),
        }
        Ok(())
    }

    fn nal(&mut self, nal: &[u8]) {
        self.data
            .extend_from_slice(&(nal.len() as u32).to_be_bytes());
        self.data.extend_from_slice(nal);
        self.note_nal(nal);
    }

    fn note_nal(&mut self, nal: &[u8]) {
        match nal.first().map(|b| b & 0x1f) {
            Some(5) => self.keyframe = true,
            Some(7) => self.sps = Some(nal.to_vec()),
            Some(8) => self.pps = Some(nal.to_vec()),
            _ => {}
        }
    }

    fn av1(&mut self, p: &[u8], first: bool) -> Result<(), Malformed> {
        let agg = *p.first().ok_or(Malformed)?;
        let (z, y, w) = (
            agg & 0x80 != 0,
            agg & 0x40 != 0,
            usize::from((agg >> 4) & 0x03),
        );
        if first {
            self.keyframe = agg & 0x08 != 0;
        }
        if !z && !self.obu.is_empty() {
            return Err(Malformed);
        }
        let mut i = 1;
        let mut n = 0;
        while i < p.len() {
            n += 1;
            let last = w != 0 && n == w;
            let len = if last {
                p.len() - i
            } else {
                let (v, used) = leb128(&p[i..]).ok_or(Malformed)?;
                i += used;
                v as usize
            };
            let element = p.get(i..i + len).ok_or(Malformed)?;
            i += len;
            self.obu.extend_from_slice(element);
            let continues = y && i >= p.len();
            if !continues {
                let obu = std::mem::take(&mut self.obu);
                self.av1_obu(&obu)?;
            }
            if last {
                break;
            }
        }
        Ok(())
    }

    /// One whole OBU from RTP (size field usually absent) into the frame, with a size field.
    fn av1_obu(&mut self, obu: &[u8]) -> Result<(), Malformed> {
        let h = *obu.first().ok_or(Malformed)?;
        let obu_type = (h >> 3) & 0x0f;
        let ext = h & 0x04 != 0;
        let hlen = 1 + usize::from(ext);
        let mut body = obu.get(hlen..).ok_or(Malformed)?;
        if h & 0x02 != 0 {
            let (v, used) = leb128(body).ok_or(Malformed)?;
            body = body.get(used..used + v as usize).ok_or(Malformed)?;
        }
        if obu_type == 2 || obu_type == 8 {
            return Ok(()); // temporal delimiter, tile list
        }
        let start = self.data.len();
        self.data.push(h | 0x02);
        if ext {
            self.data.push(obu[1]);
        }
        put_leb128(&mut self.data, body.len() as u64);
        self.data.extend_from_slice(body);
        if obu_type == 1 {
            self.av1_seq = Some(self.data[start..].to_vec());
        }
        Ok(())
    }
}

fn leb128(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &x) in b.iter().take(8).enumerate() {
        v |= u64::from(x & 0x7f) << (7 * i);
        if x & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

fn put_leb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// VP9 Annex B: the layer frames of one picture as a superframe, its index at the end.
fn vp9_superframe_index(data: &mut Vec<u8>, ends: &[usize]) {
    let mut sizes = Vec::with_capacity(ends.len());
    let mut prev = 0;
    for &e in ends.iter().take(8) {
        sizes.push(e - prev);
        prev = e;
    }
    data.truncate(prev);
    let max = sizes.iter().copied().max().unwrap_or(0);
    let mag = match max {
        0..=0xff => 1,
        0x100..=0xffff => 2,
        0x1_0000..=0xff_ffff => 3,
        _ => 4,
    };
    let marker = 0xc0 | ((mag as u8 - 1) << 3) | (sizes.len() as u8 - 1);
    data.push(marker);
    for s in sizes {
        data.extend_from_slice(&(s as u32).to_le_bytes()[..mag]);
    }
    data.push(marker);
}

/// Reads bits MSB first (emulation prevention already removed where the format has it).
struct Bits<'a> {
    b: &'a [u8],
    at: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        let v = (self.b.get(self.at / 8)? >> (7 - self.at % 8)) & 1;
        self.at += 1;
        Some(u32::from(v))
    }
    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |v, _| Some((v << 1) | self.bit()?))
    }
    /// Exp-Golomb, unsigned.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }
    fn se(&mut self) -> Option<i32> {
        let v = self.ue()?;
        Some(if v & 1 == 1 {
            v.div_ceil(2) as i32
        } else {
            -((v / 2) as i32)
        })
    }
}

/// The picture size a keyframe declares.
pub fn picture_size(codec: CodecKind, a: &Assembler, frame: &[u8]) -> Option<(u32, u32)> {
    match codec {
        CodecKind::Vp8 => {
            // Frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height.
            let f = frame.get(..10)?;
            (f[3..6] == [0x9d, 0x01, 0x2a]).then_some(())?;
            let w = u16::from_le_bytes([f[6], f[7]]) & 0x3fff;
            let h = u16::from_le_bytes([f[8], f[9]]) & 0x3fff;
            Some((w.into(), h.into()))
        }
        CodecKind::Vp9 => a.vp9_size.or_else(|| vp9_keyframe_size(frame)),
        CodecKind::H264 => h264_sps_size(a.sps.as_deref()?),
        CodecKind::Av1 => av1_seq_info(a.av1_seq.as_deref()?).map(|i| (i.width, i.height)),
        _ => None,
    }
}

/// VP9 uncompressed header of a keyframe (profile 0–3): frame size after the colour config.
fn vp9_keyframe_size(f: &[u8]) -> Option<(u32, u32)> {
    let mut r = Bits { b: f, at: 0 };
    if r.bits(2)? != 2 {
        return None; // frame marker
    }
    let profile = r.bit()? | (r.bit()? << 1);
    if profile == 3 {
        r.bit()?;
    }
    if r.bit()? == 1 || r.bit()? != 0 {
        return None; // show_existing_frame, or not a keyframe
    }
    r.bits(2)?; // show_frame, error_resilient_mode
    if r.bits(24)? != 0x49_8342 {
        return None;
    }
    if profile >= 2 {
        r.bit()?; // ten_or_twelve_bit
    }
    let color_space = r.bits(3)?;
    if color_space != 7 {
        r.bit()?; // color_range
        if profile == 1 || profile == 3 {
            r.bits(3)?; // subsampling_x, subsampling_y, reserved
        }
    } else if profile == 1 || profile == 3 {
        r.bit()?;
    }
    Some((r.bits(16)? + 1, r.bits(16)? + 1))
}

fn unescape(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// H264 SPS (ITU-T H.264 §7.3.2.1.1): the cropped picture size.
fn h264_sps_size(sps: &[u8]) -> Option<(u32, u32)> {
    let rbsp = unescape(sps.get(1..)?);
    let mut r = Bits { b: &rbsp, at: 0 };
    let profile = r.bits(8)?;
    r.bits(16)?; // constraint flags, level
    r.ue()?; // seq_parameter_set_id
    let mut chroma = 1;
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma = r.ue()?;
        if chroma == 3 {
            r.bit()?;
        }
        r.ue()?;
        r.ue()?;
        r.bit()?;
        if r.bit()? == 1 {
            for i in 0..if chroma == 3 { 12 } else { 8 } {
                if r.bit()? == 1 {
                    let n = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i32, 8i32);
                    for _ in 0..n {
                        if next != 0 {
                            next = (last + r.se()? + 256) % 256;
                        }
                        last = if next == 0 { last } else { next };
                    }
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            for _ in 0..r.ue()? {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?;
    let w_mbs = u64::from(r.ue()?) + 1;
    let h_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = u64::from(r.bit()?);
    if frame_mbs_only == 0 {
        r.bit()?;
    }
    r.bit()?; // direct_8x8_inference
    let (mut cl, mut cr, mut ct, mut cb) = (0u64, 0u64, 0u64, 0u64);
    if r.bit()? == 1 {
        let mut ue = || r.ue().map(u64::from);
        (cl, cr, ct, cb) = (ue()?, ue()?, ue()?, ue()?);
    }
    let (cx, cy) = match chroma {
        0 | 3 => (1, 2 - frame_mbs_only),
        2 => (2, 2 - frame_mbs_only),
        _ => (2, 2 * (2 - frame_mbs_only)),
    };
    // u64: a malformed SPS cannot overflow these (each factor is below 2^33).
    let w = (w_mbs * 16).checked_sub(cx * (cl + cr))?;
    let h = ((2 - frame_mbs_only) * h_units * 16).checked_sub(cy * (ct + cb))?;
    Some((u32::try_from(w).ok()?, u32::try_from(h).ok()?))
}

/// What an AV1 sequence header says about the stream (AV1 spec §5.5).
pub struct Av1SeqInfo {
    pub profile: u8,
    pub level: u8,
    pub tier: u8,
    pub width: u32,
    pub height: u32,
}

fn av1_seq_info(obu: &[u8]) -> Option<Av1SeqInfo> {
    let hlen = 1 + usize::from(obu.first()? & 0x04 != 0);
    let (_, used) = leb128(obu.get(hlen..)?)?;
    let mut r = Bits {
        b: obu.get(hlen + used..)?,
        at: 0,
    };
    let profile = r.bits(3)? as u8;
    r.bit()?; // still_picture
    let (level, mut tier) = if r.bit()? == 1 {
        (r.bits(5)? as u8, 0)
    } else {
        let mut buffer_delay_len = 0;
        let mut decoder_model = false;
        if r.bit()? == 1 {
            r.bits(32)?;
            r.bits(32)?;
            if r.bit()? == 1 {
                let mut zeros = 0;
                while r.bit()? == 0 {
                    zeros += 1;
                }
                r.bits(zeros.min(32))?;
            }
            decoder_model = r.bit()? == 1;
            if decoder_model {
                buffer_delay_len = r.bits(5)? + 1;
                r.bits(32)?;
                r.bits(10)?;
            }
        }
        let initial_display_delay = r.bit()? == 1;
        let ops = r.bits(5)? + 1;
        let (mut level0, mut tier0) = (0, 0);
        for i in 0..ops {
            r.bits(12)?;
            let level = r.bits(5)? as u8;
            let tier = if level > 7 { r.bit()? as u8 } else { 0 };
            if i == 0 {
                (level0, tier0) = (level, tier);
            }
            if decoder_model && r.bit()? == 1 {
                r.bits(buffer_delay_len)?;
                r.bits(buffer_delay_len)?;
                r.bit()?;
            }
            if initial_display_delay && r.bit()? == 1 {
                r.bits(4)?;
            }
        }
        (level0, tier0)
    };
    let wb = r.bits(4)? + 1;
    let hb = r.bits(4)? + 1;
    let width = r.bits(wb)? + 1;
    let height = r.bits(hb)? + 1;
    tier &= 1;
    Some(Av1SeqInfo {
        profile,
        level,
        tier,
        width,
        height,
    })
}

/// The CodecPrivate of a video track: `avcC` for H264, `av1C` for AV1, nothing for VP8/VP9.
pub fn codec_private(codec: CodecKind, a: &Assembler) -> Option<Vec<u8>> {
    match codec {
        CodecKind::H264 => {
            let (sps, pps) = (a.sps.as_deref()?, a.pps.as_deref()?);
            let mut c = vec![1, *sps.get(1)?, *sps.get(2)?, *sps.get(3)?, 0xff, 0xe1];
            c.extend_from_slice(&(sps.len() as u16).to_be_bytes());
            c.extend_from_slice(sps);
            c.push(1);
            c.extend_from_slice(&(pps.len() as u16).to_be_bytes());
            c.extend_from_slice(pps);
            Some(c)
        }
        CodecKind::Av1 => {
            let seq = a.av1_seq.as_deref()?;
            let i = av1_seq_info(seq)?;
            // 8-bit 4:2:0 unless the profile says otherwise (what WebRTC encoders send).
            let chroma = if i.profile == 0 { 0b0000_1100 } else { 0 };
            let mut c = vec![0x81, (i.profile << 5) | i.level, (i.tier << 7) | chroma, 0];
            c.extend_from_slice(seq);
            Some(c)
        }
        _ => None,
    }
}

/// Opus identification header (RFC 7845 §5.1) for a 48 kHz track.
pub fn opus_head(channels: u8) -> Vec<u8> {
    let mut h = b"OpusHead".to_vec();
    h.push(1);
    h.push(channels);
    h.extend_from_slice(&0u16.to_le_bytes()); // pre-skip: WebRTC streams carry no encoder delay
    h.extend_from_slice(&48_000u32.to_le_bytes());
    h.extend_from_slice(&0i16.to_le_bytes());
    h.push(0);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_packets_become_one_frame_with_its_size() {
        let mut a = Assembler::default();
        // Descriptor X=1, I=1 (7-bit picture id), S=1; keyframe tag + start code + 640×360.
        let p1 = [
            0x90, 0x80, 0x05, 0x00, 0x01, 0x02, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01,
        ];
        let p2 = [0x80, 0x80, 0x05, 0xaa, 0xbb];
        a.push(CodecKind::Vp8, &p1, true).unwrap();
        a.push(CodecKind::Vp8, &p2, false).unwrap();
        assert!(a.keyframe);
        let f = a.take(CodecKind::Vp8).unwrap();
        assert_eq!(f.len(), 10 + 2);
        assert_eq!(picture_size(CodecKind::Vp8, &a, &f), Some((640, 360)));
    }

    #[test]
    fn h264_fu_a_and_stap_a_become_length_prefixed_nal_units() {
        let mut a = Assembler::default();
        // STAP-A with an SPS (Baseline, 320×240: 20×15 macroblocks) and a PPS.
        let sps = [0x67, 0x42, 0xc0, 0x1e, 0xf4, 0x0a, 0x0f, 0xc8];
        let pps = [0x68, 0xce, 0x3c, 0x80];
        let mut stap = vec![0x78];
        for n in [&sps[..], &pps[..]] {
            stap.extend_from_slice(&(n.len() as u16).to_be_bytes());
            stap.extend_from_slice(n);
        }
        a.push(CodecKind::H264, &stap, true).unwrap();
        a.push(CodecKind::H264, &[0x7c, 0x85, 1, 2], false).unwrap();
        a.push(CodecKind::H264, &[0x7c, 0x45, 3], false).unwrap();
        assert!(a.keyframe);
        assert_eq!(picture_size(CodecKind::H264, &a, &[]), Some((320, 240)));
        let private = codec_private(CodecKind::H264, &a).unwrap();
        assert_eq!(&private[..6], &[1, 0x42, 0xc0, 0x1e, 0xff, 0xe1]);
        let f = a.take(CodecKind::H264).unwrap();
        assert_eq!(&f[f.len() - 8..], &[0, 0, 0, 4, 0x65, 1, 2, 3]);
    }

    #[test]
    fn a_missing_fu_a_end_leaves_no_frame() {
        let mut a = Assembler::default();
        a.push(CodecKind::H264, &[0x7c, 0x85, 1, 2], true).unwrap();
        assert!(a.take(CodecKind::H264).is_none());
    }

    #[test]
    fn vp9_spatial_layers_become_a_superframe() {
        let mut a = Assembler::default();
        // L=1, B=1, E=1, non-flexible: layer byte (sid 0) and TL0PICIDX.
        a.push(CodecKind::Vp9, &[0x2c, 0x00, 0x00, 0xa1, 0xa2], true)
            .unwrap();
        a.push(CodecKind::Vp9, &[0x6c, 0x02, 0x00, 0xb1], false)
            .unwrap();
        assert!(a.keyframe);
        let f = a.take(CodecKind::Vp9).unwrap();
        assert_eq!(f, [0xa1, 0xa2, 0xb1, 0xc1, 2, 1, 0xc1]);
    }

    #[test]
    fn av1_fragments_join_and_get_size_fields() {
        let mut a = Assembler::default();
        // N=1, W=2: a temporal delimiter (dropped), then the start of a frame OBU (Y=1).
        a.push(CodecKind::Av1, &[0x68, 0x01, 0x10, 0x30, 0xaa], true)
            .unwrap();
        a.push(CodecKind::Av1, &[0x90, 0xbb, 0xcc], false).unwrap();
        assert!(a.keyframe);
        assert_eq!(a.take(CodecKind::Av1).unwrap(), [0x32, 3, 0xaa, 0xbb, 0xcc]);
    }

    #[test]
    fn random_payloads_never_panic() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for codec in [
            CodecKind::Vp8,
            CodecKind::Vp9,
            CodecKind::H264,
            CodecKind::Av1,
            CodecKind::Opus,
        ] {
            let mut a = Assembler::default();
            for i in 0..20_000 {
                let len = (next() % 40) as usize;
                let p: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                let _ = a.push(codec, &p, i % 3 == 0);
                if i % 4 == 3 {
                    if let Some(f) = a.take(codec) {
                        let _ = picture_size(codec, &a, &f);
                        let _ = codec_private(codec, &a);
                    }
                }
            }
            // Random SPS and sequence headers too.
            for _ in 0..5_000 {
                let len = 1 + (next() % 30) as usize;
                let b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                let _ = h264_sps_size(&b);
                let _ = av1_seq_info(&b);
                let _ = vp9_keyframe_size(&b);
            }
        }
    }

    #[test]
    fn exp_golomb_reads() {
        // 1 | 010 | 011 | 00100 → 0, 1, 2, 3
        let b = [0b1010_0110, 0b0100_0000];
        let mut r = Bits { b: &b, at: 0 };
        assert_eq!(
            (r.ue(), r.ue(), r.ue(), r.ue()),
            (Some(0), Some(1), Some(2), Some(3))
        );
    }
}
