//! The replay feeder: streams recorded data into a relay as a feed, so real data can be watched
//! and learned from live.
//!
//! - NASA C-MAPSS text files (`train_FD001.txt`, `test_FD001.txt`, …): whitespace-separated rows
//!   of unit, cycle, 3 operational settings and 21 sensors. Each engine unit is one asset
//!   (`<file stem>-unit-<n>`, e.g. `train_FD001-unit-7`), sensor id = unit, fields `cycle`,
//!   `setting1..3`, `s1..s21`.
//! - CSV with a header row (e.g. AI4I 2020): every numeric column is a field; the columns chosen
//!   as asset, sensor id and time map to those; other non-numeric cells are left out (and
//!   counted). A byte-order mark before the header is ignored.
//!
//! Records carry the replay time as their timestamp unless a time column is given.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// How to read a CSV file.
#[derive(Debug, Clone, Default)]
pub struct CsvColumns {
    /// Column whose value names the asset (default: the file stem for every row).
    pub asset: Option<String>,
    /// Column whose value is the sensor id (an integer; default 0).
    pub sensor: Option<String>,
    /// Column with Unix seconds (default: the replay time).
    pub time: Option<String>,
}

/// Ingest lines ready to send, and how many CSV cells were left out as non-numeric.
#[derive(Debug, Default)]
pub struct Loaded {
    pub lines: Vec<String>,
    pub skipped_cells: u64,
}

/// C-MAPSS column names after unit and cycle.
fn cmapss_columns() -> Vec<String> {
    let settings = (1..=3).map(|i| format!("setting{i}"));
    let sensors = (1..=21).map(|i| format!("s{i}"));
    settings.chain(sensors).collect()
}

/// Whether a file looks like C-MAPSS: 26 numeric whitespace-separated columns, no header.
pub fn is_cmapss(first_line: &str) -> bool {
    let cols: Vec<&str> = first_line.split_whitespace().collect();
    cols.len() == 26 && cols.iter().all(|c| c.parse::<f64>().is_ok())
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("replay")
        .to_string()
}

/// Reads a C-MAPSS or CSV file into ingest lines (at most `limit` rows).
pub fn load(path: &Path, columns: &CsvColumns, limit: Option<usize>) -> anyhow::Result<Loaded> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = text.trim_start_matches('\u{feff}');
    let first = text.lines().next().unwrap_or("");
    let limit = limit.unwrap_or(usize::MAX);
    if is_cmapss(first) {
        return load_cmapss(text, &stem(path), limit);
    }
    load_csv(text, &stem(path), columns, limit)
}

fn load_cmapss(text: &str, stem: &str, limit: usize) -> anyhow::Result<Loaded> {
    let names = cmapss_columns();
    let mut lines = Vec::new();
    for (n, row) in text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(limit)
        .enumerate()
    {
        let cols: Vec<&str> = row.split_whitespace().collect();
        if cols.len() != 26 {
            bail!(
                "line {}: {} columns, C-MAPSS rows have 26",
                n + 1,
                cols.len()
            );
        }
        let unit: u32 = cols[0]
            .parse()
            .with_context(|| format!("line {}: unit", n + 1))?;
        let mut obj = Map::new();
        obj.insert("sensor_id".into(), unit.into());
        obj.insert("asset".into(), format!("{stem}-unit-{unit}").into());
        obj.insert("cycle".into(), number(cols[1], n)?);
        for (name, value) in names.iter().zip(&cols[2..]) {
            obj.insert(name.clone(), number(value, n)?);
        }
        lines.push(Value::Object(obj).to_string());
    }
    Ok(Loaded {
        lines,
        skipped_cells: 0,
    })
}

fn number(s: &str, line: usize) -> anyhow::Result<Value> {
    let v: f64 = s
        .parse()
        .with_context(|| format!("line {}: {s:?} is not a number", line + 1))?;
    Ok(serde_json::Number::from_f64(v)
        .map(Value::Number)
        .unwrap_or(Value::Null))
}

