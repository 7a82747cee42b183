#!/usr/bin/env python3
"""An independent Echoes chain verifier, written from docs/protocol.md alone.

It shares no code with the Rust implementation: it exists to show that the protocol page is
precise enough to re-implement, and the end-to-end tests run it against a real relay's stream.

Input (stdin or a file): JSON frames as the relay sends them on /ws?format=json, one per line.
Output: "valid: N records, head seq S hash H" and exit 0, or the first problem and exit 1.

Checkpoints (section 3.1): their hash is compared with the chain at their seq. Their Ed25519
signature is not checked here: Python's standard library has no Ed25519 (with the
`cryptography` package it is `Ed25519PublicKey.from_public_bytes(key).verify(sig, message)`).
"""
import hashlib
import json
import math
import struct
import sys

DOMAIN_TAG = b"echoes.chain.v1\x00"
GENESIS = bytes(32)


def canonical(rec):
    """Section 2: the canonical record bytes."""
    asset = rec["asset"].encode("utf-8")
    if len(asset) > 128:
        raise ValueError("asset too long")
    fields = sorted(rec["fields"].items(), key=lambda kv: kv[0].encode("utf-8"))
    if not 1 <= len(fields) <= 64:
        raise ValueError("bad field count")
    out = bytearray([1])
    out += struct.pack(">qI", rec["ts_us"], rec["sensor_id"])
    out += struct.pack(">H", len(asset)) + asset
    out.append(len(fields))
    for name, value in fields:
        name = name.encode("utf-8")
        value = float(value)
        if not 1 <= len(name) <= 64 or not math.isfinite(value):
            raise ValueError("bad field")
        if value == 0.0:
            value = 0.0  # negative zero is stored as positive zero
        out.append(len(name))
        out += name + struct.pack(">d", value)
    return bytes(out)


def link(seq, prev, body):
    """Section 3: hash(seq) = SHA-256(tag || seq || prev || body)."""
    return hashlib.sha256(DOMAIN_TAG + struct.pack(">Q", seq) + prev + body).digest()


def verify(lines, from_genesis=False):
    anchor = (1, GENESIS) if from_genesis else None
    count = 0
    seen = {}  # seq -> hash of the records accepted, for checkpoints
    pending = []  # checkpoints whose records have not arrived yet
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        frame = json.loads(line)
        kind = frame["type"]
        if kind == "gap":
            anchor = None  # the next records frame re-anchors
            continue
        if kind == "checkpoint":
            pending.append((frame["seq"], bytes.fromhex(frame["hash"])))
        if kind != "records":
            continue
        records = frame["records"]
        if anchor is None and records:
            anchor = (records[0]["seq"], bytes.fromhex(frame["prev_hash"]))
        for rec in records:
            seq, claimed = rec["seq"], bytes.fromhex(rec["hash"])
            expected, prev = anchor
            if seq < expected:
                return f"seq {seq}: out of order (expected {expected})"
            if seq > expected:
                return f"seq {seq}: records {expected} to {seq - 1} are missing"
            if link(seq, prev, canonical(rec)) != claimed:
                return f"seq {seq}: hash mismatch"
            anchor = (seq + 1, claimed)
            seen[seq] = claimed
            count += 1
        for cp_seq, cp_hash in [p for p in pending if p[0] in seen]:
            if seen[cp_seq] != cp_hash:
                return f"seq {cp_seq}: checkpoint does not match the chain"
        pending = [p for p in pending if p[0] not in seen]
    if anchor is None:
        return "no records"
    return None, count, anchor


def main():
    args = [a for a in sys.argv[1:] if a != "--from-genesis"]
    src = open(args[0], encoding="utf-8") if args else sys.stdin
    result = verify(src, from_genesis="--from-genesis" in sys.argv)
    if isinstance(result, str):
        print(f"invalid: {result}")
        return 1
    _, count, (next_seq, head) = result
    print(f"valid: {count} records, head seq {next_seq - 1} hash {head.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
