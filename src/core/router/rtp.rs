//! The packet path through the router: what a transport unwrapped goes to the producer it
//! belongs to (RTP listener by SSRC, MID, RID), then to every consumer of that producer and out
//! through the consumer's transport; RTCP feedback goes the other way (NACK → retransmission,
//! PLI/FIR → keyframe request, receiver reports → scores); periodic RTCP: receiver and sender
//! reports, NACKs, transport-cc feedback.
//!
//! It routes and schedules; unwrapping (SRTP, demux) is the transport's, receive statistics and
//! NACK lists the producer's, rewriting and retransmission the consumer's.

use super::Graph;
use crate::core::consumer::{Consumer, DdRef, SourcePacket};
use crate::core::context::Ctx;
use crate::core::ice::Tuple;
use crate::core::message::Output;
use crate::core::recorder::PacketIn;
use crate::core::rtcp::{self, RtcpItem};
use crate::core::rtp::packet::RtpView;
use crate::core::rtp::ExtUri;
use crate::core::transport::{Flavor, Inbound, InputOutcome, LocalSocket, Transport};
use serde_json::{json, Value};
use std::time::Instant;

/// How far above its bandwidth estimate a transport may send before NACKs go unanswered.
const RTX_OVER_ESTIMATE: f64 = 1.1;

impl Graph {
    /// Acts on what a transport made of an input: WebRtcServer routing by validated tuple,
    /// consumers told of connectivity, SCTP packets, then RTP/RTCP into the router.
    pub fn after_input(&mut self, ctx: &mut Ctx, k: u32, o: InputOutcome, data: &[u8]) {
        if let Some(tuple) = o.validated_tuple {
            self.route_validated_tuple(k, tuple);
        }
        if o.connectivity_changed {
            self.sync_transport_connected(ctx, k);
        }
        for p in &o.sctp_packets {
            self.sctp_input(ctx, k, p);
        }
        match o.inbound {
            Inbound::Rtp(n) => self.rtp_input(ctx, k, &data[..n]),
            Inbound::Rtcp(n) => self.rtcp_input(ctx, k, &data[..n]),
            Inbound::Sctp(n) => self.sctp_input(ctx, k, &data[..n]),
            Inbound::Nothing => {}
        }
    }

    /// On a WebRtcServer, a validated tuple routes this transport's later packets (and a new
    /// TCP connection becomes one of its sockets).
    pub fn route_validated_tuple(&mut self, k: u32, tuple: Tuple) {
        let Some(Flavor::WebRtc(w)) = self.transports.get_mut(&k).map(|t| &mut t.flavor) else {
            return;
        };
        let Some(sk) = w.server else {
            return;
        };
        if !w.sockets.iter().any(|s| s.id == tuple.socket) {
            let listener = self.conn_listener.get(&tuple.socket).copied();
            if let Some(ls) = listener
                .and_then(|l| w.sockets.iter().find(|s| s.id == l))
                .cloned()
            {
                w.sockets.push(LocalSocket {
                    id: tuple.socket,
                    ..ls
                });
            }
        }
        if let Some(srv) = self.servers.get_mut(&sk) {
            srv.by_tuple.insert(tuple, k);
        }
    }