fn load_csv(text: &str, stem: &str, columns: &CsvColumns, limit: usize) -> anyhow::Result<Loaded> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader.headers()?.clone();
    let find = |name: &Option<String>| -> anyhow::Result<Option<usize>> {
        match name {
            None => Ok(None),
            Some(n) => match headers.iter().position(|h| h == n) {
                Some(i) => Ok(Some(i)),
                None => bail!(
                    "no column {n:?}; the columns are {:?}",
                    headers.iter().collect::<Vec<_>>()
                ),
            },
        }
    };
    let (asset_col, sensor_col, time_col) = (
        find(&columns.asset)?,
        find(&columns.sensor)?,
        find(&columns.time)?,
    );
    let mut loaded = Loaded::default();
    for (n, row) in reader.records().take(limit).enumerate() {
        let row = row.with_context(|| format!("row {}", n + 1))?;
        let mut obj = Map::new();
        obj.insert(
            "asset".into(),
            asset_col
                .map_or_else(|| stem.to_string(), |i| row[i].to_string())
                .into(),
        );
        let sensor: u32 = match sensor_col {
            Some(i) => row[i]
                .parse()
                .with_context(|| format!("row {}: sensor id {:?}", n + 1, &row[i]))?,
            None => 0,
        };
        obj.insert("sensor_id".into(), sensor.into());
        if let Some(i) = time_col {
            obj.insert("timestamp".into(), number(&row[i], n)?);
        }
        for (i, (name, cell)) in headers.iter().zip(row.iter()).enumerate() {
            if Some(i) == asset_col || Some(i) == sensor_col || Some(i) == time_col {
                continue;
            }
            match cell.parse::<f64>() {
                Ok(v) if v.is_finite() => {
                    obj.insert(
                        name.to_string(),
                        serde_json::Number::from_f64(v)
                            .map(Value::Number)
                            .unwrap_or(Value::Null),
                    );
                }
                _ => loaded.skipped_cells += 1,
            }
        }
        // The relay would refuse every such row ("a record needs at least one field"): say so
        // before sending anything, and name the columns.
        let fields = obj.len() - 2 - usize::from(time_col.is_some());
        if fields == 0 {
            bail!(
                "row {}: no numeric value outside the asset, sensor and time columns, and a record \
                 needs one; the columns are {:?}",
                n + 1,
                headers.iter().collect::<Vec<_>>()
            );
        }
        loaded.lines.push(Value::Object(obj).to_string());
    }
    Ok(loaded)
}

/// Sends `lines` to the relay at `rate` lines a second (in small bursts, 100 a second at most),
/// until done or `shutdown`. Returns how many were sent. Refusals the relay answers are logged.
pub async fn run(
    addr: SocketAddr,
    lines: &[String],
    rate: f64,
    shutdown: CancellationToken,
) -> anyhow::Result<u64> {
    anyhow::ensure!(
        rate.is_finite() && rate > 0.0,
        "the rate must be a positive number of lines a second"
    );
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot reach the relay at {addr}"))?;
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let replies = tokio::spawn(async move {
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::warn!("relay: {line}");
        }
    });
    let ticks_per_sec = rate.min(100.0);
    let per_tick = rate / ticks_per_sec;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / ticks_per_sec));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent = 0usize;
    let mut due = 0.0f64;
    let mut buf = String::new();
    while sent < lines.len() {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        due += per_tick;
        let n = (due.floor() as usize).min(lines.len() - sent);
        due -= n as f64;
        buf.clear();
        for line in &lines[sent..sent + n] {
            buf.push_str(line);
            buf.push('\n');
        }
        write
            .write_all(buf.as_bytes())
            .await
            .context("relay closed the feed")?;
        sent += n;
    }
    let _ = write.shutdown().await;
    // Refusals for the last lines may still be on their way; give them a moment, bounded.
    let _ = tokio::time::timeout(Duration::from_secs(2), replies).await;
    Ok(sent as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(csv: &str, expected: Result<usize, &str>) {
        let path = std::env::temp_dir().join(format!(
            "echoes-replay-{}-{}.csv",
            std::process::id(),
            csv.len()
        ));
        std::fs::write(&path, csv).unwrap();
        let got = load(&path, &CsvColumns::default(), None)
            .map(|l| l.lines.len())
            .map_err(|e| e.to_string());
        std::fs::remove_file(&path).unwrap();
        match (got, expected) {
            (Ok(n), Ok(m)) => assert_eq!(n, m),
            (Err(e), Err(start)) => assert!(e.starts_with(start), "{e}"),
            (got, _) => panic!("{csv:?}: {got:?}"),
        }
    }

    #[test]
    fn a_csv_without_numbers_is_refused_before_anything_is_sent() {
        check("a,b\n1,2\n3,x\n", Ok(2));
        check("name,colour\nalpha,red\n", Err("row 1: no numeric value"));
        check("a,name\n1,x\n,y\n", Err("row 2: no numeric value"));
    }
}
