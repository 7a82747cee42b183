//! The fan-out stage driven through channels: what a client that stops reading gets.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::extract::ws::Message;
use echoes_proto::{Follower, Frame, Record};
use futures_util::StreamExt;
use relay::chain::Chain;
use relay::fanout::{send_loop, Format, Session};
use relay::ingested::Ingested;
use relay::{Config, Stats};
use tokio_util::sync::{CancellationToken, PollSender};

fn record(i: u32) -> Record {
    Record::new(i as i64, "a", i, [("v".to_string(), i as f64)]).unwrap()
}

fn decode(msg: Message) -> Frame {
    match msg {
        Message::Binary(b) => Frame::from_binary(&b).unwrap(),
        Message::Text(t) => Frame::from_json(&t).unwrap(),
        other => panic!("unexpected {other:?}"),
    }
}

/// A client that reads nothing while 100 batches pass a queue of 4 gets gap notices naming
/// exactly what it missed, then the newest batches, and its chain still verifies around the gaps.
#[tokio::test]
async fn a_lagging_client_gets_an_exact_gap_and_resumes() {
    for format in [Format::Binary, Format::Json] {
        let config = Arc::new(Config {
            fanout_queue: 4,
            max_batch: 1,
            ..Config::default()
        });
        let stats = Arc::new(Stats::default());
        let chain = Chain::new(config.clone(), stats.clone(), None);
        let hub = chain.hub();
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let chain_task = tokio::task::spawn_blocking(move || chain.run(rx));

        // A sink with room for one message, read only later: the send loop blocks on its first
        // batch, as it would on a stuck socket.
        let (sink_tx, mut client) = tokio::sync::mpsc::channel::<Message>(1);
        let subscription = hub.subscribe();
        let shutdown = CancellationToken::new();
        let sender = tokio::spawn(send_loop(
            PollSender::new(sink_tx),
            subscription,
            Session {
                format,
                relay_name: "test".into(),
                ..Session::default()
            },
            stats.clone(),
            shutdown.clone(),
        ));

        for i in 1..=100 {
            tx.send(Ingested {
                record: record(i),
                ack: None,
                at: std::time::Instant::now(),
            })
            .await
            .unwrap();
        }
        drop(tx);
        chain_task.await.unwrap().unwrap(); // every record is chained and published

        let mut frames = Vec::new();
        while let Some(msg) = client.recv().await {
            let f = decode(msg);
            let last =
                matches!(&f, Frame::Records { records, .. } if records.last().unwrap().seq == 100);
            frames.push(f);
            if last {
                break;
            }
        }
        shutdown.cancel();
        sender.await.unwrap();

        assert!(matches!(frames[0], Frame::Hello { head_seq: 0, .. }));
        let gaps: Vec<(u64, u64)> = frames
            .iter()
            .filter_map(|f| match f {
                Frame::Gap { from, to } => Some((*from, *to)),
                _ => None,
            })
            .collect();
        // How many times it falls behind depends on scheduling; at least once, surely.
        assert!(!gaps.is_empty(), "{format:?}: {frames:?}");
        // Every seq is either delivered once or inside the announced gap.
        let mut seen: Vec<u64> = frames
            .iter()
            .flat_map(|f| match f {
                Frame::Records { records, .. } => records.iter().map(|r| r.seq).collect(),
                _ => vec![],
            })
            .collect();
        for (from, to) in &gaps {
            seen.extend(*from..=*to);
        }
        seen.sort();
        assert_eq!(seen, (1..=100).collect::<Vec<_>>(), "{format:?}");
        let mut follower = Follower::from_genesis();
        let errors: Vec<_> = frames.iter().flat_map(|f| follower.frame(f)).collect();
        assert_eq!(errors, vec![], "{format:?}");
        assert_eq!(follower.gaps(), &gaps[..]);
        // The counters agree with what the client was told, gap for gap and record for record.
        assert_eq!(stats.client_gaps.load(Relaxed), gaps.len() as u64);
        let skipped: u64 = gaps.iter().map(|(from, to)| to - from + 1).sum();
        assert_eq!(stats.records_skipped.load(Relaxed), skipped);
    }
}

/// The receive half ends when the client closes, and a closed client ends the send half.
#[tokio::test]
async fn a_closing_client_ends_both_halves() {
    let config = Arc::new(Config::default());
    let stats = Arc::new(Stats::default());
    let chain = Chain::new(config.clone(), stats.clone(), None);
    let hub = chain.hub();
    let (_tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::task::spawn_blocking(move || chain.run(rx));
    let (sink_tx, mut sink_rx) = tokio::sync::mpsc::channel::<Message>(8);
    let incoming = futures_util::stream::iter([
        Ok::<_, std::io::Error>(Message::Text("hi".into())),
        Ok(Message::Close(None)),
    ]);
    let serve = relay::fanout::serve(
        PollSender::new(sink_tx),
        incoming.boxed(),
        hub,
        Session::default(),
        stats.clone(),
        CancellationToken::new(),
    );
    tokio::time::timeout(std::time::Duration::from_secs(10), serve)
        .await
        .expect("serve ends");
    assert!(matches!(
        decode(sink_rx.recv().await.unwrap()),
        Frame::Hello { .. }
    ));
    assert_eq!(stats.clients_connected.load(Relaxed), 0);
    assert_eq!(stats.clients_total.load(Relaxed), 1);
}
