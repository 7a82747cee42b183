//! The twin: what the browser knows of every asset and sensor, and how far it has verified the
//! chain.
//!
//! Pure Rust, no browser APIs: the UI feeds it decoded frames and reads it back. Memory is
//! bounded whatever the stream does: one entry per distinct sensor, each with a history ring of
//! fixed length ([`TwinConfig::history_len`]), a capped event list, and one alarm per rule and
//! sensor at most.

mod history;
mod wear;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use echoes_proto::{ChainError, ChainErrorKind, ChainedRecord, Checkpoint, Field, Follower, Frame};
use serde::Serialize;

use crate::alarms::{risk_rule, Alarms, Condition, Observation, Rule, RuleSet, Severity};
use crate::prognosis::{Band, Prognosis, PrognosisConfig, Tracker};

use crate::integrity::{Event, Integrity, Refusal, Trust};
pub use crate::sensor_key::SensorKey;
pub use history::{History, Point, Stats};

/// Most integrity events kept (oldest dropped first); the counters keep counting.
pub const MAX_EVENTS: usize = 100;

/// Tunables of the twin.
#[derive(Debug, Clone, PartialEq)]
pub struct TwinConfig {
    /// Readings kept per sensor for charts, statistics and export.
    pub history_len: usize,
    /// A sensor is stale after this many of its usual intervals without a reading…
    pub stale_factor: f64,
    /// …but never sooner than this (ms), so a 10 Hz sensor is not stale after a busy frame…
    pub min_stale_ms: f64,
    /// …and, before its usual interval is known (one reading so far), after this (ms).
    pub default_stale_ms: f64,
    /// Chained records kept (with their hashes and the checkpoints among them) for exporting
    /// the chain.
    pub chain_log_len: usize,
    /// Linked records not covered by a signature of the pinned key after this long (ms) turn
    /// the badge into a warning: twice the relay's default checkpoint interval (5 s).
    pub sign_within_ms: f64,
}

impl Default for TwinConfig {
    fn default() -> Self {
        TwinConfig {
            history_len: 600,
            stale_factor: 5.0,
            min_stale_ms: 2_000.0,
            default_stale_ms: 10_000.0,
            chain_log_len: 10_000,
            sign_within_ms: 10_000.0,
        }
    }
}

/// What an asset or a sensor looks like at a glance; ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// Known (a rule names it) but not heard from since the page opened.
    NoData,
    /// Silent for longer than its usual interval allows.
    Stale,
    Warning,
    Alarm,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Alarm,
        Status::Warning,
        Status::Stale,
        Status::NoData,
        Status::Ok,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::NoData => "no_data",
            Status::Stale => "stale",
            Status::Warning => "warning",
            Status::Alarm => "alarm",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::NoData => "no data",
            Status::Stale => "stale",
            Status::Warning => "warning",
            Status::Alarm => "alarm",
        }
    }
}

/// One sensor: its latest reading and its recent history.
#[derive(Debug, Clone)]
pub struct Sensor {
    pub latest: Reading,
    pub history: History,
    /// Smoothed interval between readings, by sensor time (µs).
    interval_us: Option<f64>,
    /// Each field's EWMA band, in the order of `latest.fields`.
    pub bands: Vec<Band>,
    /// How many of the newest readings in `history` no signature covers yet, of the current
    /// chain (`unsigned`) and, below them, of chains before a restart (`orphaned`, which no
    /// later checkpoint can cover): all withdrawn if the relay is refused.
    unsigned: usize,
    orphaned: usize,
}

impl Sensor {
    /// How long (ms) this sensor may stay silent before it counts as stale.
    pub fn stale_after_ms(&self, config: &TwinConfig) -> f64 {
        match self.interval_us {
            Some(us) => (us / 1000.0 * config.stale_factor).max(config.min_stale_ms),
            None => config.default_stale_ms,
        }
    }
    pub fn is_stale(&self, now_ms: f64, config: &TwinConfig) -> bool {
        now_ms - self.latest.received_ms > self.stale_after_ms(config)
    }
    /// The fields whose latest reading fell outside their own EWMA band, with the band.
    pub fn anomalies(&self) -> impl Iterator<Item = (&Field, &Band)> {
        self.latest
            .fields
            .iter()
            .zip(&self.bands)
            .filter(|(_, b)| b.outside)
    }

