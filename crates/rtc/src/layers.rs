//! Which simulcast layer a subscriber receives of each publisher's video, from the
//! subscriber's bandwidth estimate.
//!
//! The estimate (less the audio) is shared out as real SFUs do it: every video first gets its
//! lowest layer, most important first, while that fits (a video left out is paused and its
//! audio continues); what remains lifts videos, most important first, to the highest layer it
//! pays for. A layer costs what its publisher sends of it now, measured, with headroom, and at
//! least [`NEEDS`]. The most important is the one speaking, then the doctor: on a 2 Mbps
//! phone in a room of six the speaker and the doctor come at `h` and the others at `q`.
//!
//! Each subscription then moves towards its share with hysteresis ([`Chooser`]): down at
//! once, up only after [`UPGRADE_AFTER`] shares in a row with room for it.

/// The layers, lowest first, as rids (`q`, `h`, `f`: the names the page gives them).
pub const RIDS: [&str; 3] = ["q", "h", "f"];

/// The least a layer is taken to cost, bits/s, whatever was measured: a layer measured in a
/// still scene would look cheaper than it is once the scene moves. (Chromium sends q ≈ 150,
/// h ≈ 500 and f ≈ 1,200–1,700 kbps for a 640×360–1280×720 camera.)
pub const NEEDS: [u64; 3] = [80_000, 350_000, 700_000];

/// Headroom over a layer's measured rate, percent.
const MARGIN_PCT: u64 = 115;

/// Consecutive shares with room for a higher layer before moving up.
pub const UPGRADE_AFTER: u32 = 3;

/// One publisher's video as a subscriber could receive it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offer {
    /// Which layers are arriving now.
    pub available: [bool; 3],
    /// What each layer measured, bits/s (0 before a measurement).
    pub rates: [u64; 3],
}

impl Offer {
    /// What receiving `layer` costs.
    pub fn cost(&self, layer: usize) -> u64 {
        (self.rates[layer] * MARGIN_PCT / 100).max(NEEDS[layer])
    }
}

/// Shares `budget` (bits/s for video) among `offers`, listed most important first: the
/// layer each should receive, or `None` (paused).
pub fn allocate(budget: u64, offers: &[Offer]) -> Vec<Option<usize>> {
    let mut left = budget;
    let mut share: Vec<Option<usize>> = vec![None; offers.len()];
    for (o, s) in offers.iter().zip(share.iter_mut()) {
        if let Some(lowest) = o.available.iter().position(|a| *a)
            && o.cost(lowest) <= left
        {
            left -= o.cost(lowest);
            *s = Some(lowest);
        }
    }
    for (o, s) in offers.iter().zip(share.iter_mut()) {
        let Some(base) = *s else {
            continue;
        };
        let paid = o.cost(base);
        let more = |l: usize| o.cost(l).saturating_sub(paid);
        if let Some(up) = (base + 1..3)
            .rev()
            .find(|&l| o.available[l] && more(l) <= left)
        {
            left -= more(up);
            *s = Some(up);
        }
    }
    share
}

/// The choice for one subscription.
#[derive(Debug, Default)]
pub struct Chooser {
    current: Option<usize>,
    decided: bool,
    up_ticks: u32,
}

impl Chooser {
    /// The layer being received; `None` is video paused (audio only), or not decided yet.
    pub fn current(&self) -> Option<usize> {
        self.current
    }

    /// Whether a first choice was made (it needs a layer the publisher is sending).
    pub fn decided(&self) -> bool {
        self.decided
    }

