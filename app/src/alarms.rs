//! Alarm rules and the alarms they raise.
//!
//! A [`Rule`] watches one field (by name) on one sensor, on every sensor of one asset, or on every
//! sensor of every asset. Thresholds have hysteresis so a value hovering at the limit does not
//! flap; staleness and rate-of-change are the other two conditions. An alarm stays listed until
//! it has both cleared and been acknowledged (ISA-18.2's "return to normal, unacknowledged").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::sensor_key::SensorKey;

/// How bad a fired rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Alarm,
}

/// What a rule watches for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Condition {
    /// Fires when the value goes above `limit`; clears when it falls below `limit - hysteresis`.
    Above {
        limit: f64,
        #[serde(default)]
        hysteresis: f64,
    },
    /// Fires when the value goes below `limit`; clears when it rises above `limit + hysteresis`.
    Below {
        limit: f64,
        #[serde(default)]
        hysteresis: f64,
    },
    /// Fires when no reading has arrived for `seconds`; clears on the next reading.
    Stale { seconds: f64 },
    /// Fires when the value changes faster than `per_second` (either way) between two readings,
    /// by sensor time; clears when a later change is within it.
    Rate { per_second: f64 },
}

/// One alarm rule. `asset` and `sensor_id` narrow it; absent, it applies to every asset (the
/// "per sensor name across assets" case) or to every sensor of the asset.
///
/// In JSON the condition's fields sit beside the rule's (`{"id": 1, "field": "temperature",
/// "type": "above", "limit": 80, …}`), read through [`RawRule`] rather than serde's `flatten`
/// of a tagged enum, which would cost the page's bundle a buffering deserializer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawRule", into = "RawRule")]
pub struct Rule {
    pub id: u32,
    pub asset: Option<String>,
    pub sensor_id: Option<u32>,
    pub field: String,
    pub condition: Condition,
    pub severity: Severity,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Above,
    Below,
    Stale,
    Rate,
}

/// A rule as its JSON has it: every condition's fields optional, checked on conversion.
#[derive(Serialize, Deserialize)]
struct RawRule {
    id: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    asset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sensor_id: Option<u32>,
    field: String,
    #[serde(rename = "type")]
    kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hysteresis: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    per_second: Option<f64>,
    severity: Severity,
}

impl TryFrom<RawRule> for Rule {
    type Error = String;

    fn try_from(r: RawRule) -> Result<Rule, String> {
        let need = |v: Option<f64>, what: &str| {
            v.ok_or_else(|| format!("a rule of this type needs `{what}`"))
        };
        let hysteresis = r.hysteresis.unwrap_or(0.0);
        let condition = match r.kind {
            Kind::Above => Condition::Above {
                limit: need(r.limit, "limit")?,
                hysteresis,
            },
            Kind::Below => Condition::Below {
                limit: need(r.limit, "limit")?,
                hysteresis,
            },
            Kind::Stale => Condition::Stale {
                seconds: need(r.seconds, "seconds")?,
            },
            Kind::Rate => Condition::Rate {
                per_second: need(r.per_second, "per_second")?,
            },
        };
        Ok(Rule {
            id: r.id,
            asset: r.asset,
            sensor_id: r.sensor_id,
            field: r.field,
            condition,
            severity: r.severity,
        })
    }
}

impl From<Rule> for RawRule {
    fn from(r: Rule) -> RawRule {
        let (kind, limit, hysteresis, seconds, per_second) = match r.condition {
            Condition::Above { limit, hysteresis } => {
                (Kind::Above, Some(limit), Some(hysteresis), None, None)
            }
            Condition::Below { limit, hysteresis } => {
                (Kind::Below, Some(limit), Some(hysteresis), None, None)
            }
            Condition::Stale { seconds } => (Kind::Stale, None, None, Some(seconds), None),
            Condition::Rate { per_second } => (Kind::Rate, None, None, None, Some(per_second)),
        };
        RawRule {
            id: r.id,
            asset: r.asset,
            sensor_id: r.sensor_id,
            field: r.field,
            kind,
            limit,
            hysteresis,
            seconds,
            per_second,
            severity: r.severity,
        }
    }
}

