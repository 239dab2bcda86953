//! Usage metering of video visits (C12): what a clinic is billed for one visit and for a
//! month, as pure functions of who was in the room and when. No database, no clock, no I/O:
//! the caller hands in the presence intervals it recorded.
//!
//! Times are in ms and every interval is half-open, `[start, end)`.
//!
//! - **Billed time is the doctor's time in the room**, from entering to leaving: the union of
//!   every interval of every participant with [`Role::Doctor`]. When two doctors are in the
//!   room at once their time still counts once (the union, not the sum): the clinic rents one
//!   room, not one seat per doctor. A second doctor is never an extra participant either.
//! - **Rejoins merge.** Each connection is one [`Presence`]. Intervals that overlap or touch
//!   merge ([`merged`]), so a reload that rejoins before the old connection timed out counts
//!   once; a gap between two intervals (the doctor stepped out) is not counted.
//! - **Lost connections.** A connection that ended without a clean leave (`left_at: None`)
//!   counts until its last heartbeat (`last_seen_at`), never until "now". A clean leave
//!   (`left_at: Some`) is authoritative. An end before its start (clock skew, bad data)
//!   makes a zero-length interval: never a panic, never negative time.
//! - **Units.** The doctor's time in 30-minute units ([`UNIT_MS`]), rounded up: 0 ms is
//!   0 units, 29:59 and 30:00 are 1 unit, 30:01 is 2 units. Each unit is [`YEN_PER_UNIT`].
//! - **Extra participants.** The doctor's time, gaps removed, is cut into consecutive
//!   30-minute slices, one per unit (the last may be short, and a slice may straddle a gap).
//!   In each slice we count the distinct non-doctor participants (by `participant` key,
//!   whatever their role, staff included) present for at least 1 ms of that slice: partial
//!   presence counts as the whole slice, as partial time counts as a whole unit. The first of
//!   them is in the base fee (the doctor and one patient); each further one, the 3rd person
//!   onward, is one extra-participant unit at [`YEN_PER_EXTRA`].
//! - **The doctor's absence never counts**: the patient waiting alone, guests who leave
//!   before the doctor arrives or come while the doctor is out cost nothing.
//! - **Tax.** Visit prices exclude tax. Consumption tax ([`TAX_PERCENT`]) is computed once on
//!   the month's total before tax and rounded down to the yen (切り捨て), never per visit
//!   ([`month_total`]).

use std::collections::BTreeMap;

/// One billing unit of the doctor's time: 30 minutes.
pub const UNIT_MS: i64 = 30 * 60 * 1000;

/// Price of one unit of the doctor's time (tax excluded).
pub const YEN_PER_UNIT: i64 = 100;

/// Price of one extra participant (3rd person onward) for one unit (tax excluded).
pub const YEN_PER_EXTRA: i64 = 50;

/// Consumption tax, in percent of the month's total before tax.
pub const TAX_PERCENT: i64 = 10;

/// Non-doctor participants a slice includes in its base fee: the patient.
const INCLUDED_OTHERS: i64 = 1;

/// Who a participant is in the room; only [`Role::Doctor`] makes billed time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A doctor of the clinic: their time in the room is what is billed.
    Doctor,
    /// The patient.
    Patient,
    /// Anyone invited by link: family, interpreter, carer.
    Guest,
    /// Clinic staff other than doctors (nurse, clerk): billed like any extra participant.
    Staff,
}

/// One interval of one connection of one participant. A participant who reloads or switches
/// devices has several, possibly overlapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    /// Stable key of the person across connections, e.g. `"doctor:12"`, `"patient"`,
    /// `"guest:5"`: distinct people are counted by it.
    pub participant: String,
    /// Their role in the room.
    pub role: Role,
    /// When the connection joined (ms).
    pub joined_at: i64,
    /// When it left cleanly (ms), or `None` if the connection was lost.
    pub left_at: Option<i64>,
    /// Its last heartbeat (ms): where a lost connection ends.
    pub last_seen_at: i64,
}

impl Presence {
    /// This connection's time as `[start, end)`: until the clean leave, else until the last
    /// heartbeat. An end before the start gives an empty interval rather than negative time.
    pub fn interval(&self) -> (i64, i64) {
        let end = self.left_at.unwrap_or(self.last_seen_at);
        (self.joined_at, end.max(self.joined_at))
    }
}

