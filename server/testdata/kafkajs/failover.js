// kafkajs across a leader failover: server/cluster_compat_test.go runs it
// with one JSON argument {"brokers", "topic", "group", "records",
// "deadline_ms"}. It produces records 0..records-1 one send at a time
// (idempotent, acks=all, kafkajs's default retries), printing
// "ack <i> <offset>" or "fail <i> <error>" for each; then prints "half"
// and waits for a line on stdin (the test stops the leader meanwhile),
// produces as many again, and consumes the topic from the beginning in
// group "group", printing "rec <offset> <value>" for each record until it
// has read up to the last acknowledged offset, then "done".
'use strict';
const readline = require('readline');
const { Kafka, logLevel } = require('kafkajs');

async function main() {
  const spec = JSON.parse(process.argv[2]);
  const deadline = setTimeout(() => {
    console.error(`kafkajs: not done within ${spec.deadline_ms} ms`);
    process.exit(3);
  }, spec.deadline_ms);

  const kafka = new Kafka({
    clientId: 'tributary-kafkajs-failover',
    brokers: spec.brokers,
    logLevel: logLevel.ERROR,
  });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  let last = -1n;
  const produce = async (from, to) => {
    for (let i = from; i < to; i++) {
      try {
        const res = await producer.send({
          topic: spec.topic, acks: -1,
          messages: [{ partition: 0, value: `record-${String(i).padStart(5, '0')}` }],
        });
        last = BigInt(res[0].baseOffset);
        console.log(`ack ${i} ${res[0].baseOffset}`);
      } catch (e) {
        console.log(`fail ${i} ${String(e).replace(/\s+/g, ' ')}`);
      }
    }
  };
  await produce(0, spec.records);
  console.log('half');
  const rl = readline.createInterface({ input: process.stdin });
  await new Promise((resolve) => rl.once('line', resolve));
  rl.close();
  await produce(spec.records, 2 * spec.records);
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: spec.group });
  await consumer.connect();
  await consumer.subscribe({ topics: [spec.topic], fromBeginning: true });
  await new Promise((resolve, reject) => {
    consumer.run({
      eachMessage: async ({ message }) => {
        console.log(`rec ${message.offset} ${message.value.toString()}`);
        if (BigInt(message.offset) >= last) {
          resolve();
        }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  clearTimeout(deadline);
  console.log('done');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