    /// The RTP packet path: listener → producer stream → consumers.
    pub fn rtp_input(&mut self, ctx: &mut Ctx, tk: u32, data: &[u8]) {
        let now = ctx.now;
        let Ok(view) = RtpView::parse(data) else {
            ctx.drops.malformed += 1;
            return;
        };
        let ast = ctx.abs_send_time();
        let Self {
            transports,
            producers,
            consumers,
            observers,
            recorders,
            ..
        } = self;
        let Some(t) = transports.get_mut(&tk) else {
            return;
        };
        let ssrc = view.ssrc();
        let pk = match t.ssrc_map.get(&ssrc) {
            Some(&pk) => pk,
            None => {
                // Not signalled by SSRC: find the producer by MID, then by RID.
                let found = t.producers.iter().copied().find(|pk| {
                    let p = &producers[pk];
                    let mid_id = p.ext_ids[ExtUri::Mid as usize];
                    if let (Some(mid), Some(want)) =
                        (view.extension(mid_id), p.rtp_parameters["mid"].as_str())
                    {
                        return mid == want.as_bytes();
                    }
                    let rid_id = p.ext_ids[ExtUri::Rid as usize];
                    let rrid_id = p.ext_ids[ExtUri::Rrid as usize];
                    let rid = view.extension(rid_id).or_else(|| view.extension(rrid_id));
                    rid.is_some_and(|r| {
                        p.encodings
                            .iter()
                            .any(|e| e.rid.as_deref().map(str::as_bytes) == Some(r))
                    })
                });
                match found {
                    Some(pk) => pk,
                    None => {
                        ctx.drops.no_producer += 1;
                        return;
                    }
                }
            }
        };
        let Some(p) = producers.get_mut(&pk) else {
            return;
        };
        let rid = view.extension(p.ext_ids[ExtUri::Rid as usize]);
        let rrid = view.extension(p.ext_ids[ExtUri::Rrid as usize]);
        let Some((enc, is_rtx)) = p.match_stream(ssrc, view.payload_type(), rid, rrid) else {
            ctx.drops.no_producer += 1;
            return;
        };
        t.ssrc_map.insert(ssrc, pk);
        if let Some(v) = view
            .extension(p.ext_ids[ExtUri::TransportWideCc as usize])
            .filter(|v| v.len() >= 2)
        {
            t.tcc.record(now, u16::from_be_bytes([v[0], v[1]]), ssrc);
        }
        if is_rtx {
            t.rtx_recv.add(now, data.len());
        } else {
            t.rtp_recv.add(now, data.len());
        }
        let Some(acc) = p.receive(
            now,
            ctx.anchor,
            enc,
            is_rtx,
            view.payload_type(),
            view.seq(),
            view.timestamp(),
            view.payload_off,
            view.payload(),
            data.len(),
        ) else {
            return;
        };
        let dd_frame = view
            .extension(p.ext_ids[ExtUri::DependencyDescriptor as usize])
            .and_then(|d| p.read_dd(acc.encoding, is_rtx, d));
        let mut acc = acc;
        acc.keyframe |= dd_frame.is_some_and(|f| f.is_keyframe());
        if !is_rtx {
            p.record_layer(
                now,
                acc.encoding,
                acc.codec_kind,
                dd_frame.as_ref(),
                view.payload(),
                data.len(),
            );
        }
        if !p.trace_types.is_empty() {
            let kf = acc.keyframe;
            let wants = p
                .trace_types
                .iter()
                .any(|t| t == "rtp" || (kf && t == "keyframe"));
            if wants {
                let kind = if kf && p.trace_types.iter().any(|t| t == "keyframe") {
                    "keyframe"
                } else {
                    "rtp"
                };
                let info = json!({
                    "payloadType": view.payload_type(), "sequenceNumber": view.seq(), "timestamp": view.timestamp(),
                    "marker": view.marker(), "ssrc": ssrc, "isKeyFrame": kf, "size": data.len(), "payloadSize": view.payload_len,
                });
                ctx.trace(&p.id, kind, "in", info);
            }
        }
        // Video orientation (urn:3gpp:video-orientation, TS 26.114 §7.4.5): C, F and rotation bits.
        if !is_rtx {
            if let Some(&cvo) = view
                .extension(p.ext_ids[ExtUri::VideoOrientation as usize])
                .and_then(|v| v.first())
            {
                if p.video_orientation != Some(cvo & 0x0f) {
                    p.video_orientation = Some(cvo & 0x0f);
                    ctx.outputs.push_back(Output::Notification {
                        target: p.id.clone(),
                        event: "videoorientationchange",
                        data: json!({ "camera": cvo & 0x08 != 0, "flip": cvo & 0x04 != 0, "rotation": (cvo & 0x03) as u16 * 90 }),
                    });
                }
            }
        }
        // Whole-frame encrypted producers only (the hot path of every other skips this).
        let blind = p.e2ee.is_some().then(|| {
            let orientation = view
                .extension(p.ext_ids[ExtUri::VideoOrientation as usize])
                .and_then(|v| v.first().copied());
            p.blind_mark(
                now,
                &acc,
                is_rtx,
                view.timestamp(),
                view.marker(),
                &view.buf[acc.payload_off..view.payload_off + view.payload_len],
                orientation,
            )
        });
        let blind = blind.flatten();
        if p.paused {
            return;
        }
        if !p.observers.is_empty() && !is_rtx {
            if let Some(&level) = view
                .extension(p.ext_ids[ExtUri::AudioLevel as usize])
                .and_then(|v| v.first())
            {
                for o in &p.observers {
                    if let Some(o) = observers.get_mut(o) {
                        o.receive(now, pk, level);
                    }
                }
            }
        }
        let src = SourcePacket {
            view,
            ext_ids: &p.ext_ids,
            mapped_pt: acc.mapped_pt,
            seq: acc.seq,
            payload_off: acc.payload_off,
            keyframe: acc.keyframe,
            encoding: acc.encoding,
            dd: dd_frame.and_then(|frame| {
                let d = p.streams.get(acc.encoding)?.as_ref()?.dd.as_deref()?;
                Some(DdRef {
                    frame,
                    structure: &d.structure,
                    active: d.active,
                })
            }),
            sender_reports: &p.sender_reports,
            blind,
        };
        // Simulcast consumers that chose a new layer need its keyframe (rare: no allocation
        // unless one does).
        let mut keyframe_for: Vec<u32> = Vec::new();
        for ck in &p.consumers {
            let Some(c) = consumers.get_mut(ck) else {
                continue;
            };
            let Some(ct) = transports.get_mut(&c.transport) else {
                continue;
            };
            let mut out = ctx.buf();
            let tcc_before = ct.tcc_seq;
            let forwarded = c.forward(now, &src, &mut ct.tcc_seq, ast, &mut out);
            if let (true, Some(b)) = (ct.tcc_seq != tcc_before, ct.bwe.as_mut()) {
                b.on_sent(now, ct.tcc_seq, out.len(), false);
            }
            // A whole-frame encrypted keyframe this consumer waited on ended with this
            // packet: its held packets go out now, the first one as the keyframe.
            if let Some(held) = c.take_ready_keyframe() {
                for (i, hp) in held.packets.iter().enumerate() {
                    let Ok(view) = RtpView::parse(&hp.data) else {
                        continue;
                    };
                    let one = SourcePacket {
                        view,
                        mapped_pt: hp.mapped_pt,
                        seq: hp.seq,
                        payload_off: hp.payload_off,
                        keyframe: i == 0,
                        encoding: held.encoding,
                        dd: None,
                        blind: None,
                        ..src
                    };
                    let mut out = ctx.buf();
                    let tcc_before = ct.tcc_seq;
                    if c.forward(now, &one, &mut ct.tcc_seq, ast, &mut out) {
                        if let (true, Some(b)) = (ct.tcc_seq != tcc_before, ct.bwe.as_mut()) {
                            b.on_sent(now, ct.tcc_seq, out.len(), false);
                        }
                        emit(ctx, c, ct, &one, now, out);
                    } else {
                        ctx.recycle(out);
                    }
                }
            }
            if let Some((layers, keyframe)) = c.take_layer_events() {
                if let Some(layers) = layers {
                    ctx.notify(&c.id, "layerschange", layers);
                }
                if keyframe {
                    keyframe_for.push(*ck);
                }
            }
            if forwarded {
                emit(ctx, c, ct, &src, now, out);
            } else {
                ctx.recycle(out);
            }
        }
        // Recorders of this producer (rare: nothing is allocated unless one asks for a keyframe).
        let mut recorder_requests: Vec<(u32, usize)> = Vec::new();
        for rk in &p.recorders {
            if let Some(r) = recorders.get_mut(rk) {
                let payload =
                    &src.view.buf[src.payload_off..src.view.payload_off + src.view.payload_len];
                let sr = src.sender_reports.get(src.encoding).copied().flatten();
                let pkt = PacketIn {
                    encoding: src.encoding,
                    seq: src.seq,
                    ts: src.view.timestamp(),
                    marker: src.view.marker(),
                    keyframe: src.keyframe,
                    payload,
                    sr,
                };
                r.packet(now, pk, pkt, &|at| ctx.ntp_ms_at(at));
                recorder_requests.extend(r.take_keyframe_requests());
            }
        }
        for ck in keyframe_for {
            self.request_keyframe_for(ctx, ck);
        }
        for (pk, e) in recorder_requests {
            self.send_keyframe_request(ctx, pk, Some(e), false);
        }
    }