    /// The usual interval between readings, in ms, once known.
    pub fn interval_ms(&self) -> Option<f64> {
        self.interval_us.map(|us| us / 1000.0)
    }
}

/// An asset at a glance: its worst sensors first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssetSummary {
    pub name: String,
    pub status: Status,
    /// Sensors known (reporting or named by a rule).
    pub sensors: usize,
    /// Sensors per status.
    pub counts: BTreeMap<Status, usize>,
    /// Its sensors, worst first (then by id), at most [`SUMMARY_LINES`].
    pub worst: Vec<SensorLine>,
    /// Browser time of its newest reading.
    pub last_ms: Option<f64>,
}

/// Sensors an asset tile lists.
pub const SUMMARY_LINES: usize = 3;
/// Fields listed per sensor on a tile.
pub const SUMMARY_FIELDS: usize = 2;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SensorLine {
    pub key: SensorKey,
    pub status: Status,
    /// Its first fields (at most [`SUMMARY_FIELDS`]) and their latest values.
    pub values: Vec<(String, f64)>,
}

/// The latest reading of one sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub seq: u64,
    /// Sensor time, microseconds since the epoch.
    pub ts_us: i64,
    pub fields: Vec<Field>,
    /// When the browser received it (the caller's clock, milliseconds).
    pub received_ms: f64,
    /// How many readings of this sensor arrived so far.
    pub count: u64,
}

#[derive(Debug, Default)]
pub struct Twin {
    config: TwinConfig,
    sensors: BTreeMap<SensorKey, Sensor>,
    rules: RuleSet,
    alarms: Alarms,
    /// Sensors named by a rule, reporting or not (so a silent one shows as "no data").
    declared: BTreeSet<SensorKey>,
    follower: Follower,
    integrity_errors: u64,
    first_error: Option<ChainError>,
    /// Newest seq received.
    head: u64,
    records: u64,
    events: Vec<Event>,
    /// After a reconnect: the first seq we are owed.
    rejoined_at: Option<u64>,
    /// The newest chained records and checkpoints, for export.
    log: VecDeque<Logged>,
    log_records: usize,
    /// How far a signature covers the chain, and whether this relay was refused.
    trust: Trust,
    prognosis: PrognosisConfig,
    /// The risk alarm's rule, made from `prognosis` once.
    risk_rule: Option<Rule>,
    /// The online model of every sensor reporting the health field, and whether its risk was
    /// last above the alarm's clearing level (so the alarms are consulted only near the limit).
    trackers: BTreeMap<SensorKey, (Tracker, bool)>,
}

/// What the chain log holds, in arrival order.
#[derive(Debug, Clone)]
pub enum Logged {
    /// The hash the next record links to (where the log starts, or after a discontinuity).
    Anchor(echoes_proto::Hash),
    Record(ChainedRecord),
    Checkpoint(Checkpoint),
}

/// What one frame changed, so the UI updates only that.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// Sensors with a new reading.
    pub updated: BTreeSet<SensorKey>,
    /// Whether any of them is new (the sensor list grew).
    pub added: bool,
    /// Whether integrity or events changed.
    pub integrity: bool,
    /// Whether the alarm list changed.
    pub alarms: bool,
}

impl Twin {
    pub fn new() -> Twin {
        Twin::default()
    }

    pub fn with_config(config: TwinConfig) -> Twin {
        Twin {
            config,
            ..Twin::default()
        }
    }

    pub fn config(&self) -> &TwinConfig {
        &self.config
    }

    /// The seq to ask the relay to resume from (`/ws?from=N`) on the next connection, so the
    /// stream continues exactly where this twin stopped; `None` before the first record.
    pub fn resume_from(&self) -> Option<u64> {
        (self.records > 0).then_some(self.head + 1)
    }

