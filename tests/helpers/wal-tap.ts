// A tap on the WAL subjects for SDK tests: a core NATS subscription that sees every
// message producers publish (JetStream publishes are plain messages on the subject),
// opened the way the node opens them and decoded, so a test can see how a logger
// batched its events (how many per message, when, in which format and encoding).

import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { NormalizedEvent } from "../../src/protocol/event.ts";
import { CONTENT_ENCODING_HEADER } from "../../src/protocol/wal-compression.ts";
import { FORMAT_HEADER, WAL_SUBJECT_ROOT } from "../../src/protocol/subjects.ts";
import { isWalBatch } from "../../src/protocol/wal-batch.ts";
import { decodeWalEvents } from "../../src/ingest/wal-payload.ts";

export interface TappedMessage {
  /** performance.now() when it was heard. */
  atMs: number;
  /** Bytes as published. */
  bytes: number;
  formatHeader: string;
  encodingHeader: string;
  msgId: string;
  /** The first byte as published ("{" for plain NDJSON). */
  firstByte: number;
  /** Whether the bytes as published are a FlatBuffers WAL batch (file identifier SLB1). */
  walBatch: boolean;
  events: NormalizedEvent[];
}

export class WalTap {
  readonly messages: TappedMessage[] = [];
  private readonly subscription: Subscription;

  private constructor(nc: NatsConnection) {
    this.subscription = nc.subscribe(`${WAL_SUBJECT_ROOT}.>`, {
      callback: (error, message) => {
        if (error) throw error;
        const events = decodeWalEvents(message.data, message.headers, Date.now() * 1000);
        this.messages.push({
          atMs: performance.now(),
          bytes: message.data.byteLength,
          formatHeader: message.headers?.get(FORMAT_HEADER) ?? "",
          encodingHeader: message.headers?.get(CONTENT_ENCODING_HEADER) ?? "",
          msgId: message.headers?.get("Nats-Msg-Id") ?? "",
          firstByte: message.data[0] ?? -1,
          walBatch: isWalBatch(message.data),
          events,
        });
      },
    });
  }

  /** Starts tapping once the server knows the subscription. */
  static async open(nc: NatsConnection): Promise<WalTap> {
    const tap = new WalTap(nc);
    await nc.flush();
    return tap;
  }

  /** Messages carrying events of `service`. */
  of(service: string): TappedMessage[] {
    return this.messages.filter((message) => message.events.some((event) => event.service === service));
  }

  /** Events per message of `service`, in arrival order. */
  sizes(service: string): number[] {
    return this.of(service).map((message) => message.events.filter((event) => event.service === service).length);
  }

  close(): void {
    this.subscription.unsubscribe();
  }
}
