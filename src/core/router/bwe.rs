//! Bandwidth estimation where objects meet: a transport's estimator (`bwe`) hears the remote's
//! feedback, and every 100 ms its estimate is shared among the transport's consumers
//! (`bwe::allocation`): each simulcast consumer learns the highest layer it may forward, and
//! the estimator learns what the consumers would take (the rate it probes towards). Probe
//! padding goes out here too, on the probation stream mediasoup uses (SSRC 1234, payload type
//! 127, which mediasoup-client's receive transports signal as their "probator").

use super::Graph;
use crate::core::bwe::allocation::{allocate, Demand, Grant};
use crate::core::consumer::ConsumerType;
use crate::core::context::Ctx;
use crate::core::rtcp::{self, RtcpItem};
use crate::core::rtp::packet::ExtWriter;
use crate::core::rtp::ExtUri;
use serde_json::json;
use std::time::{Duration, Instant};

const ALLOCATION_INTERVAL: Duration = Duration::from_millis(100);
const PROBATION_SSRC: u32 = 1234;
const PROBATION_PT: u8 = 127;
/// Padding bytes per probation packet (RTP padding counts at most 255).
const PADDING: usize = 255;
/// After the estimate has taken a consumer down a spatial layer, it is not taken above the
/// spatial layer it forwards for this long (mediasoup's `BweDowngradeConservativeMs`): an
/// estimate that has just climbed back to a path's capacity would otherwise buy the upper
/// layer again, fill the path's queue and fall, every few seconds, each round costing the
/// receiver a keyframe and the frames lost in the queue.
const DOWNGRADE_HOLD: Duration = Duration::from_secs(10);

impl Graph {
    /// A consumer that negotiated transport-cc starts its transport's estimator.
    pub fn start_bwe_for(&mut self, tk: u32, ck: u32) {
        let uses_tcc = self
            .consumers
            .get(&ck)
            .is_some_and(|c| c.kind == "video" && c.ext_id(ExtUri::TransportWideCc).is_some());
        if let (true, Some(t)) = (uses_tcc, self.transports.get_mut(&tk)) {
            t.ensure_bwe();
        }
    }

    /// Transport-cc feedback or REMB from the remote of transport `tk`.
    pub fn bwe_feedback(&mut self, ctx: &mut Ctx, tk: u32, item: &RtcpItem<'_>) {
        let now = ctx.now;
        let Some(t) = self.transports.get_mut(&tk) else {
            return;
        };
        if item.pt == rtcp::PT_RTPFB {
            let Some(bwe) = t.bwe.as_mut() else {
                return;
            };
            match bwe.on_feedback(now, item.body()) {
                None => ctx.drops.malformed += 1,
                Some(u) => {
                    if let Some((target, measured)) = u.probe {
                        ctx.debug("bwe", || {
                            format!("probe of {target} bit/s measured {measured} bit/s")
                        });
                    }
                }
            }
        } else if let Some(b) = rtcp::parse_remb(item) {
            t.ensure_bwe().on_remb(b);
        }
    }

    /// Every engine tick: allocation (every 100 ms) and probe padding, for each transport
    /// that estimates.
    pub fn tick_bwe(&mut self, ctx: &mut Ctx, now: Instant) {
        let keys: Vec<u32> = self
            .transports
            .iter()
            .filter(|(_, t)| t.bwe.is_some() && t.media_connected)
            .map(|(k, _)| *k)
            .collect();
        for tk in keys {
            let due = self.transports[&tk].bwe.as_ref().is_some_and(|b| {
                b.allocated_at
                    .is_none_or(|a| now >= a + ALLOCATION_INTERVAL)
            });
            if due {
                self.allocate(ctx, tk);
            }
            let t = self.transports.get_mut(&tk).expect("listed");
            let pad = t.bwe.as_mut().map_or(0, |b| b.padding_due(now));
            if pad > 0 {
                self.send_padding(ctx, tk, pad);
            }
        }
    }