    pub fn rtcp_input(&mut self, ctx: &mut Ctx, tk: u32, data: &[u8]) {
        let mut items: Vec<RtcpItem<'_>> = Vec::new();
        if !rtcp::split_compound(data, &mut items) {
            ctx.drops.malformed += 1;
            return;
        }
        let now = ctx.now;
        let ntp_mid = ((ctx.ntp() >> 16) & 0xffff_ffff) as u32;
        // Collect work first: keyframe requests and retransmissions need several maps.
        let mut keyframe_for: Vec<u32> = Vec::new();
        let mut nacks: Vec<(u32, u32, u16)> = Vec::new();
        for it in &items {
            let tcc = it.pt == rtcp::PT_RTPFB && it.count == 15;
            let remb = it.pt == rtcp::PT_PSFB && it.count == 15;
            if tcc || remb {
                self.bwe_feedback(ctx, tk, it);
            }
        }
        let mut traces: Vec<(String, &'static str, Value)> = Vec::new();
        {
            let Self {
                transports,
                producers,
                consumers,
                ..
            } = self;
            let Some(t) = transports.get_mut(&tk) else {
                return;
            };
            for it in &items {
                match it.pt {
                    rtcp::PT_SR => {
                        if let Some((info, blocks)) = rtcp::parse_sr(it) {
                            if let Some(pk) = t.ssrc_map.get(&info.ssrc) {
                                if let Some(p) = producers.get_mut(pk) {
                                    p.handle_sr(now, info.ssrc, info.ntp, info.rtp_ts);
                                    if p.trace_types.iter().any(|t| t == "sr") {
                                        traces.push((
                                            p.id.clone(),
                                            "sr",
                                            json!({
                                                "ssrc": info.ssrc,
                                                "ntpSec": (info.ntp >> 32) as u32,
                                                "ntpFrac": info.ntp as u32,
                                                "rtpTs": info.rtp_ts,
                                                "packetCount": info.packets,
                                                "octetCount": info.octets,
                                            }),
                                        ));
                                    }
                                }
                            }
                            for b in blocks {
                                if let Some(c) = t
                                    .consumer_ssrcs
                                    .get(&b.ssrc)
                                    .and_then(|ck| consumers.get_mut(ck))
                                {
                                    c.handle_report(ntp_mid, &b);
                                }
                            }
                        }
                    }
                    rtcp::PT_RR => {
                        if let Some((_, blocks)) = rtcp::parse_rr(it) {
                            for b in blocks {
                                if let Some(c) = t
                                    .consumer_ssrcs
                                    .get(&b.ssrc)
                                    .and_then(|ck| consumers.get_mut(ck))
                                {
                                    c.handle_report(ntp_mid, &b);
                                }
                            }
                        }
                    }
                    rtcp::PT_RTPFB if it.count == 1 => {
                        if let Some((_, media)) = rtcp::feedback_ssrcs(it) {
                            if let Some(&ck) = t.consumer_ssrcs.get(&media) {
                                if let Some(c) = consumers.get_mut(&ck) {
                                    c.nack_count += 1;
                                    if c.trace_types.iter().any(|t| t == "nack") {
                                        traces.push((c.id.clone(), "nack", json!({})));
                                    }
                                    rtcp::for_each_nack(it, |s| {
                                        c.nack_packet_count += 1;
                                        nacks.push((ck, media, s));
                                    });
                                }
                            }
                        }
                    }
                    rtcp::PT_PSFB if it.count == 1 || it.count == 4 => {
                        let targets: Vec<u32> = if it.count == 1 {
                            rtcp::feedback_ssrcs(it)
                                .map(|(_, m)| m)
                                .into_iter()
                                .collect()
                        } else {
                            rtcp::fir_ssrcs(it).collect()
                        };
                        for m in targets {
                            if let Some(&ck) = t.consumer_ssrcs.get(&m) {
                                if let Some(c) = consumers.get_mut(&ck) {
                                    let kind = if it.count == 1 {
                                        c.pli_count += 1;
                                        "pli"
                                    } else {
                                        c.fir_count += 1;
                                        "fir"
                                    };
                                    if c.trace_types.iter().any(|t| t == kind) {
                                        traces.push((c.id.clone(), kind, json!({ "ssrc": m })));
                                    }
                                    if c.is_active() {
                                        keyframe_for.push(ck);
                                    }
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        for (target, kind, info) in traces {
            ctx.trace(&target, kind, "in", info);
        }
        for ck in keyframe_for {
            self.request_keyframe_for(ctx, ck);
        }
        for (ck, media, seq) in nacks {
            let mut out = ctx.buf();
            let Self {
                transports,
                consumers,
                ..
            } = self;
            let Some(c) = consumers.get_mut(&ck) else {
                continue;
            };
            let Some(t) = transports.get_mut(&c.transport) else {
                continue;
            };
            // Retransmissions do not push the transport past its estimate: on a congested
            // path they would only add to the loss they answer.
            if let Some(b) = &t.bwe {
                if t.send.rate.rate(now) as f64 > b.available() as f64 * RTX_OVER_ESTIMATE {
                    ctx.recycle(out);
                    continue;
                }
            }
            let tcc_before = t.tcc_seq;
            match c.retransmit(now, media, seq, &mut t.tcc_seq, &mut out) {
                Some(rtx) => {
                    if let (true, Some(b)) = (t.tcc_seq != tcc_before, t.bwe.as_mut()) {
                        b.on_sent(now, t.tcc_seq, out.len(), false);
                    }
                    t.transmit(ctx, out, false, rtx);
                }
                // Not held (or resent within the round trip): the buffer goes back to the pool.
                None => ctx.recycle(out),
            }
        }
    }

    pub fn send_rtcp_reports(&mut self, ctx: &mut Ctx, keys: &[u32]) {
        let now = ctx.now;
        let ntp = ctx.ntp();
        let mut blocks = Vec::new();
        let mut score_notes = Vec::new();
        for &k in keys {
            let Self {
                transports,
                producers,
                consumers,
                ..
            } = self;
            let Some(t) = transports.get_mut(&k) else {
                continue;
            };
            blocks.clear();
            for pk in &t.producers {
                if let Some(p) = producers.get_mut(pk) {
                    p.report_blocks(now, &mut blocks);
                    let scores: Vec<u8> =
                        p.streams.iter().flatten().map(|s| s.score.value).collect();
                    if scores != p.last_scores {
                        p.last_scores = scores;
                        score_notes.push((p.id.clone(), p.scores_json()));
                        for ck in &p.consumers {
                            if let Some(c) = consumers.get_mut(ck) {
                                c.score_changed = true;
                            }
                        }
                    }
                }
            }
            for chunk in blocks.chunks(31) {
                let mut out = Vec::with_capacity(64 + chunk.len() * 24);
                rtcp::write_rr(&mut out, t.rtcp_ssrc, chunk);
                t.transmit(ctx, out, true, false);
            }
            let cks = t.consumers.clone();
            for ck in &cks {
                if let Some(c) = consumers.get(ck) {
                    let mut out = Vec::with_capacity(128);
                    c.write_sr(now, ntp, &mut out);
                    if !out.is_empty() {
                        t.transmit(ctx, out, true, false);
                    }
                }
            }
        }
        // Consumers whose own score (from receiver reports) or producer's score changed.
        let changed: Vec<u32> = self
            .consumers
            .iter_mut()
            .filter_map(|(&k, c)| std::mem::take(&mut c.score_changed).then_some(k))
            .collect();
        for k in changed {
            if let Some(c) = self.consumers.get(&k) {
                score_notes.push((c.id.clone(), self.consumer_score(c)));
            }
        }
        for (id, data) in score_notes {
            ctx.notify(&id, "score", data);
        }
    }

    /// NACKs for every producer's missing packets, due now.
    pub fn tick_nacks(&mut self, ctx: &mut Ctx, now: Instant) {
        let mut scratch = Vec::new();
        let pks: Vec<u32> = self.producers.keys().copied().collect();
        for pk in pks {
            let mut out = ctx.buf();
            let p = self.producers.get_mut(&pk).expect("listed");
            p.write_nacks(now, &mut out, &mut scratch);
            let tk = p.transport;
            let trace = (!out.is_empty() && p.trace_types.iter().any(|t| t == "nack"))
                .then(|| p.id.clone());
            if let Some(pid) = trace {
                ctx.trace(&pid, "nack", "out", json!({}));
            }
            if !out.is_empty() {
                if let Some(t) = self.transports.get_mut(&tk) {
                    t.transmit(ctx, out, true, false);
                }
            } else {
                ctx.recycle(out);
            }
        }
    }

    /// transport-cc feedback to every sender with packets to report.
    pub fn send_tcc_feedback(&mut self, ctx: &mut Ctx) {
        let anchor = ctx.anchor;
        for t in self.transports.values_mut() {
            if t.tcc.has_pending() {
                let mut out = Vec::with_capacity(128);
                if t.tcc.build(t.rtcp_ssrc, anchor, &mut out) {
                    t.transmit(ctx, out, true, false);
                }
            }
        }
    }
}

/// Sends a packet a consumer forwarded (rewritten into `out`) on its transport, or to Node
/// for a DirectTransport; traced if the consumer traces 'rtp' or 'keyframe'.
fn emit(
    ctx: &mut Ctx,
    c: &Consumer,
    ct: &mut Transport,
    src: &SourcePacket<'_>,
    now: Instant,
    out: Vec<u8>,
) {
    if !c.trace_types.is_empty() {
        let kf = src.keyframe;
        if c.trace_types
            .iter()
            .any(|t| t == "rtp" || (kf && t == "keyframe"))
        {
            let kind = if kf && c.trace_types.iter().any(|t| t == "keyframe") {
                "keyframe"
            } else {
                "rtp"
            };
            let info = json!({
                "payloadType": out[1] & 0x7f, "sequenceNumber": u16::from_be_bytes([out[2], out[3]]),
                "timestamp": src.view.timestamp(), "marker": src.view.marker(), "isKeyFrame": kf, "size": out.len(),
            });
            ctx.trace(&c.id, kind, "out", info);
        }
    }
    if matches!(ct.flavor, Flavor::Direct { .. }) {
        ct.send.add(now, out.len());
        ct.rtp_send.add(now, out.len());
        ctx.outputs.push_back(Output::Binary {
            target: c.id.clone(),
            event: "rtp",
            data: out,
            ppid: 0,
        });
        return;
    }
    ct.transmit(ctx, out, false, false);
}
