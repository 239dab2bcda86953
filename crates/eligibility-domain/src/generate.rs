//! A deterministic synthetic population of insured people, for demos, load
//! tests and search tests of the eligibility service. Nothing here is real
//! personal data: names are drawn from common-name tables, street numbers
//! and the last four digits of postal codes are random, employers are
//! fictional.
//!
//! [`Generator::new`]`(seed)` is an endless iterator of `(Insurer,
//! Qualification)`; the same seed and reference date always give the same
//! records. It generates households, so records come in related groups:
//!
//! - households live in all 47 prefectures, weighted by population, at an
//!   address (都道府県 + 市区町村 + 町名 + 丁目・番地) with a postal code; a
//!   few insurers sent no address;
//! - an employee's family shares the card's 記号・番号 with different 枝番
//!   (本人 `01`, dependents `02`…), 被保険者氏名 = the employee;
//! - 国保 members are each insured (本人) with the 世帯主 as 被保険者氏名;
//! - everyone 75 or over is in 後期高齢者医療 (法別 39, 番号 only, a 1/2/3割
//!   負担割合); 70–74 carry a 高齢受給者証 (2割, 3割 for 現役並み) from the
//!   month after their 70th birthday (DOMAIN §3); children before school
//!   carry 未就学区分;
//! - some records are history: a job change (喪失事由 03, followed by the
//!   new record), people who moved to 後期 at 75 (old 国保 record lost, 03),
//!   deaths (01), 生活保護 (02), その他 (99), and expired short-term cards;
//! - some 国保 households hold 短期被保険者証 (03, or 04 for older retirees)
//!   or a 被保険者資格証明書 (05);
//! - rare: a 通称 (NameOfOther) for foreign residents, and a card whose
//!   front sex is 未設定 with the sex on the back (Sex2).
//!
//! Insurer numbers follow the real structure with valid check digits:
//! 協会けんぽ `01`+都道府県+`001`, 組合 `06`, 共済 `31`–`34`, 後期 `39`+都道府県+
//! `101`, 市町村国保 6 digits (都道府県+`0nn`), 国保組合 6 digits starting
//! `3`.
//!
//! Speed matters (millions of records for load tests): the work per record
//! is a handful of small `String`s; everything else is table lookups and
//! integer arithmetic.

mod data;

use std::collections::VecDeque;

use jiff::Span;
use jiff::civil::{Date, date};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tsunagu_calendar::{age_on, is_preschool};

use crate::insurer::{InsurerNumber, PREFECTURES};
use crate::model::{
    CardKind, CoPaymentRatio, ElderlyCertificate, PersonalFamily, PreschoolClassification,
    Qualification, ReasonOfLoss, Sex,
};

/// An insurer (保険者): number and name as printed on cards.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Insurer {
    /// 保険者番号.
    pub number: InsurerNumber,
    /// 保険者名称.
    pub name: String,
}

/// The default reference date ("today" for the generated population), so a
/// bare `Generator::new(seed)` is reproducible forever.
pub const DEFAULT_REFERENCE_DATE: Date = date(2025, 4, 1);

/// 後期高齢者医療 began on this date; nobody's 後期 record starts earlier.
const LATE_ELDERLY_START: Date = date(2008, 4, 1);

/// Which kind of scheme a household's working-age members are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Kyokai,
    Kumiai,
    MutualAid,
    Kokuho,
}

/// Indices into `Generator::insurers` for one prefecture.
#[derive(Debug, Clone)]
struct PrefectureInsurers {
    kyokai: usize,
    late_elderly: usize,
    /// One 市町村国保 per city of `data::CITIES`, same order.
    kokuho: Vec<usize>,
    kokuho_kumiai: usize,
    /// 地方職員・警察・公立学校 (法別 32, 33, 34).
    mutual_aid: [usize; 3],
}

/// A generated person before they are put on a card.
#[derive(Debug, Clone, Copy)]
struct Person {
    family: (&'static str, &'static str),
    given: (&'static str, &'static str),
    /// A registered alphabet name (foreign resident); the Japanese name
    /// then becomes the 通称.
    foreign: Option<(&'static str, &'static str)>,
    sex: Sex,
    birth: Date,
}

impl Person {
    fn name(&self) -> String {
        match self.foreign {
            Some((name, _)) => name.to_string(),
            None => format!("{}\u{3000}{}", self.family.0, self.given.0),
        }
    }

    fn kana(&self) -> String {
        match self.foreign {
            Some((_, kana)) => kana.to_string(),
            None => format!("{}\u{3000}{}", self.family.1, self.given.1),
        }
    }
}

/// Where a household lives.
#[derive(Debug, Clone)]
struct Home {
    prefecture: usize,
    city: usize,
    address: Option<String>,
    post_number: Option<String>,
}

/// The card-level data shared by the members on one card.
#[derive(Debug, Clone)]
struct Card {
    insurer: usize,
    kind: CardKind,
    symbol: Option<String>,
    number: String,
    valid_to: Option<Date>,
    reason_of_loss: Option<ReasonOfLoss>,
}

/// Deterministic generator of `(Insurer, Qualification)` records.
pub struct Generator {
    rng: ChaCha8Rng,
    reference_date: Date,
    insurers: Vec<Insurer>,
    prefectures: Vec<PrefectureInsurers>,
    /// 健康保険組合 and 国家公務員共済 (national, not per prefecture).
    kumiai: Vec<usize>,
    national_mutual_aid: Vec<usize>,
    cumulative_population: [u32; 47],
    pending: VecDeque<(usize, Qualification)>,
    /// Counts households, for unique 番号 of shared cards.
    serial: u64,
    /// Counts 後期 records, each of which has its own 番号.
    late_serial: u64,
}

impl Generator {
    /// A generator whose "today" is [`DEFAULT_REFERENCE_DATE`].
    pub fn new(seed: u64) -> Generator {
        Generator::with_reference_date(seed, DEFAULT_REFERENCE_DATE)
    }

