//! RTCP (RFC 3550 §6, RFC 4585, RFC 5104): compound packet walking, the packets the SFU reads
//! (SR, RR, NACK, PLI, FIR, transport-cc, REMB) and the ones it writes (SR, RR, SDES, NACK, PLI,
//! FIR). Parsing borrows; writing goes into caller-provided buffers.
//!
//! Hand-written for the same reason as `rtp::packet`: the `rtcp` crate allocates a boxed trait
//! object per packet, and the SFU reads a few fields of a few packet types.

pub mod transport_cc;

pub const PT_SR: u8 = 200;
pub const PT_RR: u8 = 201;
pub const PT_SDES: u8 = 202;
pub const PT_BYE: u8 = 203;
pub const PT_APP: u8 = 204;
pub const PT_RTPFB: u8 = 205;
pub const PT_PSFB: u8 = 206;

/// One packet inside a compound RTCP datagram.
#[derive(Debug, Clone, Copy)]
pub struct RtcpItem<'a> {
    /// Report count or feedback message type (the 5 low bits of the first byte).
    pub count: u8,
    pub pt: u8,
    /// The whole packet including its 4-byte header.
    pub bytes: &'a [u8],
}

impl<'a> RtcpItem<'a> {
    pub fn body(&self) -> &'a [u8] {
        &self.bytes[4..]
    }
}

/// Splits a compound RTCP packet. Returns `None` if any packet is malformed, so a bad
/// compound is dropped whole.
pub fn split_compound<'a>(buf: &'a [u8], out: &mut Vec<RtcpItem<'a>>) -> bool {
    let mut i = 0;
    out.clear();
    while i < buf.len() {
        if buf.len() - i < 4 || buf[i] >> 6 != 2 {
            return false;
        }
        let len = (u16::from_be_bytes([buf[i + 2], buf[i + 3]]) as usize + 1) * 4;
        if i + len > buf.len() {
            return false;
        }
        out.push(RtcpItem {
            count: buf[i] & 0x1f,
            pt: buf[i + 1],
            bytes: &buf[i..i + len],
        });
        i += len;
    }
    !out.is_empty()
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// A report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportBlock {
    pub ssrc: u32,
    pub fraction_lost: u8,
    pub total_lost: i32,
    pub highest_seq: u32,
    pub jitter: u32,
    pub lsr: u32,
    pub dlsr: u32,
}

impl ReportBlock {
    fn parse(b: &[u8]) -> Self {
        let lost = ((b[5] as u32) << 16) | ((b[6] as u32) << 8) | b[7] as u32;
        let total_lost = if lost & 0x80_0000 != 0 {
            (lost | 0xff00_0000) as i32
        } else {
            lost as i32
        };
        Self {
            ssrc: u32_at(b, 0),
            fraction_lost: b[4],
            total_lost,
            highest_seq: u32_at(b, 8),
            jitter: u32_at(b, 12),
            lsr: u32_at(b, 16),
            dlsr: u32_at(b, 20),
        }
    }
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.push(self.fraction_lost);
        let lost = (self.total_lost.clamp(-0x80_0000, 0x7f_ffff) as u32) & 0xff_ffff;
        out.extend_from_slice(&lost.to_be_bytes()[1..]);
        out.extend_from_slice(&self.highest_seq.to_be_bytes());
        out.extend_from_slice(&self.jitter.to_be_bytes());
        out.extend_from_slice(&self.lsr.to_be_bytes());
        out.extend_from_slice(&self.dlsr.to_be_bytes());
    }
}

/// Sender info of an SR.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderInfo {
    pub ssrc: u32,
    pub ntp: u64,
    pub rtp_ts: u32,
    pub packets: u32,
    pub octets: u32,
}

/// Parses an SR: sender info plus its report blocks.
pub fn parse_sr<'a>(
    item: &RtcpItem<'a>,
) -> Option<(SenderInfo, impl Iterator<Item = ReportBlock> + 'a)> {
    let b = item.body();
    if b.len() < 24 + item.count as usize * 24 {
        return None;
    }
    let info = SenderInfo {
        ssrc: u32_at(b, 0),
        ntp: ((u32_at(b, 4) as u64) << 32) | u32_at(b, 8) as u64,
        rtp_ts: u32_at(b, 12),
        packets: u32_at(b, 16),
        octets: u32_at(b, 20),
    };
    let n = item.count as usize;
    Some((
        info,
        (0..n).map(move |k| ReportBlock::parse(&b[24 + k * 24..])),
    ))
}

