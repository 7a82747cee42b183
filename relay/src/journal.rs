//! The durable journal: every chained record, appended to segment files before it is published,
//! so a client can resume from any seq still retained and a restarted relay continues the same
//! chain.
//!
//! ```text
//! segment file  seg-<first seq, 20 digits>.log
//!   header      "ECHOJNL1" | first_seq u64 | prev_hash [32]          (48 bytes)
//!   entry       body_len u32 | seq u64 | hash [32] | body             (canonical record bytes)
//! ```
//! All integers big-endian. No checksum of its own: the chain is the checksum. On open, the last
//! segment is re-verified link by link from its header; the first entry that does not decode or
//! link (a write torn by a crash or `kill -9`) and everything after it is cut off.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use echoes_proto::{link_hash, ChainedRecord, Hash, Record, FIRST_SEQ, GENESIS};

const MAGIC: &[u8; 8] = b"ECHOJNL1";
const HEADER_LEN: u64 = 8 + 8 + 32;
/// Largest body accepted when reading (a canonical record is far smaller).
const MAX_BODY: usize = 64 * 1024;

/// When appended records reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// After every batch, before it is published: nothing published is ever lost.
    Always,
    /// Left to the operating system: fastest; a power cut may lose the last seconds
    /// (a process crash loses nothing).
    Never,
}

#[derive(Debug, Clone)]
pub struct JournalConfig {
    pub dir: PathBuf,
    pub fsync: Fsync,
    /// A segment is closed and a new one started past this size.
    pub segment_bytes: u64,
    /// Oldest closed segments are deleted while the journal is larger than this.
    pub retain_bytes: Option<u64>,
    /// Closed segments last written longer ago than this are deleted.
    pub retain_age: Option<Duration>,
}

impl JournalConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        JournalConfig {
            dir: dir.into(),
            fsync: Fsync::Always,
            segment_bytes: 64 << 20,
            retain_bytes: None,
            retain_age: None,
        }
    }
}

/// Where the chain stood in the journal when it was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    pub next_seq: u64,
    pub head: Hash,
    /// Bytes cut from the end of the last segment (a torn write).
    pub truncated_bytes: u64,
}

#[derive(Debug)]
struct Segment {
    first_seq: u64,
    path: PathBuf,
}

fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("seg-{first_seq:020}.log"))
}

/// The segments of `dir`, oldest first.
fn list_segments(dir: &Path) -> io::Result<Vec<Segment>> {
    let mut segs = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(first) = name
            .strip_prefix("seg-")
            .and_then(|n| n.strip_suffix(".log"))
        {
            if let Ok(first_seq) = first.parse() {
                segs.push(Segment { first_seq, path });
            }
        }
    }
    segs.sort_by_key(|s| s.first_seq);
    Ok(segs)
}

fn read_header(r: &mut impl Read) -> io::Result<(u64, Hash)> {
    let mut h = [0u8; HEADER_LEN as usize];
    r.read_exact(&mut h)?;
    if &h[..8] != MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not an Echoes journal segment",
        ));
    }
    let first = u64::from_be_bytes(h[8..16].try_into().unwrap());
    Ok((first, h[16..48].try_into().unwrap()))
}

/// Reads one entry; `Ok(None)` at a clean end of file.
fn read_entry(r: &mut impl Read) -> io::Result<Option<(u64, Hash, Vec<u8>)>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_BODY {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "entry too long"));
    }
    let mut fixed = [0u8; 40];
    r.read_exact(&mut fixed)?;
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    let seq = u64::from_be_bytes(fixed[..8].try_into().unwrap());
    Ok(Some((seq, fixed[8..].try_into().unwrap(), body)))
}

pub struct Journal {
    config: JournalConfig,
    /// Closed segments (oldest first); the open one is `current`.
    closed: Vec<Segment>,
    current: Segment,
    writer: BufWriter<File>,
    /// Bytes in the open segment.
    written: u64,
    /// Bytes in the closed segments.
    closed_bytes: u64,
    scratch: Vec<u8>,
}