    /// Call when a new connection opens. `resumed`: it was opened with [`Twin::resume_from`], so
    /// its first record links to our head and verification carries on across the reconnect.
    /// Otherwise its stream continues wherever the relay is now: the verifier re-anchors and what
    /// was missed meanwhile is reported, not flagged as tampering.
    pub fn reconnected(&mut self, resumed: bool) {
        if resumed {
            return;
        }
        self.follower.rejoin();
        if self.records > 0 {
            self.rejoined_at = Some(self.head + 1);
        }
    }

    /// Applies one frame from the relay; `now_ms` is the caller's clock. In four steps: what the
    /// frame announces, what the chain says of it, the readings it brings, and how far a
    /// signature now covers them.
    pub fn apply(&mut self, frame: &Frame, now_ms: f64) -> Changes {
        let mut changes = Changes::default();
        if self.trust.refusal().is_some() {
            // A refused relay is not listened to any more, whatever still arrives from it.
            return changes;
        }
        self.announce(frame, &mut changes);
        let late = self.check_chain(frame, &mut changes);
        if self.trust.refusal().is_some() {
            self.withdraw_unsigned(&mut changes);
            return changes;
        }
        if let Frame::Records { records, prev_hash } = frame {
            self.log_frame(records, prev_hash);
            let mut first_new = None;
            for c in records {
                // Only a record newer than every one before it updates the twin: a replay, or a
                // late or altered old record, must not pass for a new reading.
                if c.seq <= self.head {
                    if late.contains(&c.seq) {
                        self.log_push(Logged::Record(c.clone()));
                    }
                    continue;
                }
                first_new.get_or_insert(c.seq);
                self.log_push(Logged::Record(c.clone()));
                self.records += 1;
                self.head = c.seq;
                self.take_reading(c, now_ms, &mut changes);
            }
            if let Some(first) = first_new {
                self.trust.received(first, now_ms);
            }
        }
        self.settle_signature(&mut changes);
        changes
    }

    /// Step 1: what the frame itself announces — a restarted chain, a gap, records missed while
    /// away, a checkpoint to keep for export.
    fn announce(&mut self, frame: &Frame, changes: &mut Changes) {
        match frame {
            Frame::Hello { head_seq, .. } => {
                if self.records > 0 && *head_seq < self.head {
                    self.push_event(Event::Restarted {
                        previous_head: self.head,
                    });
                    self.head = 0;
                    self.rejoined_at = None;
                    self.first_error = None;
                    self.integrity_errors = 0;
                    self.follower.restart();
                    self.trust.restart();
                    self.orphan_unsigned();
                    changes.integrity = true;
                }
            }
            Frame::Gap { from, to } => {
                self.push_event(Event::Skipped {
                    from: *from,
                    to: *to,
                });
                self.trust.discontinuity();
                changes.integrity = true;
            }
            Frame::Records { records, .. } => {
                if let (Some(owed), Some(first)) = (self.rejoined_at.take(), records.first()) {
                    if first.seq > owed {
                        self.push_event(Event::Missed {
                            from: owed,
                            to: first.seq - 1,
                        });
                    }
                }
                changes.integrity = true;
            }
            Frame::Checkpoint(c) => {
                // The same checkpoint comes again after every reconnect: keep it once.
                let newest = self.log.iter().rev().find_map(|l| match l {
                    Logged::Checkpoint(k) => Some(k.seq),
                    _ => None,
                });
                if newest.is_none_or(|s| c.seq > s) {
                    self.log_push(Logged::Checkpoint(c.clone()));
                }
                changes.integrity = true;
            }
        }
    }