    /// A generator whose population is as of `reference_date`: ages,
    /// validity periods, 未就学 and 後期 status are computed for that day.
    pub fn with_reference_date(seed: u64, reference_date: Date) -> Generator {
        let mut insurers = Vec::new();
        let mut push = |number: InsurerNumber, name: String| {
            insurers.push(Insurer { number, name });
            insurers.len() - 1
        };
        let mut prefectures = Vec::with_capacity(47);
        for (i, pref) in PREFECTURES.iter().enumerate() {
            let code = format!("{:02}", i + 1);
            let body = |prefix: &str, rest: &str| format!("{prefix}{code}{rest}");
            let kyokai = push(
                InsurerNumber::with_check_digit(body("01", "001").as_bytes()),
                format!("全国健康保険協会 {}支部", pref_short(pref)),
            );
            let late_elderly = push(
                InsurerNumber::with_check_digit(body("39", "101").as_bytes()),
                format!("{pref}後期高齢者医療広域連合"),
            );
            let kokuho = data::CITIES[i]
                .iter()
                .enumerate()
                .map(|(c, (city, _))| {
                    push(
                        InsurerNumber::with_check_digit(
                            body("", &format!("{:03}", c + 1)).as_bytes(),
                        ),
                        municipality(city).to_string(),
                    )
                })
                .collect();
            let kokuho_kumiai = push(
                InsurerNumber::with_check_digit(body("", "301").as_bytes()),
                format!("{}医師国民健康保険組合", pref_short(pref)),
            );
            let mutual_aid = [
                push(
                    InsurerNumber::with_check_digit(body("32", "001").as_bytes()),
                    format!("地方職員共済組合 {}支部", pref_short(pref)),
                ),
                push(
                    InsurerNumber::with_check_digit(body("33", "001").as_bytes()),
                    format!("警察共済組合 {}支部", pref_short(pref)),
                ),
                push(
                    InsurerNumber::with_check_digit(body("34", "001").as_bytes()),
                    format!("公立学校共済組合 {}支部", pref_short(pref)),
                ),
            ];
            prefectures.push(PrefectureInsurers {
                kyokai,
                late_elderly,
                kokuho,
                kokuho_kumiai,
                mutual_aid,
            });
        }
        let kumiai = data::COMPANIES
            .iter()
            .enumerate()
            .map(|(i, company)| {
                let pref = data::COMPANY_PREFECTURES[i % data::COMPANY_PREFECTURES.len()];
                let body = format!("06{:02}{:03}", pref + 1, 101 + i);
                push(
                    InsurerNumber::with_check_digit(body.as_bytes()),
                    format!("{company}健康保険組合"),
                )
            })
            .collect();
        let national_mutual_aid = data::NATIONAL_MUTUAL_AID
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let body = format!("3113{:03}", 1 + i);
                push(
                    InsurerNumber::with_check_digit(body.as_bytes()),
                    (*name).to_string(),
                )
            })
            .collect();

        let mut cumulative_population = [0u32; 47];
        let mut total = 0;
        for (slot, pop) in cumulative_population
            .iter_mut()
            .zip(data::PREFECTURE_POPULATION)
        {
            total += pop;
            *slot = total;
        }

        Generator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            reference_date,
            insurers,
            prefectures,
            kumiai,
            national_mutual_aid,
            cumulative_population,
            pending: VecDeque::new(),
            serial: 0,
            late_serial: 0,
        }
    }

    /// The day the population is generated for.
    pub fn reference_date(&self) -> Date {
        self.reference_date
    }

    /// Every insurer records may refer to.
    pub fn insurers(&self) -> &[Insurer] {
        &self.insurers
    }

    // -- random helpers ----------------------------------------------------

    fn chance(&mut self, percent: f64) -> bool {
        self.rng.random_bool(percent / 100.0)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())]
    }

    fn digits(&mut self, count: u32) -> String {
        let n = self.rng.random_range(0..10u64.pow(count));
        format!("{n:0width$}", width = count as usize)
    }

    fn pick_prefecture(&mut self) -> usize {
        let total = self.cumulative_population[46];
        let x = self.rng.random_range(0..total);
        self.cumulative_population.partition_point(|&c| c <= x)
    }

    /// A birth date such that the person is `age` (or just under, if the
    /// birthday has not come yet this year) on the reference date.
    fn birth_for_age(&mut self, age: i16) -> Date {
        let year = self.reference_date.year() - age;
        let month = self.rng.random_range(1..=12i8);
        let first = Date::new(year, month, 1).unwrap_or(self.reference_date);
        let day = self.rng.random_range(1..=first.days_in_month());
        let birth = Date::new(year, month, day).unwrap_or(first);
        if birth > self.reference_date {
            birth.yesterday().unwrap_or(birth).min(self.reference_date)
        } else {
            birth
        }
    }

    fn person(&mut self, family: (&'static str, &'static str), sex: Sex, age: i16) -> Person {
        let birth = self.birth_for_age(age);
        let older = birth.year() < 1975;
        let table = match (sex, older) {
            (Sex::Female, true) => data::FEMALE_NAMES_OLDER,
            (Sex::Female, false) => data::FEMALE_NAMES_YOUNGER,
            (_, true) => data::MALE_NAMES_OLDER,
            (_, false) => data::MALE_NAMES_YOUNGER,
        };
        Person {
            family,
            given: self.pick(table),
            foreign: None,
            sex,
            birth,
        }
    }

    fn random_sex(&mut self) -> Sex {
        if self.rng.random_bool(0.5) {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    fn home(&mut self) -> Home {
        let prefecture = self.pick_prefecture();
        let cities = data::CITIES[prefecture];
        let city = self.rng.random_range(0..cities.len());
        // Insurers are not obliged to send the address (the manual shows a
        // screen without one); about 8% did not.
        if self.chance(8.0) {
            return Home {
                prefecture,
                city,
                address: None,
                post_number: None,
            };
        }
        let (city_name, post_prefix) = cities[city];
        let town = self.pick(data::TOWNS);
        let chome = self.rng.random_range(1..=6);
        let ban = self.rng.random_range(1..=30);
        let go = self.rng.random_range(1..=25);
        let address = if self.rng.random_bool(0.5) {
            format!(
                "{}{city_name}{town}{chome}丁目{ban}番{go}号",
                PREFECTURES[prefecture]
            )
        } else {
            format!(
                "{}{city_name}{town}{chome}-{ban}-{go}",
                PREFECTURES[prefecture]
            )
        };
        let post_number = format!("{post_prefix}{}", self.digits(4));
        Home {
            prefecture,
            city,
            address: Some(address),
            post_number: Some(post_number),
        }
    }

    // -- households --------------------------------------------------------

    /// Generate one household and queue its records.
    fn fill(&mut self) {
        self.serial += 1;
        let home = self.home();
        let family = self.pick(data::FAMILY_NAMES);
        let mut members: Vec<Person> = Vec::with_capacity(5);
        let shape = self.rng.random_range(0..100);
        match shape {
            // Single adult.
            0..30 => {
                let age = self.rng.random_range(20..=64);
                let sex = self.random_sex();
                let mut p = self.person(family, sex, age);
                if self.chance(2.0) {
                    // A foreign resident whose Japanese name is a 通称.
                    p.foreign = Some(self.pick(data::FOREIGN_NAMES));
                }
                members.push(p);
            }
            // Couple with children.
            30..55 => {
                let head_age = self.rng.random_range(25..=55);
                self.couple(&mut members, family, head_age);
                let children = self.rng.random_range(1..=3);
                self.children(&mut members, family, head_age, children);
            }
            // Couple without children at home.
            55..68 => {
                let head_age = self.rng.random_range(30..=69);
                self.couple(&mut members, family, head_age);
            }
            // Elderly couple.
            68..80 => {
                let head_age = self.rng.random_range(65..=92);
                self.couple(&mut members, family, head_age);
            }
            // Elderly single.
            80..90 => {
                let age = self.rng.random_range(65..=100);
                // Women outlive men; most elderly singles are women.
                let sex = if self.chance(70.0) {
                    Sex::Female
                } else {
                    Sex::Male
                };
                members.push(self.person(family, sex, age));
            }
            // Single parent.
            _ => {
                let age = self.rng.random_range(25..=50);
                let sex = if self.chance(85.0) {
                    Sex::Female
                } else {
                    Sex::Male
                };
                members.push(self.person(family, sex, age));
                let children = self.rng.random_range(1..=2);
                self.children(&mut members, family, age, children);
            }
        }
        self.insure(&home, &members);
    }

    fn couple(
        &mut self,
        members: &mut Vec<Person>,
        family: (&'static str, &'static str),
        head_age: i16,
    ) {
        let head_sex = if self.chance(80.0) {
            Sex::Male
        } else {
            Sex::Female
        };
        let spouse_sex = if head_sex == Sex::Male {
            Sex::Female
        } else {
            Sex::Male
        };
        let spouse_age = (head_age + self.rng.random_range(-5..=3)).max(18);
        members.push(self.person(family, head_sex, head_age));
        members.push(self.person(family, spouse_sex, spouse_age));
    }

    fn children(
        &mut self,
        members: &mut Vec<Person>,
        family: (&'static str, &'static str),
        parent_age: i16,
        count: u32,
    ) {
        let oldest = (parent_age - 22).clamp(0, 22);
        for _ in 0..count {
            let age = self.rng.random_range(0..=oldest);
            let sex = self.random_sex();
            members.push(self.person(family, sex, age));
        }
    }

    /// Put the household's members on cards and queue the records.
    fn insure(&mut self, home: &Home, members: &[Person]) {
        let today = self.reference_date;
        let head_name = members.first().map(Person::name);
        let mut working_age: Vec<&Person> = Vec::with_capacity(members.len());
        for p in members {
            if age_on(p.birth, today) >= 75 {
                self.late_elderly(home, p);
            } else {
                working_age.push(p);
            }
        }
        let Some(worker) = working_age.first().copied() else {
            return;
        };
        let worker_age = age_on(worker.birth, today);
        let employed_percent = match worker_age {
            ..18 => 0.0,
            18..65 => 72.0,
            _ => 25.0,
        };
        let scheme = if self.chance(employed_percent) {
            match self.rng.random_range(0..100) {
                0..50 => Scheme::Kyokai,
                50..80 => Scheme::Kumiai,
                _ => Scheme::MutualAid,
            }
        } else {
            Scheme::Kokuho
        };
        let mut card = self.card(home, scheme, worker_age);
        let joined = self.joined(worker.birth);

        // History events for the whole card.
        if scheme == Scheme::Kokuho && self.chance(0.5) {
            self.lose(&mut card, joined, ReasonOfLoss::PublicAssistance);
        } else if self.chance(0.3) {
            self.lose(&mut card, joined, ReasonOfLoss::Other);
        } else if scheme != Scheme::Kokuho && worker_age >= 25 && self.chance(6.0) {
            // A job change: the previous card was lost the day before this
            // one began.
            self.previous_job(home, worker, joined);
        }

        let insured_name = worker.name();
        for (i, p) in working_age.iter().enumerate() {
            // A child born after the card was lost was never on it.
            if card.valid_to.is_some_and(|end| p.birth > end) {
                continue;
            }
            let (personal_family, insured) = match scheme {
                // Everyone in 国保 is insured in their own right; the card
                // names the 世帯主, who may be a 後期 member of the household.
                Scheme::Kokuho => (PersonalFamily::Personal, head_name.clone()),
                _ if i == 0 => (PersonalFamily::Personal, Some(insured_name.clone())),
                _ => (PersonalFamily::Family, Some(insured_name.clone())),
            };
            let valid_from = joined.max(p.birth);
            let branch = u8::try_from(i + 1).unwrap_or(99);
            let q = self.qualification(
                home,
                p,
                &card,
                Some(branch),
                personal_family,
                insured,
                valid_from,
            );
            self.pending.push_back((card.insurer, q));
        }
    }

    /// The card a household's working-age members share.
    fn card(&mut self, home: &Home, scheme: Scheme, worker_age: i32) -> Card {
        let pref = &self.prefectures[home.prefecture];
        let (kyokai, kokuho, kokuho_kumiai, mutual_aid) = (
            pref.kyokai,
            pref.kokuho.get(home.city).copied().unwrap_or(pref.kyokai),
            pref.kokuho_kumiai,
            pref.mutual_aid,
        );
        let serial = self.serial;
        let mut kind = CardKind::General;
        let mut valid_to = None;
        let (insurer, symbol, number) = match scheme {
            Scheme::Kyokai => (
                kyokai,
                Some(self.digits(8)),
                card_number(serial, 1_000_000).to_string(),
            ),
            Scheme::Kumiai => {
                let insurer = self.kumiai[self.rng.random_range(0..self.kumiai.len())];
                if worker_age >= 60 && self.chance(5.0) {
                    kind = CardKind::SpecialRetired;
                }
                let symbol = format!("{}", self.rng.random_range(1..10_000));
                (
                    insurer,
                    Some(symbol),
                    card_number(serial, 1_000_000).to_string(),
                )
            }
            Scheme::MutualAid => {
                let insurer = if self.chance(25.0) {
                    self.national_mutual_aid
                        [self.rng.random_range(0..self.national_mutual_aid.len())]
                } else {
                    self.pick(&mutual_aid)
                };
                (
                    insurer,
                    Some(self.digits(5)),
                    card_number(serial, 10_000_000).to_string(),
                )
            }
            Scheme::Kokuho => {
                let insurer = if worker_age >= 30 && self.chance(3.0) {
                    kokuho_kumiai
                } else {
                    kokuho
                };
                // 国保 symbols often mix a kanji of the municipality, a kana
                // and digits (the manual shows 札あ10).
                let symbol = if self.rng.random_bool(0.5) {
                    let city = data::CITIES[home.prefecture]
                        .get(home.city)
                        .map_or("市", |c| c.0);
                    let first = city.chars().next().unwrap_or('市');
                    let kana = self.pick(&['あ', 'い', 'う', 'か', 'き', 'さ', 'た', 'な']);
                    format!("{first}{kana}{}", self.rng.random_range(1..100))
                } else {
                    self.digits(3)
                };
                let roll = self.rng.random_range(0..1000);
                if roll < 15 {
                    // 短期被保険者証 for arrears: valid a few months; one in
                    // ten has already run out.
                    kind = if worker_age >= 60 && roll < 4 {
                        CardKind::ShortTermRetired
                    } else {
                        CardKind::ShortTermGeneral
                    };
                    let months = if roll % 10 == 0 {
                        -2
                    } else {
                        self.rng.random_range(1..=6)
                    };
                    valid_to = add_months(self.reference_date, months).map(Date::last_of_month);
                } else if roll < 18 {
                    kind = CardKind::QualificationCertificate;
                }
                (
                    insurer,
                    Some(symbol),
                    format!("{:07}", card_number(serial, 10_000_000)),
                )
            }
        };
        Card {
            insurer,
            kind,
            symbol,
            number,
            valid_to,
            reason_of_loss: None,
        }
    }

    /// When an adult born on `birth` joined their current scheme: some time
    /// in the last 25 years, not before age 18, on the 1st of a month.
    fn joined(&mut self, birth: Date) -> Date {
        let years_ago = self.rng.random_range(0..25);
        let month = self.rng.random_range(1..=12);
        let joined = Date::new(self.reference_date.year() - years_ago, month, 1)
            .unwrap_or(self.reference_date);
        let adult = anniversary(birth, 18);
        joined.max(adult).min(self.reference_date)
    }

    /// Mark a whole card as lost on a day in the past two years.
    fn lose(&mut self, card: &mut Card, joined: Date, reason: ReasonOfLoss) {
        let days = self.rng.random_range(1..730);
        let end = add_days(self.reference_date, -days).max(joined);
        card.valid_to = Some(end);
        card.reason_of_loss = Some(reason);
    }

    /// The record of the job before the current one (協会けんぽ), lost with
    /// 医療保険等の資格取得 the day before `joined`.
    fn previous_job(&mut self, home: &Home, worker: &Person, joined: Date) {
        let Some(end) = joined.yesterday().ok() else {
            return;
        };
        let start = self.joined(worker.birth).min(end);
        let card = Card {
            insurer: self.prefectures[home.prefecture].kyokai,
            kind: CardKind::General,
            symbol: Some(self.digits(8)),
            number: card_number(self.serial + 500_000, 1_000_000).to_string(),
            valid_to: Some(end),
            reason_of_loss: Some(ReasonOfLoss::OtherInsurance),
        };
        let q = self.qualification(
            home,
            worker,
            &card,
            Some(1),
            PersonalFamily::Personal,
            Some(worker.name()),
            start,
        );
        self.pending.push_back((card.insurer, q));
    }

    /// A 後期高齢者 record (and sometimes the 国保 record it replaced).
    fn late_elderly(&mut self, home: &Home, p: &Person) {
        let pref = &self.prefectures[home.prefecture];
        let (insurer, kokuho) = (
            pref.late_elderly,
            pref.kokuho.get(home.city).copied().unwrap_or(pref.kyokai),
        );
        self.late_serial += 1;
        let turned_75 = anniversary(p.birth, 75);
        let valid_from = turned_75.max(LATE_ELDERLY_START);
        let mut card = Card {
            insurer,
            kind: CardKind::General,
            symbol: None,
            number: format!("{:08}", card_number(self.late_serial, 100_000_000)),
            valid_to: None,
            reason_of_loss: None,
        };
        if self.chance(1.5) {
            let days = self.rng.random_range(1..400);
            card.valid_to = Some(add_days(self.reference_date, -days).max(valid_from));
            card.reason_of_loss = Some(ReasonOfLoss::Death);
        }
        // The 国保 record that ended when 後期 began, for recent arrivals.
        if turned_75 > LATE_ELDERLY_START
            && age_on(p.birth, self.reference_date) < 80
            && self.chance(30.0)
            && let Ok(end) = turned_75.yesterday()
        {
            let old = Card {
                insurer: kokuho,
                kind: CardKind::General,
                symbol: Some(self.digits(3)),
                number: format!("{:07}", card_number(self.serial + 3_000_000, 10_000_000)),
                valid_to: Some(end),
                reason_of_loss: Some(ReasonOfLoss::OtherInsurance),
            };
            let start = self.joined(p.birth).min(end);
            let q = self.qualification(
                home,
                p,
                &old,
                Some(1),
                PersonalFamily::Personal,
                Some(p.name()),
                start,
            );
            self.pending.push_back((old.insurer, q));
        }
        let mut q = self.qualification(
            home,
            p,
            &card,
            None,
            PersonalFamily::Personal,
            Some(p.name()),
            valid_from,
        );
        // 1割 for most, 2割 (一定以上所得, since 2022-10) and 3割 (現役並み).
        q.copayment_ratio = Some(match self.rng.random_range(0..100) {
            0..72 => CoPaymentRatio::TEN,
            72..92 => CoPaymentRatio::TWENTY,
            _ => CoPaymentRatio::THIRTY,
        });
        self.pending.push_back((card.insurer, q));
    }

    /// Build one record.
    #[allow(clippy::too_many_arguments)]
    fn qualification(
        &mut self,
        home: &Home,
        p: &Person,
        card: &Card,
        branch: Option<u8>,
        personal_family: PersonalFamily,
        insured_name: Option<String>,
        valid_from: Date,
    ) -> Qualification {
        let today = self.reference_date;
        let (insurer_number, insurer_name) = {
            let insurer = &self.insurers[card.insurer];
            (insurer.number, insurer.name.clone())
        };
        // A loss date earlier than the start would be meaningless.
        let valid_from = match card.valid_to {
            Some(end) if end < valid_from => end,
            _ => valid_from,
        };
        let issuance_date = add_days(valid_from, self.rng.random_range(0..14)).min(today);
        // Rarely the card front shows 未設定 and the back the registered sex
        // (性別表記の配慮).
        let (sex1, sex2) = if self.rng.random_bool(0.001) {
            (Sex::Unset, Some(p.sex))
        } else {
            (p.sex, None)
        };
        let (name, kana, other, other_kana) = match p.foreign {
            Some(_) => (
                p.name(),
                p.kana(),
                Some(format!("{}\u{3000}{}", p.family.0, p.given.0)),
                Some(format!("{}\u{3000}{}", p.family.1, p.given.1)),
            ),
            None => (p.name(), p.kana(), None, None),
        };
        let age = age_on(p.birth, today);
        let elderly = if (70..75).contains(&age) && insurer_number.law_code() != Some("39") {
            let start = elderly_start(p.birth);
            Some(ElderlyCertificate {
                certificate_date: Some(add_days(start, -self.rng.random_range(10..40))),
                valid_start: Some(start),
                valid_end: anniversary(p.birth, 75).yesterday().ok(),
                ratio: Some(if self.chance(20.0) {
                    CoPaymentRatio::THIRTY
                } else {
                    CoPaymentRatio::TWENTY
                }),
            })
        } else {
            None
        };
        Qualification {
            card_kind: card.kind,
            insurer_number,
            insurer_name,
            symbol: card.symbol.clone(),
            number: card.number.clone(),
            branch: branch.map(|b| format!("{b:02}")),
            personal_family,
            insured_name,
            name,
            name_kana: kana,
            name_of_other: other,
            name_of_other_kana: other_kana,
            sex1,
            sex2,
            birth_date: p.birth,
            address: home.address.clone(),
            post_number: home.post_number.clone(),
            issuance_date: Some(issuance_date),
            valid_from,
            valid_to: card.valid_to,
            reason_of_loss: card.reason_of_loss,
            copayment_ratio: None,
            elderly,
            preschool: is_preschool(p.birth, today).then_some(PreschoolClassification::Preschool),
        }
    }
}

impl Iterator for Generator {
    type Item = (Insurer, Qualification);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((insurer, q)) = self.pending.pop_front() {
                return Some((self.insurers[insurer].clone(), q));
            }
            self.fill();
        }
    }
}

