"""Check a librealsense ``.db3`` recording before playing it; salvage what a kill or damage left.

Why: librealsense 2.59 writes recordings through its embedded rosbag2 SQLite storage with no rollback
journal on disk and no fsync (``strace`` of a recording shows no ``-journal``/``-wal`` file and no
``fdatasync``; the writes come from librealsense's own writer thread, one transaction per message).
A process killed while SQLite writes a transaction's pages therefore leaves a half-updated B-tree:
the header (page 1, written first) already counts the new pages but the file ends before them, and
SQLite then reports "database disk image is malformed" for the whole file. The pages of earlier
transactions are untouched (an append-only table only adds pages and appends cells to its last leaf),
so every message written before the kill is still in the file; only the tree that leads to it is broken.

What :func:`check_recording` does, once per file version (the verdict is cached by path, size and
modification time):

1. ``PRAGMA quick_check``; if the file is structurally damaged (or SQLite cannot read it), every page
   is scanned instead and the rows of ``topics`` and ``messages`` are read straight from the table leaf
   pages (cells, overflow chains), like SQLite's ``.recover``, but row by row: one broken row does
   not take the rest with it, and a row whose overflow chain leaves the file is dropped.
2. Every image message is checked: its serialised layout (CDR strings, lengths), and for PNG payloads
   every chunk's CRC and the final IEND chunk; every image needs its metadata message (frame number).
3. A frame with a damaged or missing part is dropped (in depth3d recordings: all its streams, by frame
   number) and counted; frames of a recording cut short at its end (the writer died, its
   ``.NAME.recording`` marker remains) that never got all their messages are counted as cut, not damaged.
4. If anything was dropped, or the file was cut short, a clean copy holding the intact frames is written
   into the cache (the original is never modified) and played instead; a cut-short depth3d recording
   also gets its message times rewritten to the frames' own times, as :class:`~depth3d.capture.record.Recorder`
   does at close.
"""

from __future__ import annotations

import hashlib
import json
import math
import mmap
import os
import sqlite3
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
#: bump when the checks change: cached verdicts of older checks are ignored
_CHECK_VERSION = 2

_SCHEMA = ["CREATE TABLE topics(id INTEGER PRIMARY KEY,name TEXT NOT NULL,type TEXT NOT NULL,"
           "serialization_format TEXT NOT NULL,offered_qos_profiles TEXT NOT NULL)",
           "CREATE TABLE messages(id INTEGER PRIMARY KEY,topic_id INTEGER NOT NULL,timestamp INTEGER NOT NULL, "
           "data BLOB NOT NULL)",
           "CREATE INDEX timestamp_idx ON messages (timestamp ASC)"]


@dataclass
class CheckResult:
    """Verdict of :func:`check_recording`.

    Attributes:
        path: the file to play (the original, or the repaired copy in the cache).
        damaged_frames: frames dropped because a part of them is damaged or missing.
        cut_frames: frames at the end of a cut-short recording that were never completely written.
        repaired: True when ``path`` is a repaired copy.
        salvaged: True when the file's SQLite structure was broken and its rows were read page by page.
        unfinished: True when the recording's writer died before closing it.
        notes: short human-readable remarks (what was wrong).
        damaged_numbers: frame numbers of the damaged frames (where their metadata was readable).
    """

    path: Path
    damaged_frames: int = 0
    cut_frames: int = 0
    repaired: bool = False
    salvaged: bool = False
    unfinished: bool = False
    notes: list[str] = field(default_factory=list)
    damaged_numbers: list[int] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- page scan
def _varint(buf, i: int) -> tuple[int, int]:
    v = 0
    for k in range(8):
        b = buf[i + k]
        v = (v << 7) | (b & 0x7F)
        if b < 0x80:
            return v, i + k + 1
    return (v << 8) | buf[i + 8], i + 9


def _decode_record(payload: bytes) -> list[Any]:
    hlen, i = _varint(payload, 0)
    types = []
    while i < hlen:
        t, i = _varint(payload, i)
        types.append(t)
    if i != hlen:
        raise ValueError("bad record header")
    out: list[Any] = []
    p = hlen
    for t in types:
        if t == 0:
            out.append(None)
        elif 1 <= t <= 6:
            n = (1, 2, 3, 4, 6, 8)[t - 1]
            out.append(int.from_bytes(payload[p:p + n], "big", signed=True))
            p += n
        elif t == 7:
            if p + 8 > len(payload):
                raise ValueError("record runs past its payload")
            out.append(struct.unpack(">d", payload[p:p + 8])[0])
            p += 8
        elif t in (8, 9):
            out.append(t - 8)
        elif t >= 12:
            n = (t - 12) // 2
            v = payload[p:p + n]
            out.append(bytes(v) if t % 2 == 0 else bytes(v).decode("utf-8"))
            p += n
        else:
            raise ValueError("bad serial type")
        if p > len(payload):
            raise ValueError("record runs past its payload")
    return out