    /// Step 2: the chain's verdict on the frame. Returns the seqs that arrived late but belong in
    /// the chain (a reordered record): logged for export, never shown as a newer reading.
    fn check_chain(&mut self, frame: &Frame, changes: &mut Changes) -> Vec<u64> {
        let mut late: Vec<u64> = Vec::new();
        for error in self.follower.frame(frame) {
            match error.kind {
                ChainErrorKind::Reordered => {
                    late.push(error.seq);
                    self.withdraw_missing(error.seq);
                }
                ChainErrorKind::CheckpointForged(_) | ChainErrorKind::CheckpointMismatch { .. } => {
                    let checkpoint = match frame {
                        Frame::Checkpoint(c) => Some(c),
                        _ => None,
                    };
                    let refusal = Refusal::of(
                        error.clone(),
                        checkpoint,
                        self.follower.pinned(),
                        self.trust.known_chain(),
                    );
                    let new_key = match &refusal {
                        Refusal::NewKey { seq, key, .. } => Some(Event::NewKey {
                            seq: *seq,
                            key: *key,
                        }),
                        Refusal::Tampered(_) => None,
                    };
                    self.trust.refuse(refusal);
                    if let Some(event) = new_key {
                        // Not tampering within a chain: explained, not counted as broken.
                        self.push_event(event);
                        changes.integrity = true;
                        continue;
                    }
                }
                _ => {}
            }
            self.integrity_errors += 1;
            self.first_error.get_or_insert_with(|| error.clone());
            self.push_event(Event::Chain(error));
        }
        late
    }

    /// A discontinuity in the chain log for export: where a frame does not follow the last record
    /// kept, note what its first record links to.
    fn log_frame(&mut self, records: &[ChainedRecord], prev_hash: &echoes_proto::Hash) {
        let follows = self.log.iter().rev().find_map(|l| match l {
            Logged::Record(r) => Some(r.seq),
            _ => None,
        });
        if let Some(first) = records.first() {
            if follows.is_none_or(|s| s + 1 != first.seq) {
                self.log.push_back(Logged::Anchor(*prev_hash));
            }
        }
    }

    /// Step 3: one new reading — its sensor, the user's rules, its history and latest values,
    /// its fields' bands and, for the health field, the prognosis.
    fn take_reading(&mut self, c: &ChainedRecord, now_ms: f64, changes: &mut Changes) {
        let key = SensorKey {
            asset: c.record.asset().to_owned(),
            sensor_id: c.record.sensor_id(),
        };
        let (ts_us, fields) = (c.record.ts_us(), c.record.fields());
        if !self.sensors.contains_key(&key) {
            changes.added = true;
            let sensor = Sensor {
                latest: Reading {
                    seq: c.seq,
                    ts_us,
                    fields: Vec::new(),
                    received_ms: now_ms,
                    count: 0,
                },
                history: History::new(self.config.history_len),
                interval_us: None,
                bands: Vec::new(),
                unsigned: 0,
                orphaned: 0,
            };
            self.sensors.insert(key.clone(), sensor);
        }
        let sensor = self.sensors.get_mut(&key).expect("inserted above");
        changes.alarms |= observe_rules(&self.rules, &mut self.alarms, &key, sensor, c, now_ms);
        if sensor.latest.count > 0 && ts_us > sensor.latest.ts_us {
            let dt = (ts_us - sensor.latest.ts_us) as f64;
            sensor.interval_us = Some(match sensor.interval_us {
                Some(i) => i + 0.2 * (dt - i),
                None => dt,
            });
        }
        sensor.history.push(c.seq, ts_us, fields);
        let len = sensor.history.len();
        sensor.unsigned = (sensor.unsigned + 1).min(len);
        sensor.orphaned = sensor.orphaned.min(len - sensor.unsigned);
        let latest = &mut sensor.latest;
        latest.seq = c.seq;
        latest.ts_us = ts_us;
        // Most sensors send the same fields every time: copy the values, keep the names.
        let same_names = latest.fields.len() == fields.len()
            && latest
                .fields
                .iter()
                .zip(fields)
                .all(|(a, b)| a.name == b.name);
        if same_names {
            for (a, b) in latest.fields.iter_mut().zip(fields) {
                a.value = b.value;
            }
        } else {
            latest.fields.clear();
            latest.fields.extend_from_slice(fields);
            sensor.bands = vec![Band::default(); fields.len()];
        }
        for (band, f) in sensor.bands.iter_mut().zip(fields) {
            band.update(f.value, self.prognosis.band_k);
        }
        latest.received_ms = now_ms;
        latest.count += 1;
        self.track_health(&key, c.seq, ts_us, fields, now_ms, changes);
        changes.updated.insert(key);
    }

