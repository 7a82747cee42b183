//! The replay feeder on real data: NASA C-MAPSS FD001 and AI4I 2020, from `../shared/data`
//! (or `ECHOES_DATA`). Where the data is not there, each test says it was skipped and why.

use echoes_proto::{ChainedRecord, Follower, Frame};
use echoes_tests::{data_file, within, TestRelay};
use relay::replay::{load, CsvColumns};
use relay::Config;

async fn replay_into_relay(lines: &[String]) -> Vec<ChainedRecord> {
    let relay = TestRelay::start(Config::default()).await;
    let (mut client, _) = relay.client("").await;
    let sent = within(relay::replay::run(
        relay.ingest,
        lines,
        5000.0,
        relay.shutdown.clone(),
    ))
    .await
    .unwrap();
    assert_eq!(sent as usize, lines.len());
    let frames = client.frames_until(lines.len()).await;
    let mut follower = Follower::new();
    let errors: Vec<_> = frames.iter().flat_map(|f| follower.frame(f)).collect();
    assert_eq!(errors, vec![]);
    relay.stop().await;
    frames
        .into_iter()
        .flat_map(|f| match f {
            Frame::Records { records, .. } => records,
            _ => vec![],
        })
        .collect()
}

#[tokio::test]
async fn cmapss_rows_arrive_as_one_asset_per_engine_with_every_value() {
    let Some(path) = data_file("cmapss/train_FD001.txt") else {
        return;
    };
    let loaded = load(&path, &CsvColumns::default(), Some(600)).unwrap();
    assert_eq!(loaded.lines.len(), 600);
    let got = replay_into_relay(&loaded.lines).await;
    let text = std::fs::read_to_string(&path).unwrap();
    for (row, rec) in text.lines().zip(&got) {
        let cols: Vec<f64> = row.split_whitespace().map(|c| c.parse().unwrap()).collect();
        let unit = cols[0] as u32;
        assert_eq!(rec.record.asset(), format!("train_FD001-unit-{unit}"));
        assert_eq!(rec.record.sensor_id(), unit);
        assert_eq!(rec.record.field("cycle"), Some(cols[1]));
        assert_eq!(rec.record.field("setting1"), Some(cols[2]));
        for s in 1..=21 {
            assert_eq!(
                rec.record.field(&format!("s{s}")),
                Some(cols[4 + s]),
                "s{s} of {row}"
            );
        }
        assert_eq!(rec.record.fields().len(), 25);
    }
    // 600 rows of FD001 cover engines 1 to 3 (192 + 287 cycles, then engine 3).
    let engines: std::collections::BTreeSet<u32> =
        got.iter().map(|r| r.record.sensor_id()).collect();
    assert_eq!(engines.into_iter().collect::<Vec<_>>(), vec![1, 2, 3]);
}

#[tokio::test]
async fn ai4i_csv_rows_arrive_with_their_numeric_columns() {
    let Some(path) = data_file("ai4i2020/ai4i2020.csv") else {
        return;
    };
    let columns = CsvColumns {
        asset: Some("Type".into()),
        ..CsvColumns::default()
    };
    let loaded = load(&path, &columns, Some(300)).unwrap();
    assert_eq!(loaded.skipped_cells, 300, "the Product ID column is text");
    let got = replay_into_relay(&loaded.lines).await;
    let first = &got[0].record;
    assert_eq!(first.asset(), "M");
    assert_eq!(first.field("UDI"), Some(1.0));
    assert_eq!(first.field("Air temperature [K]"), Some(298.1));
    assert_eq!(first.field("Rotational speed [rpm]"), Some(1551.0));
    assert_eq!(first.field("Machine failure"), Some(0.0));
    let assets: std::collections::BTreeSet<&str> = got.iter().map(|r| r.record.asset()).collect();
    assert_eq!(assets.into_iter().collect::<Vec<_>>(), vec!["H", "L", "M"]);
    assert!(load(
        &path,
        &CsvColumns {
            asset: Some("Nope".into()),
            ..CsvColumns::default()
        },
        Some(1)
    )
    .unwrap_err()
    .to_string()
    .starts_with("no column \"Nope\""));
}
