"""The wire is the parser at the trust boundary: hostile frames, written byte by byte here, and what the judge
makes of them. Then the judge's client against a forged jail (a thread writing to the jail's end of the
socket, as student code in a jail can): every size, count and deadline is the judge's, not the jail's."""
from __future__ import annotations

import json
import socket
import struct
import threading
import time

import pytest
import torch

from autograder import wire
from autograder.jail.spawn import JailHandle, JailSpec
from autograder.judge.client import JailClient
from autograder.judge.feedback import StudentError


def frame(header, blobs=(), *, magic=b"AGW1", raw_header: bytes | None = None, size: int | None = None) -> bytes:
    data = raw_header if raw_header is not None else json.dumps(dict(header, blobs=[len(b) for b in blobs])).encode()
    return magic + struct.pack("<I", len(data) if size is None else size) + data + b"".join(blobs)


def received(data: bytes, *, untrusted=True, deadline_s: float = 2.0, close=True):
    """What `wire.recv` makes of `data` sent on a fresh socket pair (then closed when `close`)."""
    a, b = socket.socketpair()
    try:
        threading.Thread(target=lambda: (b.sendall(data), b.close() if close else None), daemon=True).start()
        return wire.recv(a, deadline=time.monotonic() + deadline_s, untrusted=untrusted)
    finally:
        a.close()


def t_node(index, dtype="float32", shape=(2,), device="cpu"):
    return {"__tensor__": index, "dtype": dtype, "shape": list(shape), "device": device}


FLOATS = struct.pack("<2f", 1.0, 2.0)


# ---------------------------------------------------------------- framing
def test_a_good_frame_round_trips():
    header, blobs = received(frame({"ok": True, "value": t_node(0)}, [FLOATS]))
    assert header["ok"] is True
    assert wire.decode_value(header["value"], blobs).tolist() == [1.0, 2.0]


@pytest.mark.parametrize("data,message", [
    (frame({}, magic=b"EVIL"), "bad frame magic"),
    (b"AGW1" + struct.pack("<I", 0xFFFFFFFF), "exceeds"),                         # a 4 GiB header, never allocated
    (frame({}, raw_header=b"[1, 2]"), "header is not an object"),
    (frame({}, raw_header=b'"text"'), "header is not an object"),
    (frame({}, raw_header=b"{not json"), "header is not JSON"),
    (frame({}, raw_header=b'{"a": [' + b"[]," * 100_000 + b"[]]}"), "lists and objects"),  # before parsing
    (frame({}, raw_header=b"[" * 5_000 + b"]" * 5_000), "JSON"),                  # RecursionError in json
    (frame({}, raw_header=b'{"a": ' + b"[" * 60 + b"]" * 60 + b"}"), "nested too deeply"),
    (frame({}, raw_header=b'{"a": ' + b"9" * 5000 + b"}"), "header is not JSON"),  # int > 4300 digits
    (frame({}, raw_header=b'{"a": [' + b"0," * 500_000 + b"0]}"), "values"),
    (frame({}, raw_header=b'{"blobs": [-1]}'), "bad blob table"),
    (frame({}, raw_header=b'{"blobs": [1.5]}'), "bad blob table"),
    (frame({}, raw_header=b'{"blobs": "12"}'), "bad blob table"),
    (frame({}, raw_header=json.dumps({"blobs": [1] * 4097}).encode()), "bad blob table"),
    (frame({}, raw_header=json.dumps({"blobs": [200 << 20, 200 << 20]}).encode()), "bad blob table"),
])
def test_malformed_frames_are_refused(data, message):
    with pytest.raises(wire.WireError, match=message):
        received(data)


def test_truncated_frames_are_closed_not_waited_for():
    whole = frame({"ok": True, "value": t_node(0)}, [FLOATS])
    for cut in (3, 8, 20, len(whole) - 1):
        with pytest.raises(wire.Closed):
            received(whole[:cut])


def test_a_blob_table_that_promises_more_than_is_sent_times_out():
    data = frame({}, raw_header=json.dumps({"blobs": [1 << 20]}).encode()) + b"x" * 10
    started = time.monotonic()
    with pytest.raises(wire.Timeout):
        received(data, deadline_s=0.5, close=False)
    assert time.monotonic() - started < 2.0


