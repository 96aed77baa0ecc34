# Drives confluent-kafka-python. Its Consumer cannot be
# created without a group.id (confluent-kafka 1.7), but with assign() and
# auto commit off it never reaches a group coordinator: librdkafka's group
# handle only waits, "no broker available for coordinator query".
import confluent_kafka
from confluent_kafka import (KafkaError, Producer, Consumer, TopicPartition,
                             TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME)
from confluent_kafka.admin import AdminClient, NewTopic

BOOTSTRAP = {"bootstrap.servers": spec["bootstrap"], "client.id": "tributary-compat"}
TS_TYPES = {TIMESTAMP_CREATE_TIME: "create", TIMESTAMP_LOG_APPEND_TIME: "log_append"}

# confluent-kafka before 1.8.2 (Debian 12 ships 1.7.0) puts None into
# Message.headers() without taking a reference to it (confluent-kafka-python
# #1191), and the interpreter aborts at exit, "deallocating None". Give None
# the reference each null header value lacks.
if tuple(int(x) for x in confluent_kafka.version()[0].split(".")[:3]) < (1, 8, 2):
    import ctypes
    ctypes.pythonapi.Py_IncRef.argtypes = [ctypes.py_object]
    ctypes.pythonapi.Py_IncRef.restype = None

    def message_headers(m):
        hs = m.headers()
        for _, v in hs or []:
            if v is None:
                ctypes.pythonapi.Py_IncRef(None)
        return hs
else:
    def message_headers(m):
        return m.headers()


def known(client):
    """Fetches the topic's metadata before the client uses the topic.

    librdkafka sends its first Metadata request as soon as it connects; a
    topic it meets after that waits for the next topic scan, a second later.
    """
    client.list_topics(TOPIC, timeout=left())
    return client


def consumer():
    return known(Consumer(dict(BOOTSTRAP, **{
        "group.id": "tributary-compat-unused",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
        "fetch.wait.max.ms": 100,
    })))


def produce():
    p = known(Producer(dict(BOOTSTRAP, **{
        "acks": "all",
        "enable.idempotence": True,
        "compression.codec": spec["codec"],
        "linger.ms": 50,
        "message.timeout.ms": int(left() * 1000),
        # Logs each produced batch with its codec to stderr.
        "debug": "msg",
    })))
    failed = []

    def delivered(err, msg):
        if err is not None:
            failed.append("%s: %s" % (msg.key(), err))
            return
        emit("delivered", offset=msg.offset(), key=text(msg.key()))

    for i in range(spec["n"]):
        p.produce(TOPIC, key=key(i), value=value(i), partition=0, timestamp=ts(i),
                  headers=headers(i, True), on_delivery=delivered)
    if p.flush(left()) != 0:
        raise SystemExit("produce: records not delivered before the deadline")
    if failed:
        raise SystemExit("produce: %s" % failed)


def consume():
    c = consumer()
    c.assign([TopicPartition(TOPIC, 0, spec.get("start", 0))])
    while True:
        m = c.poll(min(0.2, left()))
        if m is None:
            continue
        err = m.error()
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF:
                emit("eof", offset=m.offset())
                break
            raise SystemExit("consume: %s" % err)
        ts_type, timestamp = m.timestamp()
        emit_record(m.offset(), m.key(), m.value(), message_headers(m), timestamp, TS_TYPES.get(ts_type, str(ts_type)))
    c.close()


def times():
    c = consumer()
    for at in spec["timestamps"]:
        tp = c.offsets_for_times([TopicPartition(TOPIC, 0, at)], timeout=left())[0]
        if tp.error is not None:
            raise SystemExit("offsets_for_times %d: %s" % (at, tp.error))
        emit("time", at=at, offset=tp.offset)
    c.close()


def metadata():
    a = AdminClient(BOOTSTRAP)
    if spec.get("create"):
        new = [NewTopic(t, num_partitions=n, replication_factor=1) for t, n in sorted(spec["create"].items())]
        for t, f in a.create_topics(new, operation_timeout=10, request_timeout=left()).items():
            f.result(timeout=left())
            emit("created", topic=t)
    md = a.list_topics(topic=TOPIC, timeout=left())
    emit("metadata",
         brokers=[{"id": b.id, "host": b.host, "port": b.port} for b in md.brokers.values()],
         controller_id=md.controller_id,
         topics=[{"topic": t.topic,
                  "error": None if t.error is None else str(t.error),
                  "partitions": [{"id": p.id, "leader": p.leader, "replicas": p.replicas, "isrs": p.isrs,
                                  "error": None if p.error is None else str(p.error)}
                                 for p in sorted(t.partitions.values(), key=lambda p: p.id)]}
                 for t in md.topics.values()])


{"produce": produce, "consume": consume, "times": times, "metadata": metadata}[spec["op"]]()