/// Parses an RR: reporter SSRC plus report blocks.
pub fn parse_rr<'a>(item: &RtcpItem<'a>) -> Option<(u32, impl Iterator<Item = ReportBlock> + 'a)> {
    let b = item.body();
    if b.len() < 4 + item.count as usize * 24 {
        return None;
    }
    let n = item.count as usize;
    Some((
        u32_at(b, 0),
        (0..n).map(move |k| ReportBlock::parse(&b[4 + k * 24..])),
    ))
}

/// Sender and media SSRC of a feedback message (RFC 4585 §6.1).
pub fn feedback_ssrcs(item: &RtcpItem<'_>) -> Option<(u32, u32)> {
    let b = item.body();
    (b.len() >= 8).then(|| (u32_at(b, 0), u32_at(b, 4)))
}

/// The bitrate of a receiver estimated maximum bitrate message (PSFB FMT 15, "REMB",
/// draft-alvestrand-rmcat-remb), in bits per second.
pub fn parse_remb(item: &RtcpItem<'_>) -> Option<u64> {
    let b = item.body();
    if item.pt != PT_PSFB || item.count != 15 || b.len() < 16 || &b[8..12] != b"REMB" {
        return None;
    }
    let exp = u32::from(b[13] >> 2);
    let mantissa = (u64::from(b[13] & 3) << 16) | (u64::from(b[14]) << 8) | u64::from(b[15]);
    mantissa.checked_shl(exp)
}

/// Generic NACK (RTPFB fmt 1): calls `f` with every lost sequence number.
pub fn for_each_nack(item: &RtcpItem<'_>, mut f: impl FnMut(u16)) {
    let b = item.body();
    let mut i = 8;
    while i + 4 <= b.len() {
        let pid = u16::from_be_bytes([b[i], b[i + 1]]);
        let blp = u16::from_be_bytes([b[i + 2], b[i + 3]]);
        f(pid);
        for bit in 0..16 {
            if blp & (1 << bit) != 0 {
                f(pid.wrapping_add(bit + 1));
            }
        }
        i += 4;
    }
}

/// FIR (PSFB fmt 4): the media SSRCs asked for a full intra request.
pub fn fir_ssrcs<'a>(item: &RtcpItem<'a>) -> impl Iterator<Item = u32> + 'a {
    let b = item.body();
    let n = b.len().saturating_sub(8) / 8;
    (0..n).map(move |k| u32_at(b, 8 + k * 8))
}

fn header(out: &mut Vec<u8>, count: u8, pt: u8) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0x80 | (count & 0x1f), pt, 0, 0]);
    at
}

fn close(out: &mut [u8], at: usize) {
    let words = ((out.len() - at) / 4 - 1) as u16;
    out[at + 2..at + 4].copy_from_slice(&words.to_be_bytes());
}

pub fn write_sr(out: &mut Vec<u8>, info: &SenderInfo, blocks: &[ReportBlock]) {
    let at = header(out, blocks.len() as u8, PT_SR);
    out.extend_from_slice(&info.ssrc.to_be_bytes());
    out.extend_from_slice(&info.ntp.to_be_bytes());
    out.extend_from_slice(&info.rtp_ts.to_be_bytes());
    out.extend_from_slice(&info.packets.to_be_bytes());
    out.extend_from_slice(&info.octets.to_be_bytes());
    for b in blocks {
        b.write(out);
    }
    close(out, at);
}

pub fn write_rr(out: &mut Vec<u8>, ssrc: u32, blocks: &[ReportBlock]) {
    let at = header(out, blocks.len() as u8, PT_RR);
    out.extend_from_slice(&ssrc.to_be_bytes());
    for b in blocks {
        b.write(out);
    }
    close(out, at);
}

/// SDES with a single CNAME chunk.
pub fn write_sdes_cname(out: &mut Vec<u8>, ssrc: u32, cname: &str) {
    let at = header(out, 1, PT_SDES);
    out.extend_from_slice(&ssrc.to_be_bytes());
    let c = &cname.as_bytes()[..cname.len().min(255)];
    out.push(1);
    out.push(c.len() as u8);
    out.extend_from_slice(c);
    // End of chunk: at least one null octet, then pad to 32 bits.
    out.push(0);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    close(out, at);
}

pub fn write_pli(out: &mut Vec<u8>, sender: u32, media: u32) {
    let at = header(out, 1, PT_PSFB);
    out.extend_from_slice(&sender.to_be_bytes());
    out.extend_from_slice(&media.to_be_bytes());
    close(out, at);
}

pub fn write_fir(out: &mut Vec<u8>, sender: u32, media: u32, seq: u8) {
    let at = header(out, 4, PT_PSFB);
    out.extend_from_slice(&sender.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&media.to_be_bytes());
    out.extend_from_slice(&[seq, 0, 0, 0]);
    close(out, at);
}