    /// The online prognosis of a sensor reporting the health field, and its risk alarm.
    fn track_health(
        &mut self,
        key: &SensorKey,
        seq: u64,
        ts_us: i64,
        fields: &[Field],
        now_ms: f64,
        changes: &mut Changes,
    ) {
        let Some(health) = fields
            .iter()
            .find(|f| f.name == self.prognosis.health_field)
        else {
            return;
        };
        let running = self.prognosis.running_field.as_ref().and_then(|name| {
            fields
                .iter()
                .find(|f| f.name == *name)
                .map(|f| f.value != 0.0)
        });
        let (tracker, near) = self
            .trackers
            .entry(key.clone())
            .or_insert_with(|| (Tracker::new(self.prognosis.forget), false));
        let p = tracker.observe(ts_us, health.value, running, &self.prognosis);
        let rule = self
            .risk_rule
            .get_or_insert_with(|| risk_rule(self.prognosis.risk_alarm, self.prognosis.horizon_s));
        let clears = match rule.condition {
            Condition::Above { limit, hysteresis } => limit - hysteresis,
            _ => 0.0,
        };
        let risk = p.risk * 100.0;
        // Most readings are far below the alarm: skip the alarm list for those (one more look
        // after falling below, to clear it).
        if risk > clears || *near {
            *near = risk > clears;
            let o = Observation {
                key,
                seq,
                ts_us,
                value: risk,
                previous: None,
            };
            changes.alarms |= self.alarms.observe(rule, &o, now_ms);
        }
    }

    /// Step 4: a checkpoint of the pinned key that matched moves the signed coverage; the
    /// readings it covers are no longer awaiting a signature.
    fn settle_signature(&mut self, changes: &mut Changes) {
        if let Some(id) = self.follower.chain_id() {
            if self.follower.signed().is_some() && self.trust.known_chain() != Some(*id) {
                self.trust.set_known_chain(*id);
            }
        }
        let Some(signed) = self.follower.signed().map(|c| c.seq) else {
            return;
        };
        let Some(covered) = self.trust.signed(signed, self.head) else {
            return;
        };
        changes.integrity = true;
        for s in self.sensors.values_mut() {
            if s.unsigned > 0 {
                let left = s.history.count_newest_after(s.unsigned, covered);
                if left < s.unsigned {
                    // The pinned key signs this chain: what an earlier chain left unsigned is
                    // no longer withdrawn (nor, being below covered readings, could it be).
                    s.orphaned = 0;
                }
                s.unsigned = left;
            }
        }
    }

    /// A new chain: readings of the old one still unsigned can no longer be covered.
    fn orphan_unsigned(&mut self) {
        for s in self.sensors.values_mut() {
            s.orphaned += std::mem::take(&mut s.unsigned);
        }
    }

    /// The relay was refused: every reading of the current run that no signature covered leaves
    /// the twin (a sensor known only from them goes entirely).
    fn withdraw_unsigned(&mut self, changes: &mut Changes) {
        let mut withdrawn = 0;
        let mut gone = Vec::new();
        for (key, s) in self.sensors.iter_mut() {
            if s.unsigned + s.orphaned == 0 {
                continue;
            }
            withdrawn += s.history.drop_newest(s.unsigned + s.orphaned);
            s.unsigned = 0;
            s.orphaned = 0;
            match s.history.newest() {
                Some((seq, ts_us, fields)) => {
                    s.latest.seq = seq;
                    s.latest.ts_us = ts_us;
                    s.latest.fields = fields
                        .into_iter()
                        .map(|(name, value)| Field {
                            name: name.to_string(),
                            value,
                        })
                        .collect();
                    s.bands = vec![Band::default(); s.latest.fields.len()];
                }
                None => gone.push(key.clone()),
            }
            changes.updated.insert(key.clone());
        }
        for key in gone {
            self.sensors.remove(&key);
            self.trackers.remove(&key);
            changes.updated.remove(&key);
        }
        if withdrawn > 0 {
            self.push_event(Event::Withdrawn {
                readings: withdrawn,
            });
        }
        changes.added = true;
        changes.integrity = true;
    }

