//! Service-level objectives read from ODCS `slaProperties`.
//!
//! ODCS leaves SLA property names open ("there is no limit on the type of properties"),
//! so a property Accord does not know is kept and not checked. The ones Accord knows,
//! named as in the ODCS SLA vocabulary where it has a name, are checked for a numeric
//! value and a unit of the right dimension:
//!
//! | property | meaning for a stream | units |
//! | --- | --- | --- |
//! | `freshness` | maximum consumer-visible lag: age of the newest record a consumer can read | `ms`, `s`, `m`, `h`, `d` |
//! | `latency` | end-to-end latency, event time to availability on the stream | `ms`, `s`, `m`, `h`, `d` |
//! | `availability` | share of time the stream accepts and serves records | `%` (`percent`) |
//! | `retention` | how long records stay readable | `ms`, `s`, `m`, `h`, `d`, `y` |
//! | `throughput` | expected rate, for capacity and anomaly alerts | `msg/s`, `msg/min`, `msg/h`, `KB/s`, `MB/s` |
//! | `frequency`, `timeToDetect`, `timeToNotify`, `timeToRepair` | as in ODCS | `ms`, `s`, `m`, `h`, `d` |
//! | `errorRate` | share of records rejected | `%` (`percent`) |
//!
//! ODCS spells units loosely ("d, day, days"), so the long forms are accepted and read as
//! the short ones; the short form is what error messages suggest.

use crate::odcs::SlaProperty;
use std::fmt;
use std::time::Duration;

/// An SLA property Accord interprets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SloKind {
    Freshness,
    Latency,
    Availability,
    Retention,
    Throughput,
    Frequency,
    TimeToDetect,
    TimeToNotify,
    TimeToRepair,
    ErrorRate,
}

impl SloKind {
    /// The `property` name in `slaProperties`, or `None` for a property Accord does not
    /// interpret.
    pub fn from_property(name: &str) -> Option<SloKind> {
        Some(match name {
            "freshness" => SloKind::Freshness,
            "latency" => SloKind::Latency,
            "availability" => SloKind::Availability,
            "retention" => SloKind::Retention,
            "throughput" => SloKind::Throughput,
            "frequency" => SloKind::Frequency,
            "timeToDetect" => SloKind::TimeToDetect,
            "timeToNotify" => SloKind::TimeToNotify,
            "timeToRepair" => SloKind::TimeToRepair,
            "errorRate" => SloKind::ErrorRate,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SloKind::Freshness => "freshness",
            SloKind::Latency => "latency",
            SloKind::Availability => "availability",
            SloKind::Retention => "retention",
            SloKind::Throughput => "throughput",
            SloKind::Frequency => "frequency",
            SloKind::TimeToDetect => "timeToDetect",
            SloKind::TimeToNotify => "timeToNotify",
            SloKind::TimeToRepair => "timeToRepair",
            SloKind::ErrorRate => "errorRate",
        }
    }

    /// The unit spellings this kind accepts, short forms, in the order shown to users.
    pub fn units(self) -> &'static [&'static str] {
        match self {
            SloKind::Availability | SloKind::ErrorRate => &["%"],
            SloKind::Retention => &["ms", "s", "m", "h", "d", "y"],
            SloKind::Throughput => &["msg/s", "msg/min", "msg/h", "KB/s", "MB/s"],
            _ => &["ms", "s", "m", "h", "d"],
        }
    }

    /// Reads `unit` for this kind; the error says what was expected.
    pub fn parse_unit(self, unit: &str) -> Result<SloUnit, String> {
        let parsed = match self.units()[0] {
            "%" => matches!(unit, "%" | "percent").then_some(SloUnit::Percent),
            "msg/s" => RateUnit::parse(unit).map(SloUnit::Rate),
            _ => DurationUnit::parse(unit)
                .filter(|u| *u != DurationUnit::Years || self == SloKind::Retention)
                .map(SloUnit::Duration),
        };
        parsed.ok_or_else(|| {
            format!(
                "unknown unit '{unit}' for {} (expected {})",
                self.as_str(),
                self.units().join(", ")
            )
        })
    }
}

impl fmt::Display for SloKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A unit of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DurationUnit {
    Milliseconds,
    Seconds,
    Minutes,
    Hours,
    Days,
    /// 365 days; only for `retention`.
    Years,
}

