//! A sensor's recent readings: a ring of fixed capacity, stored column by column so memory is
//! `capacity × (16 + 8 × fields)` bytes whatever the stream does.

use std::collections::VecDeque;
use std::ops::Range;

use echoes_proto::Field;

/// One column per field name; `NaN` where a reading lacked that field.
#[derive(Debug, Clone, PartialEq)]
struct Column {
    name: String,
    values: VecDeque<f64>,
    /// How many of `values` are not `NaN`; the column goes when it reaches 0.
    present: usize,
}

/// Most distinct field names one sensor's history keeps columns for (a record has at most 64;
/// a sensor whose field names keep changing must not grow the ring without bound).
pub const MAX_COLUMNS: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub struct History {
    capacity: usize,
    seq: VecDeque<u64>,
    ts_us: VecDeque<i64>,
    columns: Vec<Column>,
}

/// Minimum, maximum and mean of a field over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub count: usize,
}

/// One stored reading: `(seq, ts_us, [(field, value)])`.
pub type RawReading<'a> = (u64, i64, Vec<(&'a str, f64)>);

/// One stored point of one field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub seq: u64,
    pub ts_us: i64,
    pub value: f64,
}

impl History {
    /// A ring keeping the last `capacity` readings (at least 1).
    pub fn new(capacity: usize) -> History {
        History {
            capacity: capacity.max(1),
            seq: VecDeque::new(),
            ts_us: VecDeque::new(),
            columns: Vec::new(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
    pub fn len(&self) -> usize {
        self.seq.len()
    }
    pub fn is_empty(&self) -> bool {
        self.seq.is_empty()
    }

    pub fn push(&mut self, seq: u64, ts_us: i64, fields: &[Field]) {
        if self.seq.len() == self.capacity {
            self.pop(false);
            // A field that has left the ring entirely gives its column back.
            self.columns.retain(|c| c.present > 0);
        }
        let len = self.seq.len();
        self.seq.push_back(seq);
        self.ts_us.push_back(ts_us);
        for c in &mut self.columns {
            c.values.push_back(f64::NAN);
        }
        for f in fields {
            let i = match self.columns.iter().position(|c| c.name == f.name) {
                Some(i) => i,
                None if self.columns.len() < MAX_COLUMNS => {
                    let mut values = VecDeque::with_capacity(len + 1);
                    values.resize(len + 1, f64::NAN);
                    self.columns.push(Column {
                        name: f.name.clone(),
                        values,
                        present: 0,
                    });
                    self.columns.len() - 1
                }
                None => continue,
            };
            let c = &mut self.columns[i];
            *c.values.back_mut().expect("pushed above") = f.value;
            c.present += 1;
        }
    }

    /// Field names with data in the ring, in the order they first appeared.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    /// Every value of `field`, oldest first, aligned with [`History::times_us`] (NaN where a
    /// reading lacked the field); `None` when no reading in the ring has it.
    pub fn column_values(&self, field: &str) -> Option<Vec<f64>> {
        self.column(field).map(|c| c.iter().copied().collect())
    }

    /// The sensor time of every reading in the ring, oldest first.
    pub fn times_us(&self) -> Vec<i64> {
        self.ts_us.iter().copied().collect()
    }

    fn column(&self, field: &str) -> Option<&VecDeque<f64>> {
        self.columns
            .iter()
            .find(|c| c.name == field)
            .map(|c| &c.values)
    }

    /// Indices of the readings with `t0 <= ts_us <= t1` (sensor time only grows on a sane
    /// sensor; one whose clock jumps back still gets a best-effort answer).
    pub fn range(&self, t0_us: i64, t1_us: i64) -> Range<usize> {
        let a = self.ts_us.partition_point(|&t| t < t0_us);
        let b = self.ts_us.partition_point(|&t| t <= t1_us);
        a..b.max(a)
    }

    /// The points of `field` at indices `range`, skipping readings without it.
    pub fn points(&self, field: &str, range: Range<usize>) -> impl Iterator<Item = Point> + '_ {
        let column = self.column(field);
        range.filter_map(move |i| {
            let value = *column?.get(i)?;
            (!value.is_nan()).then(|| Point {
                seq: self.seq[i],
                ts_us: self.ts_us[i],
                value,
            })
        })
    }

    /// Every point of `field` in the ring, oldest first.
    pub fn all(&self, field: &str) -> impl Iterator<Item = Point> + '_ {
        self.points(field, 0..self.len())
    }

    /// The point of `field` nearest in time to `t_us` among indices `range`.
    pub fn nearest(&self, field: &str, t_us: f64, range: Range<usize>) -> Option<Point> {
        self.points(field, range).min_by(|a, b| {
            let da = (a.ts_us as f64 - t_us).abs();
            let db = (b.ts_us as f64 - t_us).abs();
            da.total_cmp(&db)
        })
    }

    /// Statistics of `field` over the readings at or after `since_us`.
    pub fn stats(&self, field: &str, since_us: i64) -> Option<Stats> {
        self.stats_in(field, self.range(since_us, i64::MAX))
    }

    /// Statistics of `field` over the readings at indices `range` (see [`History::range`]).
    pub fn stats_in(&self, field: &str, range: Range<usize>) -> Option<Stats> {
        let mut s = Stats {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            mean: 0.0,
            count: 0,
        };
        let mut sum = 0.0;
        for p in self.points(field, range) {
            s.min = s.min.min(p.value);
            s.max = s.max.max(p.value);
            sum += p.value;
            s.count += 1;
        }
        (s.count > 0).then(|| Stats {
            mean: sum / s.count as f64,
            ..s
        })
    }

    /// The last `n` readings, newest first.
    pub fn last(&self, n: usize) -> Vec<RawReading<'_>> {
        (self.len().saturating_sub(n)..self.len())
            .rev()
            .map(|i| {
                let fields = self
                    .columns
                    .iter()
                    .filter(|c| !c.values[i].is_nan())
                    .map(|c| (c.name.as_str(), c.values[i]))
                    .collect();
                (self.seq[i], self.ts_us[i], fields)
            })
            .collect()
    }