/// `都道府県` without the suffix, as 支部 names use it (東京都 → 東京,
/// 北海道 stays).
fn pref_short(pref: &str) -> &str {
    if pref == "北海道" {
        return pref;
    }
    pref.strip_suffix(['都', '府', '県']).unwrap_or(pref)
}

/// The municipality that runs 国保 for a city entry: a 政令市's ward belongs
/// to the city (札幌市中央区 → 札幌市); Tokyo's special wards run their own.
fn municipality(city: &str) -> &str {
    match city.find('市') {
        Some(i) if city.ends_with('区') => &city[..i + '市'.len_utf8()],
        _ => city,
    }
}

/// A card 番号 for the `serial`th card: `serial` scrambled so numbers look
/// random, yet distinct for every serial below `modulus` (multiplying by a
/// number coprime to the power of ten `modulus` is a bijection modulo it).
/// The offsets callers add keep history cards apart from current ones.
fn card_number(serial: u64, modulus: u64) -> u64 {
    serial.wrapping_mul(7919).wrapping_add(104_729) % modulus
}

fn add_days(d: Date, days: i64) -> Date {
    Span::new()
        .try_days(days)
        .ok()
        .and_then(|span| d.checked_add(span).ok())
        .unwrap_or(d)
}

fn add_months(d: Date, months: i64) -> Option<Date> {
    d.checked_add(Span::new().try_months(months).ok()?).ok()
}