impl Rule {
    pub fn applies_to(&self, key: &SensorKey) -> bool {
        self.asset.as_ref().is_none_or(|a| *a == key.asset)
            && self.sensor_id.is_none_or(|id| id == key.sensor_id)
    }

    /// Where the rule applies, for people.
    pub fn scope(&self) -> String {
        match (&self.asset, self.sensor_id) {
            (Some(a), Some(id)) => format!("{a}/{id}"),
            (Some(a), None) => format!("{a}/*"),
            (None, Some(id)) => format!("*/{id}"),
            (None, None) => "every asset".to_string(),
        }
    }

    /// The condition, for people: `temperature > 80 (±2)`.
    pub fn describe(&self) -> String {
        let f = &self.field;
        match self.condition {
            Condition::Above { limit, hysteresis } if hysteresis > 0.0 => {
                format!("{f} > {limit} (clears below {})", limit - hysteresis)
            }
            Condition::Above { limit, .. } => format!("{f} > {limit}"),
            Condition::Below { limit, hysteresis } if hysteresis > 0.0 => {
                format!("{f} < {limit} (clears above {})", limit + hysteresis)
            }
            Condition::Below { limit, .. } => format!("{f} < {limit}"),
            Condition::Stale { seconds } => format!("no {f} for {seconds} s"),
            Condition::Rate { per_second } => format!("{f} changes faster than {per_second}/s"),
        }
    }

    /// The limit to draw on a chart, if the rule has one.
    pub fn threshold(&self) -> Option<f64> {
        match self.condition {
            Condition::Above { limit, .. } | Condition::Below { limit, .. } => Some(limit),
            _ => None,
        }
    }
}

/// Why a rule set was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RulesError {
    #[error("not an Echoes rules file: {0}")]
    Json(String),
    #[error("unsupported rules version {0} (this app reads version 1)")]
    Version(u32),
    #[error("rule {index}: {reason}")]
    Rule { index: usize, reason: String },
}

/// The rules and the display units, as stored in the browser and exported as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// Unit per field name (`temperature` → `°C`), overriding [`default_unit`].
    #[serde(default)]
    pub units: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
struct RulesFile {
    echoes_rules: u32,
    rules: Vec<Rule>,
    #[serde(default)]
    units: BTreeMap<String, String>,
}

impl RuleSet {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&RulesFile {
            echoes_rules: 1,
            rules: self.rules.clone(),
            units: self.units.clone(),
        })
        .expect("rules serialise")
    }

    /// Parses and checks an exported rule set; ids are renumbered if two rules share one.
    pub fn from_json(text: &str) -> Result<RuleSet, RulesError> {
        let file: RulesFile =
            serde_json::from_str(text).map_err(|e| RulesError::Json(e.to_string()))?;
        if file.echoes_rules != 1 {
            return Err(RulesError::Version(file.echoes_rules));
        }
        let mut set = RuleSet {
            rules: file.rules,
            units: file.units,
        };
        for (index, r) in set.rules.iter().enumerate() {
            r.check()
                .map_err(|reason| RulesError::Rule { index, reason })?;
        }
        let mut ids: Vec<u32> = set.rules.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            for (i, r) in set.rules.iter_mut().enumerate() {
                r.id = i as u32 + 1;
            }
        }
        Ok(set)
    }

    /// Adds a rule (after checking it) with a fresh id, which it returns.
    pub fn add(&mut self, mut rule: Rule) -> Result<u32, String> {
        rule.check()?;
        rule.id = self.rules.iter().map(|r| r.id).max().unwrap_or(0) + 1;
        let id = rule.id;
        self.rules.push(rule);
        Ok(id)
    }

    pub fn unit(&self, field: &str) -> Option<&str> {
        self.units
            .get(field)
            .map(String::as_str)
            .or_else(|| default_unit(field))
    }
}

