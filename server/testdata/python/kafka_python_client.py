# Drives kafka-python. api_version is left to its
# auto-detection; group_id=None keeps the consumer off group APIs.
import kafka.codec
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

COMMON = dict(bootstrap_servers=spec["bootstrap"], client_id="tributary-compat",
              request_timeout_ms=15000, api_version_auto_timeout_ms=10000)
TS_TYPES = {0: "create", 1: "log_append"}


def consumer():
    return KafkaConsumer(group_id=None, enable_auto_commit=False, auto_offset_reset="none",
                         fetch_max_wait_ms=100, **COMMON)


def produce():
    p = KafkaProducer(acks="all", compression_type=None if spec["codec"] == "none" else spec["codec"],
                      linger_ms=20, max_block_ms=10000, **COMMON)
    emit("api_version", version=list(p.config["api_version"]))
    futures = [p.send(TOPIC, key=key(i), value=value(i), headers=headers(i, False), partition=0,
                      timestamp_ms=ts(i)) for i in range(spec["n"])]
    p.flush(timeout=left())
    for f in futures:
        emit("delivered", offset=f.get(timeout=left()).offset)
    p.close(timeout=5)


def consume():
    c = consumer()
    tp = TopicPartition(TOPIC, 0)
    c.assign([tp])
    c.seek(tp, spec.get("start", 0))
    end = c.end_offsets([tp])[tp]
    while c.position(tp) < end:
        for records in c.poll(timeout_ms=int(min(0.2, left()) * 1000)).values():
            for m in records:
                emit_record(m.offset, m.key, m.value, m.headers, m.timestamp,
                            TS_TYPES.get(m.timestamp_type, str(m.timestamp_type)))
    emit("eof", offset=c.position(tp))
    c.close(autocommit=False)


def times():
    c = consumer()
    tp = TopicPartition(TOPIC, 0)
    for at in spec["timestamps"]:
        found = c.offsets_for_times({tp: at})[tp]
        if found is None:
            emit("time", at=at, offset=-1, found_ts=-1)
        else:
            emit("time", at=at, offset=found.offset, found_ts=found.timestamp)
    c.close(autocommit=False)


def metadata():
    a = KafkaAdminClient(**COMMON)
    if spec.get("create"):
        new = [NewTopic(t, n, 1) for t, n in sorted(spec["create"].items())]
        for t, code, *_ in a.create_topics(new, timeout_ms=10000).topic_errors:
            if code != 0:
                raise SystemExit("create %s: error %d" % (t, code))
            emit("created", topic=t)
    cluster = a.describe_cluster()
    topics = a.describe_topics([TOPIC] if TOPIC else None)
    emit("metadata",
         brokers=[{"id": b["node_id"], "host": b["host"], "port": b["port"]} for b in cluster["brokers"]],
         controller_id=cluster["controller_id"],
         topics=[{"topic": t["topic"],
                  "error": None if t["error_code"] == 0 else str(t["error_code"]),
                  "partitions": [{"id": p["partition"], "leader": p["leader"], "replicas": p["replicas"],
                                  "isrs": p["isr"], "error": None if p["error_code"] == 0 else str(p["error_code"])}
                                 for p in sorted(t["partitions"], key=lambda p: p["partition"])]}
                 for t in topics])
    a.close()


def codecs():
    emit("codecs", codecs={"gzip": kafka.codec.has_gzip(), "snappy": kafka.codec.has_snappy(),
                           "lz4": kafka.codec.has_lz4(), "zstd": kafka.codec.has_zstd()})


{"produce": produce, "consume": consume, "times": times, "metadata": metadata, "codecs": codecs}[spec["op"]]()