/// The `years`th birthday (2月29日 → 3月1日 in common years).
fn anniversary(birth: Date, years: i16) -> Date {
    let year = birth.year().saturating_add(years);
    Date::new(year, birth.month(), birth.day())
        .or_else(|_| Date::new(year, 3, 1))
        .unwrap_or(birth)
}

/// 高齢受給者 treatment starts on the 1st of the month after the 70th
/// birthday's month, or in that month when the birthday is the 1st
/// (DOMAIN §3).
fn elderly_start(birth: Date) -> Date {
    let seventieth = anniversary(birth, 70);
    if birth.day() == 1 {
        seventieth.first_of_month()
    } else {
        add_months(seventieth.first_of_month(), 1).unwrap_or(seventieth)
    }
}

/// The records the operating manual (seed 004) shows, with the facts it
/// gives; what it does not show is filled in and marked below.
///
/// 1. 新橋 太郎, 昭和29年3月26日, 男, 東京新橋サンプル保険者 06139000,
///    記号 9000 番号 10001 枝番 01, 本人, 通称 新橋 他太郎, 〒151-1234
///    東京都港区〇〇5丁目500-1, valid from 令和2年1月1日 (detail screen).
/// 2. 新橋 太郎, same birth date and sex, 北海道新聞社健康保険組合, address
///    starting 東京都足立区皇居裏1 (the list shows only 10 characters).
///    Invented: insurer number 06010276 (a valid 06/北海道 number), 記号・番号,
///    the rest of the address, postal code, dates.
/// 3. 資格 三郎, 平成2年1月3日, 男, insurer 019904 (check digit wrong in the
///    manual) named `*`, 記号 札あ10 番号 003 枝番 01, 喪失事由 その他,
///    平成24年4月1日–令和3年3月31日, no address or postal code (the screen
///    "郵便番号、住所が表示されない画面例"). Invented: kana.
/// 4. 佐藤 十五太, 平成3年4月22日, 男, 02199990 全国健康保険協会 ○●船員保険部,
///    記号 102000 番号 1020001 枝番 01, shown as invalid. Invented: the
///    reading, dates and reason that make it invalid on 2021-01-19.
///
/// Kana readings are the obvious ones and are not shown in the manual.
pub fn seed_examples() -> Vec<(Insurer, Qualification)> {
    let shimbashi = Insurer {
        number: InsurerNumber::literal("06139000"),
        name: "東京新橋サンプル保険者".into(),
    };
    let hokkaido_shimbun = Insurer {
        number: InsurerNumber::with_check_digit(b"0601027"),
        name: "北海道新聞社健康保険組合".into(),
    };
    let shikaku = Insurer {
        number: InsurerNumber::literal("019904"),
        name: "*".into(),
    };
    let senin = Insurer {
        number: InsurerNumber::literal("02199990"),
        name: "全国健康保険協会 ○●船員保険部".into(),
    };
    let taro = |insurer: &Insurer| Qualification {
        card_kind: CardKind::General,
        insurer_number: insurer.number,
        insurer_name: insurer.name.clone(),
        symbol: Some("9000".into()),
        number: "10001".into(),
        branch: Some("01".into()),
        personal_family: PersonalFamily::Personal,
        insured_name: Some("新橋\u{3000}太郎".into()),
        name: "新橋\u{3000}太郎".into(),
        name_kana: "シンバシ\u{3000}タロウ".into(),
        name_of_other: Some("新橋\u{3000}他太郎".into()),
        name_of_other_kana: Some("シンバシ\u{3000}タタロウ".into()),
        sex1: Sex::Male,
        sex2: None,
        birth_date: date(1954, 3, 26),
        address: Some("東京都港区〇〇5丁目500-1".into()),
        post_number: Some("1511234".into()),
        issuance_date: Some(date(2019, 12, 20)),
        valid_from: date(2020, 1, 1),
        valid_to: None,
        reason_of_loss: None,
        copayment_ratio: None,
        elderly: None,
        preschool: None,
    };
    let first = taro(&shimbashi);
    let second = Qualification {
        symbol: Some("27".into()),
        number: "3051".into(),
        name_of_other: None,
        name_of_other_kana: None,
        address: Some("東京都足立区皇居裏1-2-3".into()),
        post_number: Some("1200001".into()),
        issuance_date: Some(date(2019, 4, 1)),
        valid_from: date(2019, 4, 1),
        ..taro(&hokkaido_shimbun)
    };
    let saburo = Qualification {
        card_kind: CardKind::General,
        insurer_number: shikaku.number,
        insurer_name: shikaku.name.clone(),
        symbol: Some("札あ10".into()),
        number: "003".into(),
        branch: Some("01".into()),
        personal_family: PersonalFamily::Personal,
        insured_name: Some("資格\u{3000}三郎".into()),
        name: "資格\u{3000}三郎".into(),
        name_kana: "シカク\u{3000}サブロウ".into(),
        name_of_other: None,
        name_of_other_kana: None,
        sex1: Sex::Male,
        sex2: None,
        birth_date: date(1990, 1, 3),
        address: None,
        post_number: None,
        issuance_date: Some(date(2012, 4, 1)),
        valid_from: date(2012, 4, 1),
        valid_to: Some(date(2021, 3, 31)),
        reason_of_loss: Some(ReasonOfLoss::Other),
        copayment_ratio: None,
        elderly: None,
        preschool: None,
    };
    let sato = Qualification {
        insurer_number: senin.number,
        insurer_name: senin.name.clone(),
        symbol: Some("102000".into()),
        number: "1020001".into(),
        insured_name: Some("佐藤\u{3000}十五太".into()),
        name: "佐藤\u{3000}十五太".into(),
        name_kana: "サトウ\u{3000}ジュウゴタ".into(),
        birth_date: date(1991, 4, 22),
        issuance_date: Some(date(2013, 4, 1)),
        valid_from: date(2013, 4, 1),
        valid_to: Some(date(2020, 12, 31)),
        reason_of_loss: Some(ReasonOfLoss::OtherInsurance),
        ..saburo.clone()
    };
    vec![
        (shimbashi, first),
        (hokkaido_shimbun, second),
        (shikaku, saburo),
        (senin, sato),
    ]
}