    /// The newest reading, if any.
    pub fn newest(&self) -> Option<RawReading<'_>> {
        self.last(1).pop()
    }

    /// Of the newest `n` readings, how many have a seq above `seq` (the newest ones, as readings
    /// of one chain arrive in seq order).
    pub fn count_newest_after(&self, n: usize, seq: u64) -> usize {
        self.seq
            .iter()
            .rev()
            .take(n)
            .take_while(|s| **s > seq)
            .count()
    }

    /// Removes the newest `n` readings (columns left empty go); returns how many it removed.
    pub fn drop_newest(&mut self, n: usize) -> usize {
        let n = n.min(self.len());
        for _ in 0..n {
            self.pop(true);
        }
        self.columns.retain(|c| c.present > 0);
        n
    }

    /// Removes the oldest reading, or with `newest` the newest (the ring is not empty).
    fn pop(&mut self, newest: bool) {
        let take = |q: &mut VecDeque<f64>| if newest { q.pop_back() } else { q.pop_front() };
        if newest {
            self.seq.pop_back();
            self.ts_us.pop_back();
        } else {
            self.seq.pop_front();
            self.ts_us.pop_front();
        }
        for c in &mut self.columns {
            if take(&mut c.values).is_some_and(|v| !v.is_nan()) {
                c.present -= 1;
            }
        }
    }

    /// Sensor time of the newest reading.
    pub fn latest_ts(&self) -> Option<i64> {
        self.ts_us.back().copied()
    }
    /// Sensor time of the oldest reading kept.
    pub fn oldest_ts(&self) -> Option<i64> {
        self.ts_us.front().copied()
    }

    /// Bytes this ring holds (for the memory figures).
    pub fn heap_bytes(&self) -> usize {
        self.seq.capacity() * 8
            + self.ts_us.capacity() * 8
            + self
                .columns
                .iter()
                .map(|c| c.values.capacity() * 8 + c.name.capacity())
                .sum::<usize>()
    }
}
