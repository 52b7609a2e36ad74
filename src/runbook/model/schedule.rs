//! `schedule:` as written: a cron expression per job that `opsbook serve`
//! runs, jobs named as typed (`backup prune`, `run NAME`) or with dashes,
//! read by a deserializer of its own so that both spellings are one job.

use indexmap::IndexMap;
use serde::Deserialize;

use super::Name;

/// `schedule:`: a cron expression per job (five fields, or six with
/// seconds first), read in `timezone` (default: the host's). Jobs are
/// named as typed (`backup prune`, `run weekly-vacuum`) or with dashes
/// (`backup-prune`, `procedures: { weekly-vacuum: … }`).
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    /// An IANA time zone (`Europe/Berlin`).
    pub timezone: Option<Name>,
    pub daily_check: Option<Name>,
    pub backup: Option<Name>,
    pub backup_prune: Option<Name>,
    pub backup_drill: Option<Name>,
    /// Named procedures (`opsbook run NAME --yes`).
    pub procedures: IndexMap<String, Name>,
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = Schedule;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of jobs to cron expressions")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Schedule, A::Error> {
                let mut schedule = Schedule::default();
                while let Some(key) = map.next_key::<String>()? {
                    let slot = match key.as_str() {
                        "timezone" => &mut schedule.timezone,
                        "daily-check" => &mut schedule.daily_check,
                        "backup" => &mut schedule.backup,
                        "backup-prune" | "backup prune" => &mut schedule.backup_prune,
                        "backup-drill" | "backup drill" => &mut schedule.backup_drill,
                        "procedures" => {
                            let more: IndexMap<String, Name> = map.next_value()?;
                            schedule.procedures.extend(more);
                            continue;
                        }
                        other => match other.strip_prefix("run ") {
                            Some(name) => {
                                let expression: Name = map.next_value()?;
                                schedule
                                    .procedures
                                    .insert(name.trim().to_string(), expression);
                                continue;
                            }
                            None => {
                                return Err(serde::de::Error::custom(format!(
                                    "unknown job `{other}`: use timezone, daily-check, backup, backup prune, backup drill, run NAME or procedures"
                                )));
                            }
                        },
                    };
                    *slot = Some(map.next_value()?);
                }
                Ok(schedule)
            }
        }
        deserializer.deserialize_map(Keys)
    }
}
