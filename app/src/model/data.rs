//! Reading the two public data sets as they are shipped: NASA C-MAPSS text files (whitespace
//! separated: unit, cycle, 3 settings, 21 sensors) and the AI4I 2020 CSV (UCI). Both parsers take
//! text, so the app reads an uploaded file the same way a test reads one from disk.

use super::ModelError;

/// One row of a C-MAPSS file.
#[derive(Debug, Clone, PartialEq)]
pub struct CmapssRow {
    pub unit: u32,
    pub cycle: u32,
    pub settings: [f64; 3],
    pub sensors: [f64; 21],
}

/// Parses a C-MAPSS `train_FDxxx.txt` or `test_FDxxx.txt`.
pub fn cmapss(text: &str) -> Result<Vec<CmapssRow>, ModelError> {
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Vec<f64> = line
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|e| ModelError::Data(format!("line {}: {e}", n + 1)))?;
        if v.len() != 26 {
            return Err(ModelError::Data(format!(
                "line {}: {} columns, a C-MAPSS row has 26",
                n + 1,
                v.len()
            )));
        }
        let mut settings = [0.0; 3];
        settings.copy_from_slice(&v[2..5]);
        let mut sensors = [0.0; 21];
        sensors.copy_from_slice(&v[5..26]);
        rows.push(CmapssRow {
            unit: v[0] as u32,
            cycle: v[1] as u32,
            settings,
            sensors,
        });
    }
    if rows.is_empty() {
        return Err(ModelError::Data("no rows".into()));
    }
    Ok(rows)
}

/// Parses `RUL_FDxxx.txt`: one true remaining life per test unit.
pub fn cmapss_rul(text: &str) -> Result<Vec<f64>, ModelError> {
    text.split_whitespace()
        .map(|v| {
            v.parse()
                .map_err(|e| ModelError::Data(format!("RUL value {v:?}: {e}")))
        })
        .collect()
}

/// Rows grouped by unit, each in cycle order.
pub fn units(rows: &[CmapssRow]) -> Vec<Vec<CmapssRow>> {
    let mut map: std::collections::BTreeMap<u32, Vec<CmapssRow>> = Default::default();
    for r in rows {
        map.entry(r.unit).or_default().push(r.clone());
    }
    map.into_values()
        .map(|mut u| {
            u.sort_by_key(|r| r.cycle);
            u
        })
        .collect()
}

/// One row of AI4I 2020.
#[derive(Debug, Clone, PartialEq)]
pub struct Ai4iRow {
    /// `L`, `M` or `H` (product quality).
    pub kind: char,
    pub air_k: f64,
    pub process_k: f64,
    pub rpm: f64,
    pub torque_nm: f64,
    pub wear_min: f64,
    pub failure: bool,
}

/// Parses `ai4i2020.csv` (columns found by their header names; a UTF-8 BOM is fine).
pub fn ai4i(text: &str) -> Result<Vec<Ai4iRow>, ModelError> {
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| ModelError::Data(e.to_string()))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| ModelError::Data(format!("no column {name:?}")))
    };
    let c = [
        col("Type")?,
        col("Air temperature [K]")?,
        col("Process temperature [K]")?,
        col("Rotational speed [rpm]")?,
        col("Torque [Nm]")?,
        col("Tool wear [min]")?,
        col("Machine failure")?,
    ];
    let mut rows = Vec::new();
    for (n, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| ModelError::Data(e.to_string()))?;
        let num = |i: usize| -> Result<f64, ModelError> {
            rec.get(c[i])
                .unwrap_or("")
                .trim()
                .parse()
                .map_err(|e| ModelError::Data(format!("row {}: {e}", n + 2)))
        };
        rows.push(Ai4iRow {
            kind: rec
                .get(c[0])
                .and_then(|t| t.trim().chars().next())
                .unwrap_or('?'),
            air_k: num(1)?,
            process_k: num(2)?,
            rpm: num(3)?,
            torque_nm: num(4)?,
            wear_min: num(5)?,
            failure: num(6)? != 0.0,
        });
    }
    Ok(rows)
}

/// A stratified split: `test_fraction` of each class (rounded) goes to the test part, chosen by
/// a seeded shuffle. Returns `(train, test)` row indices.
pub fn stratified_split(
    labels: &[bool],
    test_fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for class in [false, true] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        idx.shuffle(&mut rng);
        let k = (idx.len() as f64 * test_fraction).round() as usize;
        test.extend_from_slice(&idx[..k]);
        train.extend_from_slice(&idx[k..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

/// Stratified k-fold assignment (each class dealt round-robin after a seeded shuffle).
pub fn stratified_folds(labels: &[bool], k: usize, seed: u64) -> Vec<usize> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut folds = vec![0; labels.len()];
    for class in [false, true] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        idx.shuffle(&mut rng);
        for (n, i) in idx.into_iter().enumerate() {
            folds[i] = n % k.max(1);
        }
    }
    folds
}