/// The union of half-open intervals, sorted, with overlapping or touching ones merged and
/// empty or reversed ones dropped.
pub fn merged(intervals: impl IntoIterator<Item = (i64, i64)>) -> Vec<(i64, i64)> {
    let mut sorted: Vec<(i64, i64)> = intervals.into_iter().filter(|(s, e)| s < e).collect();
    sorted.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(sorted.len());
    for (start, end) in sorted {
        match out.last_mut() {
            // `<=`: a rejoin at the very ms the old connection ended is one stay, not two.
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// The metered usage of one visit, tax excluded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VisitUsage {
    /// The doctor's time in the room (union of all doctors' intervals), in ms.
    pub doctor_ms: i64,
    /// 30-minute units of `doctor_ms`, rounded up.
    pub units: i64,
    /// Sum over the units' slices of the non-doctor participants beyond the first.
    pub extra_participant_units: i64,
    /// `units × YEN_PER_UNIT + extra_participant_units × YEN_PER_EXTRA`, tax excluded.
    pub yen: i64,
}

/// Meters one visit from all its presence intervals (see the module doc for the rules).
pub fn visit_usage(presence: &[Presence]) -> VisitUsage {
    let doctor = merged(
        presence
            .iter()
            .filter(|p| p.role == Role::Doctor)
            .map(Presence::interval),
    );
    let doctor_ms = doctor
        .iter()
        .fold(0_i64, |ms, &(s, e)| ms.saturating_add(e.saturating_sub(s)));
    let units = doctor_ms / UNIT_MS + i64::from(doctor_ms % UNIT_MS != 0);
    let extra_participant_units = extra_participant_units(&doctor, presence);
    let yen = units
        .saturating_mul(YEN_PER_UNIT)
        .saturating_add(extra_participant_units.saturating_mul(YEN_PER_EXTRA));
    VisitUsage {
        doctor_ms,
        units,
        extra_participant_units,
        yen,
    }
}

/// Sum over slices of `max(0, others − 1)`.
///
/// Rather than walking slice by slice, each participant's presence is mapped to the range of
/// slice indices it touches and the ranges are swept once: the cost depends on the number of
/// intervals, not on the length of the visit, so a bad heartbeat far in the future cannot
/// stall a billing run.
fn extra_participant_units(doctor: &[(i64, i64)], presence: &[Presence]) -> i64 {
    let mut by_person: BTreeMap<&str, Vec<(i64, i64)>> = BTreeMap::new();
    for p in presence.iter().filter(|p| p.role != Role::Doctor) {
        by_person
            .entry(p.participant.as_str())
            .or_default()
            .push(p.interval());
    }
    // (slice index, +1 when a person's range of slices starts, −1 just after it ends).
    let mut events: Vec<(i64, i64)> = Vec::new();
    for intervals in by_person.into_values() {
        // Merged per person so that two connections of one person in a slice count once.
        let touched = merged(
            merged(intervals)
                .into_iter()
                .flat_map(|interval| slices_touched(doctor, interval)),
        );
        for (first, end) in touched {
            events.push((first, 1));
            events.push((end, -1));
        }
    }
    events.sort_unstable();
    let mut extra = 0_i64;
    let mut present = 0_i64;
    let mut previous: Option<i64> = None;
    for (at, delta) in events {
        if let Some(from) = previous {
            let slices = at.saturating_sub(from);
            let beyond_base = (present - INCLUDED_OTHERS).max(0);
            extra = extra.saturating_add(beyond_base.saturating_mul(slices));
        }
        present += delta;
        previous = Some(at);
    }
    extra
}

/// The slice indices, as half-open ranges `[first, last + 1)`, that `[start, end)` overlaps
/// by at least 1 ms. Slices are cut along the doctor's time with gaps removed, so a wall-clock
/// instant is mapped to its offset into the doctor's time before it is divided by a unit.
fn slices_touched(doctor: &[(i64, i64)], (start, end): (i64, i64)) -> Vec<(i64, i64)> {
    let mut touched = Vec::new();
    // Doctor time elapsed before the current doctor interval.
    let mut offset = 0_i64;
    for &(doctor_from, doctor_to) in doctor {
        let (from, to) = (start.max(doctor_from), end.min(doctor_to));
        if from < to {
            let first = offset.saturating_add(from.saturating_sub(doctor_from));
            let last = offset.saturating_add(to.saturating_sub(doctor_from)) - 1;
            touched.push((first / UNIT_MS, last / UNIT_MS + 1));
        }
        offset = offset.saturating_add(doctor_to.saturating_sub(doctor_from));
    }
    touched
}

/// The metered usage of a clinic's month, with its consumption tax.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonthUsage {
    /// Visits with at least one unit (a visit the doctor never joined is not counted).
    pub visits: i64,
    /// Sum of the visits' units.
    pub units: i64,
    /// Sum of the visits' extra-participant units.
    pub extra_participant_units: i64,
    /// Sum of the visits' prices, tax excluded.
    pub yen_before_tax: i64,
    /// `TAX_PERCENT` of `yen_before_tax`, rounded down to the yen.
    pub tax_yen: i64,
    /// `yen_before_tax + tax_yen`.
    pub yen_total: i64,
}

/// Totals a month of visits. The tax is computed once, on the month's total before tax, and
/// rounded down to the yen (切り捨て); it is not computed per visit and then summed, which
/// could round down once per visit. Visits with 0 units are not counted in `visits`.
pub fn month_total(visits: &[VisitUsage]) -> MonthUsage {
    let mut month = MonthUsage::default();
    for visit in visits {
        if visit.units > 0 {
            month.visits += 1;
        }
        month.units = month.units.saturating_add(visit.units);
        month.extra_participant_units = month
            .extra_participant_units
            .saturating_add(visit.extra_participant_units);
        month.yen_before_tax = month.yen_before_tax.saturating_add(visit.yen);
    }
    // Integer division truncates: for a non-negative total that is rounding down.
    month.tax_yen = month.yen_before_tax.saturating_mul(TAX_PERCENT) / 100;
    month.yen_total = month.yen_before_tax.saturating_add(month.tax_yen);
    month
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000;
    const MIN: i64 = 60 * SEC;
    /// An arbitrary start, far from 0, so that no test passes by accident of zero offsets.
    const T0: i64 = 1_780_000_000_000;

    /// A connection that left cleanly, `from` and `to` in ms after `T0`.
    fn stay(participant: &str, role: Role, from: i64, to: i64) -> Presence {
        Presence {
            participant: participant.to_owned(),
            role,
            joined_at: T0 + from,
            left_at: Some(T0 + to),
            last_seen_at: T0 + to,
        }
    }

    /// A connection lost without a clean leave, last heard from at `last_seen`.
    fn lost(participant: &str, role: Role, from: i64, last_seen: i64) -> Presence {
        Presence {
            participant: participant.to_owned(),
            role,
            joined_at: T0 + from,
            left_at: None,
            last_seen_at: T0 + last_seen,
        }
    }

    fn doctor(from: i64, to: i64) -> Presence {
        stay("doctor:12", Role::Doctor, from, to)
    }

    fn patient(from: i64, to: i64) -> Presence {
        stay("patient", Role::Patient, from, to)
    }

    #[test]
    fn units_round_up_at_29_59_30_00_and_30_01() {
        let units = |ms| visit_usage(&[doctor(0, ms)]);
        assert_eq!(units(0).units, 0);
        assert_eq!(units(0).yen, 0);
        assert_eq!(units(1).units, 1);
        assert_eq!(units(29 * MIN + 59 * SEC).units, 1);
        assert_eq!(units(30 * MIN).units, 1);
        assert_eq!(units(30 * MIN).yen, 100);
        assert_eq!(units(30 * MIN + SEC).units, 2);
        assert_eq!(units(30 * MIN + SEC).yen, 200);
        assert_eq!(units(30 * MIN + 1).units, 2);
        assert_eq!(units(60 * MIN).units, 2);
        assert_eq!(units(60 * MIN + 1).units, 3);
        assert_eq!(units(30 * MIN + SEC).doctor_ms, 30 * MIN + SEC);
    }

    #[test]
    fn a_visit_without_a_doctor_costs_nothing() {
        assert_eq!(visit_usage(&[]), VisitUsage::default());
        let usage = visit_usage(&[
            patient(0, 40 * MIN),
            stay("guest:5", Role::Guest, 0, 40 * MIN),
            stay("staff:3", Role::Staff, 0, 40 * MIN),
        ]);
        assert_eq!(usage, VisitUsage::default());
    }

    #[test]
    fn a_rejoin_overlapping_the_previous_connection_counts_once() {
        // The doctor reloads at 20:00; the new connection joins before the old one timed
        // out at 20:45.
        let usage = visit_usage(&[
            lost("doctor:12", Role::Doctor, 0, 20 * MIN + 45 * SEC),
            doctor(20 * MIN, 29 * MIN),
        ]);
        assert_eq!(usage.doctor_ms, 29 * MIN);
        assert_eq!(usage.units, 1);
        assert_eq!(usage.yen, 100);
    }

    #[test]
    fn a_rejoin_at_the_very_ms_of_the_leave_is_one_stay() {
        let usage = visit_usage(&[doctor(0, 15 * MIN), doctor(15 * MIN, 30 * MIN)]);
        assert_eq!(usage.doctor_ms, 30 * MIN);
        assert_eq!(usage.units, 1);
    }

    #[test]
    fn a_gap_between_two_doctor_intervals_is_not_counted() {
        // 20 min, out for 20 min, 15 min: 35 min billed, not 55.
        let usage = visit_usage(&[doctor(0, 20 * MIN), doctor(40 * MIN, 55 * MIN)]);
        assert_eq!(usage.doctor_ms, 35 * MIN);
        assert_eq!(usage.units, 2);
        assert_eq!(usage.yen, 200);

        let short = visit_usage(&[doctor(0, 10 * MIN), doctor(50 * MIN, 60 * MIN)]);
        assert_eq!(short.doctor_ms, 20 * MIN);
        assert_eq!(short.units, 1);
    }

    #[test]
    fn a_doctor_who_never_leaves_cleanly_counts_until_the_last_heartbeat() {
        let usage = visit_usage(&[lost("doctor:12", Role::Doctor, 0, 31 * MIN)]);
        assert_eq!(usage.doctor_ms, 31 * MIN);
        assert_eq!(usage.units, 2);

        // A clean leave is authoritative even if a heartbeat arrived after it.
        let mut left = doctor(0, 10 * MIN);
        left.last_seen_at = T0 + 50 * MIN;
        assert_eq!(visit_usage(&[left]).doctor_ms, 10 * MIN);
    }

    #[test]
    fn the_patients_time_without_the_doctor_does_not_count() {
        // The patient waits 25 minutes, the doctor sees them for 10, the patient lingers 20.
        let usage = visit_usage(&[patient(0, 55 * MIN), doctor(25 * MIN, 35 * MIN)]);
        assert_eq!(usage.doctor_ms, 10 * MIN);
        assert_eq!(usage.units, 1);
        assert_eq!(usage.extra_participant_units, 0);
        assert_eq!(usage.yen, 100);
    }

    #[test]
    fn a_doctor_and_one_patient_are_the_base_fee() {
        let usage = visit_usage(&[doctor(0, 45 * MIN), patient(0, 45 * MIN)]);
        assert_eq!(usage.units, 2);
        assert_eq!(usage.extra_participant_units, 0);
        assert_eq!(usage.yen, 200);
    }

    #[test]
    fn family_and_an_interpreter_in_a_45_minute_visit() {
        // Slice 1 (0–30): patient + family → 1 extra. Slice 2 (30–45): patient + family +
        // interpreter → 2 extra. 2 units × 100 + 3 extra × 50 = 350 yen.
        let usage = visit_usage(&[
            doctor(0, 45 * MIN),
            patient(0, 45 * MIN),
            stay("guest:5", Role::Guest, 2 * MIN, 45 * MIN),
            stay("guest:6", Role::Guest, 35 * MIN, 45 * MIN),
        ]);
        assert_eq!(usage.doctor_ms, 45 * MIN);
        assert_eq!(usage.units, 2);
        assert_eq!(usage.extra_participant_units, 3);
        assert_eq!(usage.yen, 350);
    }

    #[test]
    fn presence_in_a_slice_needs_one_ms_of_overlap() {
        // The interpreter leaves exactly at 30:00: only slice 1. A guest who joins exactly at
        // 30:00: only slice 2. A guest present 29:59.999–30:00.001: both slices.
        let base = [doctor(0, 45 * MIN), patient(0, 45 * MIN)];
        let with = |extra: Presence| {
            let mut all = base.to_vec();
            all.push(extra);
            visit_usage(&all).extra_participant_units
        };
        assert_eq!(with(stay("guest:6", Role::Guest, 20 * MIN, 30 * MIN)), 1);
        assert_eq!(with(stay("guest:6", Role::Guest, 30 * MIN, 45 * MIN)), 1);
        assert_eq!(
            with(stay("guest:6", Role::Guest, 30 * MIN - 1, 30 * MIN + 1)),
            2
        );
        // Staying after the doctor left adds nothing.
        assert_eq!(with(stay("guest:6", Role::Guest, 45 * MIN, 50 * MIN)), 0);
    }

    #[test]
    fn guests_present_only_before_the_doctor_arrives_are_not_extra() {
        let usage = visit_usage(&[
            patient(0, 40 * MIN),
            stay("guest:5", Role::Guest, 0, 10 * MIN),
            // Leaves at the very ms the doctor enters: no overlap.
            stay("guest:6", Role::Guest, 5 * MIN, 10 * MIN),
            doctor(10 * MIN, 40 * MIN),
        ]);
        assert_eq!(usage.units, 1);
        assert_eq!(usage.extra_participant_units, 0);
        assert_eq!(usage.yen, 100);
    }

    #[test]
    fn slices_follow_the_doctors_time_not_the_wall_clock() {
        // Doctor 0–20 and 40–55: slice 1 is 0–20 + 40–50, slice 2 is 50–55.
        let doctor_out = [
            doctor(0, 20 * MIN),
            doctor(40 * MIN, 55 * MIN),
            patient(0, 55 * MIN),
        ];
        let with = |extra: Presence| {
            let mut all = doctor_out.to_vec();
            all.push(extra);
            visit_usage(&all)
        };
        // Only while the doctor is out: nothing.
        assert_eq!(
            with(stay("guest:5", Role::Guest, 20 * MIN, 40 * MIN)).extra_participant_units,
            0
        );
        // 45–47 is doctor time 25–27, in slice 1 though it is 45 minutes into the wall clock.
        assert_eq!(
            with(stay("guest:5", Role::Guest, 45 * MIN, 47 * MIN)).extra_participant_units,
            1
        );
        // 52–53 is doctor time 32–33: slice 2.
        let late = with(stay("guest:5", Role::Guest, 52 * MIN, 53 * MIN));
        assert_eq!(late.units, 2);
        assert_eq!(late.extra_participant_units, 1);
        assert_eq!(late.yen, 250);
    }

    #[test]
    fn one_person_with_several_connections_is_one_person() {
        // The family member reloads twice and is on two devices at once: still one extra in
        // each slice.
        let usage = visit_usage(&[
            doctor(0, 60 * MIN),
            patient(0, 60 * MIN),
            stay("guest:5", Role::Guest, 0, 20 * MIN),
            lost("guest:5", Role::Guest, 19 * MIN, 40 * MIN),
            stay("guest:5", Role::Guest, 10 * MIN, 35 * MIN),
        ]);
        assert_eq!(usage.units, 2);
        assert_eq!(usage.extra_participant_units, 2);
        assert_eq!(usage.yen, 300);
    }

    #[test]
    fn staff_count_as_extra_participants() {
        let usage = visit_usage(&[
            doctor(0, 30 * MIN),
            patient(0, 30 * MIN),
            stay("staff:3", Role::Staff, 0, 5 * MIN),
        ]);
        assert_eq!(usage.extra_participant_units, 1);
        assert_eq!(usage.yen, 150);
    }

    #[test]
    fn a_guest_without_the_patient_is_in_the_base_fee() {
        // The first non-doctor person is in the base fee, whatever their role.
        let usage = visit_usage(&[
            doctor(0, 30 * MIN),
            stay("guest:5", Role::Guest, 0, 30 * MIN),
        ]);
        assert_eq!(usage.extra_participant_units, 0);
    }

    #[test]
    fn two_doctors_bill_the_union_of_their_time_and_are_never_extra() {
        let usage = visit_usage(&[
            doctor(0, 20 * MIN),
            stay("doctor:13", Role::Doctor, 10 * MIN, 40 * MIN),
            patient(0, 40 * MIN),
        ]);
        assert_eq!(usage.doctor_ms, 40 * MIN);
        assert_eq!(usage.units, 2);
        assert_eq!(usage.extra_participant_units, 0);
        assert_eq!(usage.yen, 200);
    }

    #[test]
    fn malformed_intervals_do_not_panic_and_count_as_zero() {
        let mut left_before_joined = doctor(30 * MIN, 0);
        left_before_joined.last_seen_at = T0 + 40 * MIN;
        let seen_before_joined = lost("doctor:12", Role::Doctor, 30 * MIN, 0);
        assert_eq!(
            left_before_joined.interval(),
            (T0 + 30 * MIN, T0 + 30 * MIN)
        );
        assert_eq!(
            seen_before_joined.interval(),
            (T0 + 30 * MIN, T0 + 30 * MIN)
        );

        let usage = visit_usage(&[
            left_before_joined,
            seen_before_joined,
            stay("guest:5", Role::Guest, 20 * MIN, 10 * MIN),
        ]);
        assert_eq!(usage, VisitUsage::default());

        // A malformed guest next to a real visit adds nothing either.
        let usage = visit_usage(&[
            doctor(0, 30 * MIN),
            patient(0, 30 * MIN),
            stay("guest:5", Role::Guest, 20 * MIN, 10 * MIN),
        ]);
        assert_eq!(usage.extra_participant_units, 0);
        assert_eq!(usage.yen, 100);
    }

    #[test]
    fn extreme_timestamps_do_not_panic_or_stall() {
        // A heartbeat stamped at the end of time must not loop over trillions of slices.
        let usage = visit_usage(&[
            lost("doctor:12", Role::Doctor, -T0, i64::MAX - T0),
            lost("patient", Role::Patient, 0, i64::MAX - T0),
            lost("guest:5", Role::Guest, 0, i64::MAX - T0),
        ]);
        assert_eq!(usage.doctor_ms, i64::MAX);
        assert_eq!(usage.units, i64::MAX / UNIT_MS + 1);
        // The guest is extra in every slice from T0 on: all but the first T0 ms.
        assert_eq!(usage.extra_participant_units, usage.units - T0 / UNIT_MS);
        assert_eq!(
            usage.yen,
            usage.units * YEN_PER_UNIT + usage.extra_participant_units * YEN_PER_EXTRA
        );

        // Time spans wider than an i64 saturate instead of overflowing.
        let whole = |participant: &str, role| Presence {
            participant: participant.to_owned(),
            role,
            joined_at: i64::MIN,
            left_at: None,
            last_seen_at: i64::MAX,
        };
        let usage = visit_usage(&[
            whole("doctor:12", Role::Doctor),
            stay("doctor:13", Role::Doctor, 0, 10 * MIN),
            whole("patient", Role::Patient),
            stay("guest:5", Role::Guest, 0, 10 * MIN),
        ]);
        assert_eq!(usage.doctor_ms, i64::MAX);
        assert_eq!(usage.units, i64::MAX / UNIT_MS + 1);
    }

    #[test]
    fn merged_unites_overlapping_and_touching_intervals() {
        assert_eq!(merged([]), vec![]);
        assert_eq!(
            merged([(50, 60), (0, 10), (10, 20), (15, 18), (30, 40), (35, 45)]),
            vec![(0, 20), (30, 45), (50, 60)]
        );
        // Empty and reversed intervals vanish rather than split or stretch anything.
        assert_eq!(merged([(5, 5), (9, 3), (20, 30)]), vec![(20, 30)]);
        assert_eq!(
            merged([(0, 10), (10, 10), (11, 12)]),
            vec![(0, 10), (11, 12)]
        );
    }

    #[test]
    fn the_month_tax_is_ten_percent_rounded_down() {
        let visit = |yen| VisitUsage {
            doctor_ms: 30 * MIN,
            units: 1,
            extra_participant_units: 0,
            yen,
        };
        let month = month_total(&[visit(1_000), visit(150)]);
        assert_eq!(month.yen_before_tax, 1_150);
        assert_eq!(month.tax_yen, 115);
        assert_eq!(month.yen_total, 1_265);

        let month = month_total(&[visit(1_055)]);
        assert_eq!(month.tax_yen, 105);
        assert_eq!(month.yen_total, 1_160);

        let month = month_total(&[visit(1_059)]);
        assert_eq!(month.tax_yen, 105);
    }

    #[test]
    fn the_month_tax_is_computed_once_on_the_total_not_per_visit() {
        // Per visit: 5 + 5 = 10 yen. On the total of 110 yen: 11 yen.
        let visit = VisitUsage {
            doctor_ms: 30 * MIN,
            units: 1,
            extra_participant_units: 0,
            yen: 55,
        };
        let month = month_total(&[visit, visit]);
        assert_eq!(month.tax_yen, 11);
        assert_eq!(month.yen_total, 121);
    }

    #[test]
    fn the_month_sums_visits_and_skips_those_without_units() {
        let visits = [
            visit_usage(&[doctor(0, 45 * MIN), patient(0, 45 * MIN)]),
            visit_usage(&[
                doctor(0, 45 * MIN),
                patient(0, 45 * MIN),
                stay("guest:5", Role::Guest, 2 * MIN, 45 * MIN),
                stay("guest:6", Role::Guest, 35 * MIN, 45 * MIN),
            ]),
            // The patient waited; the doctor never came.
            visit_usage(&[patient(0, 30 * MIN)]),
        ];
        let month = month_total(&visits);
        assert_eq!(
            month,
            MonthUsage {
                visits: 2,
                units: 4,
                extra_participant_units: 3,
                yen_before_tax: 550,
                tax_yen: 55,
                yen_total: 605,
            }
        );
        assert_eq!(month_total(&[]), MonthUsage::default());
    }

    /// The rule read literally: cut the doctor's time into 30-minute pieces of wall-clock
    /// intervals, then for each slice test every person's every interval against every piece.
    fn extra_units_by_the_letter(presence: &[Presence]) -> i64 {
        let doctor = merged(
            presence
                .iter()
                .filter(|p| p.role == Role::Doctor)
                .map(Presence::interval),
        );
        let mut slices: Vec<Vec<(i64, i64)>> = vec![Vec::new()];
        let mut room = UNIT_MS;
        for (mut from, to) in doctor {
            while from < to {
                if room == 0 {
                    slices.push(Vec::new());
                    room = UNIT_MS;
                }
                let piece_end = to.min(from + room);
                if let Some(slice) = slices.last_mut() {
                    slice.push((from, piece_end));
                }
                room -= piece_end - from;
                from = piece_end;
            }
        }
        let mut people: Vec<&str> = presence
            .iter()
            .filter(|p| p.role != Role::Doctor)
            .map(|p| p.participant.as_str())
            .collect();
        people.sort_unstable();
        people.dedup();
        slices
            .iter()
            .map(|pieces| {
                let present = people
                    .iter()
                    .filter(|&&who| {
                        presence
                            .iter()
                            .filter(|p| p.role != Role::Doctor && p.participant == who)
                            .any(|p| {
                                let (s, e) = p.interval();
                                pieces.iter().any(|&(ps, pe)| e.min(pe) - s.max(ps) >= 1)
                            })
                    })
                    .count();
                (i64::try_from(present).unwrap_or(i64::MAX) - 1).max(0)
            })
            .sum()
    }

    #[test]
    fn extra_units_agree_with_the_rule_read_literally() {
        // A small deterministic generator (no dependency): times land on 5-minute marks give
        // or take 1 ms, so slice boundaries, touching rejoins and reversed intervals are hit
        // often.
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            i64::try_from((seed >> 33) % n).unwrap_or(0)
        };
        let roles = [Role::Doctor, Role::Patient, Role::Guest, Role::Staff];
        let keys = [
            "doctor:12",
            "doctor:13",
            "patient",
            "guest:5",
            "guest:6",
            "staff:3",
        ];
        let mut with_extras = 0;
        for _ in 0..2_000 {
            let mut presence = Vec::new();
            for _ in 0..=next(8) {
                let key = keys[usize::try_from(next(6)).unwrap_or(0)];
                let role = if key.starts_with("doctor") {
                    Role::Doctor
                } else {
                    roles[usize::try_from(1 + next(3)).unwrap_or(1)]
                };
                let from = next(25) * 5 * MIN + next(3) - 1;
                let to = from + (next(16) - 1) * 5 * MIN + next(3) - 1;
                presence.push(if next(2) == 0 {
                    stay(key, role, from, to)
                } else {
                    lost(key, role, from, to)
                });
            }
            let usage = visit_usage(&presence);
            assert_eq!(
                usage.extra_participant_units,
                extra_units_by_the_letter(&presence),
                "{presence:?}"
            );
            assert_eq!(
                usage.yen,
                usage.units * YEN_PER_UNIT + usage.extra_participant_units * YEN_PER_EXTRA
            );
            with_extras += i32::from(usage.extra_participant_units > 0);
        }
        // Guards the generator: most cases must exercise extras, not only empty rooms.
        assert!(with_extras > 500, "{with_extras}");
    }
}