    /// Shares transport `tk`'s estimate among its consumers.
    fn allocate(&mut self, ctx: &mut Ctx, tk: u32) {
        let now = ctx.now;
        let Self {
            transports,
            consumers,
            producers,
            ..
        } = self;
        let Some(t) = transports.get_mut(&tk) else {
            return;
        };
        let Some(bwe) = t.bwe.as_mut() else {
            return;
        };
        bwe.allocated_at = Some(now);
        let available = bwe.available();
        let mut fixed = 0;
        let mut demands = Vec::new();
        let mut adaptive = Vec::new();
        for ck in &t.consumers {
            let Some(c) = consumers.get(ck) else { continue };
            if !c.is_active() {
                continue;
            }
            let Some(p) = producers.get_mut(&c.producer) else {
                continue;
            };
            // What forwarding layers (s, t) takes, per layer: its encoding's temporal layers up
            // to t (simulcast), or every layer below it too (SVC).
            let (sl, tl, mut cost, pref, cur) = match &c.ctype {
                ConsumerType::Simulcast(sim) => {
                    let (sl, tl) = (sim.spatial_layers, sim.temporal_layers);
                    let mut cost = vec![0; sl * tl];
                    for e in 0..sl {
                        let Some(st) = p.streams.get_mut(e).and_then(Option::as_mut) else {
                            continue;
                        };
                        let total = st.media.rate.rate(now);
                        let mut sum = 0;
                        for t in 0..tl {
                            // Without per-layer rates every temporal layer costs the whole
                            // encoding.
                            cost[e * tl + t] = match st.layer_rates.as_deref_mut() {
                                Some(l) if total > 0 => {
                                    sum += l.rate(now, 0, t);
                                    sum.max(1)
                                }
                                _ => total,
                            };
                        }
                    }
                    let pref = (sim.preferred_spatial, sim.preferred_temporal);
                    let cur = sim
                        .current
                        .map(|s| (s, sim.current_temporal.unwrap_or(tl - 1)));
                    (sl, tl, cost, pref, cur)
                }
                ConsumerType::Svc(svc) => {
                    let Some(l) = p
                        .streams
                        .first_mut()
                        .and_then(Option::as_mut)
                        .and_then(|st| st.layer_rates.as_deref_mut())
                    else {
                        // No layer facts to measure by: it takes its producer's whole rate.
                        fixed += p.streams[0].as_mut().map_or(0, |s| s.media.rate.rate(now));
                        continue;
                    };
                    let (sl, tl) = (
                        svc.spatial_layers.min(l.spatial),
                        svc.temporal_layers.min(l.temporal),
                    );
                    let mut cost = vec![0; sl * tl];
                    let mut below = 0;
                    for s in 0..sl {
                        let mut sum = 0;
                        for t in 0..tl {
                            sum += l.rate(now, s, t);
                            cost[s * tl + t] = if sum == 0 { 0 } else { below + sum };
                        }
                        below += sum;
                    }
                    let pref = (
                        svc.preferred_spatial.min(sl - 1),
                        svc.preferred_temporal.min(tl - 1),
                    );
                    let cur = svc
                        .current_spatial
                        .map(|s| (s, svc.current_temporal.unwrap_or(0)));
                    (sl, tl, cost, pref, cur)
                }
                _ => {
                    fixed += c
                        .encodings()
                        .map(|e| {
                            p.streams
                                .get_mut(e)
                                .and_then(Option::as_mut)
                                .map_or(0, |s| s.media.rate.rate(now))
                        })
                        .sum::<u64>();
                    continue;
                }
            };
            let steps = layer_steps(sl, tl, pref);
            let current = cur.and_then(|(cs, ct)| {
                steps
                    .iter()
                    .rposition(|&(s, t)| s < cs || (s == cs && t <= ct))
            });
            let cur_spatial = cur.map(|(cs, _)| cs);
            let held = c
                .bwe_hold
                .downgraded_at
                .is_some_and(|at| now < at + DOWNGRADE_HOLD);
            let preferred = if held {
                // No higher spatial layer than the one forwarded (the lowest when stopped).
                let cs = cur_spatial.unwrap_or(0);
                steps.iter().rposition(|&(s, _)| s <= cs).unwrap_or(0)
            } else {
                steps.len() - 1
            };
            demands.push(Demand {
                priority: c.priority,
                layer_rates: steps
                    .iter()
                    .map(|&(s, t)| std::mem::take(&mut cost[s * tl + t]))
                    .collect(),
                preferred,
                current,
            });
            adaptive.push((*ck, steps, cur_spatial, pref.0));
        }
        let a = allocate(available, fixed, &demands, bwe.has_feedback());
        let changed = bwe.desired != a.desired;
        bwe.desired = a.desired;
        let (min, max) = (bwe.min_bitrate, bwe.max_bitrate);
        for (((ck, steps, cur_spatial, pref_spatial), grant), d) in
            adaptive.iter().zip(&a.layers).zip(&demands)
        {
            let (max, nothing) = match *grant {
                Grant::Layer(l) => (steps.get(l).copied(), false),
                Grant::Nothing => (None, true),
                Grant::NoLayers => (None, false),
            };
            let Some(c) = consumers.get_mut(ck) else {
                continue;
            };
            // A spatial layer given up because the estimate fell since the layer was granted
            // (not for the preferred layers, not because the layer stopped arriving, not
            // because the layer's rate grew into the estimate as an encoder ramps up).
            let granted_spatial = if nothing { None } else { max.map(|m| m.0) };
            let arriving = d.current.is_some_and(|l| d.layer_rates[l] > 0);
            if cur_spatial.is_some() && c.bwe_hold.upgraded_at_estimate.is_none() {
                // It got its layer before any allocation limited it.
                c.bwe_hold.upgraded_at_estimate = Some(available);
            }
            let fell = c
                .bwe_hold
                .upgraded_at_estimate
                .is_some_and(|e| available < e);
            if let (Some(cs), true, true) = (*cur_spatial, arriving, fell) {
                let down = *grant == Grant::Nothing || granted_spatial.is_some_and(|g| g < cs);
                if down && cs <= *pref_spatial {
                    c.bwe_hold.downgraded_at = Some(now);
                }
            }
            if granted_spatial.is_some_and(|g| cur_spatial.is_none_or(|cs| g > cs)) {
                c.bwe_hold.upgraded_at_estimate = Some(available);
            }
            match &mut c.ctype {
                ConsumerType::Simulcast(sim) => {
                    sim.set_max_layers(now, max.map(|m| m.0), max.map(|m| m.1));
                    sim.set_suspended(now, nothing);
                }
                ConsumerType::Svc(svc) => {
                    svc.set_max_layers(max);
                    svc.set_suspended(nothing);
                }
                _ => {}
            }
        }
        let traced = t.bwe_traced != Some((available, a.desired));
        if traced || changed {
            t.bwe_traced = Some((available, a.desired));
            if t.trace_types.iter().any(|x| x == "bwe") {
                let info = json!({
                    "desiredBitrate": a.desired,
                    "effectiveDesiredBitrate": a.desired,
                    "minBitrate": min,
                    "maxBitrate": max,
                    "startBitrate": t.initial_available_outgoing_bitrate,
                    "maxPaddingBitrate": max,
                    "availableBitrate": available,
                    "type": "transport-cc",
                });
                let id = t.id.clone();
                ctx.trace(&id, "bwe", "out", info);
            }
        }
    }