def scan_rows(path: str | Path) -> tuple[dict[int, tuple], dict[int, tuple], list[str]]:
    """Read the ``topics`` and ``messages`` rows of a (possibly damaged) SQLite file page by page.

    Returns ``(topics {id: (name, type, serialization_format, offered_qos_profiles)},
    messages {id: (topic_id, timestamp, data)}, schema SQL statements found)``. Rows are recognised by
    their shape (messages: NULL, int, int, blob; topics: NULL then text naming a topic); a cell that
    cannot be decoded, or whose overflow chain leaves the file or loops, is skipped."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 512:
            return {}, {}, []
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        page_size = int.from_bytes(mm[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        if page_size < 512 or page_size & (page_size - 1):
            return {}, {}, []
        usable = page_size - mm[20]
        n_pages = size // page_size
        max_local = usable - 35
        min_local = ((usable - 12) * 32 // 255) - 23
        topics: dict[int, tuple] = {}
        messages: dict[int, tuple] = {}
        schema: list[str] = []
        # pages on the freelist keep stale cells (rows since updated): skip them
        free: set[int] = set()
        trunk = int.from_bytes(mm[32:36], "big")
        while 1 <= trunk <= n_pages and trunk not in free:
            free.add(trunk)
            tb = (trunk - 1) * page_size
            count = int.from_bytes(mm[tb + 4:tb + 8], "big")
            if count > (usable - 8) // 4:
                break
            free.update(int.from_bytes(mm[tb + 8 + 4 * j:tb + 12 + 4 * j], "big") for j in range(count))
            trunk = int.from_bytes(mm[tb:tb + 4], "big")
        for pg in range(1, n_pages + 1):
            if pg in free:
                continue
            base = (pg - 1) * page_size
            hdr = base + (100 if pg == 1 else 0)
            if mm[hdr] != 0x0D:  # table leaf page
                continue
            ncells = int.from_bytes(mm[hdr + 3:hdr + 5], "big")
            if ncells * 2 + 8 > page_size:
                continue
            for c in range(ncells):
                try:
                    off = int.from_bytes(mm[hdr + 8 + 2 * c:hdr + 10 + 2 * c], "big")
                    if not 8 <= off < page_size:
                        continue
                    i = base + off
                    plen, i = _varint(mm, i)
                    rowid, i = _varint(mm, i)
                    if plen > size:
                        continue
                    if plen <= max_local:
                        local = plen
                    else:
                        k = min_local + (plen - min_local) % (usable - 4)
                        local = k if k <= max_local else min_local
                    if i + local > base + page_size:
                        continue
                    parts = [mm[i:i + local]]
                    got = local
                    if local < plen:
                        nxt = int.from_bytes(mm[i + local:i + local + 4], "big")
                        seen = set()
                        while got < plen:
                            if not 1 <= nxt <= n_pages or nxt in seen:
                                raise ValueError("overflow chain leaves the file")
                            seen.add(nxt)
                            ob = (nxt - 1) * page_size
                            take = min(usable - 4, plen - got)
                            parts.append(mm[ob + 4:ob + 4 + take])
                            got += take
                            nxt = int.from_bytes(mm[ob:ob + 4], "big")
                    rec = _decode_record(b"".join(parts))
                except (ValueError, IndexError, UnicodeDecodeError, struct.error):
                    continue  # a damaged cell: skip it, the rest of the page still counts
                if len(rec) == 4 and rec[0] is None and isinstance(rec[1], int) and isinstance(rec[2], int) \
                        and isinstance(rec[3], bytes):
                    messages.setdefault(rowid, (rec[1], rec[2], rec[3]))
                elif len(rec) >= 5 and rec[0] is None and isinstance(rec[1], str) and rec[1].startswith("/") \
                        and all(isinstance(v, str) for v in rec[2:5]):
                    topics.setdefault(rowid, tuple(rec[1:5]))
                elif len(rec) == 5 and rec[0] in ("table", "index") and isinstance(rec[4], str):
                    schema.append(rec[4])
        return topics, messages, schema
    finally:
        mm.close()


# ---------------------------------------------------------------------------------------------- message checks
def _cdr_string(b: bytes, off: int) -> tuple[bytes, int]:
    n = struct.unpack_from("<I", b, off)[0]
    off += 4
    if n == 0 or off + n > len(b) or b[off + n - 1] != 0:
        raise ValueError("bad string")
    s = b[off:off + n - 1]
    off += n
    return s, off + (-off) % 4


def _png_ok(b: bytes) -> bool:
    if not b.startswith(_PNG_SIG):
        return False
    off = 8
    while off + 12 <= len(b):
        n = int.from_bytes(b[off:off + 4], "big")
        end = off + 12 + n
        if end > len(b):
            return False
        kind = b[off + 4:off + 8]
        if zlib.crc32(b[off + 4:off + 8 + n]) != int.from_bytes(b[off + 8 + n:end], "big"):
            return False
        if kind == b"IEND":
            return True
        off = end
    return False


def image_message_ok(data: bytes, msg_type: str) -> bool:
    """True if a serialised ``sensor_msgs/CompressedImage`` or ``sensor_msgs/Image`` (CDR) is intact:
    consistent lengths, and for PNG payloads every chunk CRC and the final IEND chunk."""
    try:
        if data[:4] != b"\x00\x01\x00\x00":
            return False
        off = 12  # encapsulation, stamp (sec, nanosec)
        _, off = _cdr_string(data, off)  # frame_id
        if msg_type.endswith("CompressedImage"):
            fmt, off = _cdr_string(data, off)
            n = struct.unpack_from("<I", data, off)[0]
            payload = data[off + 4:off + 4 + n]
            if off + 4 + n != len(data) or n == 0:
                return False
            if b"compressedDepth" in fmt:
                return _png_ok(payload[12:]) if b"png" in fmt else len(payload) > 12
            if b"png" in fmt:
                return _png_ok(payload)
            if b"jpeg" in fmt or b"jpg" in fmt:
                return payload[:2] == b"\xff\xd8"
            return True
        height, width = struct.unpack_from("<II", data, off)
        _, off = _cdr_string(data, off + 8)  # encoding
        off += 1  # is_bigendian
        off += (-off) % 4
        step, n = struct.unpack_from("<II", data, off)
        return n == step * height and off + 8 + n == len(data) and step >= width
    except (struct.error, ValueError, IndexError):
        return False


def _frame_number(data: bytes) -> int | None:
    i = data.find(b"Frame number=")
    if i < 0:
        return None
    j = data.find(b";", i)
    try:
        return int(data[i + 13:j if j >= 0 else None].rstrip(b"\x00"))
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------- the check
def _cache_dir(cache_dir: str | Path | None) -> Path:
    d = Path(cache_dir or os.environ.get("DEPTH3D_CACHE", Path.home() / ".cache" / "depth3d")) / "checked"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _uri(path: Path, mode: str | None = None) -> str:
    """SQLite URI of ``path`` (percent-encoded, so names with ``?``, ``#`` or ``%`` work), with ``mode``."""
    from urllib.parse import quote

    return f"file:{quote(str(Path(path).resolve()))}" + (f"?mode={mode}" if mode else "")


def _open_intact(path: Path) -> sqlite3.Connection | None:
    """A read-only SQLite connection when the file passes ``quick_check``; None when it does not."""
    try:
        con = sqlite3.connect(_uri(path, "ro"), uri=True, timeout=2.0)
    except sqlite3.Error:
        return None
    try:
        ok = con.execute("PRAGMA quick_check").fetchone()
        if ok and ok[0] == "ok":
            return con
    except sqlite3.DatabaseError:
        pass
    con.close()
    return None


def _survey(topics: dict[int, tuple], rows: Iterator[tuple]) -> tuple[dict[tuple[str, int], dict[str, Any]], bytes]:
    """One pass over message rows ``(id, topic_id, timestamp, data)``: per (stream, message time) the
    message ids, whether the image is intact and its frame number; plus the device info message.
    Only these small facts are kept, never the image data."""
    names = {tid: t[0] for tid, t in topics.items()}
    types = {tid: t[1] for tid, t in topics.items()}
    device_info = b""
    frames: dict[tuple[str, int], dict[str, Any]] = {}
    for mid, tid, ts, data in rows:
        name = names.get(tid)
        if name is None:
            continue
        if name == "/device_0/info":
            device_info = bytes(data)
        if "/image/" not in name:
            continue
        stream = name.split("/image/")[0]
        f = frames.setdefault((stream, ts), {"ids": [], "ok": None, "number": None})
        f["ids"].append(mid)
        if "/image/data" in name:
            f["ok"] = image_message_ok(bytes(data), types[tid])
        elif name.endswith("/image/metadata"):
            f["number"] = _frame_number(bytes(data))
    return frames, device_info


def check_recording(path: str | Path, cache_dir: str | Path | None = None,
                    unfinished: bool = False) -> CheckResult:
    """Check ``path`` (a ``.db3`` recording) and return the file to play plus what was wrong with it.

    ``unfinished``: the recording's writer died before closing it (its marker file remains). Raises
    ValueError (naming the file) when not one intact depth frame is left. See the module docstring."""
    path = Path(path)
    st = path.stat()
    key = hashlib.sha1(f"{_CHECK_VERSION}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{unfinished}"
                       .encode()).hexdigest()[:16]
    cache = _cache_dir(cache_dir)
    verdict_file = cache / f"{path.stem}-{key}.json"
    if verdict_file.is_file():
        try:
            v = json.loads(verdict_file.read_text())
            out = CheckResult(path=Path(v["path"]) if v.get("repaired") else path,
                              **{k: v[k] for k in ("damaged_frames", "cut_frames", "repaired", "salvaged",
                                                   "unfinished", "notes", "damaged_numbers")})
            if out.path.is_file():
                return out
        except (ValueError, KeyError, TypeError, OSError):
            pass
    # An intact file is read row by row (only ids, times and verdicts are kept: a long recording is not
    # loaded into memory) and copied, if it needs repair, by SQLite itself; a damaged one is read page by
    # page into memory (its rows can only be found that way).
    con = _open_intact(path)
    messages: dict[int, tuple] | None = None
    try:
        if con is not None:
            try:
                schema = [r[0] for r in con.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")]
                topics = {r[0]: tuple(r[1:5]) for r in con.execute(
                    "SELECT id, name, type, serialization_format, offered_qos_profiles FROM topics")}
                frames, device_info = _survey(topics, con.execute(
                    "SELECT id, topic_id, timestamp, data FROM messages"))
            except sqlite3.DatabaseError:
                con.close()
                con = None
        if con is None:
            topics, messages, schema = scan_rows(path)
            frames, device_info = _survey(topics, ((mid, *m) for mid, m in messages.items()))
    finally:
        if con is not None:
            con.close()
    salvaged = messages is not None
    result = CheckResult(path=path, salvaged=salvaged, unfinished=unfinished)
    if salvaged:
        result.notes.append("SQLite structure damaged: rows read page by page")
    if not any(name == "/file_version" for name, *_ in topics.values()):
        raise ValueError(f"recording {path} is damaged beyond use: its table of streams cannot be read")
    depth3d_file = b"Product Line=depth3d:" in device_info
    bad = [k for k, f in frames.items() if not f["ok"] or f["number"] is None]
    drop: set[tuple[str, int]] = set(bad)
    missing: set[int] = set()
    if depth3d_file:  # streams share frame numbers: a damaged or missing part takes the whole frame
        numbers = {frames[k]["number"] for k in bad if frames[k]["number"] is not None}
        good: dict[str, set[int]] = {}
        for (stream, ts), f in frames.items():
            if f["ok"] and f["number"] is not None and ("/Depth_" in stream or "/Color_" in stream):
                good.setdefault(stream, set()).add(f["number"])
        every = set().union(*good.values()) if good else set()
        missing = {n for n in every for g in good.values() if n not in g}
        numbers |= missing
        drop |= {k for k, f in frames.items() if f["number"] in numbers}
    # frames at the very end of a cut-short recording that never got all their messages: cut, not damaged
    cut: set[tuple[str, int]] = set()
    if unfinished and (bad or missing):
        last_good: dict[str, int] = {}  # by message id: write order (write times are not monotonic)
        for (stream, ts), f in frames.items():
            if f["ok"] and f["number"] is not None:
                last_good[stream] = max(last_good.get(stream, -1), min(f["ids"]))
        for k in bad:
            if min(frames[k]["ids"]) > last_good.get(k[0], -1) and frames[k]["ok"] is not False:
                cut.add(k)
        if missing:  # the last frame numbers, written by one stream but not yet by another
            whole = {f["number"] for k, f in frames.items() if k not in bad} - missing
            top = max(whole) if whole else -1
            cut |= {k for k, f in frames.items() if f["number"] in missing and f["number"] > top}
    depth_streams = {s for s, _ in frames if "/Depth_" in s}
    damaged_depth = {(s, t) for (s, t) in drop - cut if s in depth_streams}
    # a frame counts once: its depth message (other streams' parts that could not be tied to a frame
    # number count on their own)
    result.damaged_frames = len(damaged_depth) + sum(
        1 for (s, t) in drop - cut if s not in depth_streams and frames[(s, t)]["number"] is None)
    result.damaged_frames = min(result.damaged_frames, sum(1 for k in frames if k[0] in depth_streams))
    result.damaged_numbers = sorted({frames[k]["number"] for k in drop - cut if frames[k]["number"] is not None})
    result.cut_frames = len({t for s, t in cut if s in depth_streams})
    kept_depth = sum(1 for k in frames if k[0] in depth_streams and k not in drop)
    if kept_depth == 0:
        what = f"{result.damaged_frames} damaged frame(s)" if result.damaged_frames else "no image frames"
        raise ValueError(f"recording {path} is damaged beyond use: no intact depth frame left ({what})")
    if result.damaged_frames:
        result.notes.append(f"{result.damaged_frames} damaged frame(s) dropped")

    if drop or salvaged or unfinished:
        out = cache / f"{path.stem}-{key}.db3"
        tmp = cache / f".{out.stem}.{os.getpid()}.tmp.db3"
        tmp.unlink(missing_ok=True)
        dropped_ids = {mid for k in drop for mid in frames[k]["ids"]}
        con = sqlite3.connect(_uri(tmp), isolation_level=None, uri=True)
        try:
            statements = [s for s in schema if s.upper().startswith(("CREATE TABLE", "CREATE INDEX"))
                          and "sqlite_" not in s] or _SCHEMA
            con.execute("BEGIN")
            for s in statements:
                con.execute(s)
            con.executemany("INSERT INTO topics(id, name, type, serialization_format, offered_qos_profiles) "
                            "VALUES (?, ?, ?, ?, ?)", [(tid, *t[:4]) for tid, t in sorted(topics.items())])
            if messages is not None:  # rows read page by page
                con.executemany("INSERT INTO messages(id, topic_id, timestamp, data) VALUES (?, ?, ?, ?)",
                                ((mid, m[0], m[1], m[2]) for mid, m in sorted(messages.items())
                                 if mid not in dropped_ids and m[0] in topics))
            else:  # an intact file: SQLite copies the rows, blob by blob, without holding them all
                con.execute("COMMIT")
                con.execute("ATTACH DATABASE ? AS src", (_uri(path, "ro"),))
                con.execute("BEGIN")
                con.execute("CREATE TEMP TABLE dropped(id INTEGER PRIMARY KEY)")
                con.executemany("INSERT INTO temp.dropped(id) VALUES (?)", ((i,) for i in sorted(dropped_ids)))
                con.execute("INSERT INTO main.messages(id, topic_id, timestamp, data) "
                            "SELECT id, topic_id, timestamp, data FROM src.messages "
                            "WHERE id NOT IN (SELECT id FROM temp.dropped) "
                            "AND topic_id IN (SELECT id FROM main.topics) ORDER BY id")
            con.execute("COMMIT")
        finally:
            con.close()
        if unfinished and depth3d_file:
            from depth3d.capture.record import retime_messages

            retime_messages(tmp)
        os.replace(tmp, out)
        result.path, result.repaired = out, True
        if unfinished:
            result.notes.append("recording cut short (its writer died): finished in a copy")
    tmpv = verdict_file.with_name(f".{verdict_file.name}.{os.getpid()}.tmp")
    tmpv.write_text(json.dumps({"path": str(result.path), "damaged_frames": result.damaged_frames,
                                "cut_frames": result.cut_frames, "repaired": result.repaired,
                                "salvaged": result.salvaged, "unfinished": result.unfinished,
                                "notes": result.notes, "damaged_numbers": result.damaged_numbers}))
    os.replace(tmpv, verdict_file)
    return result
