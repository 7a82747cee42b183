//! Stage 1, the other way in: MQTT. The relay subscribes to topics on a broker (Mosquitto, EMQX,
//! …) as one persistent session, turns each message into records by the same ingest rules as a
//! TCP line, and acknowledges a QoS 1 message only once its records are journaled: a relay that
//! crashes before that never acknowledged it, so the broker delivers it again.
//!
//! Topic → asset and sensor (docs/protocol.md, section 1.3): the last two levels of the topic are
//! `<asset>/<sensor_id>` (`plant/line-1/pump-01/3`), used when a JSON payload does not name them
//! itself. An Influx payload carries its own (as on a TCP feed). A payload may hold several
//! lines, each a record; a message is acknowledged when its last record is journaled.
//!
//! Delivery is at least once: a message journaled but not yet acknowledged when the relay dies,
//! or when the connection drops, comes again and is chained again.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use echoes_proto::{is_blank, parse_line_with};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::ingested::{now_us, Ack, Ingested};
use crate::{Config, Stats};

/// Where and what to subscribe to.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    /// Topic filters, subscribed at QoS 1.
    pub topics: Vec<String>,
    /// The broker keeps this relay's session under this id across restarts: its subscriptions,
    /// and the messages it has not acknowledged.
    pub client_id: String,
}

impl MqttConfig {
    /// `host:port` of the broker.
    pub fn new(broker: &str, topics: Vec<String>, client_id: String) -> anyhow::Result<Self> {
        let (host, port) = broker
            .rsplit_once(':')
            .ok_or_else(|| anyhow::anyhow!("the MQTT broker must be HOST:PORT, not {broker:?}"))?;
        let port = port
            .parse()
            .map_err(|_| anyhow::anyhow!("bad MQTT broker port in {broker:?}"))?;
        anyhow::ensure!(
            !topics.is_empty(),
            "at least one MQTT topic filter is needed"
        );
        Ok(MqttConfig {
            host: host.trim_matches(['[', ']']).to_string(),
            port,
            topics,
            client_id,
        })
    }
}

/// The asset and sensor id a topic names: its last two levels.
pub fn topic_ids(topic: &str) -> Option<(&str, u32)> {
    let mut levels = topic.rsplit('/');
    let sensor = levels.next()?.parse().ok()?;
    let asset = levels.next().filter(|a| !a.is_empty())?;
    Some((asset, sensor))
}

/// The ingest lines one message carries: each JSON object with the topic's asset and sensor
/// filled in where it names none; Influx lines as they are; blank lines skipped.
pub fn message_lines(topic: &str, payload: &[u8]) -> Vec<Result<Vec<u8>, String>> {
    payload
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !is_blank(l))
        .map(|line| {
            if line.trim_ascii_start().first() != Some(&b'{') {
                return Ok(line.to_vec());
            }
            let mut value: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}"))?;
            if !value.contains_key("sensor_id") || !value.contains_key("asset") {
                let (asset, sensor) = topic_ids(topic).ok_or_else(|| {
                    format!(
                        "the payload names no sensor and topic {topic:?} does not end in \
                         <asset>/<sensor_id>"
                    )
                })?;
                value.entry("sensor_id").or_insert_with(|| sensor.into());
                value.entry("asset").or_insert_with(|| asset.into());
            }
            serde_json::to_vec(&value).map_err(|e| e.to_string())
        })
        .collect()
}

