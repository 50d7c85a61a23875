//! The dependency descriptor RTP header extension (AV1 RTP specification, appendix A): what
//! each packet's frame is (spatial and temporal layer, first and last packet of the frame,
//! which decode targets need it and where a decoder may switch to them), read from the header
//! extension alone — the payload is never looked at, so this works on end-to-end encrypted
//! frames and for any codec the sender describes this way (AV1, and VP8/VP9/H264 when a field
//! trial makes Chromium send it).
//!
//! A packet's descriptor refers to a template of the *template dependency structure*, which
//! the sender attaches to keyframes only; the structure is kept per incoming stream
//! ([`Structure`]) and each packet is read against the last one received.
//!
//! Towards a receiver the descriptor is rewritten ([`rewrite`]): the frame number continues
//! across simulcast switches, and the active decode targets say which layers still come when
//! a consumer drops some (a receiver then does not wait for frames that will never arrive).
//!
//! Written by hand: no maintained crate parses it (webrtc-rs has no dependency descriptor), and
//! the hot path wants no allocation per packet — a packet without an attached structure is read
//! into a `Copy` value.

/// Decode target indication (appendix A.8.3), two bits per decode target.
pub const DTI_NOT_PRESENT: u8 = 0;
pub const DTI_SWITCH: u8 = 2;

/// At most 32 decode targets (dt_cnt_minus_one is five bits).
const MAX_DT: usize = 32;
/// Layers the structure may describe: spatial and temporal ids of the per-layer index below.
const MAX_LAYERS: usize = 4;

/// A template dependency structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Structure {
    template_id_offset: u8,
    pub dt_count: u8,
    templates: Vec<Template>,
    /// Spatial and temporal layer of each decode target: the highest layers among the templates
    /// whose frames it needs.
    pub dt_layers: Vec<(u8, u8)>,
    pub max_spatial: u8,
    pub max_temporal: u8,
    /// Length in bits of the structure as written (it starts at bit 29 of the descriptor).
    pub bits: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Template {
    spatial: u8,
    temporal: u8,
    /// Two bits per decode target, decode target 0 in the low bits.
    dtis: u64,
    fdiffs: u8,
}

/// What one packet's descriptor says about its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Frame {
    pub start: bool,
    pub end: bool,
    pub frame_number: u16,
    pub spatial: u8,
    pub temporal: u8,
    /// Two bits per decode target (decode target 0 in the low bits).
    pub dtis: u64,
    /// The packet carries a new template dependency structure.
    pub structure_attached: bool,
    /// The active decode targets, if the packet declares them (a new structure alone makes
    /// every decode target active).
    pub active: Option<u32>,
    /// The descriptor has the extended fields (more than three bytes), and among them its own
    /// active-decode-targets bitmask.
    pub extended: bool,
    pub active_present: bool,
    /// The frame depends on no other frame.
    pub independent: bool,
}

impl Frame {
    /// The decode target indication for decode target `dt`.
    pub fn dti(&self, dt: usize) -> u8 {
        if dt >= MAX_DT {
            return DTI_NOT_PRESENT;
        }
        ((self.dtis >> (2 * dt)) & 3) as u8
    }

    /// A keyframe: the first packet of a frame that depends on nothing, carrying the structure.
    pub fn is_keyframe(&self) -> bool {
        self.start && self.independent && self.structure_attached
    }
}

impl Structure {
    /// Every decode target.
    pub fn full_mask(&self) -> u32 {
        full_mask(self.dt_count)
    }

    /// The bitmask of the decode targets whose layers `keep(spatial, temporal)` accepts, of
    /// those the sender declared `active`; None when that is all the sender's (nothing to tell
    /// a receiver).
    pub fn active_mask(&self, active: u32, keep: impl Fn(usize, usize) -> bool) -> Option<u32> {
        let mask = self
            .dt_layers
            .iter()
            .enumerate()
            .filter(|&(_, &(s, t))| keep(s as usize, t as usize))
            .fold(0u32, |m, (dt, _)| m | 1 << dt)
            & active;
        (mask != active & self.full_mask()).then_some(mask)
    }