    /// Takes a new share (from [`allocate`]). `available[i]` says the publisher is sending
    /// layer `i` now. Returns the new choice when it changed.
    pub fn update(&mut self, share: Option<usize>, available: [bool; 3]) -> Option<Option<usize>> {
        if !available.iter().any(|a| *a) {
            // Nothing to receive: keep the choice for when the camera comes back.
            return None;
        }
        if !self.decided {
            self.decided = true;
            self.current = share;
            return Some(share);
        }
        let next = {
            match (self.current, share) {
                (a, b) if a == b => {
                    self.up_ticks = 0;
                    return None;
                }
                // The current layer stopped arriving: take what there is at once.
                (Some(c), _) if !available[c] => share,
                (Some(c), Some(i)) if i < c => share,
                (Some(_), None) => None,
                _ => {
                    self.up_ticks += 1;
                    if self.up_ticks < UPGRADE_AFTER {
                        return None;
                    }
                    share
                }
            }
        };
        self.up_ticks = 0;
        if next == self.current {
            return None;
        }
        self.current = next;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [bool; 3] = [true, true, true];

    /// A subscription alone on `budget`, its layers unmeasured (each costs its floor).
    fn alone(c: &mut Chooser, budget: u64, available: [bool; 3]) -> Option<Option<usize>> {
        let share = allocate(
            budget,
            &[Offer {
                available,
                rates: [0; 3],
            }],
        )[0];
        c.update(share, available)
    }

    #[test]
    fn the_first_estimate_decides_at_once() {
        let mut c = Chooser::default();
        assert_eq!(alone(&mut c, 2_000_000, ALL), Some(Some(2)));
        let mut c = Chooser::default();
        assert_eq!(alone(&mut c, 400_000, ALL), Some(Some(1)));
        let mut c = Chooser::default();
        assert_eq!(alone(&mut c, 50_000, ALL), Some(None));
    }

    #[test]
    fn downgrade_is_immediate_upgrade_needs_three_estimates() {
        let mut c = Chooser::default();
        alone(&mut c, 2_000_000, ALL);
        assert_eq!(alone(&mut c, 200_000, ALL), Some(Some(0)));
        assert_eq!(alone(&mut c, 2_000_000, ALL), None);
        assert_eq!(alone(&mut c, 2_000_000, ALL), None);
        assert_eq!(alone(&mut c, 2_000_000, ALL), Some(Some(2)));
    }

    #[test]
    fn a_dip_resets_the_upgrade_count() {
        let mut c = Chooser::default();
        alone(&mut c, 200_000, ALL);
        alone(&mut c, 2_000_000, ALL);
        alone(&mut c, 2_000_000, ALL);
        assert_eq!(
            alone(&mut c, 200_000, ALL),
            None,
            "back to fitting q: the count restarts"
        );
        alone(&mut c, 2_000_000, ALL);
        alone(&mut c, 2_000_000, ALL);
        assert_eq!(alone(&mut c, 2_000_000, ALL), Some(Some(2)));
    }

    #[test]
    fn audio_only_below_the_lowest_layer_and_back() {
        let mut c = Chooser::default();
        alone(&mut c, 400_000, ALL);
        assert_eq!(
            alone(&mut c, 60_000, ALL),
            Some(None),
            "video paused at once"
        );
        assert_eq!(c.current(), None);
        alone(&mut c, 500_000, ALL);
        alone(&mut c, 500_000, ALL);
        assert_eq!(
            alone(&mut c, 500_000, ALL),
            Some(Some(1)),
            "resumes with headroom"
        );
    }

    #[test]
    fn layers_the_publisher_does_not_send_are_never_chosen() {
        // A 640×480 camera gives Chromium two layers: no `f`.
        let two = [true, true, false];
        let mut c = Chooser::default();
        assert_eq!(alone(&mut c, 5_000_000, two), Some(Some(1)));
        // A publisher without simulcast sends one layer, index 0, whatever the budget.
        let one = [true, false, false];
        let mut c = Chooser::default();
        assert_eq!(alone(&mut c, 5_000_000, one), Some(Some(0)));
    }

    #[test]
    fn a_layer_that_stops_arriving_is_left_at_once() {
        let mut c = Chooser::default();
        alone(&mut c, 5_000_000, ALL);
        assert_eq!(alone(&mut c, 5_000_000, [true, true, false]), Some(Some(1)));
        assert_eq!(alone(&mut c, 5_000_000, [false, false, false]), None);
    }

    /// Chromium-like layers measured at 150 / 500 / 1,500 kbps.
    const CAM: Offer = Offer {
        available: ALL,
        rates: [150_000, 500_000, 1_500_000],
    };

    #[test]
    fn a_two_megabit_phone_in_a_room_of_six_gets_the_first_two_at_h_and_the_rest_at_q() {
        // 2 Mbps less five audio streams, five videos, the speaker first.
        let share = allocate(2_000_000 - 5 * 48_000, &[CAM; 5]);
        assert_eq!(share, vec![Some(1), Some(1), Some(0), Some(0), Some(0)]);
        let spent: u64 = share
            .iter()
            .zip([CAM; 5])
            .map(|(s, o)| s.map_or(0, |l| o.cost(l)))
            .sum();
        assert!(spent <= 2_000_000 - 5 * 48_000, "{spent}");
    }

    #[test]
    fn everyone_gets_the_lowest_layer_before_anyone_gets_more() {
        // Enough for three q's and no more: the last two pause, nobody is lifted.
        let q = CAM.cost(0);
        let share = allocate(3 * q + q / 2, &[CAM; 5]);
        assert_eq!(share, vec![Some(0), Some(0), Some(0), None, None]);
        // Plenty: everyone at f.
        assert_eq!(allocate(50_000_000, &[CAM; 3]), vec![Some(2); 3]);
    }

    #[test]
    fn the_measured_rate_with_headroom_is_what_a_layer_costs() {
        // A heavy h (900 kbps measured) does not fit 600 kbps, although its floor would.
        let heavy = Offer {
            available: ALL,
            rates: [150_000, 900_000, 2_000_000],
        };
        assert_eq!(allocate(600_000, &[heavy]), vec![Some(0)]);
        assert_eq!(heavy.cost(1), 1_035_000);
        // A still scene measures almost nothing: the floor holds.
        let still = Offer {
            available: ALL,
            rates: [5_000, 10_000, 20_000],
        };
        assert_eq!(still.cost(2), NEEDS[2]);
        assert_eq!(allocate(400_000, &[still]), vec![Some(1)]);
    }

    #[test]
    fn a_publisher_without_its_low_layer_starts_from_the_lowest_it_sends() {
        let top_only = Offer {
            available: [false, false, true],
            rates: [0, 0, 1_500_000],
        };
        assert_eq!(allocate(2_000_000, &[top_only]), vec![Some(2)]);
        assert_eq!(allocate(1_000_000, &[top_only]), vec![None]);
    }
}
