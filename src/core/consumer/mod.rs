//! Consumer: the sending side towards one remote endpoint for one producer. Rewrites SSRC,
//! sequence number, timestamp, payload type and header extensions; keeps sent packets for
//! retransmission (RTX, RFC 4588) on NACK; waits for a keyframe after (re)starting; writes
//! sender reports.

use crate::core::codecs::CodecKind;
use crate::core::rtcp::{self, ReportBlock, SenderInfo};
use crate::core::rtp::packet::{ExtWriter, RtpView};
use crate::core::rtp::{ExtIds, ExtUri, TrafficCounter};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Output sequence numbering that stays continuous when the input jumps (pause/resume,
/// stream switch): after `resync`, the next input sequence maps to last output + 1.
#[derive(Debug, Default)]
pub struct SeqRewriter {
    offset: u16,
    last_out: u16,
    started: bool,
    resync: bool,
}

impl SeqRewriter {
    pub fn request_resync(&mut self) {
        self.resync = true;
    }
    pub fn rewrite(&mut self, seq: u16) -> u16 {
        if !self.started {
            self.started = true;
            self.offset = 0;
            self.resync = false;
            self.last_out = seq;
            return seq;
        }
        if self.resync {
            self.resync = false;
            self.offset = self.last_out.wrapping_add(1).wrapping_sub(seq);
        }
        let out = seq.wrapping_add(self.offset);
        if (out.wrapping_sub(self.last_out) as i16) > 0 {
            self.last_out = out;
        }
        out
    }
}

/// One payload type the consumer sends, with its RTX payload type.
#[derive(Debug, Clone)]
pub struct ConsumerCodec {
    pub pt: u8,
    pub rtx_pt: Option<u8>,
    pub mime: String,
    pub kind: CodecKind,
    pub clock_rate: u32,
}

struct Stored {
    seq: u16,
    sent_at: Instant,
    data: Vec<u8>,
    valid: bool,
}

/// Sent packets, indexed by output sequence number modulo the ring size.
pub struct RetransmissionBuffer {
    slots: Vec<Stored>,
    max_age: Duration,
}

impl RetransmissionBuffer {
    pub fn new(size: usize, max_age: Duration) -> Self {
        let now = Instant::now();
        Self {
            slots: (0..size)
                .map(|_| Stored {
                    seq: 0,
                    sent_at: now,
                    data: Vec::new(),
                    valid: false,
                })
                .collect(),
            max_age,
        }
    }
    pub fn store(&mut self, now: Instant, seq: u16, pkt: &[u8]) {
        if self.slots.is_empty() {
            return;
        }
        let n = self.slots.len();
        let s = &mut self.slots[seq as usize % n];
        s.seq = seq;
        s.sent_at = now;
        s.valid = true;
        s.data.clear();
        s.data.extend_from_slice(pkt);
    }
    pub fn get(&self, now: Instant, seq: u16) -> Option<&[u8]> {
        if self.slots.is_empty() {
            return None;
        }
        let s = &self.slots[seq as usize % self.slots.len()];
        (s.valid && s.seq == seq && now.duration_since(s.sent_at) <= self.max_age)
            .then_some(&s.data[..])
    }
}

/// The source packet as the consumer sees it (producer side already validated it).
pub struct SourcePacket<'a> {
    pub view: RtpView<'a>,
    pub ext_ids: &'a ExtIds,
    pub mapped_pt: u8,
    pub seq: u16,
    pub payload_off: usize,
    pub keyframe: bool,
    pub encoding: usize,
}

pub struct Consumer {
    pub id: String,
    pub producer_id: String,
    pub transport: u32,
    pub producer: u32,
    pub kind: String,
    pub ctype: String,
    pub paused: bool,
    pub producer_paused: bool,
    pub ssrc: u32,
    pub rtx_ssrc: Option<u32>,
    pub codecs: Vec<ConsumerCodec>,
    /// (id, uri) of every header extension the remote accepts.
    pub exts: Vec<(u8, ExtUri)>,
    pub mid: Option<String>,
    pub cname: String,
    pub encoding: usize,
    pub seq: SeqRewriter,
    pub sync_required: bool,
    pub keyframe_required: bool,
    rtx_seq: u16,
    pub buffer: RetransmissionBuffer,
    pub sent: TrafficCounter,
    pub retransmitted: TrafficCounter,
    pub nack_count: u64,
    pub nack_packet_count: u64,
    pub pli_count: u64,
    pub fir_count: u64,
    pub packets_lost: i32,
    pub fraction_lost: u8,
    pub rtt_ms: f64,
    pub score: u8,
    last_ts: u32,
    last_ts_at: Option<Instant>,
    pub rtp_parameters: Value,
    pub priority: u8,
    pub ignore_dtx: bool,
    pub trace_types: Vec<String>,
    pub preferred_layers: Option<Value>,
}

