//! `backup.keep`: which backups survive a prune. A backup is kept if any
//! rule keeps it: the newest `last`, and the newest backup of each of the
//! newest `daily` days, `weekly` ISO weeks and `monthly` months (UTC). The
//! newest backup is always kept, whatever the rules say: a prune never
//! leaves nothing to restore.

use std::collections::BTreeSet;

use crate::runbook::model::Keep;

/// The calendar period a date falls in: (year, day / ISO week / month).
type PeriodOf = fn(jiff::civil::Date) -> (i32, i32);

/// The indexes (into `created`, any order) of the backups to keep.
pub(crate) fn keep(created: &[jiff::Timestamp], rules: Keep) -> BTreeSet<usize> {
    let mut newest_first: Vec<usize> = (0..created.len()).collect();
    newest_first.sort_by(|a, b| created[*b].cmp(&created[*a]));
    // At least one: the newest backup is never pruned.
    let last = rules.last.unwrap_or(0).max(1) as usize;
    let mut kept: BTreeSet<usize> = newest_first.iter().take(last).copied().collect();
    let periods: [(Option<u32>, PeriodOf); 3] = [
        (rules.daily, |d| {
            (i32::from(d.year()), i32::from(d.day_of_year()))
        }),
        (rules.weekly, |d| {
            let week = d.iso_week_date();
            (i32::from(week.year()), i32::from(week.week()))
        }),
        (rules.monthly, |d| {
            (i32::from(d.year()), i32::from(d.month()))
        }),
    ];
    for (count, period_of) in periods {
        let Some(count) = count else { continue };
        let mut seen = BTreeSet::new();
        for &index in &newest_first {
            let date = created[index].to_zoned(jiff::tz::TimeZone::UTC).date();
            if seen.len() >= count as usize {
                break;
            }
            if seen.insert(period_of(date)) {
                kept.insert(index);
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    fn rules(last: u32, daily: u32, weekly: u32, monthly: u32) -> Keep {
        let some = |n: u32| (n > 0).then_some(n);
        Keep {
            last: some(last),
            daily: some(daily),
            weekly: some(weekly),
            monthly: some(monthly),
        }
    }

    #[test]
    fn last_keeps_the_newest() {
        let created = [
            at("2026-11-01T06:00:00Z"),
            at("2026-11-03T06:00:00Z"),
            at("2026-11-02T06:00:00Z"),
        ];
        assert_eq!(keep(&created, rules(2, 0, 0, 0)), BTreeSet::from([1, 2]));
    }

    #[test]
    fn the_newest_backup_is_kept_whatever_the_rules() {
        let created = [
            at("2026-11-01T06:00:00Z"),
            at("2026-11-03T06:00:00Z"),
            at("2026-11-02T06:00:00Z"),
        ];
        assert_eq!(keep(&created, rules(0, 0, 0, 0)), BTreeSet::from([1]));
        assert_eq!(keep(&created, Keep::default()), BTreeSet::from([1]));
        assert!(keep(&[], rules(0, 0, 0, 0)).is_empty());
    }

    #[test]
    fn daily_keeps_the_newest_of_each_day() {
        let created = [
            at("2026-11-03T06:00:00Z"),
            at("2026-11-03T18:00:00Z"),
            at("2026-11-02T06:00:00Z"),
            at("2026-11-01T06:00:00Z"),
        ];
        assert_eq!(keep(&created, rules(0, 2, 0, 0)), BTreeSet::from([1, 2]));
    }

    #[test]
    fn weekly_and_monthly_reach_further_back() {
        let created = [
            at("2026-11-20T06:00:00Z"),
            at("2026-11-10T06:00:00Z"),
            at("2026-11-09T06:00:00Z"),
            at("2026-10-15T06:00:00Z"),
            at("2026-09-15T06:00:00Z"),
        ];
        // The 20th is in ISO week 47; the 10th and the 9th (a Monday) both in week 46.
        assert_eq!(keep(&created, rules(0, 0, 2, 0)), BTreeSet::from([0, 1]));
        assert_eq!(keep(&created, rules(0, 0, 0, 3)), BTreeSet::from([0, 3, 4]));
        // Any rule keeping a backup keeps it.
        assert_eq!(keep(&created, rules(1, 0, 0, 3)), BTreeSet::from([0, 3, 4]));
    }
}