    /// Time passing: staleness rules fire on silent sensors. Returns whether alarms changed.
    pub fn tick(&mut self, now_ms: f64) -> bool {
        let mut changed = false;
        for rule in &self.rules.rules {
            if !matches!(rule.condition, Condition::Stale { .. }) {
                continue;
            }
            for (key, s) in &self.sensors {
                let has_field = s.latest.fields.iter().any(|f| f.name == rule.field);
                if has_field && rule.applies_to(key) {
                    changed |= self
                        .alarms
                        .observe_age(rule, key, s.latest.received_ms, now_ms);
                }
            }
        }
        changed
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Replaces the rules; alarms of removed rules go, and every sensor's latest reading is
    /// checked against the new ones at once.
    pub fn set_rules(&mut self, rules: RuleSet, now_ms: f64) {
        self.alarms.retain_rules(&rules.rules);
        self.declared = rules
            .rules
            .iter()
            .filter_map(|r| {
                Some(SensorKey {
                    asset: r.asset.clone()?,
                    sensor_id: r.sensor_id?,
                })
            })
            .collect();
        self.rules = rules;
        for rule in &self.rules.rules {
            if matches!(rule.condition, Condition::Rate { .. }) {
                continue;
            }
            for (key, s) in &self.sensors {
                if !rule.applies_to(key) {
                    continue;
                }
                let Some(f) = s.latest.fields.iter().find(|f| f.name == rule.field) else {
                    continue;
                };
                let o = Observation {
                    key,
                    seq: s.latest.seq,
                    ts_us: s.latest.ts_us,
                    value: f.value,
                    previous: None,
                };
                self.alarms.observe(rule, &o, now_ms);
            }
        }
        self.tick(now_ms);
    }

    pub fn alarms(&self) -> &Alarms {
        &self.alarms
    }
    pub fn acknowledge(&mut self, key: &SensorKey, rule: u32) -> bool {
        self.alarms.acknowledge(key, rule)
    }
    pub fn acknowledge_all(&mut self) -> bool {
        self.alarms.acknowledge_all()
    }

    pub fn sensor(&self, key: &SensorKey) -> Option<&Sensor> {
        self.sensors.get(key)
    }

    pub fn sensor_status(&self, key: &SensorKey, now_ms: f64) -> Status {
        let Some(s) = self.sensors.get(key) else {
            return Status::NoData;
        };
        match self.alarms.severity_of(key) {
            Some(Severity::Alarm) => Status::Alarm,
            Some(Severity::Warning) => Status::Warning,
            None if s.is_stale(now_ms, &self.config) => Status::Stale,
            None => Status::Ok,
        }
    }

    /// The sensors of one asset (reporting or declared), by id.
    pub fn asset_sensors(&self, asset: &str) -> Vec<SensorKey> {
        let lo = SensorKey {
            asset: asset.to_string(),
            sensor_id: 0,
        };
        let hi = SensorKey {
            asset: asset.to_string(),
            sensor_id: u32::MAX,
        };
        let mut keys: BTreeSet<SensorKey> = self
            .sensors
            .range(lo.clone()..=hi.clone())
            .map(|(k, _)| k.clone())
            .collect();
        keys.extend(self.declared.range(lo..=hi).cloned());
        keys.into_iter().collect()
    }

    /// Every asset name, reporting or declared, sorted.
    pub fn asset_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for k in self.sensors.keys().chain(self.declared.iter()) {
            if names.last() != Some(&k.asset) {
                names.push(k.asset.clone());
            }
        }
        names.sort();
        names.dedup();
        names
    }