    /// The decode target of spatial layer `s` and temporal layer `t`, if the structure has one.
    pub fn decode_target(&self, s: u8, t: u8) -> Option<usize> {
        self.dt_layers.iter().position(|&l| l == (s, t))
    }
}

#[cfg(test)]
impl Structure {
    /// A structure as an `LsTt` (or `LsTt_KEY` when `ksvc`) encoder would declare it, for
    /// routing tests: decode target `s·T + t` for layers (s, t); template `s·T + t` for a delta
    /// frame of layers (s, t), then one keyframe template per spatial layer (`S·T + s`). A
    /// delta frame is needed by the decode targets at or above its layers (K-SVC: of its own
    /// spatial layer), a switch point of its own temporal layer's decode targets.
    pub fn synthetic(spatial: u8, temporal: u8, ksvc: bool) -> Self {
        let dt_count = spatial * temporal;
        let dt = |s: u8, t: u8| 2 * (s * temporal + t) as u64;
        let mut templates = Vec::new();
        for s in 0..spatial {
            for t in 0..temporal {
                let mut dtis = 0;
                for ds in 0..spatial {
                    for dtt in 0..temporal {
                        let needed = t <= dtt && if ksvc { s == ds } else { s <= ds };
                        let v = match (needed, t) {
                            (false, _) => DTI_NOT_PRESENT,
                            (true, 0) => 3,
                            (true, _) if t == dtt => DTI_SWITCH,
                            _ => 3,
                        };
                        dtis |= (v as u64) << dt(ds, dtt);
                    }
                }
                templates.push(Template {
                    spatial: s,
                    temporal: t,
                    dtis,
                    fdiffs: 1,
                });
            }
        }
        for s in 0..spatial {
            let mut dtis = 0;
            for ds in s..spatial {
                for dtt in 0..temporal {
                    dtis |= (DTI_SWITCH as u64) << dt(ds, dtt);
                }
            }
            templates.push(Template {
                spatial: s,
                temporal: 0,
                dtis,
                fdiffs: u8::from(s > 0),
            });
        }
        let dt_layers = (0..spatial)
            .flat_map(|s| (0..temporal).map(move |t| (s, t)))
            .collect();
        Self {
            template_id_offset: 0,
            dt_count,
            templates,
            dt_layers,
            max_spatial: spatial - 1,
            max_temporal: temporal - 1,
            bits: 0,
        }
    }

    /// A packet of a frame of template `index`.
    pub fn frame(&self, index: usize, start: bool, end: bool) -> Frame {
        let t = &self.templates[index];
        Frame {
            start,
            end,
            spatial: t.spatial,
            temporal: t.temporal,
            dtis: t.dtis,
            structure_attached: start && t.fdiffs == 0,
            independent: t.fdiffs == 0,
            ..Frame::default()
        }
    }
}

/// Error for a descriptor that does not parse (truncated, or referring to no known template).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: usize) -> Result<u32, Invalid> {
        if n > 32 || self.pos + n > self.data.len() * 8 {
            return Err(Invalid);
        }
        let mut v = 0u32;
        for _ in 0..n {
            let bit = (self.data[self.pos / 8] >> (7 - self.pos % 8)) & 1;
            v = (v << 1) | bit as u32;
            self.pos += 1;
        }
        Ok(v)
    }

    fn flag(&mut self) -> Result<bool, Invalid> {
        Ok(self.read(1)? == 1)
    }

    /// Non-symmetric unsigned value in 0..n (appendix A.8.1, `ns(n)`).
    fn ns(&mut self, n: u32) -> Result<u32, Invalid> {
        let w = 32 - n.leading_zeros() as usize;
        if w == 0 {
            return Ok(0);
        }
        let m = (1u32 << w) - n;
        let v = self.read(w - 1)?;
        if v < m {
            return Ok(v);
        }
        Ok((v << 1) - m + self.read(1)?)
    }
}