impl DurationUnit {
    fn parse(s: &str) -> Option<DurationUnit> {
        Some(match s {
            "ms" | "millisecond" | "milliseconds" => DurationUnit::Milliseconds,
            "s" | "sec" | "second" | "seconds" => DurationUnit::Seconds,
            "m" | "min" | "minute" | "minutes" => DurationUnit::Minutes,
            "h" | "hr" | "hour" | "hours" => DurationUnit::Hours,
            "d" | "day" | "days" => DurationUnit::Days,
            "y" | "yr" | "year" | "years" => DurationUnit::Years,
            _ => return None,
        })
    }

    fn seconds(self) -> f64 {
        match self {
            DurationUnit::Milliseconds => 0.001,
            DurationUnit::Seconds => 1.0,
            DurationUnit::Minutes => 60.0,
            DurationUnit::Hours => 3_600.0,
            DurationUnit::Days => 86_400.0,
            DurationUnit::Years => 365.0 * 86_400.0,
        }
    }
}

/// A unit of rate: records or bytes per unit of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateUnit {
    MessagesPerSecond,
    MessagesPerMinute,
    MessagesPerHour,
    KilobytesPerSecond,
    MegabytesPerSecond,
}

impl RateUnit {
    fn parse(s: &str) -> Option<RateUnit> {
        Some(match s {
            "msg/s" | "messages/s" | "records/s" | "events/s" => RateUnit::MessagesPerSecond,
            "msg/min" | "messages/min" | "records/min" | "events/min" => {
                RateUnit::MessagesPerMinute
            }
            "msg/h" | "messages/h" | "records/h" | "events/h" => RateUnit::MessagesPerHour,
            "KB/s" | "kB/s" => RateUnit::KilobytesPerSecond,
            "MB/s" => RateUnit::MegabytesPerSecond,
            _ => return None,
        })
    }
}

/// The unit of an SLO value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SloUnit {
    Duration(DurationUnit),
    Percent,
    Rate(RateUnit),
}

/// An SLO Accord interprets, read from a valid `slaProperties` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    pub kind: SloKind,
    pub value: f64,
    pub unit: SloUnit,
    /// The element it is measured on, if the contract names one.
    pub element: Option<String>,
    pub driver: Option<String>,
}

impl Slo {
    /// Reads an SLA property. `Ok(None)` for a property Accord does not interpret; `Err`
    /// with the message for a known one whose value or unit is wrong (the caller adds the
    /// path).
    pub fn from_sla(p: &SlaProperty) -> Result<Option<Slo>, SloError> {
        let Some(kind) = SloKind::from_property(&p.property) else {
            return Ok(None);
        };
        let unit = match p.unit.as_deref() {
            None => {
                return Err(SloError::Unit(format!(
                    "{kind} needs a unit (expected {})",
                    kind.units().join(", ")
                )))
            }
            Some(u) => kind.parse_unit(u).map_err(SloError::Unit)?,
        };
        let value =
            p.value.as_f64().filter(|v| v.is_finite()).ok_or_else(|| {
                SloError::Value(format!("{kind} needs a number, found {}", p.value))
            })?;
        let in_range = match unit {
            SloUnit::Percent => value > 0.0 && value <= 100.0,
            _ => value > 0.0,
        };
        if !in_range {
            let want = if unit == SloUnit::Percent {
                "a percentage above 0 and at most 100"
            } else {
                "a positive number"
            };
            return Err(SloError::Value(format!(
                "{kind} must be {want}, found {value}"
            )));
        }
        Ok(Some(Slo {
            kind,
            value,
            unit,
            element: p.element.clone(),
            driver: p.driver.clone(),
        }))
    }

    /// The value as a duration, for time SLOs.
    pub fn as_duration(&self) -> Option<Duration> {
        match self.unit {
            SloUnit::Duration(u) => Duration::try_from_secs_f64(self.value * u.seconds()).ok(),
            _ => None,
        }
    }

    /// The value per second, for rate SLOs (messages, or bytes for `KB/s`/`MB/s`).
    pub fn per_second(&self) -> Option<f64> {
        match self.unit {
            SloUnit::Rate(RateUnit::MessagesPerSecond) => Some(self.value),
            SloUnit::Rate(RateUnit::MessagesPerMinute) => Some(self.value / 60.0),
            SloUnit::Rate(RateUnit::MessagesPerHour) => Some(self.value / 3_600.0),
            SloUnit::Rate(RateUnit::KilobytesPerSecond) => Some(self.value * 1_000.0),
            SloUnit::Rate(RateUnit::MegabytesPerSecond) => Some(self.value * 1_000_000.0),
            _ => None,
        }
    }
}

/// What is wrong with a known SLA property: its `unit` or its `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SloError {
    Unit(String),
    Value(String),
}