/// Generic NACK for an ascending list of lost sequence numbers, packed into PID/BLP pairs.
pub fn write_nack(out: &mut Vec<u8>, sender: u32, media: u32, lost: &[u16]) {
    let at = header(out, 1, PT_RTPFB);
    out.extend_from_slice(&sender.to_be_bytes());
    out.extend_from_slice(&media.to_be_bytes());
    let mut i = 0;
    while i < lost.len() {
        let pid = lost[i];
        let mut blp = 0u16;
        i += 1;
        while i < lost.len() {
            let d = lost[i].wrapping_sub(pid);
            if d == 0 || d > 16 {
                break;
            }
            blp |= 1 << (d - 1);
            i += 1;
        }
        out.extend_from_slice(&pid.to_be_bytes());
        out.extend_from_slice(&blp.to_be_bytes());
    }
    close(out, at);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remb_bitrate() {
        // 1.5 Mbit/s as Chromium writes it: mantissa 187500, exponent 3.
        let m: u32 = 187_500;
        let mut p = vec![0x8f, PT_PSFB, 0, 5, 0, 0, 0, 1, 0, 0, 0, 0];
        p.extend_from_slice(b"REMB");
        p.extend_from_slice(&[1, (3 << 2) | (m >> 16) as u8, (m >> 8) as u8, m as u8]);
        p.extend_from_slice(&7u32.to_be_bytes());
        let mut items = Vec::new();
        assert!(split_compound(&p, &mut items));
        assert_eq!(parse_remb(&items[0]), Some(1_500_000));
        let mut q = p.clone();
        q[12] = b'X';
        assert!(split_compound(&q, &mut items));
        assert_eq!(parse_remb(&items[0]), None);
    }

    #[test]
    fn sr_roundtrip_and_compound_split() {
        let info = SenderInfo {
            ssrc: 0x1234,
            ntp: 0x0102030405060708,
            rtp_ts: 9,
            packets: 10,
            octets: 11,
        };
        let rb = ReportBlock {
            ssrc: 77,
            fraction_lost: 3,
            total_lost: -2,
            highest_seq: 70000,
            jitter: 5,
            lsr: 6,
            dlsr: 7,
        };
        let mut out = Vec::new();
        write_sr(&mut out, &info, &[rb]);
        write_sdes_cname(&mut out, 0x1234, "abc");
        let mut items = Vec::new();
        assert!(split_compound(&out, &mut items));
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].pt, PT_SR);
        let (got, blocks) = parse_sr(&items[0]).unwrap();
        assert_eq!(got, info);
        assert_eq!(blocks.collect::<Vec<_>>(), vec![rb]);
        assert_eq!(items[1].pt, PT_SDES);
        assert_eq!(items[1].bytes.len() % 4, 0);
    }

    #[test]
    fn rr_fixture_from_the_wire() {
        // RR from SSRC 0x902f9e2e with one report block about 0x902f9e2e.
        let rr = [
            0x81, 0xc9, 0x00, 0x07, 0x90, 0x2f, 0x9e, 0x2e, 0x90, 0x2f, 0x9e, 0x2e, 0x10, 0x00,
            0x00, 0x01, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x46, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00,
        ];
        let mut items = Vec::new();
        assert!(split_compound(&rr, &mut items));
        let (ssrc, mut blocks) = parse_rr(&items[0]).unwrap();
        assert_eq!(ssrc, 0x902f9e2e);
        let b = blocks.next().unwrap();
        assert_eq!(b.fraction_lost, 0x10);
        assert_eq!(b.total_lost, 1);
        assert_eq!(b.highest_seq, 42);
        assert_eq!(b.jitter, 70);
    }

    #[test]
    fn nack_packs_and_unpacks() {
        let lost = [100u16, 101, 105, 116, 117, 65535, 0];
        let mut out = Vec::new();
        write_nack(&mut out, 1, 2, &lost);
        let mut items = Vec::new();
        assert!(split_compound(&out, &mut items));
        assert_eq!((items[0].pt, items[0].count), (PT_RTPFB, 1));
        assert_eq!(feedback_ssrcs(&items[0]), Some((1, 2)));
        let mut got = Vec::new();
        for_each_nack(&items[0], |s| got.push(s));
        assert_eq!(got, lost);
    }

    #[test]
    fn rejects_truncated_compound() {
        let mut out = Vec::new();
        write_pli(&mut out, 1, 2);
        let mut items = Vec::new();
        assert!(!split_compound(&out[..10], &mut items));
        assert!(split_compound(&out, &mut items));
        let mut out = Vec::new();
        write_fir(&mut out, 1, 2, 3);
        assert!(split_compound(&out, &mut items));
        assert_eq!(fir_ssrcs(&items[0]).collect::<Vec<_>>(), vec![2]);
    }
}
