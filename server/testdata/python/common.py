# The start of both client scripts: the spec, the records, the output. The
# records mirror compatKey, pyValue, pyHeaders and pyTS in compat_python_test.go.
import json
import sys
import time

spec = json.loads(sys.argv[1])
TOPIC = spec.get("topic")
DEADLINE = time.monotonic() + spec["deadline_s"]


def left():
    """Seconds left before the script gives up on the broker."""
    rest = DEADLINE - time.monotonic()
    if rest <= 0:
        raise SystemExit("%s: deadline passed" % spec["op"])
    return rest


def emit(kind, **fields):
    print(json.dumps(dict(kind=kind, **fields)), flush=True)


def key(i):
    return b"key-%03d" % i


def value(i):
    if i % 50 == 49:
        return None
    return (b"value-%03d:" % i) + b"tributary " * 20


def headers(i, null_values):
    hs = [("i", str(i).encode()), ("dup", b"a"), ("dup", b"b")]
    if i % 2 == 0:
        hs.append(("empty", b""))
    if null_values and i % 3 == 0:
        hs.append(("null", None))
    return hs


def ts(i):
    return spec["base_ts"] + 10 * i


def text(b):
    return None if b is None else bytes(b).decode()


def emit_record(offset, k, v, hs, timestamp, ts_type):
    emit("record", offset=offset, key=text(k), value=text(v),
         headers=[{"k": hk, "v": text(hv)} for hk, hv in (hs or [])],
         ts=timestamp, ts_type=ts_type)
