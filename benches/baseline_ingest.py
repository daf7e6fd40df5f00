#!/usr/bin/env python3
"""Baseline for `cargo bench --bench import_mix`: the simplest durable
ingester of sbuild log mails, standard library only.
Usage: baseline_ingest.py MBOX DB"""
import email, gzip, mailbox, re, sqlite3, sys
from email.header import decode_header, make_header

SUBJECT = re.compile(r"Log for (\S+) build of ([^_\s]+)_(\S+?)(?: on (\S+))? \(")
STATUS = re.compile(rb"^Status: (\S+)", re.M)


def the_log(msg):
    for part in msg.walk():
        ctype, name = part.get_content_type(), part.get_filename() or ""
        if ctype == "application/x-gzip":
            return gzip.decompress(part.get_payload(decode=True))
        if ctype == "text/plain" and (not msg.is_multipart() or name.endswith(".build")):
            return part.get_payload(decode=True)
    return b""


def main(mbox_path, db_path):
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS logs (message_id TEXT PRIMARY KEY, package TEXT,"
               " version TEXT, arch TEXT, status TEXT, log_size INTEGER)")
    box = mailbox.mbox(mbox_path, create=False)
    for key in box.iterkeys():
        msg = email.message_from_bytes(box.get_bytes(key))
        subject = " ".join(str(make_header(decode_header(msg["Subject"] or ""))).split())
        m = SUBJECT.search(subject)
        log = the_log(msg)
        s = STATUS.search(log, max(0, log.rfind(b"| Summary")))  # the Summary's Status
        status = s.group(1).decode() if s else (m.group(1) if m else None)
        db.execute("INSERT INTO logs VALUES (?, ?, ?, ?, ?, ?)",
                   (str(msg["Message-ID"]).strip(), *(m.group(2, 3, 4) if m else (None,) * 3),
                    status, len(log)))
        db.commit()  # one durable commit per mail
    print(f"stored {db.execute('SELECT count(*) FROM logs').fetchone()[0]} mails")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