impl Journal {
    /// Opens (or creates) the journal in `config.dir`, cutting off a torn tail.
    pub fn open(config: JournalConfig) -> io::Result<(Journal, Recovered)> {
        fs::create_dir_all(&config.dir)?;
        let mut segs = list_segments(&config.dir)?;
        let mut truncated_bytes = 0;
        // A segment whose header never made it to disk holds nothing: forget it.
        while let Some(last) = segs.last() {
            let ok = File::open(&last.path)
                .and_then(|mut f| read_header(&mut f))
                .is_ok();
            if ok {
                break;
            }
            truncated_bytes += fs::metadata(&last.path).map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&last.path)?;
            segs.pop();
        }
        let (current, next_seq, head, good_len) = match segs.pop() {
            None => {
                let seg = Segment {
                    first_seq: FIRST_SEQ,
                    path: segment_path(&config.dir, FIRST_SEQ),
                };
                (seg, FIRST_SEQ, GENESIS, 0)
            }
            Some(seg) => {
                let mut r = BufReader::new(File::open(&seg.path)?);
                let (first, mut head) = read_header(&mut r)?;
                let mut next = first;
                let mut good = HEADER_LEN;
                // Walk the chain; stop at the first entry that is cut short or does not link.
                while let Ok(Some((seq, hash, body))) = read_entry(&mut r) {
                    if seq != next
                        || link_hash(seq, &head, &body) != hash
                        || Record::decode(&body).is_err()
                    {
                        break;
                    }
                    head = hash;
                    next += 1;
                    good += 4 + 40 + body.len() as u64;
                }
                let len = fs::metadata(&seg.path)?.len();
                if len > good {
                    truncated_bytes += len - good;
                    OpenOptions::new()
                        .write(true)
                        .open(&seg.path)?
                        .set_len(good)?;
                }
                (seg, next, head, good)
            }
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&current.path)?;
        let closed_bytes = segs
            .iter()
            .map(|s| fs::metadata(&s.path).map(|m| m.len()))
            .sum::<io::Result<u64>>()?;
        let mut journal = Journal {
            config,
            closed_bytes,
            closed: segs,
            current,
            writer: BufWriter::with_capacity(256 * 1024, file),
            written: good_len,
            scratch: Vec::with_capacity(256),
        };
        if good_len == 0 {
            journal.write_header(next_seq, head)?;
        }
        Ok((
            journal,
            Recovered {
                next_seq,
                head,
                truncated_bytes,
            },
        ))
    }

    fn write_header(&mut self, first_seq: u64, prev: Hash) -> io::Result<()> {
        self.writer.write_all(MAGIC)?;
        self.writer.write_all(&first_seq.to_be_bytes())?;
        self.writer.write_all(&prev)?;
        self.written = HEADER_LEN;
        self.writer.flush()?;
        self.writer.get_ref().sync_all()?;
        // The new file's name must reach the disk too.
        if let Ok(dir) = File::open(&self.config.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Appends consecutive records (the next ones of the chain) and makes them as durable as the
    /// fsync policy says before returning.
    pub fn append(&mut self, prev_hash: &Hash, records: &[ChainedRecord]) -> io::Result<()> {
        let Some(first) = records.first() else {
            return Ok(());
        };
        if self.written >= self.config.segment_bytes {
            self.roll(first.seq, *prev_hash)?;
        }
        for c in records {
            self.scratch.clear();
            c.record.encode(&mut self.scratch);
            self.writer
                .write_all(&(self.scratch.len() as u32).to_be_bytes())?;
            self.writer.write_all(&c.seq.to_be_bytes())?;
            self.writer.write_all(&c.hash)?;
            self.writer.write_all(&self.scratch)?;
            self.written += 4 + 40 + self.scratch.len() as u64;
        }
        self.writer.flush()?;
        if self.config.fsync == Fsync::Always {
            self.writer.get_ref().sync_data()?;
        }
        Ok(())
    }

    fn roll(&mut self, first_seq: u64, prev: Hash) -> io::Result<()> {
        self.writer.flush()?;
        self.writer.get_ref().sync_all()?;
        let path = segment_path(&self.config.dir, first_seq);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let old = std::mem::replace(&mut self.current, Segment { first_seq, path });
        self.closed.push(old);
        self.closed_bytes += self.written;
        self.writer = BufWriter::with_capacity(256 * 1024, file);
        self.write_header(first_seq, prev)?;
        self.apply_retention()
    }

    /// Deletes the oldest closed segments beyond the size or age limit.
    fn apply_retention(&mut self) -> io::Result<()> {
        let now = SystemTime::now();
        let mut total = self.size_bytes();
        while let Some(oldest) = self.closed.first() {
            let meta = fs::metadata(&oldest.path)?;
            let too_big = self.config.retain_bytes.is_some_and(|max| total > max);
            let too_old = self.config.retain_age.is_some_and(|max| {
                meta.modified()
                    .ok()
                    .and_then(|m| now.duration_since(m).ok())
                    .is_some_and(|age| age > max)
            });
            if !(too_big || too_old) {
                break;
            }
            fs::remove_file(&oldest.path)?;
            total -= meta.len();
            self.closed_bytes -= meta.len();
            tracing::info!(
                first_seq = oldest.first_seq,
                "journal segment removed by retention"
            );
            self.closed.remove(0);
        }
        Ok(())
    }

    /// Bytes on disk, all segments.
    pub fn size_bytes(&self) -> u64 {
        self.closed_bytes + self.written
    }
}

/// Reads records back from a journal directory, in order, from a given seq.
pub struct JournalReader {
    segments: Vec<Segment>,
    file: Option<BufReader<File>>,
    next_seq: u64,
    /// Hash of the record before `next_seq`.
    prev: Hash,
}

impl JournalReader {
    /// A reader positioned at `from`, or at the oldest retained record if `from` is older.
    /// `None` if the journal holds nothing at or after `from`.
    pub fn open(dir: &Path, from: u64) -> io::Result<Option<JournalReader>> {
        let segs = list_segments(dir)?;
        // The last segment starting at or before `from` holds it (if anything does).
        let start = segs.iter().rposition(|s| s.first_seq <= from).unwrap_or(0);
        let mut segments: Vec<Segment> = segs.into_iter().skip(start).collect();
        segments.reverse(); // pop() takes the oldest
        let mut reader = JournalReader {
            segments,
            file: None,
            next_seq: 0,
            prev: GENESIS,
        };
        if !reader.next_file()? {
            return Ok(None);
        }
        // Skip to `from`.
        while reader.next_seq < from {
            let Some(file) = reader.file.as_mut() else {
                return Ok(None);
            };
            match read_entry(file)? {
                Some((seq, hash, _)) => {
                    reader.next_seq = seq + 1;
                    reader.prev = hash;
                }
                None => {
                    if !reader.next_file()? {
                        return Ok(None);
                    }
                }
            }
        }
        Ok(Some(reader))
    }

    fn next_file(&mut self) -> io::Result<bool> {
        let Some(seg) = self.segments.pop() else {
            self.file = None;
            return Ok(false);
        };
        let mut r = BufReader::with_capacity(256 * 1024, File::open(&seg.path)?);
        let (first, prev) = read_header(&mut r)?;
        self.next_seq = first;
        self.prev = prev;
        self.file = Some(r);
        Ok(true)
    }

    /// The seq the next record will have.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Up to `max` records, consecutive, with the hash the first links to; stops after `last`.
    pub fn read(
        &mut self,
        max: usize,
        last: u64,
    ) -> io::Result<Option<(Hash, Vec<ChainedRecord>)>> {
        let prev = self.prev;
        let mut out = Vec::new();
        while out.len() < max && self.next_seq <= last {
            let Some(file) = self.file.as_mut() else {
                break;
            };
            match read_entry(file)? {
                Some((seq, hash, body)) => {
                    let record = Record::decode(&body).map_err(|e| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("journal seq {seq}: {e}"),
                        )
                    })?;
                    self.next_seq = seq + 1;
                    self.prev = hash;
                    out.push(ChainedRecord { seq, hash, record });
                }
                None => {
                    if !self.next_file()? {
                        break;
                    }
                }
            }
        }
        Ok((!out.is_empty()).then_some((prev, out)))
    }
}