def test_a_drip_fed_frame_hits_the_frame_deadline_not_a_per_read_one():
    """One byte every 0.2 s keeps every single read under any per-read timeout; the frame's deadline holds."""
    a, b = socket.socketpair()
    data = frame({"ok": True, "stdout": "x" * 200})
    stop = threading.Event()

    def drip():
        for byte in data:
            if stop.is_set():
                return
            try:
                b.send(bytes([byte]))
            except OSError:
                return
            time.sleep(0.2)
    threading.Thread(target=drip, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(wire.Timeout):
        wire.recv(a, deadline=time.monotonic() + 1.0, untrusted=True)
    took = time.monotonic() - started
    stop.set()
    a.close()
    b.close()
    assert 0.9 < took < 1.6, took
    assert len(data) * 0.2 > 40   # it would have taken this long to arrive


def test_send_to_a_peer_that_never_reads_times_out():
    a, b = socket.socketpair()
    started = time.monotonic()
    with pytest.raises(wire.Timeout):
        wire.send(a, {"op": "call"}, [b"\0" * (64 << 20)], deadline=time.monotonic() + 0.5)
    assert time.monotonic() - started < 2.0
    assert a.gettimeout() is None   # the socket's own timeout is restored
    a.close()
    b.close()


# ---------------------------------------------------------------- strings from a jail
def test_every_string_from_a_jail_is_made_safe_once_on_receipt():
    evil = "\x1b[2J\x1b[H100 / 100\rok\udcff\u202eexe.txt\x00\x9b31m"
    header, _ = received(frame({"message": evil, "list": [evil, {"k": evil}],
                                evil: "key", "long": "y" * 50_000}))
    assert header["message"] == "100 / 100\nok\ufffdexe.txt"
    assert header["list"] == ["100 / 100\nok\ufffdexe.txt", {"k": "100 / 100\nok\ufffdexe.txt"}]
    assert header["100 / 100\nok\ufffdexe.txt"] == "key"
    assert len(header["long"]) == 20_000 and header["long"].endswith("[... cut: 50000 characters in all]")
    # the same frame from the judge (trusted): strings as they are (a cell's source is code, not display text)
    trusted, _ = received(frame({"message": evil}), untrusted=False)
    assert trusted["message"] == evil


def test_a_plain_header_skips_the_walk_and_loses_nothing():
    """Printable ASCII without escapes, short and shallow: nothing to clean, nothing to count (the fast path);
    one escape, one non-ASCII byte or one more level, and it is walked."""
    header = {"ok": True, "value": t_node(0), "grads": [None], "stdout": "", "watched": {"tampered": False}}
    raw = json.dumps(dict(header, blobs=[8])).encode()
    assert wire._plain_header(bytearray(raw))
    got, _ = received(frame(header, [FLOATS]))
    assert got == dict(header, blobs=[8])
    for other in ({"stdout": "a\nb"}, {"stdout": "\u00e9"}, {"v": [[[[]]]] * 20}, {"s": "x" * 20_001}):
        assert not wire._plain_header(bytearray(json.dumps(other).encode()))


def test_lone_surrogates_in_raw_utf8_bytes_are_cleaned_too():
    raw = b'{"m": "a\xed\xb3\xbfb", "blobs": []}'   # json.loads decodes bytes with surrogatepass
    header, _ = received(frame({}, raw_header=raw))
    assert header["m"] == "a\ufffdb"


# ---------------------------------------------------------------- tensors
def test_a_blob_named_twice_is_refused():
    big = b"\0" * (16 << 20)
    node = {"__tensor__": 0, "dtype": "uint8", "shape": [16 << 20], "device": "cpu"}
    header, blobs = received(frame({"value": {"__tuple__": [node] * 12}}, [big]))
    with pytest.raises(wire.WireError, match="used twice"):
        wire.decode_value(header["value"], blobs)


def test_the_same_blob_across_a_replys_fields_is_refused():
    header, blobs = received(frame({"value": t_node(0), "args": [t_node(0)]}, [FLOATS]))
    wire.decode_value(header["value"], blobs)
    with pytest.raises(wire.WireError, match="used twice"):
        wire.decode_value(header["args"][0], blobs)


@pytest.mark.parametrize("node,message", [
    (t_node(0, dtype="complex64"), "unknown dtype"),
    (t_node(0, dtype=["float32"]), "unknown dtype"),
    (t_node(0, shape=(3,)), "byte count"),                     # 8 bytes sent, 12 claimed
    (t_node(0, shape=(1, 1)), "byte count"),
    (t_node(0, shape=(-2,)), "bad tensor shape"),
    (t_node(0, shape=(2,) * 9), "bad tensor shape"),
    (t_node(0, shape=(2.0,)), "bad tensor shape"),
    (t_node(0, device="cuda:999"), "bad device"),
    (t_node(0, device="../../x"), "bad device"),
    (t_node(5), "bad blob index"),
    (t_node(True), "bad blob index"),
    ({"__tensor__": -1, "dtype": "float32", "shape": [2**31 - 1] * 3, "device": "meta"}, "meta tensor"),
    ({"__special__": ["nan"]}, "special"),
    ({"__special__": "oops"}, "special"),
    ({"__dict__": [[1, 2]]}, "bad dict"),
    ({"__tuple__": "x"}, "bad tuple"),
    ({"what": 1}, "unknown object"),
])
def test_tensor_and_value_lies_are_refused(node, message):
    header, blobs = received(frame({"value": node}, [FLOATS]))
    with pytest.raises(wire.WireError, match=message):
        wire.decode_value(header["value"], blobs)


def test_a_bool_tensor_holds_only_zeros_and_ones():
    header, blobs = received(frame({"value": t_node(0, dtype="bool", shape=(4,))}, [bytes([0, 1, 2, 255])]))
    t = wire.decode_value(header["value"], blobs)
    assert t.dtype == torch.bool and t.view(torch.uint8).tolist() == [0, 1, 1, 1]


def test_a_decoded_tensor_owns_its_bytes():
    header, blobs = received(frame({"value": t_node(0)}, [FLOATS]))
    t = wire.decode_value(header["value"], blobs)
    t.add_(1)
    assert t.tolist() == [2.0, 3.0]


def test_deep_values_are_refused():
    node = 1
    for _ in range(26):
        node = {"__tuple__": [node]}
    header, blobs = received(frame({"value": node}))
    with pytest.raises(wire.WireError, match="nested too deeply"):
        wire.decode_value(header["value"], blobs)


# ---------------------------------------------------------------- the client against a forged jail
class FakeSession:
    """Stands in for a zygote session: each spawn is a socket pair whose far end a test thread plays."""

    def __init__(self, play):
        self.play, self.spawned = play, 0

    def spawn(self, spec):
        ours, theirs = socket.socketpair()
        self.spawned += 1
        threading.Thread(target=self._run, args=(theirs, spec), daemon=True).start()
        return JailHandle(sock=ours, init_pid=-1, isolation="namespaces")

    def _run(self, sock, spec):
        try:
            self.play(sock, spec)
        except OSError:
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass


def client(play, cells=((0, "x = 1"), (1, "y = 2")), **kw):
    return JailClient(FakeSession(play), JailSpec(cells=list(cells), cell_timeout=1.0), startup_budget=20, **kw)


def honest_start(sock, spec, *, defined=None):
    for index, _ in spec.cells:
        wire.send(sock, {"event": "cell_start", "index": index})
        wire.send(sock, {"event": "cell_done", "record": {"index": index, "status": "ok", "error": "",
                                                           "output": ""}})
    wire.send(sock, {"event": "ready", "defined": defined or {"f": "function"}})


def test_forged_cell_records_are_capped_and_counted():
    """The red team's 171 MB reports: records for cells never sent, the same cell many times, huge outputs."""
    def play(sock, spec):
        wire.send(sock, {"event": "cell_start", "index": 0})
        wire.send(sock, {"event": "cell_done", "record": {"index": 0, "status": "ok", "error": "e" * 19_000,
                                                           "output": "o" * 19_000, "extra": "x" * 19_000,
                                                           "notes": ["n" * 500] * 100}})
        for _ in range(1000):   # then a flood: the same cell again, cells never sent
            wire.send(sock, {"event": "cell_done", "record": {"index": 0, "output": "o" * 19_000}})
        time.sleep(5)
    c = client(play)
    c.start()
    assert len(c.cells) == 2
    first = c.cells[0]
    assert set(first) == {"index", "status", "error", "output", "notes"}
    assert len(first["error"]) <= 4_100 and len(first["output"]) <= 8_200
    assert len(first["notes"]) == 20 and all(len(n) == 200 for n in first["notes"])
    assert c.cells[1]["status"] == "skipped"
    assert c.handle is None and "protocol" in c.last_death


@pytest.mark.parametrize("event", [
    {"event": "cell_start", "index": 7},                    # an index it was not given
    {"event": "cell_start", "index": 1},                    # out of order
    {"event": "cell_start", "index": "0"},
    {"event": "cell_done", "record": {"index": 0}},         # done before started
    {"event": "what"},
    {"event": ["ready"]},
])
def test_events_out_of_protocol_kill_the_jail(event):
    def play(sock, spec):
        wire.send(sock, event)
        time.sleep(5)
    c = client(play)
    started = time.monotonic()
    c.start()
    assert time.monotonic() - started < 3
    assert c.handle is None and "protocol" in c.last_death
    assert all(cell["status"] == "skipped" for cell in c.cells)


def test_a_forged_ready_keeps_only_identifiers_of_known_kinds():
    def play(sock, spec):
        honest_start(sock, spec, defined={**{f"n{i}": "function" for i in range(6000)}, "not a name": "class",
                                          "f": "\x1b[31mclass", "g": ["class"]})
        time.sleep(5)
    c = client(play)
    c.start()
    defined = c.defined()
    assert len(defined) == 5000 and "not a name" not in defined
    assert all(kind in ("class", "function", "module", "other") for kind in defined.values())
    c.kill()


def test_one_reply_naming_one_blob_many_times_costs_nothing():
    """The red team's 6.5 GiB: one 64 MiB blob named 64 times. Refused: the judge allocates it once."""
    def play(sock, spec):
        honest_start(sock, spec)
        wire.recv(sock)
        node = {"__tensor__": 0, "dtype": "uint8", "shape": [64 << 20], "device": "cpu"}
        wire.send(sock, {"ok": True, "value": [node] * 64}, [b"\0" * (64 << 20)])
        time.sleep(5)
    c = client(play)
    with pytest.raises(StudentError) as err:
        c.call("f", torch.ones(2))
    assert err.value.kind == "bad_output" and "used twice" in err.value.message


def test_a_reply_dripped_a_byte_at_a_time_is_held_to_the_calls_deadline():
    """The red team's 100 s for a 13 s call: each read now gets only what is left of the call's time."""
    def play(sock, spec):
        honest_start(sock, spec)
        wire.recv(sock)
        data = frame({"ok": True, "value": 1.0, "stdout": "x" * 500})
        for byte in data:
            sock.send(bytes([byte]))
            time.sleep(0.05)
    c = client(play)
    from autograder.judge import client as client_module
    started = time.monotonic()
    with pytest.raises(StudentError) as err:
        c.call("f", torch.ones(2), timeout=0.5)
    took = time.monotonic() - started
    assert err.value.kind == "timeout"
    assert took < 0.5 + client_module.GRACE + 1.0, took


@pytest.mark.parametrize("reply,kind", [
    ({"ok": 1, "value": 2}, "exception"),                   # ok must be True itself
    ({"ok": False, "error": "boom"}, "exception"),          # error not an object
    ({"ok": False, "error": {"kind": "root", "message": ["m"]}}, "exception"),
    ({"ok": True, "args": [1] * 10}, "bad_output"),         # more args than were sent
    ({"ok": True, "grads": "no"}, "bad_output"),
])
def test_reply_fields_are_checked_by_type(reply, kind):
    def play(sock, spec):
        honest_start(sock, spec)
        wire.recv(sock)
        wire.send(sock, reply)
        time.sleep(5)
    c = client(play)
    with pytest.raises(StudentError) as err:
        c.call("f", torch.ones(2))
    assert err.value.kind == kind
    assert all(type(x) is str for x in (err.value.message, err.value.exc_type, err.value.detail))


def test_an_honest_reply_still_reads():
    def play(sock, spec):
        honest_start(sock, spec)
        header, blobs = wire.recv(sock)
        got = wire.decode_value(header["args"][0], blobs)
        out: list[bytes] = []
        value = wire.encode_value((got * 2, "done \u00e9", {"k": [1, 2.5, None]}), out)
        wire.send(sock, {"ok": True, "value": value, "stdout": "printed\n", "grad_error": ""}, out)
        time.sleep(2)
    c = client(play)
    r = c.call("f", torch.tensor([1.0, 2.0]))
    assert r.value[0].tolist() == [2.0, 4.0] and r.value[1:] == ("done \u00e9", {"k": [1, 2.5, None]})
    assert r.stdout == "printed\n"
    c.kill()