    pub fn asset_summary(&self, asset: &str, now_ms: f64) -> Option<AssetSummary> {
        let keys = self.asset_sensors(asset);
        if keys.is_empty() {
            return None;
        }
        let mut lines: Vec<SensorLine> = keys
            .into_iter()
            .map(|key| {
                let status = self.sensor_status(&key, now_ms);
                SensorLine {
                    key,
                    status,
                    values: Vec::new(),
                }
            })
            .collect();
        let mut counts = BTreeMap::new();
        for l in &lines {
            *counts.entry(l.status).or_insert(0) += 1;
        }
        let status = lines
            .iter()
            .map(|l| l.status)
            .max()
            .unwrap_or(Status::NoData);
        let last_ms = lines
            .iter()
            .filter_map(|l| self.sensors.get(&l.key))
            .map(|s| s.latest.received_ms)
            .reduce(f64::max);
        let sensors = lines.len();
        lines.sort_by(|a, b| b.status.cmp(&a.status).then(a.key.cmp(&b.key)));
        lines.truncate(SUMMARY_LINES);
        for l in &mut lines {
            if let Some(s) = self.sensors.get(&l.key) {
                l.values = s
                    .latest
                    .fields
                    .iter()
                    .take(SUMMARY_FIELDS)
                    .map(|f| (f.name.clone(), f.value))
                    .collect();
            }
        }
        Some(AssetSummary {
            name: asset.to_string(),
            status,
            sensors,
            counts,
            worst: lines,
            last_ms,
        })
    }

    /// Every asset, worst first, then by name.
    pub fn overview(&self, now_ms: f64) -> Vec<AssetSummary> {
        let mut all: Vec<AssetSummary> = self
            .asset_names()
            .iter()
            .filter_map(|a| self.asset_summary(a, now_ms))
            .collect();
        all.sort_by(|a, b| b.status.cmp(&a.status).then_with(|| a.name.cmp(&b.name)));
        all
    }

    /// Bytes held by the sensors' histories (for the memory figures).
    pub fn history_bytes(&self) -> usize {
        self.sensors.values().map(|s| s.history.heap_bytes()).sum()
    }

    fn log_push(&mut self, item: Logged) {
        if let Logged::Record(_) = item {
            self.log_records += 1;
        }
        self.log.push_back(item);
        while self.log_records > self.config.chain_log_len.max(1) {
            if let Some(Logged::Record(r)) = self.log.pop_front() {
                self.log_records -= 1;
                // The record after it now starts the log: keep what it links to.
                if matches!(self.log.front(), Some(Logged::Record(_))) {
                    self.log.push_front(Logged::Anchor(r.hash));
                }
            }
        }
    }

    /// A record reported missing has arrived late: the gap report shrinks to what is still
    /// missing (see [`echoes_proto::reconcile`]), and the problem is a reorder, not a loss.
    fn withdraw_missing(&mut self, seq: u64) {
        let Some(i) = self.events.iter().position(|e| {
            matches!(e, Event::Chain(ChainError { kind: ChainErrorKind::Gap { expected, got }, .. })
                if *expected <= seq && seq < *got)
        }) else {
            return;
        };
        let Event::Chain(gap) = self.events.remove(i) else {
            unreachable!()
        };
        let mut errors = vec![
            gap.clone(),
            ChainError {
                seq,
                kind: ChainErrorKind::Reordered,
            },
        ];
        echoes_proto::reconcile(&mut errors);
        errors.retain(|e| e.kind != ChainErrorKind::Reordered);
        self.integrity_errors = self.integrity_errors.saturating_sub(1);
        for e in errors.into_iter().rev() {
            self.integrity_errors += 1;
            self.events.insert(i, Event::Chain(e));
        }
        if self.first_error.as_ref() == Some(&gap) {
            self.first_error = None;
        }
    }

    /// The chain as this browser received it (the newest [`TwinConfig::chain_log_len`]
    /// records, with the checkpoints among them).
    pub fn chain_log(&self) -> &VecDeque<Logged> {
        &self.log
    }
    /// Only checkpoints signed by `key` are trusted (a key configured, or pinned earlier).
    pub fn pin(&mut self, key: echoes_proto::PublicKey) {
        self.follower.pin(key);
    }
    /// The key checkpoints are checked against (pinned, or taken from the first checkpoint).
    pub fn pinned(&self) -> Option<&echoes_proto::PublicKey> {
        self.follower.pinned()
    }
    /// The newest checkpoint that verified and matched the chain here.
    pub fn signed(&self) -> Option<&Checkpoint> {
        self.follower.signed()
    }
    pub fn chain_id(&self) -> Option<&echoes_proto::ChainId> {
        self.follower.chain_id()
    }
    /// Why this relay is no longer trusted (a checkpoint that did not verify), if so.
    pub fn refused(&self) -> Option<&Refusal> {
        self.trust.refusal()
    }
    /// The chain this relay was last seen signing with the pinned key (set from what an earlier
    /// page saved, then kept current): a checkpoint by another key for another chain is then a
    /// new identity, not a forgery within this chain.
    pub fn remember_chain(&mut self, id: echoes_proto::ChainId) {
        self.trust.set_known_chain(id);
    }
    /// The chain last seen signed by the pinned key.
    pub fn known_chain(&self) -> Option<echoes_proto::ChainId> {
        self.trust.known_chain()
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() == MAX_EVENTS {
            self.events.remove(0);
        }
        self.events.push(e);
    }