/// The demo's case of more than five hits (seed 004: 該当件数が 5 件を超える場合は一覧表示
/// できません): six qualifications of one 高橋 花子, born 昭和60年7月7日, female, over a
/// working life in 東京都 — employers' 健保組合 one after another, a spell of 国保, and
/// the current card. A search by 高橋花子 / 昭和60年7月7日 / 女性 / 住所 東京都 finds all six
/// and must be narrowed (保険者名 「協会」 leaves the current card). Names and numbers are
/// made up.
pub fn crowded_examples() -> Vec<(Insurer, Qualification)> {
    let insurers = [
        (&b"0613101"[..], "つなぐ商事健康保険組合"),
        (&b"0613102"[..], "東京サンプル製作所健康保険組合"),
        (&b"0613103"[..], "新宿サンプル百貨店健康保険組合"),
        (&b"13101"[..], "千代田区"),
        (&b"0613104"[..], "品川サンプル物流健康保険組合"),
        (&b"0113001"[..], "全国健康保険協会 東京支部"),
    ];
    let addresses = [
        "東京都世田谷区桜丘1-2-3",
        "東京都世田谷区桜丘1-2-3",
        "東京都新宿区西新宿2-8-1",
        "東京都千代田区神田3-4-5",
        "東京都品川区大井6-7-8",
        "東京都品川区大井6-7-8",
    ];
    // Each card ran until the next began; the last is current.
    let starts = [
        date(2007, 4, 1),
        date(2011, 10, 1),
        date(2015, 4, 1),
        date(2018, 7, 1),
        date(2019, 4, 1),
        date(2023, 4, 1),
    ];
    insurers
        .iter()
        .enumerate()
        .map(|(i, (body, name))| {
            let insurer = Insurer {
                number: InsurerNumber::with_check_digit(body),
                name: (*name).to_string(),
            };
            let next = starts.get(i + 1).copied();
            let q = Qualification {
                card_kind: CardKind::General,
                insurer_number: insurer.number,
                insurer_name: insurer.name.clone(),
                symbol: Some(format!("{}", 700 + i)),
                number: format!("{}", 20_001 + i),
                branch: Some("01".into()),
                personal_family: PersonalFamily::Personal,
                insured_name: Some("高橋\u{3000}花子".into()),
                name: "高橋\u{3000}花子".into(),
                name_kana: "タカハシ\u{3000}ハナコ".into(),
                name_of_other: None,
                name_of_other_kana: None,
                sex1: Sex::Female,
                sex2: None,
                birth_date: date(1985, 7, 7),
                address: Some(addresses[i].into()),
                post_number: Some(format!("15600{:02}", 10 + i)),
                issuance_date: Some(starts[i]),
                valid_from: starts[i],
                valid_to: next.map(|d| add_days(d, -1)),
                reason_of_loss: next.map(|_| ReasonOfLoss::OtherInsurance),
                copayment_ratio: None,
                elderly: None,
                preschool: None,
            };
            (insurer, q)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::Validity;
    use std::collections::{HashMap, HashSet};
    use tsunagu_calendar::is_katakana;

    fn sample(seed: u64, n: usize) -> Vec<(Insurer, Qualification)> {
        Generator::new(seed).take(n).collect()
    }

    #[test]
    fn deterministic() {
        assert_eq!(sample(42, 2000), sample(42, 2000));
        assert_ne!(sample(42, 50), sample(43, 50));
        let other_day: Vec<_> = Generator::with_reference_date(42, date(2030, 1, 1))
            .take(50)
            .collect();
        assert_ne!(other_day, sample(42, 50));
    }

    #[test]
    fn insurers_are_valid_and_distinct() {
        let g = Generator::new(1);
        let mut numbers = HashSet::new();
        for insurer in g.insurers() {
            assert!(insurer.number.has_valid_check_digit(), "{insurer:?}");
            assert!(numbers.insert(insurer.number), "duplicate {insurer:?}");
            assert!(!insurer.name.is_empty());
        }
        let n = |s: &str| InsurerNumber::parse(s).unwrap();
        let find = |num: InsurerNumber| g.insurers().iter().find(|i| i.number == num).cloned();
        // 協会けんぽ 東京支部 is 01130012 in real life too.
        assert_eq!(
            find(n("01130012")).unwrap().name,
            "全国健康保険協会 東京支部"
        );
        let late = g
            .insurers()
            .iter()
            .find(|i| i.name == "東京都後期高齢者医療広域連合")
            .unwrap();
        assert_eq!(late.number.law_code(), Some("39"));
        assert_eq!(late.number.prefecture_code(), "13");
        let sapporo = g.insurers().iter().find(|i| i.name == "札幌市").unwrap();
        assert!(sapporo.number.is_kokuho());
        assert_eq!(sapporo.number.prefecture_code(), "01");
        assert_eq!(pref_short("北海道"), "北海道");
        assert_eq!(pref_short("京都府"), "京都");
        assert_eq!(municipality("港区"), "港区");
        assert_eq!(municipality("北九州市小倉北区"), "北九州市");
    }

    #[test]
    fn records_are_well_formed() {
        let g = Generator::new(3);
        let today = g.reference_date();
        for (insurer, q) in g.take(20_000) {
            assert_eq!(q.insurer_number, insurer.number);
            assert_eq!(q.insurer_name, insurer.name);
            assert!(q.insurer_number.has_valid_check_digit());
            assert!(is_katakana(&q.name_kana), "{}", q.name_kana);
            assert!(
                q.name.contains('\u{3000}') || q.name_of_other.is_some(),
                "{}",
                q.name
            );
            assert!(q.birth_date <= today);
            assert!(q.valid_from >= q.birth_date, "{q:?}");
            if let Some(to) = q.valid_to {
                assert!(to >= q.valid_from, "{q:?}");
            }
            if let Some(address) = &q.address {
                let pref = q.insurer_number.prefecture_name().unwrap();
                // Employees of national insurers may live anywhere; 国保 and
                // 後期 are run where one lives.
                if q.insurer_number.is_kokuho() || q.is_late_elderly() {
                    assert!(address.starts_with(pref), "{address} / {pref}");
                }
                let post = q.post_number.as_deref().unwrap();
                assert!(post.len() == 7 && post.bytes().all(|b| b.is_ascii_digit()));
            } else {
                assert_eq!(q.post_number, None);
            }
            if q.is_late_elderly() {
                assert!(q.age_at(q.valid_from) >= 75, "{q:?}");
                assert_eq!(q.symbol, None);
                assert_eq!(q.branch, None);
                assert!(q.copayment_ratio.is_some());
            } else {
                assert!(q.copayment_ratio.is_none());
                let branch = q.branch.as_deref().unwrap();
                assert!(
                    crate::insurer::validate_branch(branch).unwrap().as_deref() == Some(branch)
                );
            }
            assert!(crate::insurer::validate_number(&q.number).is_ok());
            if let Some(symbol) = &q.symbol {
                assert!(crate::insurer::validate_symbol(symbol).is_ok(), "{symbol}");
            }
            if let Some(e) = &q.elderly {
                let start = e.valid_start.unwrap();
                assert_eq!(start.day(), 1);
                assert!(q.age_at(start) >= 69, "{q:?}");
                assert!((70..75).contains(&q.age_at(today)));
            }
            assert_eq!(q.preschool.is_some(), is_preschool(q.birth_date, today));
        }
    }

    #[test]
    fn population_covers_the_cases_the_service_must_handle() {
        let g = Generator::new(5);
        let today = g.reference_date();
        let records: Vec<Qualification> = g.take(50_000).map(|(_, q)| q).collect();
        let count = |f: &dyn Fn(&Qualification) -> bool| records.iter().filter(|q| f(q)).count();

        let prefectures: HashSet<&str> = records
            .iter()
            .filter_map(|q| q.address.as_deref())
            .filter_map(|a| PREFECTURES.iter().find(|p| a.starts_with(**p)).copied())
            .collect();
        assert_eq!(prefectures.len(), 47);

        assert!(count(&|q| q.is_preschool_at(today)) > 500);
        assert!(count(&|q| q.elderly.is_some()) > 500);
        assert!(
            count(&|q| q.elderly.as_ref().and_then(|e| e.ratio) == Some(CoPaymentRatio::THIRTY))
                > 50
        );
        for ratio in [
            CoPaymentRatio::TEN,
            CoPaymentRatio::TWENTY,
            CoPaymentRatio::THIRTY,
        ] {
            assert!(
                count(&|q| q.copayment_ratio == Some(ratio)) > 100,
                "{ratio}"
            );
        }
        for reason in ReasonOfLoss::ALL {
            assert!(
                count(&|q| q.reason_of_loss == Some(*reason)) > 10,
                "{reason}"
            );
        }
        assert!(count(&|q| q.card_kind == CardKind::ShortTermGeneral) > 50);
        assert!(count(&|q| q.card_kind == CardKind::ShortTermRetired) > 0);
        assert!(count(&|q| q.card_kind == CardKind::QualificationCertificate) > 0);
        assert!(count(&|q| q.card_kind == CardKind::SpecialRetired) > 0);
        assert!(count(&|q| q.is_short_term() && q.valid_to.is_some_and(|d| d < today)) > 0);
        assert!(count(&|q| q.name_of_other.is_some()) > 20);
        assert!(count(&|q| q.sex2.is_some()) > 0);
        assert!(count(&|q| q.address.is_none()) > 1000);
        let valid = count(&|q| q.validity_at(today) == Validity::Valid);
        assert!(valid * 100 / records.len() > 85, "mostly valid: {valid}");

        // Families share 記号・番号 with distinct 枝番 and one 本人.
        let mut cards: HashMap<(String, Option<String>, String), Vec<&Qualification>> =
            HashMap::new();
        for q in &records {
            cards
                .entry((
                    q.insurer_number.to_string(),
                    q.symbol.clone(),
                    q.number.clone(),
                ))
                .or_default()
                .push(q);
        }
        let families: Vec<_> = cards
            .values()
            .filter(|m| {
                m.iter()
                    .any(|q| q.personal_family == PersonalFamily::Family)
            })
            .collect();
        assert!(families.len() > 1000);
        for members in families {
            let branches: HashSet<_> = members.iter().map(|q| q.branch.clone()).collect();
            assert_eq!(branches.len(), members.len());
            let selves = members
                .iter()
                .filter(|q| q.personal_family == PersonalFamily::Personal)
                .count();
            assert_eq!(selves, 1);
            let insured: HashSet<_> = members.iter().map(|q| q.insured_name.clone()).collect();
            assert_eq!(insured.len(), 1);
        }

        // Some people have a lost record followed by a current one.
        let mut by_person: HashMap<(String, Date), Vec<&Qualification>> = HashMap::new();
        for q in &records {
            by_person
                .entry((q.name.clone(), q.birth_date))
                .or_default()
                .push(q);
        }
        let changed = by_person
            .values()
            .filter(|v| {
                v.iter()
                    .any(|q| q.reason_of_loss == Some(ReasonOfLoss::OtherInsurance))
                    && v.iter().any(|q| q.validity_at(today) == Validity::Valid)
            })
            .count();
        assert!(changed > 100);
    }

    #[test]
    fn seed_examples_match_the_manual() {
        let examples = seed_examples();
        assert_eq!(examples.len(), 4);
        for (insurer, q) in &examples {
            assert_eq!(q.insurer_number, insurer.number);
            assert_eq!(q.insurer_name, insurer.name);
        }
        let (first, q1) = &examples[0];
        assert_eq!(first.number.as_str(), "06139000");
        assert!(first.number.has_valid_check_digit());
        assert_eq!(q1.name, "新橋\u{3000}太郎");
        assert_eq!(
            tsunagu_calendar::to_wareki(q1.birth_date)
                .unwrap()
                .to_string(),
            "昭和29年3月26日"
        );
        assert_eq!(q1.post_number_display().as_deref(), Some("151-1234"));
        let (second, q2) = &examples[1];
        assert_eq!(second.number.as_str(), "06010276");
        assert!(second.number.has_valid_check_digit());
        assert_eq!(second.number.prefecture_name(), Some("北海道"));
        assert_eq!(second.number.law_code(), Some("06"));
        assert_eq!((q2.birth_date, q2.sex1), (q1.birth_date, q1.sex1));
        assert!(
            q2.address
                .as_deref()
                .unwrap()
                .starts_with("東京都足立区皇居裏1")
        );

        let check = date(2021, 1, 19);
        assert_eq!(q1.validity_at(check), Validity::Valid);
        assert_eq!(q2.validity_at(check), Validity::Valid);
        let (shikaku, q3) = &examples[2];
        assert!(!shikaku.number.has_valid_check_digit());
        assert_eq!(q3.validity_at(check), Validity::Valid);
        assert_eq!(q3.reason_of_loss.map(|r| r.name()), Some("その他"));
        let (senin, q4) = &examples[3];
        assert!(senin.number.has_valid_check_digit());
        assert_eq!(q4.validity_at(check), Validity::Invalid);
    }

    #[test]
    fn crowded_examples_are_more_than_five_hits_of_one_search() {
        use crate::search::{FourFactsInput, MAX_LISTED, SearchOutcome};
        let examples = crowded_examples();
        assert!(examples.len() > MAX_LISTED);
        let q = FourFactsInput {
            name: "高橋花子".into(),
            birth_calendar: "昭和".into(),
            birth_year: "60".into(),
            birth_month: "7".into(),
            birth_day: "7".into(),
            sex: "2".into(),
            address: "東京都".into(),
            ..FourFactsInput::default()
        }
        .validate(date(2026, 1, 1))
        .unwrap();
        let hits = examples.iter().filter(|(_, r)| q.matches(r)).count();
        assert_eq!(hits, examples.len());
        assert!(matches!(
            SearchOutcome::from_hits(hits),
            SearchOutcome::TooMany { .. }
        ));
        for (insurer, r) in &examples {
            assert!(
                insurer.number.has_valid_check_digit(),
                "{}",
                insurer.number.as_str()
            );
            assert_eq!(r.insurer_number, insurer.number);
        }
        // Exactly one is current, so a narrowed search leads somewhere.
        let today = date(2026, 1, 1);
        assert_eq!(
            examples
                .iter()
                .filter(|(_, r)| r.validity_at(today) == Validity::Valid)
                .count(),
            1
        );
    }

    #[test]
    fn date_helpers() {
        assert_eq!(elderly_start(date(1955, 4, 2)), date(2025, 5, 1));
        assert_eq!(elderly_start(date(1955, 4, 1)), date(2025, 4, 1));
        assert_eq!(elderly_start(date(1955, 12, 15)), date(2026, 1, 1));
        assert_eq!(anniversary(date(1952, 2, 29), 75), date(2027, 3, 1));
        assert_eq!(add_days(date(2025, 1, 1), -1), date(2024, 12, 31));
        assert_eq!(add_months(date(2025, 1, 31), 1), Some(date(2025, 2, 28)));
    }
}
