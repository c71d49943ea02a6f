// casWrite against a real nats-server: a retry of a write that already landed is
// recognized by its bytes (and said to be an earlier try's), while a write that lost
// to anyone else's is refused as a compare-and-swap conflict.

import { expect, test } from "bun:test";
import { casWrite, isCasConflict } from "../src/cluster/kv-cas.ts";
import { bucketsServerForFile } from "./helpers/cluster.ts";

const server = bucketsServerForFile();

const bytes = (text: string) => new TextEncoder().encode(text);

test("create, update, a retry that finds its own bytes, and a real conflict", async () => {
  const kv = server().buckets.leases;
  const created = await casWrite(kv, "cas.a", bytes("one"), 0);
  expect(created.earlierTry).toBe(false);
  // The same create again: the key exists with exactly these bytes.
  expect(await casWrite(kv, "cas.a", bytes("one"), 0)).toEqual({ revision: created.revision, earlierTry: true });
  const updated = await casWrite(kv, "cas.a", bytes("two"), created.revision);
  expect(updated).toEqual({ revision: expect.any(Number), earlierTry: false });
  expect(updated.revision).toBeGreaterThan(created.revision);
  // A retry of that update against the old revision: it landed, so it is recognized.
  expect(await casWrite(kv, "cas.a", bytes("two"), created.revision)).toEqual({ revision: updated.revision, earlierTry: true });
  // Someone else's bytes against the old revision: a conflict, thrown as it came.
  const refused = await casWrite(kv, "cas.a", bytes("three"), created.revision).catch((error) => error);
  expect(isCasConflict(refused)).toBe(true);
  expect(new TextDecoder().decode((await kv.get("cas.a"))!.value)).toBe("two");
});
