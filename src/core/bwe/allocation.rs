//! Sharing a transport's estimate among its consumers, as mediasoup distributes it: what
//! cannot adapt (audio, simple and pipe consumers) is served first; then every adaptive
//! consumer gets its lowest arriving layer, in priority order; then the rest goes to upgrades
//! one layer at a time, a consumer of priority p taking up to p steps per round, until nothing
//! more fits. A "layer" here is a step of the consumer's ladder (the router builds it from
//! spatial and temporal layers), each with the rate forwarding it takes. A consumer never goes
//! above its preferred layer. A consumer whose lowest layer does not fit in what is left gets
//! nothing (its video stops, as mediasoup stops it: audio and the other consumers keep the
//! path) until the estimate makes room again.
//!
//! Hysteresis: a layer the consumer already forwards is kept while the budget covers its rate
//! divided by `KEEP_MARGIN`. Layer rates are measured over a second, so a keyframe lifts
//! them for that second; without the margin a consumer would leave its layer at every
//! keyframe of it, and come back when the second has passed. A path that is really full makes
//! the estimate fall well below the margin (on overuse to 85 % of what got through).

/// How far a kept layer's rate may exceed its share.
const KEEP_MARGIN: f64 = 1.3;

/// What the router remembers of a consumer's spatial layer changes to hold back upgrades
/// after a downgrade the estimate forced.
#[derive(Debug, Default, Clone, Copy)]
pub struct BweHold {
    /// When the estimate last took the consumer to a lower spatial layer than it forwarded.
    pub downgraded_at: Option<std::time::Instant>,
    /// The estimate when the allocation last took it up a spatial layer.
    pub upgraded_at_estimate: Option<u64>,
}

/// One consumer as the allocation sees it.
#[derive(Debug, Clone)]
pub struct Demand {
    pub priority: u8,
    /// Bits per second of each layer, lowest first; 0: the layer is not arriving.
    pub layer_rates: Vec<u64>,
    /// The highest layer the consumer may get.
    pub preferred: usize,
    /// The layer it forwards now, if any.
    pub current: Option<usize>,
}

/// What a demand may forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Up to this layer.
    Layer(usize),
    /// Nothing: not even its lowest layer fits.
    Nothing,
    /// No layer is arriving: nothing to decide.
    NoLayers,
}

/// The result: for each demand its grant, and what all consumers would take at their
/// preferred layers (the rate probing aims for).
#[derive(Debug, PartialEq, Eq)]
pub struct Allocation {
    pub layers: Vec<Grant>,
    pub desired: u64,
}