/// The oldest seq a journal directory still holds (`None`: empty or absent).
pub fn oldest_seq(dir: &Path) -> Option<u64> {
    list_segments(dir).ok()?.first().map(|s| s.first_seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use echoes_proto::{Chainer, Verifier};

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("echoes-journal-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn records(chainer: &mut Chainer, n: u32) -> (Hash, Vec<ChainedRecord>) {
        let prev = chainer.head();
        let recs = (0..n)
            .map(|i| {
                chainer.append(
                    Record::new(i as i64, "pump-01", i, [("v".to_string(), i as f64)]).unwrap(),
                )
            })
            .collect();
        (prev, recs)
    }

    /// Reads everything from `from` and checks it links from the reader's own anchor.
    fn read_all(dir: &Path, from: u64) -> Vec<ChainedRecord> {
        let Some(mut r) = JournalReader::open(dir, from).unwrap() else {
            return vec![];
        };
        let mut out = Vec::new();
        let mut verifier = None;
        while let Some((prev, recs)) = r.read(7, u64::MAX).unwrap() {
            let v = verifier.get_or_insert_with(|| Verifier::anchored(recs[0].seq, prev));
            for c in &recs {
                v.check(c).unwrap();
            }
            out.extend(recs);
        }
        out
    }

    #[test]
    fn reopening_continues_the_chain() {
        let dir = temp_dir("reopen");
        let (mut j, rec) = Journal::open(JournalConfig::new(&dir)).unwrap();
        assert_eq!(
            (rec.next_seq, rec.head, rec.truncated_bytes),
            (1, GENESIS, 0)
        );
        let mut chainer = Chainer::new();
        let (prev, batch) = records(&mut chainer, 10);
        j.append(&prev, &batch).unwrap();
        drop(j);
        let (_, rec) = Journal::open(JournalConfig::new(&dir)).unwrap();
        assert_eq!((rec.next_seq, rec.head), (11, chainer.head()));
        assert_eq!(read_all(&dir, 1), batch);
        assert_eq!(read_all(&dir, 4), batch[3..].to_vec());
        assert_eq!(read_all(&dir, 11), vec![]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_torn_tail_is_cut_off() {
        let dir = temp_dir("torn");
        let mut chainer = Chainer::new();
        let (mut j, _) = Journal::open(JournalConfig::new(&dir)).unwrap();
        let (prev, batch) = records(&mut chainer, 5);
        j.append(&prev, &batch).unwrap();
        drop(j);
        let seg = segment_path(&dir, 1);
        let whole = fs::metadata(&seg).unwrap().len();
        // Cut the last entry in the middle, as a crash mid-write would.
        for cut in [1, 10, 30, 45] {
            let f = OpenOptions::new().write(true).open(&seg).unwrap();
            f.set_len(whole - cut).unwrap();
            drop(f);
            let (_, rec) = Journal::open(JournalConfig::new(&dir)).unwrap();
            assert_eq!(rec.next_seq, 5, "cut {cut}");
            assert_eq!(rec.head, batch[3].hash);
            assert_eq!(read_all(&dir, 1), batch[..4].to_vec());
            // Put the last record back for the next round.
            let (mut j, _) = Journal::open(JournalConfig::new(&dir)).unwrap();
            j.append(&batch[3].hash, &batch[4..]).unwrap();
        }
        // Garbage after a good entry: cut off too, whatever it is.
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(b"\x00\x00\x00\x10garbage that does not link")
            .unwrap();
        drop(f);
        let (_, rec) = Journal::open(JournalConfig::new(&dir)).unwrap();
        assert_eq!((rec.next_seq, rec.truncated_bytes), (6, 30));
        assert_eq!(fs::metadata(&seg).unwrap().len(), whole);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn segments_roll_and_retention_drops_the_oldest() {
        let dir = temp_dir("retention");
        let config = JournalConfig {
            segment_bytes: 1000,
            retain_bytes: Some(3000),
            ..JournalConfig::new(&dir)
        };
        let (mut j, _) = Journal::open(config.clone()).unwrap();
        let mut chainer = Chainer::new();
        for _ in 0..20 {
            let (prev, batch) = records(&mut chainer, 10);
            j.append(&prev, &batch).unwrap();
        }
        let segs = list_segments(&dir).unwrap();
        assert!(segs.len() >= 2, "rolled into {} segments", segs.len());
        // Retention removes whole segments: at most one segment (two 770-byte batches) over the limit.
        assert!(
            j.size_bytes() <= 3000 + 1600,
            "{} bytes kept",
            j.size_bytes()
        );
        let oldest = oldest_seq(&dir).unwrap();
        assert!(oldest > 1, "the oldest segments were removed");
        // What is left reads back in order, from the oldest retained record to the head.
        let all = read_all(&dir, 1);
        assert_eq!(all.first().unwrap().seq, oldest);
        assert_eq!(all.last().unwrap().seq, 200);
        assert_eq!(read_all(&dir, oldest + 5).len() as u64, 200 - oldest - 4);
        // Asking for a seq retention removed starts at the oldest one kept.
        assert_eq!(read_all(&dir, oldest - 1).first().unwrap().seq, oldest);
        drop(j);
        let (_, rec) = Journal::open(config).unwrap();
        assert_eq!((rec.next_seq, rec.head), (201, chainer.head()));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_segment_without_its_header_is_forgotten() {
        let dir = temp_dir("header");
        let (mut j, _) = Journal::open(JournalConfig::new(&dir)).unwrap();
        let mut chainer = Chainer::new();
        let (prev, batch) = records(&mut chainer, 3);
        j.append(&prev, &batch).unwrap();
        drop(j);
        // A crash right after creating the next segment file.
        fs::write(segment_path(&dir, 4), b"ECHO").unwrap();
        let (_, rec) = Journal::open(JournalConfig::new(&dir)).unwrap();
        assert_eq!((rec.next_seq, rec.head), (4, chainer.head()));
        assert!(!segment_path(&dir, 4).exists());
        fs::remove_dir_all(dir).unwrap();
    }
}