    /// Sends about `bytes` of probe padding on transport `tk`.
    fn send_padding(&mut self, ctx: &mut Ctx, tk: u32, bytes: usize) {
        let now = ctx.now;
        let Some(t) = self.transports.get(&tk) else {
            return;
        };
        // The ids the remote gave transport-cc and abs-send-time (any video consumer's).
        let ids = t.consumers.iter().find_map(|ck| {
            let c = self.consumers.get(ck)?;
            Some((
                c.ext_id(ExtUri::TransportWideCc)?,
                c.ext_id(ExtUri::AbsSendTime),
            ))
        });
        let Some((tcc_id, ast_id)) = ids else {
            return;
        };
        let t = self.transports.get_mut(&tk).expect("checked");
        let trace = t.trace_types.iter().any(|x| x == "probation");
        let ts = (now.duration_since(ctx.anchor).as_micros() as u64 * 9 / 100) as u32;
        let ast = ctx.abs_send_time();
        let mut left = bytes;
        while left > 0 {
            let mut out = ctx.buf();
            t.probation_seq = t.probation_seq.wrapping_add(1);
            t.tcc_seq = t.tcc_seq.wrapping_add(1);
            out.extend_from_slice(&[0xa0 | 0x10, PROBATION_PT]);
            out.extend_from_slice(&t.probation_seq.to_be_bytes());
            out.extend_from_slice(&ts.to_be_bytes());
            out.extend_from_slice(&PROBATION_SSRC.to_be_bytes());
            out.resize(12 + 16, 0);
            let mut w = ExtWriter::new(&mut out, 12, false);
            w.push(tcc_id, &t.tcc_seq.to_be_bytes());
            if let Some(id) = ast_id {
                w.push(id, &ast.to_be_bytes()[1..]);
            }
            let end = w.finish();
            out.truncate(end);
            out.resize(end + PADDING, 0);
            let len = out.len();
            out[len - 1] = PADDING as u8;
            if trace {
                let info = json!({
                    "payloadType": PROBATION_PT, "sequenceNumber": t.probation_seq, "timestamp": ts,
                    "ssrc": PROBATION_SSRC, "size": len, "payloadSize": 0, "paddingSize": PADDING,
                });
                let id = t.id.clone();
                ctx.trace(&id, "probation", "out", info);
            }
            if let Some(b) = t.bwe.as_mut() {
                b.on_sent(now, t.tcc_seq, len, true);
            }
            t.probation.add(now, len);
            t.transmit(ctx, out, false, false);
            left = left.saturating_sub(len);
        }
    }
}

/// The layers an adaptive consumer climbs through, lowest first, up to its preferred ones
/// `(ps, pt)`: the temporal layers of the lowest spatial layer one by one (a receiver short of
/// bandwidth loses frame rate only at the smallest picture), then each higher spatial layer at
/// the preferred temporal layer (a larger picture is not bought with a lower frame rate).
fn layer_steps(spatial: usize, temporal: usize, (ps, pt): (usize, usize)) -> Vec<(usize, usize)> {
    let (ps, pt) = (ps.min(spatial - 1), pt.min(temporal - 1));
    let mut steps: Vec<(usize, usize)> = (0..=pt).map(|t| (0, t)).collect();
    steps.extend((1..=ps).map(|s| (s, pt)));
    steps
}

#[cfg(test)]
mod tests {
    #[test]
    fn layer_steps_lose_frame_rate_only_at_the_smallest_picture() {
        assert_eq!(
            super::layer_steps(3, 3, (2, 2)),
            vec![(0, 0), (0, 1), (0, 2), (1, 2), (2, 2)]
        );
        assert_eq!(super::layer_steps(3, 3, (1, 0)), vec![(0, 0), (1, 0)]);
        assert_eq!(
            super::layer_steps(3, 1, (5, 5)),
            vec![(0, 0), (1, 0), (2, 0)]
        );
    }
}