/// `may_stop`: whether a consumer whose lowest layer does not fit gets nothing (false while
/// the estimate is only a start value, no feedback having come: then the lowest layer is
/// granted anyway).
pub fn allocate(available: u64, fixed: u64, demands: &[Demand], may_stop: bool) -> Allocation {
    let mut budget = available as i64 - fixed as i64;
    let mut layers: Vec<Option<usize>> = vec![None; demands.len()];
    let mut grants = vec![Grant::NoLayers; demands.len()];
    let mut order: Vec<usize> = (0..demands.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(demands[i].priority));
    let mut desired = fixed;
    for &i in &order {
        let d = &demands[i];
        let arriving = |l: &usize| d.layer_rates[*l] > 0;
        let top = (0..d.layer_rates.len().min(d.preferred + 1))
            .rev()
            .find(arriving);
        desired += top.map_or(0, |l| d.layer_rates[l]);
        if let Some(l) = (0..d.layer_rates.len()).find(arriving) {
            let mut rate = d.layer_rates[l] as i64;
            if d.current.is_some() {
                rate = (rate as f64 / KEEP_MARGIN) as i64;
            }
            if rate > budget && may_stop {
                grants[i] = Grant::Nothing;
                continue;
            }
            layers[i] = Some(l);
            budget -= d.layer_rates[l] as i64;
        }
    }
    loop {
        let mut changed = false;
        for &i in &order {
            let d = &demands[i];
            for _ in 0..d.priority.max(1) {
                let Some(cur) = layers[i] else { break };
                let Some(next) = (cur + 1..d.layer_rates.len().min(d.preferred + 1))
                    .find(|&l| d.layer_rates[l] > 0)
                else {
                    break;
                };
                let mut extra = d.layer_rates[next] as i64 - d.layer_rates[cur] as i64;
                if d.current.is_some_and(|c| next <= c) {
                    extra = (extra as f64 / KEEP_MARGIN) as i64;
                }
                if extra > budget {
                    break;
                }
                budget -= extra;
                layers[i] = Some(next);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    for (g, l) in grants.iter_mut().zip(&layers) {
        if let Some(l) = l {
            *g = Grant::Layer(*l);
        }
    }
    Allocation {
        layers: grants,
        desired,
    }
}

#[cfg(test)]
mod tests {
    use super::Grant::*;
    use super::*;

    fn d(priority: u8, rates: &[u64], preferred: usize) -> Demand {
        Demand {
            priority,
            layer_rates: rates.to_vec(),
            preferred,
            current: None,
        }
    }

    #[test]
    fn lowest_layers_first_then_upgrades_by_priority() {
        let sim = [150_000, 500_000, 1_500_000];
        // 1.2 Mbit/s, 100 kbit/s of audio: both get layer 0 (300k), then the priority-2
        // consumer climbs to 1 (+350k) first; the other's upgrade (+350k) still fits.
        let a = allocate(1_200_000, 100_000, &[d(1, &sim, 2), d(2, &sim, 2)], true);
        assert_eq!(a.layers, vec![Layer(1), Layer(1)]);
        assert_eq!(a.desired, 100_000 + 3_000_000);
        // 900 kbit/s: only the priority-2 consumer is upgraded.
        let a = allocate(900_000, 100_000, &[d(1, &sim, 2), d(2, &sim, 2)], true);
        assert_eq!(a.layers, vec![Layer(0), Layer(1)]);
        // Too little for anything: video stops; the higher priority is served first.
        let a = allocate(100_000, 100_000, &[d(1, &sim, 2)], true);
        assert_eq!(a.layers, vec![Nothing]);
        let a = allocate(300_000, 100_000, &[d(1, &sim, 2), d(2, &sim, 2)], true);
        assert_eq!(a.layers, vec![Nothing, Layer(0)]);
        // Before any feedback the estimate is only a start value: the lowest layer is kept.
        let a = allocate(100_000, 100_000, &[d(1, &sim, 2)], false);
        assert_eq!(a.layers, vec![Layer(0)]);
    }

    #[test]
    fn preferred_layers_and_missing_layers_bound_the_choice() {
        let a = allocate(
            10_000_000,
            0,
            &[
                d(1, &[150_000, 0, 1_500_000], 2),
                d(1, &[150_000, 500_000, 1_500_000], 1),
            ],
            true,
        );
        assert_eq!(a.layers, vec![Layer(2), Layer(1)]);
        assert_eq!(a.desired, 1_500_000 + 500_000);
        let a = allocate(10_000_000, 0, &[d(1, &[0, 0, 0], 2)], true);
        assert_eq!(a.layers, vec![NoLayers]);
    }

    #[test]
    fn a_forwarded_layer_is_kept_through_a_keyframe_burst() {
        // Layer 2 measures 1.8 Mbit/s for a second (a keyframe) against 1.6 available.
        let rates = [150_000, 500_000, 1_800_000];
        let fresh = d(1, &rates, 2);
        assert_eq!(
            allocate(1_600_000, 0, std::slice::from_ref(&fresh), true).layers,
            vec![Layer(1)]
        );
        let kept = Demand {
            current: Some(2),
            ..fresh
        };
        assert_eq!(
            allocate(1_600_000, 0, std::slice::from_ref(&kept), true).layers,
            vec![Layer(2)]
        );
        // A full path (estimate well below the layer) still moves it down.
        assert_eq!(allocate(900_000, 0, &[kept], true).layers, vec![Layer(1)]);
    }
}