/// Subscribes and ingests until `shutdown`, reconnecting after any failure (the broker keeps the
/// session meanwhile).
pub async fn run(
    mqtt: MqttConfig,
    records: mpsc::Sender<Ingested>,
    config: Arc<Config>,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) {
    let mut options = MqttOptions::new(&mqtt.client_id, &mqtt.host, mqtt.port);
    options
        .set_keep_alive(Duration::from_secs(15))
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_max_packet_size(config.max_line_bytes * 64, 64 * 1024);
    let (client, mut events) = AsyncClient::new(options, 1024);

    // The chain stage says how far this source is journaled (its "line" counter); the acker
    // acknowledges every message whose records are all at or below it, in order.
    let (journaled_tx, journaled_rx) = watch::channel((0u64, 0u64));
    let journaled_tx = Arc::new(journaled_tx);
    // Messages received and not yet acknowledged. Unbounded on purpose: the event loop must
    // never wait on the acker, because the acker's acknowledgements only leave when the event
    // loop is polled (and under a flood of incoming messages it takes them slowly). What bounds
    // it is the broker: it sends only what it holds for this session, and the event loop itself
    // waits on the chain stage's bounded queue.
    let (pending_tx, pending_rx) = mpsc::unbounded_channel::<(u64, u64, Publish)>();
    let (session_tx, session_rx) = watch::channel(0u64);
    let acker = tokio::spawn(acknowledge(
        client.clone(),
        pending_rx,
        journaled_rx,
        session_rx,
        shutdown.clone(),
    ));

    let mut line = 0u64;
    let mut session = 0u64;
    let mut down_since: Option<std::time::Instant> = None;
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => break,
            event = events.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                // A new connection: acknowledgements of the old one's messages would name packet
                // ids that mean nothing now (the broker sends those messages again).
                session += 1;
                session_tx.send_replace(session);
                down_since = None;
                tracing::info!(
                    broker = %format!("{}:{}", mqtt.host, mqtt.port),
                    session_present = ack.session_present,
                    "MQTT connected"
                );
                for topic in &mqtt.topics {
                    if let Err(e) = client.try_subscribe(topic.clone(), QoS::AtLeastOnce) {
                        tracing::warn!("MQTT subscribe to {topic}: {e}");
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                for l in message_lines(&publish.topic, &publish.payload) {
                    let parsed = l.map_err(|e| ("bad_json", e)).and_then(|l| {
                        parse_line_with(&l, now_us(), config.influx_strings)
                            .map_err(|e| (e.kind(), e.to_string()))
                    });
                    match parsed {
                        Ok(p) => {
                            line += 1;
                            stats
                                .lines_accepted
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let ingested = Ingested {
                                record: p.record,
                                ack: Some(Ack {
                                    line,
                                    to: journaled_tx.clone(),
                                }),
                                at: std::time::Instant::now(),
                            };
                            if records.send(ingested).await.is_err() {
                                return; // the chain stage has stopped: so does the relay
                            }
                        }
                        Err((kind, reason)) => {
                            stats.refused(kind);
                            tracing::warn!(topic = %publish.topic, "MQTT message refused: {reason}");
                        }
                    }
                }
                // QoS 0 needs no acknowledgement; a refused message is acknowledged too (it
                // would come back forever), once everything before it is journaled.
                if publish.qos != QoS::AtMostOnce
                    && pending_tx.send((line, session, publish)).is_err()
                {
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => {
                if down_since.is_none() {
                    tracing::warn!("MQTT connection lost ({e}); retrying every second");
                    down_since = Some(std::time::Instant::now());
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
    let _ = client.try_disconnect();
    acker.abort();
}

/// Acknowledges messages in arrival order once everything they carried is journaled, and only on
/// the connection they came on.
async fn acknowledge(
    client: AsyncClient,
    mut pending: mpsc::UnboundedReceiver<(u64, u64, Publish)>,
    mut journaled: watch::Receiver<(u64, u64)>,
    session: watch::Receiver<u64>,
    shutdown: CancellationToken,
) {
    let mut queue: VecDeque<(u64, u64, Publish)> = VecDeque::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            next = pending.recv() => match next {
                Some(p) => queue.push_back(p),
                None => return,
            },
            changed = journaled.changed() => if changed.is_err() { return },
        }
        let done = journaled.borrow_and_update().0;
        let now = *session.borrow();
        while queue.front().is_some_and(|(line, _, _)| *line <= done) {
            let (_, on, publish) = queue.pop_front().expect("checked above");
            if on == now && client.ack(&publish).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(topic: &str, payload: &str, expected: &[Result<&str, &str>]) {
        let got: Vec<Result<String, String>> = message_lines(topic, payload.as_bytes())
            .into_iter()
            .map(|r| r.map(|l| String::from_utf8(l).unwrap()))
            .collect();
        let expected: Vec<Result<String, String>> = expected
            .iter()
            .map(|r| r.map(str::to_string).map_err(str::to_string))
            .collect();
        assert_eq!(got.len(), expected.len(), "{got:?}");
        for (g, e) in got.iter().zip(&expected) {
            match (g, e) {
                (Ok(g), Ok(e)) => assert_eq!(g, e),
                (Err(g), Err(e)) => assert!(g.contains(e.as_str()), "{g} vs {e}"),
                _ => panic!("{got:?} vs {expected:?}"),
            }
        }
    }

    #[test]
    fn topics_name_the_asset_and_sensor_unless_the_payload_does() {
        assert_eq!(topic_ids("plant/line-1/pump-01/3"), Some(("pump-01", 3)));
        assert_eq!(topic_ids("pump-01/3"), Some(("pump-01", 3)));
        assert_eq!(topic_ids("3"), None);
        assert_eq!(topic_ids("plant/pump-01/x"), None);
        check(
            "plant/pump-01/3",
            r#"{"vibration": 2.5}"#,
            &[Ok(r#"{"asset":"pump-01","sensor_id":3,"vibration":2.5}"#)],
        );
        check(
            "plant/pump-01/3",
            r#"{"sensor_id": 9, "asset": "fan", "v": 1}"#,
            &[Ok(r#"{"asset":"fan","sensor_id":9,"v":1}"#)],
        );
        check(
            "plant/pump-01/3",
            "temp,asset=a,sensor_id=4 value=1\n\n{\"v\": 2}\r\n# comment\n",
            &[
                Ok("temp,asset=a,sensor_id=4 value=1"),
                Ok(r#"{"asset":"pump-01","sensor_id":3,"v":2}"#),
            ],
        );
        check("plant/status", r#"{"v": 1}"#, &[Err("does not end in")]);
        check("a/1", "{not json", &[Err("invalid JSON")]);
    }
}