impl Consumer {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: String,
        producer_id: String,
        transport: u32,
        producer: u32,
        kind: String,
        ctype: String,
        ssrc: u32,
        rtx_ssrc: Option<u32>,
        codecs: Vec<ConsumerCodec>,
        exts: Vec<(u8, ExtUri)>,
        mid: Option<String>,
        cname: String,
        rtp_parameters: Value,
    ) -> Self {
        let video = kind == "video";
        Self {
            id,
            producer_id,
            transport,
            producer,
            kind,
            ctype,
            paused: false,
            producer_paused: false,
            ssrc,
            rtx_ssrc,
            codecs,
            exts,
            mid,
            cname,
            encoding: 0,
            seq: SeqRewriter::default(),
            sync_required: true,
            keyframe_required: video,
            rtx_seq: 0,
            buffer: RetransmissionBuffer::new(
                if video { 600 } else { 0 },
                Duration::from_millis(2000),
            ),
            sent: TrafficCounter::default(),
            retransmitted: TrafficCounter::default(),
            nack_count: 0,
            nack_packet_count: 0,
            pli_count: 0,
            fir_count: 0,
            packets_lost: 0,
            fraction_lost: 0,
            rtt_ms: 0.0,
            score: 10,
            last_ts: 0,
            last_ts_at: None,
            rtp_parameters,
            priority: 1,
            ignore_dtx: false,
            trace_types: Vec::new(),
            preferred_layers: None,
        }
    }

    pub fn is_active(&self) -> bool {
        !self.paused && !self.producer_paused
    }

    /// (Re)start after pause or producer resume: continue numbering, wait for a keyframe.
    pub fn restart(&mut self) {
        self.seq.request_resync();
        self.sync_required = true;
        self.keyframe_required = self.kind == "video";
    }

    fn codec_for(&self, pt: u8) -> Option<&ConsumerCodec> {
        self.codecs.iter().find(|c| c.pt == pt)
    }

    /// Writes the rewritten packet into `out` (cleared first). Returns false if the packet is
    /// not forwarded (paused, unknown payload type, waiting for a keyframe, DTX to ignore).
    pub fn forward(
        &mut self,
        now: Instant,
        src: &SourcePacket<'_>,
        tcc_seq: &mut u16,
        abs_send_time: u32,
        out: &mut Vec<u8>,
    ) -> bool {
        if !self.is_active() || src.encoding != self.encoding {
            return false;
        }
        let Some(codec) = self.codec_for(src.mapped_pt) else {
            return false;
        };
        let clock_rate = codec.clock_rate;
        let payload = &src.view.buf[src.payload_off..src.view.payload_off + src.view.payload_len];
        if self.ignore_dtx && codec.kind == CodecKind::Opus && payload.len() <= 2 {
            return false;
        }
        if self.keyframe_required {
            if !src.keyframe {
                return false;
            }
            self.keyframe_required = false;
        }
        if self.sync_required {
            self.sync_required = false;
            self.seq.request_resync();
        }
        let seq = self.seq.rewrite(src.seq);
        let ts = src.view.timestamp();
        self.write_packet(
            src,
            self.ssrc,
            src.mapped_pt,
            seq,
            ts,
            tcc_seq,
            abs_send_time,
            payload,
            out,
        );
        self.buffer.store(now, seq, out);
        self.sent.add(now, out.len());
        self.last_ts = ts;
        self.last_ts_at = Some(now);
        let _ = clock_rate;
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn write_packet(
        &self,
        src: &SourcePacket<'_>,
        ssrc: u32,
        pt: u8,
        seq: u16,
        ts: u32,
        tcc_seq: &mut u16,
        ast: u32,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) {
        out.clear();
        let csrcs = src.view.csrcs();
        out.extend_from_slice(&[
            0x80 | (csrcs.len() / 4) as u8,
            pt | if src.view.marker() { 0x80 } else { 0 },
        ]);
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&ts.to_be_bytes());
        out.extend_from_slice(&ssrc.to_be_bytes());
        out.extend_from_slice(csrcs);
        let ext_start = out.len();
        // Room for the extension block: header + each element at most 2 + 255 bytes.
        out.resize(ext_start + 4 + 64 + self.exts.len() * 20, 0);
        let two_byte = self.exts.iter().any(|(id, _)| *id > 14);
        let mut w = ExtWriter::new(out, ext_start, two_byte);
        for &(id, uri) in &self.exts {
            match uri {
                ExtUri::Mid => {
                    if let Some(m) = &self.mid {
                        w.push(id, m.as_bytes());
                    }
                }
                ExtUri::Rid | ExtUri::Rrid => {}
                ExtUri::TransportWideCc => {
                    *tcc_seq = tcc_seq.wrapping_add(1);
                    w.push(id, &tcc_seq.to_be_bytes());
                }
                ExtUri::AbsSendTime => {
                    w.push(id, &ast.to_be_bytes()[1..]);
                }
                other => {
                    let pid = src.ext_ids[other as usize];
                    if let Some(v) = src.view.extension(pid) {
                        if v.len() <= 16 || two_byte {
                            w.push(id, v);
                        }
                    }
                }
            }
        }
        let end = w.finish();
        out.truncate(end);
        if end > ext_start {
            out[0] |= 0x10;
        }
        out.extend_from_slice(payload);
    }

    /// Builds the RTX (or plain) retransmission of `seq` into `out`.
    pub fn retransmit(&mut self, now: Instant, seq: u16, out: &mut Vec<u8>) -> bool {
        let Some(orig) = self.buffer.get(now, seq) else {
            return false;
        };
        let Ok(v) = RtpView::parse(orig) else {
            return false;
        };
        out.clear();
        let rtx_pt = self.codec_for(v.payload_type()).and_then(|c| c.rtx_pt);
        match (self.rtx_ssrc, rtx_pt) {
            (Some(rssrc), Some(rpt)) => {
                self.rtx_seq = self.rtx_seq.wrapping_add(1);
                let hl = v.header_len();
                out.extend_from_slice(&orig[..hl]);
                out[0] &= !0x20;
                out[1] = (out[1] & 0x80) | rpt;
                out[2..4].copy_from_slice(&self.rtx_seq.to_be_bytes());
                out[8..12].copy_from_slice(&rssrc.to_be_bytes());
                out.extend_from_slice(&seq.to_be_bytes());
                out.extend_from_slice(v.payload());
            }
            _ => out.extend_from_slice(orig),
        }
        self.retransmitted.add(now, out.len());
        true
    }

    /// Handles a receiver report block about our SSRC.
    pub fn handle_report(&mut self, now_ntp_mid: u32, rb: &ReportBlock) {
        self.packets_lost = rb.total_lost;
        self.fraction_lost = rb.fraction_lost;
        if rb.lsr != 0 {
            let rtt = now_ntp_mid.wrapping_sub(rb.lsr).wrapping_sub(rb.dlsr);
            if rtt < 65536 * 10 {
                self.rtt_ms = rtt as f64 * 1000.0 / 65536.0;
            }
        }
        let loss = rb.fraction_lost as f64 / 256.0;
        self.score = (10.0 * (1.0 - loss).powi(4)).round() as u8;
    }

    /// Sender report + SDES for this consumer.
    pub fn write_sr(&self, now: Instant, ntp: u64, out: &mut Vec<u8>) {
        let Some(at) = self.last_ts_at else { return };
        let clock = self.codecs.first().map_or(90000, |c| c.clock_rate) as f64;
        let rtp_ts = self
            .last_ts
            .wrapping_add((now.duration_since(at).as_secs_f64() * clock) as u32);
        let info = SenderInfo {
            ssrc: self.ssrc,
            ntp,
            rtp_ts,
            packets: self.sent.packets as u32,
            octets: self.sent.bytes as u32,
        };
        rtcp::write_sr(out, &info, &[]);
        rtcp::write_sdes_cname(out, self.ssrc, &self.cname);
    }

    pub fn stats_json(&mut self, now: Instant, ts_ms: u64) -> Value {
        let mime = self
            .codecs
            .first()
            .map(|c| c.mime.clone())
            .unwrap_or_default();
        let mut o = json!({
            "type": "outbound-rtp",
            "timestamp": ts_ms,
            "ssrc": self.ssrc,
            "kind": self.kind,
            "mimeType": mime,
            "packetsLost": self.packets_lost,
            "fractionLost": self.fraction_lost,
            "packetsDiscarded": 0,
            "packetsRetransmitted": self.retransmitted.packets,
            "packetsRepaired": self.retransmitted.packets,
            "nackCount": self.nack_count,
            "nackPacketCount": self.nack_packet_count,
            "pliCount": self.pli_count,
            "firCount": self.fir_count,
            "score": self.score,
            "packetCount": self.sent.packets,
            "byteCount": self.sent.bytes,
            "bitrate": self.sent.rate.rate(now),
            "roundTripTime": self.rtt_ms,
        });
        if let Some(r) = self.rtx_ssrc {
            o["rtxSsrc"] = json!(r);
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_rewriter_continues_across_jumps() {
        let mut s = SeqRewriter::default();
        assert_eq!(s.rewrite(100), 100);
        assert_eq!(s.rewrite(101), 101);
        s.request_resync();
        assert_eq!(s.rewrite(5000), 102);
        assert_eq!(s.rewrite(5001), 103);
        // Reordered packet keeps its relative place.
        assert_eq!(s.rewrite(4999), 101);
        s.request_resync();
        assert_eq!(s.rewrite(65535), 104);
        assert_eq!(s.rewrite(0), 105);
    }

    #[test]
    fn retransmission_buffer_bounds() {
        let t0 = Instant::now();
        let mut b = RetransmissionBuffer::new(4, Duration::from_millis(100));
        for s in 0..6u16 {
            b.store(t0, s, &[s as u8]);
        }
        assert!(b.get(t0, 1).is_none(), "overwritten by 5");
        assert_eq!(b.get(t0, 5), Some(&[5u8][..]));
        assert!(
            b.get(t0 + Duration::from_millis(150), 5).is_none(),
            "too old"
        );
    }
}
