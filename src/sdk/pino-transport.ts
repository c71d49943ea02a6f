// A pino transport target: pino.transport() runs this module in a worker thread and
// writes its JSON lines into the stream it returns, so logging costs the service's own
// thread only pino's serialization. Options must be plain data (they cross to the
// worker): `servers`, `tenant`, `service`, the batching options, ... but no `nc`.
//
//   const log = pino(pino.transport({ target: "sluice/sdk/pino-transport", options: { servers: "nats://127.0.0.1:4222" } }));
//
// pino ends the stream when the process exits; the stream's final step closes the
// logger, which flushes within closeTimeoutMs.

import { Writable } from "node:stream";
import { sluiceDestination, type SluiceDestinationOptions } from "./pino.ts";

export default async function sluiceTransport(options: SluiceDestinationOptions): Promise<Writable> {
  // pino's worker owns the exit: its end of the stream is the flush, not signal handlers in the worker.
  const destination = sluiceDestination({ ...options, flushOnExit: false });
  // Lines may reach the worker cut at any byte count: a partial last line waits for its end.
  let partial = "";
  return new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, callback) {
      const text = partial + (typeof chunk === "string" ? chunk : chunk.toString("utf8"));
      const end = text.lastIndexOf("\n");
      partial = end < 0 ? text : text.slice(end + 1);
      if (end >= 0) destination.write(text.slice(0, end + 1));
      callback();
    },
    final(callback) {
      if (partial !== "") destination.write(partial);
      partial = "";
      destination.end().then(
        () => callback(),
        (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
      );
    },
  });
}
