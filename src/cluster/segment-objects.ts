// Moving segment files in and out of the segment store (a JetStream object store).
//
// Uploads go through the object store's own put: each chunk is a publish acked by the
// stream's replicas. Downloads do not use its get, which streams the chunks through a
// push consumer: when that consumer's deliveries are lost (its server dies, or starts
// before the inbox's interest reaches it) the transfer stalls until a 30 s heartbeat
// is missed, and a partition start waits with it. Instead each chunk is one
// "next message on the object's chunk subject" request to the stream leader: every
// step has a timeout, a retry starts clean, and the SHA-256 digest is checked here.

import { createHash } from "node:crypto";
import { renameSync, rmSync } from "node:fs";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { ObjectStore } from "@nats-io/obj";
import { fsyncPath } from "../storage/manifest.ts";
import { SEGMENTS_BUCKET } from "./buckets.ts";

export interface SegmentStoreAccess {
  store: ObjectStore;
  jsm: JetStreamManager;
}

/** Stores the file at `path` as object `name`, replacing any object of that name. */
export async function uploadFile(store: ObjectStore, name: string, path: string): Promise<void> {
  await store.put({ name }, Bun.file(path).stream());
}

/**
 * Writes object `name` to `path` (through a temporary file, fsynced, renamed). A
 * missing object throws when `required`, else removes `path`.
 */
export async function downloadObject(access: SegmentStoreAccess, name: string, path: string, required: boolean): Promise<void> {
  const info = await access.store.info(name);
  if (!info || info.deleted) {
    if (required) throw new Error(`segment object ${name} is missing from the segment store`);
    rmSync(path, { force: true });
    return;
  }
  const tmp = `${path}.tmp`;
  const writer = Bun.file(tmp).writer();
  const hash = createHash("sha256");
  let bytes = 0;
  try {
    const subject = `$O.${SEGMENTS_BUCKET}.C.${info.nuid}`;
    let seq = 0;
    for (let chunk = 0; chunk < info.chunks; chunk++) {
      // next_by_subj is in the server's message-get API since 2.9, not in the client's request type.
      const message = await access.jsm.streams.getMessage(`OBJ_${SEGMENTS_BUCKET}`, { seq: seq + 1, next_by_subj: subject } as unknown as { seq: number });
      if (!message) throw new Error(`segment object ${name}: chunk ${chunk + 1} of ${info.chunks} is missing`);
      seq = message.seq;
      hash.update(message.data);
      writer.write(message.data);
      bytes += message.data.length;
    }
  } finally {
    await writer.end();
  }
  const digest = `SHA-256=${hash.digest("base64url")}`;
  if (bytes !== info.size || digest !== info.digest.replace(/=+$/, "")) {
    rmSync(tmp, { force: true });
    throw new Error(`segment object ${name}: received ${bytes} bytes with digest ${digest}, the object is ${info.size} bytes with ${info.digest}`);
  }
  await fsyncPath(tmp);
  renameSync(tmp, path);
}
