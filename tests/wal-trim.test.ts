// Goal: acknowledged WAL messages are purged (limits retention, trimmed below the
// lowest shard ack floor), including when some shards are quiet, and never before
// every shard has acked them, nor above a shard's manifest WAL floor whatever its
// consumer's ack floor says. Method: purgeBelow as a table of cases; a trimmer on a
// real nats-server whose consumer's ack floor stands past a message never delivered;
// then a real node fed on one shard only, whose WAL must empty once events are searchable.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { ensureWalStream } from "../src/nats/wal.ts";
import { ConfigError } from "../src/node/config.ts";
import { purgeBelow, WalTrimmer } from "../src/nats/wal-trimmer.ts";
import { shardConsumerName, walShardFilter, walSubject, WAL_STREAM } from "../src/protocol/subjects.ts";
import { countEvents, getJson, startTestNats, startTestNode, type TestNode } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";

describe("purgeBelow", () => {
  const caughtUp = (ackFloor: number) => ({ ackFloor, lastOfShard: ackFloor, ackPending: 0 });
  test.each([
    ["no shards", 100, [], 0],
    ["every shard caught up: the whole stream", 100, [caughtUp(40), caughtUp(0)], 100],
    ["a shard with unacked messages holds it at its floor", 100, [caughtUp(90), { ackFloor: 55, lastOfShard: 60, ackPending: 3 }], 55],
    ["a shard whose last message is above its floor holds it there, whatever its consumer says is pending", 100, [caughtUp(90), { ackFloor: 70, lastOfShard: 95, ackPending: 0 }], 70],
    ["a quiet shard that never had a message does not hold it", 100, [caughtUp(90), { ackFloor: 0, lastOfShard: 0, ackPending: 0 }], 100],
    ["the lowest floor wins", 100, [{ ackFloor: 30, lastOfShard: 31, ackPending: 0 }, { ackFloor: 20, lastOfShard: 40, ackPending: 1 }], 20],
  ] as const)("%s", (_, lastSeq, shards, expected) => {
    expect(purgeBelow(lastSeq, shards)).toBe(expected);
  });
});

let node: TestNode;
let nc: NatsConnection;
beforeAll(async () => {
  node = await startTestNode({ shards: 4, extraArgs: ["--seal-age-ms", "200"] });
  nc = await connect({ servers: node.natsUrl });
});
afterAll(async () => {
  await nc?.close();
  await node?.stop();
});

test("the WAL empties after sealing even though three of four shards are quiet", async () => {
  const js = jetstream(nc);
  for (let index = 0; index < 20; index++) {
    await js.publish(walSubject("default", 0), new TextEncoder().encode(JSON.stringify({ service: "trim", message: `m${index}` })));
  }
  await waitFor(async () => (await countEvents(node.httpUrl, "service=trim")) === 20, { what: "events searchable" });
  await waitFor(async () => {
    const { body } = await getJson(`${node.httpUrl}/api/v1/system/health`);
    return body.storage_utilization.wal.messages === 0;
  }, { timeoutMs: 20_000, what: "the WAL to be trimmed" });
  expect(await countEvents(node.httpUrl, "service=trim")).toBe(20);
});

test("a WAL bound the JetStream store cannot hold is refused with what to change", async () => {
  const server = await startTestNats();
  const client = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(client);
    // No disk here has a pebibyte free: JetStream refuses the stream, and the node says which setting to lower.
    const refused = await ensureWalStream(jsm, { shards: 1, maxBytes: 2 ** 50, maxMessageBytes: 1024 * 1024, replicas: 1 }).then(() => undefined, (error: Error) => error);
    expect(refused).toBeInstanceOf(ConfigError);
    expect(refused!.message).toContain("--wal-max-bytes");
    expect(refused!.message).toContain("1048576.0 GiB");
    // A stream that fits is made, and raising it past the store later is refused the same way.
    await ensureWalStream(jsm, { shards: 1, maxBytes: 64 * 1024 * 1024, maxMessageBytes: 1024 * 1024, replicas: 1 });
    const raised = await ensureWalStream(jsm, { shards: 1, maxBytes: 2 ** 50, maxMessageBytes: 1024 * 1024, replicas: 1 }).then(() => undefined, (error: Error) => error);
    expect(raised).toBeInstanceOf(ConfigError);
  } finally {
    await client.close();
    await server.stop();
  }
});

test("a consumer's ack floor past a message never delivered does not purge it: the manifest WAL floor holds", async () => {
  // nats-server 2.9 can move a consumer's ack floor past messages it never delivered (a
  // leader still catching up after a restart); here a consumer started past them does the same.
  const server = await startTestNats();
  const client = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(client);
    await ensureWalStream(jsm, { shards: 1, maxBytes: 64 * 1024 * 1024, maxMessageBytes: 1024 * 1024, replicas: 1 });
    const js = jetstream(client);
    for (let index = 1; index <= 10; index++) await js.publish(walSubject("default", 0), new TextEncoder().encode(`m${index}`));
    await jsm.consumers.add(WAL_STREAM, { durable_name: shardConsumerName(0), filter_subject: walShardFilter(0), ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 9 });
    const consumer = await js.consumers.get(WAL_STREAM, shardConsumerName(0));
    for (let index = 0; index < 2; index++) {
      const message = await consumer.next({ expires: 5_000 });
      await message!.ackAck();
    }
    expect((await jsm.consumers.info(WAL_STREAM, shardConsumerName(0))).ack_floor.stream_seq).toBe(10);
    // Segments hold messages 1..4 only.
    const trimmer = new WalTrimmer({ jsm, shards: 1, walFloors: async () => [4] });
    await trimmer.trimNow();
    const state = (await jsm.streams.info(WAL_STREAM)).state;
    expect({ first: state.first_seq, messages: state.messages }).toEqual({ first: 5, messages: 6 });
  } finally {
    await client.close();
    await server.stop();
  }
});