impl Rule {
    fn check(&self) -> Result<(), String> {
        if self.field.trim().is_empty() {
            return Err("the field name is empty".into());
        }
        match self.condition {
            Condition::Above { limit, hysteresis } | Condition::Below { limit, hysteresis } => {
                if !limit.is_finite() {
                    return Err("the limit must be a number".into());
                }
                if !(hysteresis.is_finite() && hysteresis >= 0.0) {
                    return Err("the hysteresis must be zero or more".into());
                }
            }
            Condition::Stale { seconds } if !(seconds.is_finite() && seconds > 0.0) => {
                return Err("the staleness must be a positive number of seconds".into())
            }
            Condition::Rate { per_second } if !(per_second.is_finite() && per_second > 0.0) => {
                return Err("the rate must be a positive number per second".into())
            }
            _ => {}
        }
        Ok(())
    }
}

/// Units of the field names sensors commonly use (the simulator's among them).
pub fn default_unit(field: &str) -> Option<&'static str> {
    Some(match field {
        "temperature" | "temp" | "air_temperature" | "process_temperature" => "°C",
        "pressure" => "kPa",
        "humidity" => "%",
        "vibration" => "mm/s",
        "speed" | "rpm" | "rotational_speed" => "rpm",
        "torque" => "N·m",
        "power" => "kW",
        "current" => "A",
        "voltage" => "V",
        "flow" => "m³/h",
        "tool_wear" => "min",
        _ => return None,
    })
}

/// One raised alarm.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alarm {
    pub rule: u32,
    pub key: SensorKey,
    pub field: String,
    pub severity: Severity,
    /// The rule's condition as text, frozen when it fired.
    pub text: String,
    /// When it fired (browser clock, ms since the epoch).
    pub first_seen_ms: f64,
    /// The record that fired it (none for staleness).
    pub seq: Option<u64>,
    /// The value that fired it.
    pub value: Option<f64>,
    /// Still true now.
    pub active: bool,
    pub acked: bool,
}

/// Every alarm raised and not yet both cleared and acknowledged.
#[derive(Debug, Clone, Default)]
pub struct Alarms {
    map: BTreeMap<(SensorKey, u32), Alarm>,
}

/// A reading as the rules see it.
pub struct Observation<'a> {
    pub key: &'a SensorKey,
    pub seq: u64,
    pub ts_us: i64,
    pub value: f64,
    /// The previous value of this field and its sensor time, for rate rules.
    pub previous: Option<(i64, f64)>,
}

