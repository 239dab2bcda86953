//! Which simulcast layer a subscriber receives of a publisher's video, from the subscriber's
//! bandwidth estimate: downgrade at once, upgrade only after sustained headroom, and pause the
//! video (audio continues) when even the lowest layer does not fit.
//!
//! Thresholds are per video subscription (the estimate minus audio, divided by the videos the
//! subscriber receives): they follow what Chromium sends for a 640×360–1280×720 camera with
//! three layers (q ≈ 150 kbps, h ≈ 500 kbps, f ≈ 1.2–1.7 Mbps), with margin.

/// The layers, lowest first, as rids (`q`, `h`, `f`: the names the page gives them).
pub const RIDS: [&str; 3] = ["q", "h", "f"];

/// Minimum budget per video subscription, bits/s, to receive each layer.
pub const NEEDS: [u64; 3] = [80_000, 350_000, 700_000];

/// Consecutive estimates with room for a higher layer before moving up.
pub const UPGRADE_AFTER: u32 = 3;

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

    /// Takes a new estimate. `available[i]` says the publisher is sending layer `i` now.
    /// Returns the new choice when it changed.
    pub fn update(&mut self, budget: u64, available: [bool; 3]) -> Option<Option<usize>> {
        if !available.iter().any(|a| *a) {
            // Nothing to receive: keep the choice for when the camera comes back.
            return None;
        }
        let fits = (0..3).rev().find(|i| available[*i] && budget >= NEEDS[*i]);
        // Lowest available layer, when the budget fits layer 0's need but that layer is off.
        let ideal = match fits {
            Some(i) => Some(i),
            None if budget >= NEEDS[0] => available.iter().position(|a| *a),
            None => None,
        };
        if !self.decided {
            self.decided = true;
            self.current = ideal;
            return Some(ideal);
        }
        let next = {
            match (self.current, ideal) {
                (a, b) if a == b => {
                    self.up_ticks = 0;
                    return None;
                }
                // The current layer stopped arriving: take what there is at once.
                (Some(c), _) if !available[c] => ideal,
                (Some(c), Some(i)) if i < c => ideal,
                (Some(_), None) => None,
                _ => {
                    self.up_ticks += 1;
                    if self.up_ticks < UPGRADE_AFTER {
                        return None;
                    }
                    ideal
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

    #[test]
    fn the_first_estimate_decides_at_once() {
        let mut c = Chooser::default();
        assert_eq!(c.update(2_000_000, ALL), Some(Some(2)));
        let mut c = Chooser::default();
        assert_eq!(c.update(400_000, ALL), Some(Some(1)));
        let mut c = Chooser::default();
        assert_eq!(c.update(50_000, ALL), Some(None));
    }

    #[test]
    fn downgrade_is_immediate_upgrade_needs_three_estimates() {
        let mut c = Chooser::default();
        c.update(2_000_000, ALL);
        assert_eq!(c.update(200_000, ALL), Some(Some(0)));
        assert_eq!(c.update(2_000_000, ALL), None);
        assert_eq!(c.update(2_000_000, ALL), None);
        assert_eq!(c.update(2_000_000, ALL), Some(Some(2)));
    }

    #[test]
    fn a_dip_resets_the_upgrade_count() {
        let mut c = Chooser::default();
        c.update(200_000, ALL);
        c.update(2_000_000, ALL);
        c.update(2_000_000, ALL);
        assert_eq!(
            c.update(200_000, ALL),
            None,
            "back to fitting q: the count restarts"
        );
        c.update(2_000_000, ALL);
        c.update(2_000_000, ALL);
        assert_eq!(c.update(2_000_000, ALL), Some(Some(2)));
    }

    #[test]
    fn audio_only_below_the_lowest_layer_and_back() {
        let mut c = Chooser::default();
        c.update(400_000, ALL);
        assert_eq!(c.update(60_000, ALL), Some(None), "video paused at once");
        assert_eq!(c.current(), None);
        c.update(500_000, ALL);
        c.update(500_000, ALL);
        assert_eq!(
            c.update(500_000, ALL),
            Some(Some(1)),
            "resumes with headroom"
        );
    }

    #[test]
    fn layers_the_publisher_does_not_send_are_never_chosen() {
        // A 640×480 camera gives Chromium two layers: no `f`.
        let two = [true, true, false];
        let mut c = Chooser::default();
        assert_eq!(c.update(5_000_000, two), Some(Some(1)));
        // A publisher without simulcast sends one layer, index 0, whatever the budget.
        let one = [true, false, false];
        let mut c = Chooser::default();
        assert_eq!(c.update(5_000_000, one), Some(Some(0)));
    }

    #[test]
    fn a_layer_that_stops_arriving_is_left_at_once() {
        let mut c = Chooser::default();
        c.update(5_000_000, ALL);
        assert_eq!(c.update(5_000_000, [true, true, false]), Some(Some(1)));
        assert_eq!(c.update(5_000_000, [false, false, false]), None);
    }
}