    pub fn integrity(&self) -> Integrity {
        // After a reorder was reconciled the earliest remaining problem is the one to show.
        let first = self.first_error.clone().or_else(|| {
            self.events
                .iter()
                .filter_map(|e| match e {
                    Event::Chain(c) => Some(c.clone()),
                    _ => None,
                })
                .min_by_key(|c| c.seq)
        });
        match (&first, self.trust.refusal()) {
            (Some(first), _) => Integrity::Broken {
                first: first.clone(),
                errors: self.integrity_errors,
                seq: self.head,
            },
            (None, Some(Refusal::NewKey { key, pinned, .. })) => Integrity::NewKey {
                key: *key,
                pinned: *pinned,
            },
            _ if self.head == 0 => Integrity::Waiting,
            _ => Integrity::Linked {
                seq: self.head,
                records: self.follower.verifier().verified(),
                signed: self.trust.covered(),
                unsigned_since_ms: self.trust.unsigned_since_ms(),
            },
        }
    }

    pub fn prognosis_config(&self) -> &PrognosisConfig {
        &self.prognosis
    }

    /// The online prognosis of an asset (of its sensor reporting the health field).
    pub fn prognosis(&self, asset: &str) -> Option<(&SensorKey, &Prognosis)> {
        let first = SensorKey {
            asset: asset.to_string(),
            sensor_id: 0,
        };
        self.trackers
            .range(first..)
            .next()
            .filter(|(k, _)| k.asset == asset)
            .map(|(k, t)| (k, t.0.prognosis()))
    }

    /// Every asset's online prognosis.
    pub fn prognoses(&self) -> impl Iterator<Item = (&SensorKey, &Prognosis)> {
        self.trackers.iter().map(|(k, t)| (k, t.0.prognosis()))
    }

    pub fn sensors(&self) -> &BTreeMap<SensorKey, Sensor> {
        &self.sensors
    }
    pub fn reading(&self, key: &SensorKey) -> Option<&Reading> {
        self.sensors.get(key).map(|s| &s.latest)
    }
    /// Newest seq received.
    pub fn head(&self) -> u64 {
        self.head
    }
    /// Records received since the app started.
    pub fn records(&self) -> u64 {
        self.records
    }
    pub fn events(&self) -> &[Event] {
        &self.events
    }
}

#[cfg(test)]
mod tests;

/// The user's rules on one new reading of `sensor` (compared with its previous one for rates).
/// Returns whether the alarm list changed.
fn observe_rules(
    rules: &RuleSet,
    alarms: &mut Alarms,
    key: &SensorKey,
    sensor: &Sensor,
    c: &ChainedRecord,
    now_ms: f64,
) -> bool {
    let mut changed = false;
    for rule in rules.rules.iter().filter(|r| r.applies_to(key)) {
        let Some(f) = c.record.fields().iter().find(|f| f.name == rule.field) else {
            continue;
        };
        let previous = (sensor.latest.count > 0)
            .then(|| {
                sensor
                    .latest
                    .fields
                    .iter()
                    .find(|p| p.name == f.name)
                    .map(|p| (sensor.latest.ts_us, p.value))
            })
            .flatten();
        let o = Observation {
            key,
            seq: c.seq,
            ts_us: c.record.ts_us(),
            value: f.value,
            previous,
        };
        changed |= alarms.observe(rule, &o, now_ms);
    }
    changed
}