impl Alarms {
    pub fn iter(&self) -> impl Iterator<Item = &Alarm> {
        self.map.values()
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    /// Alarms no one has acknowledged yet (the header's count).
    pub fn unacknowledged(&self) -> usize {
        self.map.values().filter(|a| !a.acked).count()
    }

    /// The worst active severity on one sensor.
    pub fn severity_of(&self, key: &SensorKey) -> Option<Severity> {
        let lo = (key.clone(), 0);
        let hi = (key.clone(), u32::MAX);
        self.map
            .range(lo..=hi)
            .filter(|(_, a)| a.active)
            .map(|(_, a)| a.severity)
            .max()
    }

    /// Applies `rule` to one observed value. Returns whether the alarm list changed.
    pub fn observe(&mut self, rule: &Rule, o: &Observation, now_ms: f64) -> bool {
        let slot = (o.key.clone(), rule.id);
        let was = self.map.get(&slot).is_some_and(|a| a.active);
        let firing = match rule.condition {
            Condition::Above { limit, hysteresis } => {
                if was {
                    o.value > limit - hysteresis
                } else {
                    o.value > limit
                }
            }
            Condition::Below { limit, hysteresis } => {
                if was {
                    o.value < limit + hysteresis
                } else {
                    o.value < limit
                }
            }
            Condition::Rate { per_second } => match o.previous {
                Some((ts, v)) if o.ts_us > ts => {
                    ((o.value - v) / ((o.ts_us - ts) as f64 / 1e6)).abs() > per_second
                }
                // No earlier reading, or no time between them: keep the state as it is.
                _ => was,
            },
            Condition::Stale { .. } => false,
        };
        self.transition(rule, slot, was, firing, Some((o.seq, o.value)), now_ms)
    }

    /// Applies a staleness rule to a sensor last heard from at `received_ms`.
    pub fn observe_age(
        &mut self,
        rule: &Rule,
        key: &SensorKey,
        received_ms: f64,
        now_ms: f64,
    ) -> bool {
        let Condition::Stale { seconds } = rule.condition else {
            return false;
        };
        let slot = (key.clone(), rule.id);
        let was = self.map.get(&slot).is_some_and(|a| a.active);
        let firing = now_ms - received_ms > seconds * 1000.0;
        self.transition(rule, slot, was, firing, None, now_ms)
    }

    fn transition(
        &mut self,
        rule: &Rule,
        slot: (SensorKey, u32),
        was: bool,
        firing: bool,
        at: Option<(u64, f64)>,
        now_ms: f64,
    ) -> bool {
        match (was, firing) {
            (false, true) => {
                self.map.insert(
                    slot.clone(),
                    Alarm {
                        rule: rule.id,
                        key: slot.0,
                        field: rule.field.clone(),
                        severity: rule.severity,
                        text: rule.describe(),
                        first_seen_ms: now_ms,
                        seq: at.map(|a| a.0),
                        value: at.map(|a| a.1),
                        active: true,
                        acked: false,
                    },
                );
                true
            }
            (true, false) => {
                let acked = self.map.get(&slot).is_some_and(|a| a.acked);
                if acked {
                    self.map.remove(&slot);
                } else if let Some(a) = self.map.get_mut(&slot) {
                    a.active = false;
                }
                true
            }
            _ => false,
        }
    }

    /// Acknowledges one alarm; one that has already cleared goes away.
    pub fn acknowledge(&mut self, key: &SensorKey, rule: u32) -> bool {
        let slot = (key.clone(), rule);
        match self.map.get_mut(&slot) {
            Some(a) if !a.active => {
                self.map.remove(&slot);
                true
            }
            Some(a) if !a.acked => {
                a.acked = true;
                true
            }
            _ => false,
        }
    }

    pub fn acknowledge_all(&mut self) -> bool {
        let before = self.map.len();
        self.map.retain(|_, a| a.active);
        let mut changed = self.map.len() != before;
        for a in self.map.values_mut() {
            changed |= !a.acked;
            a.acked = true;
        }
        changed
    }

    /// Drops the alarms of rules no longer in `rules`.
    pub fn retain_rules(&mut self, rules: &[Rule]) {
        self.map
            .retain(|(_, id), _| *id == RISK_RULE || rules.iter().any(|r| r.id == *id));
    }
}

/// The built-in rule behind the failure-risk alarm (risk within `horizon_s` above `risk_alarm`,
/// a probability): it shares the alarms' hysteresis, acknowledgement and listing with the user's
/// rules.
pub fn risk_rule(risk_alarm: f64, horizon_s: f64) -> Rule {
    let limit = (risk_alarm * 100.0).clamp(0.0, 100.0);
    Rule {
        id: RISK_RULE,
        asset: None,
        sensor_id: None,
        field: format!("failure risk within {horizon_s} s (%)"),
        condition: Condition::Above {
            limit,
            hysteresis: (limit * 0.2).min(10.0),
        },
        severity: Severity::Alarm,
    }
}

/// The risk rule's id (user rules count up from 1).
pub const RISK_RULE: u32 = u32::MAX;
