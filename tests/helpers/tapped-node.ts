// The setup the SDK's end-to-end tests share: one real node for the file, a NATS
// connection of the test's own (loggers run on it), and a tap on the WAL subjects
// (wal-tap.ts) on that connection. Registered as the file's beforeAll and afterAll,
// so teardown runs even when a test failed.
//
//   const sluice = useTappedNode({ shards: 4 });
//   test("…", () => { createLogger({ nc: sluice.nc, … }); sluice.tap.sizes("svc"); });

import { afterAll, beforeAll } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startTestNode, type TestNode, type TestNodeOptions } from "./processes.ts";
import { WalTap } from "./wal-tap.ts";

export interface TappedNode {
  node: TestNode;
  nc: NatsConnection;
  tap: WalTap;
}

/** Starts the node, connection and tap before the file's tests and stops them after; read the fields inside tests. */
export function useTappedNode(options: TestNodeOptions): TappedNode {
  const setup = {} as TappedNode;
  beforeAll(async () => {
    setup.node = await startTestNode(options);
    setup.nc = await connect({ servers: setup.node.natsUrl });
    setup.tap = await WalTap.open(setup.nc);
  });
  afterAll(async () => {
    setup.tap?.close();
    await setup.nc?.close();
    await setup.node?.stop();
  });
  return setup;
}