/// Reads the descriptor `data` of one packet against `known`, the last structure received on
/// its stream. Returns the frame and, when the packet attaches one, the new structure (which
/// the frame was read against).
pub fn parse(
    data: &[u8],
    known: Option<&Structure>,
) -> Result<(Frame, Option<Structure>), Invalid> {
    let mut b = Bits { data, pos: 0 };
    let mut f = Frame {
        start: b.flag()?,
        end: b.flag()?,
        ..Frame::default()
    };
    let template_id = b.read(6)? as u8;
    f.frame_number = b.read(16)? as u16;
    let (mut custom_dtis, mut custom_fdiffs, mut custom_chains) = (false, false, false);
    let mut attached = None;
    if data.len() > 3 {
        f.extended = true;
        let structure_present = b.flag()?;
        let active_present = b.flag()?;
        custom_dtis = b.flag()?;
        custom_fdiffs = b.flag()?;
        custom_chains = b.flag()?;
        if structure_present {
            let s = parse_structure(&mut b)?;
            f.active = Some(full_mask(s.dt_count));
            attached = Some(s);
        }
        if active_present {
            let dt_count = attached.as_ref().or(known).ok_or(Invalid)?.dt_count;
            f.active_present = true;
            f.active = Some(b.read(dt_count as usize)?);
        }
    }
    f.structure_attached = attached.is_some();
    let s = attached.as_ref().or(known).ok_or(Invalid)?;
    let index = (template_id as usize + 64 - s.template_id_offset as usize) % 64;
    let t = s.templates.get(index).ok_or(Invalid)?;
    f.spatial = t.spatial;
    f.temporal = t.temporal;
    f.dtis = t.dtis;
    if custom_dtis {
        f.dtis = 0;
        for dt in 0..s.dt_count as usize {
            f.dtis |= (b.read(2)? as u64) << (2 * dt);
        }
    }
    f.independent = t.fdiffs == 0;
    if custom_fdiffs {
        let mut count = 0;
        loop {
            let size = b.read(2)? as usize;
            if size == 0 {
                break;
            }
            b.read(4 * size)?;
            count += 1;
        }
        f.independent = count == 0;
    }
    // Custom chains (frame_chain_fdiff, 8 bits each) are not needed for routing.
    let _ = custom_chains;
    Ok((f, attached))
}

/// Writes into `out` the descriptor `data` (read as `f` against `structure`) with frame
/// number `frame_number` and, when `active` is given, that active-decode-targets bitmask: the
/// mandatory fields, the flags, the structure if attached, the bitmask and the custom fields
/// as they were. `out` is cleared first.
pub fn rewrite(
    data: &[u8],
    f: &Frame,
    structure: &Structure,
    frame_number: u16,
    active: Option<u32>,
    out: &mut Vec<u8>,
) {
    out.clear();
    let mut w = BitWriter { out, bits: 0 };
    let mut r = Bits { data, pos: 8 };
    w.write(u32::from(data[0]), 8);
    w.write(u32::from(frame_number), 16);
    r.pos = 24;
    let dt = structure.dt_count as usize;
    let copy = |w: &mut BitWriter<'_>, r: &mut Bits<'_>, n: usize| {
        let mut left = n;
        while left > 0 {
            let k = left.min(32);
            w.write(r.read(k).unwrap_or(0), k);
            left -= k;
        }
    };
    if !f.extended {
        if let Some(mask) = active {
            // Extended fields appear: no structure, the bitmask, nothing custom.
            w.write(0b01000, 5);
            w.write(mask, dt);
        }
    } else {
        let flags = r.read(5).unwrap_or(0);
        let with_active = active.is_some() || f.active_present;
        w.write(
            (flags & !0b01000) | if with_active { 0b01000 } else { 0 },
            5,
        );
        if f.structure_attached {
            copy(&mut w, &mut r, structure.bits);
        }
        let own = f.active_present.then(|| r.read(dt).unwrap_or(0));
        if let Some(mask) = active.or(own) {
            w.write(mask, dt);
        }
        let rest = (data.len() * 8).saturating_sub(r.pos);
        copy(&mut w, &mut r, rest);
    }
    // Three bytes would read as a descriptor without extended fields.
    if f.extended || active.is_some() {
        while w.out.len() < 4 {
            w.out.push(0);
        }
    }
}

struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    bits: usize,
}

impl BitWriter<'_> {
    fn write(&mut self, v: u32, n: usize) {
        for i in (0..n).rev() {
            if self.bits.is_multiple_of(8) {
                self.out.push(0);
            }
            let last = self.out.len() - 1;
            self.out[last] |= (((v >> i) & 1) as u8) << (7 - self.bits % 8);
            self.bits += 1;
        }
    }
}

fn full_mask(dt_count: u8) -> u32 {
    if dt_count >= 32 {
        u32::MAX
    } else {
        (1u32 << dt_count) - 1
    }
}

fn parse_structure(b: &mut Bits<'_>) -> Result<Structure, Invalid> {
    let start = b.pos;
    let template_id_offset = b.read(6)? as u8;
    let dt_count = b.read(5)? as u8 + 1;
    // template_layers(): next_layer_idc 0 = same layer, 1 = next temporal, 2 = next spatial,
    // 3 = no more templates.
    let mut templates = Vec::new();
    let (mut s, mut t, mut max_t) = (0u8, 0u8, 0u8);
    loop {
        if templates.len() >= 64 {
            return Err(Invalid);
        }
        templates.push(Template {
            spatial: s,
            temporal: t,
            dtis: 0,
            fdiffs: 0,
        });
        match b.read(2)? {
            0 => {}
            1 => {
                t += 1;
                max_t = max_t.max(t);
            }
            2 => {
                t = 0;
                s += 1;
            }
            _ => break,
        }
        if s as usize >= MAX_LAYERS || t as usize >= MAX_LAYERS {
            return Err(Invalid);
        }
    }
    for tpl in &mut templates {
        for dt in 0..dt_count as usize {
            tpl.dtis |= (b.read(2)? as u64) << (2 * dt);
        }
    }
    for tpl in &mut templates {
        while b.flag()? {
            b.read(4)?;
            tpl.fdiffs += 1;
        }
    }
    // template_chains(): skipped over, the routing does not use chains.
    let chains = b.ns(dt_count as u32 + 1)?;
    if chains > 0 {
        for _ in 0..dt_count {
            b.ns(chains)?;
        }
        for _ in 0..templates.len() * chains as usize {
            b.read(4)?;
        }
    }
    if b.flag()? {
        for _ in 0..=s {
            b.read(32)?;
        }
    }
    let dt_layers = (0..dt_count as usize)
        .map(|dt| {
            templates
                .iter()
                .filter(|tpl| (tpl.dtis >> (2 * dt)) & 3 != DTI_NOT_PRESENT as u64)
                .fold((0, 0), |(ms, mt), tpl| {
                    (ms.max(tpl.spatial), mt.max(tpl.temporal))
                })
        })
        .collect();
    Ok(Structure {
        template_id_offset,
        dt_count,
        templates,
        dt_layers,
        max_spatial: s,
        max_temporal: max_t,
        bits: b.pos - start,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct W {
        out: Vec<u8>,
        bits: usize,
    }
    impl W {
        fn new() -> Self {
            Self {
                out: Vec::new(),
                bits: 0,
            }
        }
        fn put(&mut self, v: u32, n: usize) -> &mut Self {
            BitWriter {
                out: &mut self.out,
                bits: self.bits,
            }
            .write(v, n);
            self.bits += n;
            self
        }
    }

    /// An L2T2 structure as an SVC encoder writes it: templates (S0T0, S0T1, S1T0, S1T1),
    /// decode targets S0T0, S0T1, S1T0, S1T1 in that order, two chains, a resolution each.
    fn l2t2_structure(w: &mut W) {
        w.put(5, 6).put(3, 5); // template_id_offset 5, four decode targets
        w.put(1, 2).put(2, 2).put(1, 2).put(3, 2); // layers: S0T0 S0T1 | S1T0 S1T1
                                                   // DTIs (per template, decode targets 0..3): 3 = required, 2 = switch, 1 = discardable.
        for dtis in [[2, 2, 2, 2], [0, 1, 0, 2], [0, 0, 2, 2], [0, 0, 0, 1]] {
            for d in dtis {
                w.put(d, 2);
            }
        }
        // fdiffs: S0T0 none (keyframe template), S0T1 {1}, S1T0 {1}, S1T1 {1, 2}.
        w.put(0, 1);
        w.put(1, 1).put(0, 4).put(0, 1);
        w.put(1, 1).put(0, 4).put(0, 1);
        w.put(1, 1).put(0, 4).put(1, 1).put(1, 4).put(0, 1);
        // Two chains: ns(5) of 2 is the two bits "10"; protected_by ns(2) → one bit each.
        w.put(2, 2);
        for c in [0, 0, 1, 1] {
            w.put(c, 1);
        }
        for _ in 0..8 {
            w.put(0, 4);
        }
        w.put(1, 1)
            .put(639, 16)
            .put(359, 16)
            .put(1279, 16)
            .put(719, 16);
    }

    fn keyframe_descriptor() -> Vec<u8> {
        let mut w = W::new();
        w.put(1, 1).put(0, 1).put(5, 6).put(1000, 16); // start, template 5 → index 0
        w.put(0b10000, 5); // structure present, nothing custom
        l2t2_structure(&mut w);
        w.out
    }

    #[test]
    fn reads_structure_and_keyframe() {
        let d = keyframe_descriptor();
        let (f, s) = parse(&d, None).unwrap();
        let s = s.expect("attached");
        assert_eq!(s.dt_count, 4);
        assert_eq!(s.dt_layers, vec![(0, 0), (0, 1), (1, 0), (1, 1)]);
        assert_eq!((s.max_spatial, s.max_temporal), (1, 1));
        assert_eq!(s.decode_target(1, 0), Some(2));
        assert!(f.is_keyframe());
        assert_eq!((f.spatial, f.temporal, f.frame_number), (0, 0, 1000));
        assert_eq!(f.active, Some(0b1111));
        assert_eq!(f.dti(3), DTI_SWITCH);
        // The structure's length in bits, as written by the fixture.
        let mut w = W::new();
        l2t2_structure(&mut w);
        assert_eq!(s.bits, w.bits);
    }

    #[test]
    fn reads_frames_against_the_known_structure() {
        let (_, s) = parse(&keyframe_descriptor(), None).unwrap();
        let s = s.unwrap();
        // Mandatory fields only: end of frame, template id 8 → index 3 (S1T1).
        let mut w = W::new();
        w.put(0, 1).put(1, 1).put(8, 6).put(1003, 16);
        let (f, none) = parse(&w.out, Some(&s)).unwrap();
        assert!(none.is_none());
        assert!(f.end && !f.start && !f.is_keyframe() && !f.independent);
        assert_eq!((f.spatial, f.temporal), (1, 1));
        assert_eq!(f.dti(0), DTI_NOT_PRESENT);
        assert_eq!(f.dti(3), 1);
        // Without a structure, or with a template id past the templates: invalid.
        assert_eq!(parse(&w.out, None), Err(Invalid));
        let mut w = W::new();
        w.put(0, 1).put(1, 1).put(20, 6).put(1, 16);
        assert_eq!(parse(&w.out, Some(&s)), Err(Invalid));
        assert_eq!(parse(&[0x80, 0], Some(&s)), Err(Invalid));
        // Custom DTIs and custom fdiffs (none: an independent frame).
        let mut w = W::new();
        w.put(1, 1)
            .put(0, 1)
            .put(6, 6)
            .put(1004, 16)
            .put(0b00110, 5);
        w.put(3, 2).put(3, 2).put(0, 2).put(0, 2).put(0, 2);
        let (f, _) = parse(&w.out, Some(&s)).unwrap();
        assert_eq!(f.dtis, 0b1111);
        assert!(f.independent && !f.is_keyframe());
    }

    #[test]
    fn rewritten_frame_number_and_active_decode_targets() {
        let d = keyframe_descriptor();
        let (f, s) = parse(&d, None).unwrap();
        let s = s.unwrap();
        let mut out = Vec::new();
        rewrite(&d, &f, &s, 7, Some(0b0011), &mut out);
        let (g, s2) = parse(&out, None).unwrap();
        assert_eq!(s2.as_ref(), Some(&s));
        assert_eq!((g.active, g.frame_number), (Some(0b0011), 7));
        assert_eq!((g.start, g.spatial, g.dtis), (f.start, f.spatial, f.dtis));
        // Again: the bitmask is replaced, not added; without one the packet's own is kept.
        let mut again = Vec::new();
        rewrite(&out, &g, &s, 8, Some(0b0001), &mut again);
        assert_eq!(parse(&again, None).unwrap().0.active, Some(0b0001));
        assert_eq!(again.len(), out.len());
        rewrite(&out, &g, &s, 8, None, &mut again);
        assert_eq!(parse(&again, None).unwrap().0.active, Some(0b0011));
        // Unchanged but for the frame number: the same bytes otherwise.
        rewrite(&d, &f, &s, 1000, None, &mut again);
        assert_eq!(again, d);
        // A three-byte descriptor gains the extended fields only for a bitmask.
        let mut w = W::new();
        w.put(0, 1).put(1, 1).put(8, 6).put(1003, 16);
        let (f, _) = parse(&w.out, Some(&s)).unwrap();
        rewrite(&w.out, &f, &s, 9, None, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(parse(&out, Some(&s)).unwrap().0.frame_number, 9);
        rewrite(&w.out, &f, &s, 9, Some(0b0101), &mut out);
        let (g, _) = parse(&out, Some(&s)).unwrap();
        assert_eq!(
            (g.active, g.end, g.spatial, g.temporal, g.dtis),
            (Some(0b0101), true, 1, 1, f.dtis)
        );
        // Custom DTIs after the bitmask survive.
        let mut w = W::new();
        w.put(1, 1)
            .put(0, 1)
            .put(6, 6)
            .put(1004, 16)
            .put(0b00100, 5);
        w.put(3, 2).put(3, 2).put(0, 2).put(0, 2);
        let (f, _) = parse(&w.out, Some(&s)).unwrap();
        rewrite(&w.out, &f, &s, 10, Some(0b0011), &mut out);
        let (g, _) = parse(&out, Some(&s)).unwrap();
        assert_eq!((g.active, g.dtis), (Some(0b0011), 0b1111));
    }

    #[test]
    fn ns_values() {
        // ns(5): w = 3, m = 3; values 0..2 in two bits, 3 and 4 in three.
        for (bits, n, want) in [
            (0b00u32, 2usize, 0u32),
            (0b10, 2, 2),
            (0b110, 3, 3),
            (0b111, 3, 4),
        ] {
            let mut w = W::new();
            w.put(bits, n);
            let mut b = Bits {
                data: &w.out,
                pos: 0,
            };
            assert_eq!(b.ns(5).unwrap(), want);
        }
    }
}
