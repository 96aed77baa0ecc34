// kafkajs against the broker over SASL: produce, consume in a group,
// commit. server/compat_kafkajs_test.go runs it once per listener and
// mechanism with one JSON argument:
//   {"broker", "ssl", "ca_file", "mechanism", "username", "password",
//    "topic", "group", "records", "deadline_ms"}
// and reads one JSON line from stdout: {"produced", "consumed", "values",
// "committed"} where committed is the group's offsets per partition as
// kafkajs fetches them after its commit. Any failure exits non-zero with
// the error on stderr.
'use strict';
const fs = require('fs');
const { Kafka, logLevel } = require('kafkajs');

async function main() {
  const spec = JSON.parse(process.argv[2]);
  const deadline = setTimeout(() => {
    console.error(`kafkajs: no result within ${spec.deadline_ms} ms`);
    process.exit(3);
  }, spec.deadline_ms);

  const kafka = new Kafka({
    clientId: 'tributary-kafkajs-compat',
    brokers: [spec.broker],
    ssl: spec.ssl ? { ca: [fs.readFileSync(spec.ca_file, 'utf8')] } : false,
    sasl: { mechanism: spec.mechanism, username: spec.username, password: spec.password },
    logLevel: logLevel.ERROR,
    retry: { retries: 5 },
  });

  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: spec.topic, numPartitions: 2 }], waitForLeaders: true });

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const messages = [];
  for (let i = 0; i < spec.records; i++) {
    messages.push({ key: `k${i}`, value: `v${i}` });
  }
  const acks = await producer.send({ topic: spec.topic, messages });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: spec.group });
  await consumer.connect();
  await consumer.subscribe({ topics: [spec.topic], fromBeginning: true });
  const values = [];
  await new Promise((resolve, reject) => {
    consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        values.push(message.value.toString());
        await consumer.commitOffsets([
          { topic, partition, offset: (BigInt(message.offset) + 1n).toString() },
        ]);
        if (values.length === spec.records) {
          resolve();
        }
      },
    }).catch(reject);
  });
  await consumer.disconnect();

  const offsets = await admin.fetchOffsets({ groupId: spec.group, topics: [spec.topic] });
  await admin.disconnect();
  clearTimeout(deadline);

  const committed = {};
  for (const t of offsets) {
    for (const p of t.partitions) {
      committed[p.partition] = Number(p.offset);
    }
  }
  process.stdout.write(JSON.stringify({
    produced: acks.length,
    consumed: values.length,
    values: values.sort(),
    committed,
  }) + '\n');
}

main().catch((err) => {
  console.error(`kafkajs: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
