"""Two confluent-kafka (librdkafka) consumers in one group share a topic.

Usage: confluent_group.py <bootstrap> <group> <topic> <records> <strategy> <deadline_s>

Both consumers poll in turn until together they have read <records>
records; each commits what it read synchronously. Prints one JSON line per
record ({"c": consumer, "p": partition, "o": offset}), one per assignment
change ({"c": consumer, "assigned": [partitions]}), then {"done": true}.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException

bootstrap, group, topic, records, strategy, deadline = sys.argv[1:7]
records, deadline = int(records), time.monotonic() + float(deadline)


def out(obj):
    print(json.dumps(obj), flush=True)


def consumer(n):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": "py-%d" % n,
        "partition.assignment.strategy": strategy,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 200,
    })
    owned = set()

    def on_assign(cons, parts):
        owned.update(p.partition for p in parts)
        out({"c": n, "assigned": sorted(owned)})
        if strategy == "cooperative-sticky":
            cons.incremental_assign(parts)

    def on_revoke(cons, parts):
        owned.difference_update(p.partition for p in parts)
        if strategy == "cooperative-sticky":
            cons.incremental_unassign(parts)

    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    return c


consumers = [consumer(0), consumer(1)]
seen = set()
while len(seen) < records:
    if time.monotonic() > deadline:
        out({"error": "deadline: read %d of %d records" % (len(seen), records)})
        sys.exit(1)
    for n, c in enumerate(consumers):
        msgs = c.consume(num_messages=100, timeout=0.1)
        for m in msgs:
            if m.error():
                raise KafkaException(m.error())
            out({"c": n, "p": m.partition(), "o": m.offset()})
            seen.add((m.partition(), m.offset()))
        if msgs:
            c.commit(asynchronous=False)
for c in consumers:
    c.close()
out({"done": True})
