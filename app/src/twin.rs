//! The twin: what the browser knows of every sensor, and how far it has verified the chain.
//!
//! Pure Rust, no browser APIs: the UI feeds it decoded frames and reads it back. Memory is
//! bounded by the number of distinct sensors (one entry each) and a capped event list.

use std::collections::BTreeMap;

use echoes_proto::{ChainError, Field, Follower, Frame};

/// Most integrity events kept (oldest dropped first); the counters keep counting.
pub const MAX_EVENTS: usize = 100;

/// A sensor is identified by its asset and its id; ordered by asset, then id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SensorKey {
    pub asset: String,
    pub sensor_id: u32,
}

impl SensorKey {
    /// A stable text form, `asset/id` (`-/id` without an asset).
    pub fn label(&self) -> String {
        let asset = if self.asset.is_empty() {
            "-"
        } else {
            &self.asset
        };
        format!("{asset}/{}", self.sensor_id)
    }
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

/// How far the browser has verified the chain.
#[derive(Debug, Clone, PartialEq)]
pub enum Integrity {
    /// No record yet.
    Waiting,
    /// Every record received so far links correctly, up to `seq`.
    Verified { seq: u64, records: u64 },
    /// At least one record failed; `first` is the earliest problem, and it stays until reload.
    Broken {
        first: ChainError,
        errors: u64,
        seq: u64,
    },
}

/// Something the integrity view reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A broken link.
    Chain(ChainError),
    /// The relay announced it will not send these records (this client fell behind, or the
    /// relay no longer keeps them).
    Skipped { from: u64, to: u64 },
    /// Records chained while this client was disconnected.
    Missed { from: u64, to: u64 },
    /// The relay's chain started again from seq 1 (relay restarted without its chain).
    Restarted { previous_head: u64 },
}

#[derive(Debug, Default)]
pub struct Twin {
    sensors: BTreeMap<SensorKey, Reading>,
    follower: Follower,
    integrity_errors: u64,
    first_error: Option<ChainError>,
    /// Newest seq received.
    head: u64,
    records: u64,
    events: Vec<Event>,
    /// After a reconnect: the first seq we are owed.
    rejoined_at: Option<u64>,
}

/// What one frame changed, so the UI updates only that.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// Sensors with a new reading, in arrival order, each once.
    pub updated: Vec<SensorKey>,
    /// Whether any of them is new (the sensor list grew).
    pub added: bool,
    /// Whether integrity or events changed.
    pub integrity: bool,
}

impl Twin {
    pub fn new() -> Twin {
        Twin::default()
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

    /// Applies one frame from the relay; `now_ms` is the caller's clock.
    pub fn apply(&mut self, frame: &Frame, now_ms: f64) -> Changes {
        let mut changes = Changes::default();
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
                    changes.integrity = true;
                }
            }
            Frame::Gap { from, to } => {
                self.push_event(Event::Skipped {
                    from: *from,
                    to: *to,
                });
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
        }
        for error in self.follower.frame(frame) {
            self.integrity_errors += 1;
            self.first_error.get_or_insert_with(|| error.clone());
            self.push_event(Event::Chain(error));
        }
        if let Frame::Records { records, .. } = frame {
            for c in records {
                self.records += 1;
                self.head = self.head.max(c.seq);
                let key = SensorKey {
                    asset: c.record.asset().to_owned(),
                    sensor_id: c.record.sensor_id(),
                };
                let count = match self.sensors.get(&key) {
                    Some(r) => r.count + 1,
                    None => {
                        changes.added = true;
                        1
                    }
                };
                if !changes.updated.contains(&key) {
                    changes.updated.push(key.clone());
                }
                self.sensors.insert(
                    key,
                    Reading {
                        seq: c.seq,
                        ts_us: c.record.ts_us(),
                        fields: c.record.fields().to_vec(),
                        received_ms: now_ms,
                        count,
                    },
                );
            }
        }
        changes
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() == MAX_EVENTS {
            self.events.remove(0);
        }
        self.events.push(e);
    }

    pub fn integrity(&self) -> Integrity {
        match &self.first_error {
            Some(first) => Integrity::Broken {
                first: first.clone(),
                errors: self.integrity_errors,
                seq: self.head,
            },
            None if self.records == 0 => Integrity::Waiting,
            None => Integrity::Verified {
                seq: self.head,
                records: self.follower.verifier().verified(),
            },
        }
    }

    pub fn sensors(&self) -> &BTreeMap<SensorKey, Reading> {
        &self.sensors
    }
    pub fn reading(&self, key: &SensorKey) -> Option<&Reading> {
        self.sensors.get(key)
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
