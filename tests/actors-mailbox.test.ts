// Goal: a Mailbox holds at most `capacity` data messages and applies its named overflow
// policy when full (reject, drop-oldest, block), lets control messages jump ahead of
// data, hands messages to waiting takers, drains on close and refuses puts once closed.
// Method: drive the mailbox directly with synchronous offers and awaited takes; a
// pending promise is shown pending with Bun.peek.status after the event loop had a
// full turn to settle it (setImmediate), never by sleeping.

import { describe, expect, test } from "bun:test";
import { CONTROL_LANE_CAPACITY, Mailbox, MailboxClosedError, MailboxFullError, type OverflowPolicy } from "../src/actors/mailbox.ts";

/** Lets every queued microtask and one macrotask run, so a promise that can settle has. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function drain<T>(mailbox: Mailbox<T>): Promise<(T | undefined)[]> {
  const taken: (T | undefined)[] = [];
  while (mailbox.size > 0) taken.push(await mailbox.take());
  return taken;
}

function counters<T>(mailbox: Mailbox<T>): { size: number; rejected: number; dropped: number } {
  return { size: mailbox.size, rejected: mailbox.rejected, dropped: mailbox.dropped };
}

describe("capacity bound per overflow policy", () => {
  test("reject: offer past capacity returns false, keeps the queued messages and counts the rejection", async () => {
    const mailbox = new Mailbox<number>({ name: "m", capacity: 3, policy: "reject" });
    expect([1, 2, 3, 4, 5].map((message) => mailbox.offer(message))).toEqual([true, true, true, false, false]);
    expect(counters(mailbox)).toEqual({ size: 3, rejected: 2, dropped: 0 });
    expect(await drain(mailbox)).toEqual([1, 2, 3]);
  });

  test("reject: put past capacity throws MailboxFullError naming the mailbox and its capacity", async () => {
    const mailbox = new Mailbox<number>({ name: "shard-7", capacity: 1, policy: "reject" });
    await mailbox.put(1);
    const error = await mailbox.put(2).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(MailboxFullError);
    expect({ code: (error as MailboxFullError).code, mailbox: (error as MailboxFullError).mailbox, capacity: (error as MailboxFullError).capacity, message: (error as Error).message }).toEqual({
      code: "mailbox_full",
      mailbox: "shard-7",
      capacity: 1,
      message: "mailbox shard-7 is full (1 messages)",
    });
    expect(counters(mailbox)).toEqual({ size: 1, rejected: 1, dropped: 0 });
  });

  test("drop-oldest: offer past capacity drops the oldest message, accepts the new one and counts the drop", async () => {
    const mailbox = new Mailbox<number>({ name: "m", capacity: 3, policy: "drop-oldest" });
    expect([1, 2, 3, 4, 5].map((message) => mailbox.offer(message))).toEqual([true, true, true, true, true]);
    expect(counters(mailbox)).toEqual({ size: 3, rejected: 0, dropped: 2 });
    expect(await drain(mailbox)).toEqual([3, 4, 5]);
  });

  test("drop-oldest: put never waits and never throws", async () => {
    const mailbox = new Mailbox<number>({ name: "m", capacity: 2, policy: "drop-oldest" });
    for (const message of [1, 2, 3, 4]) await mailbox.put(message);
    expect(counters(mailbox)).toEqual({ size: 2, rejected: 0, dropped: 2 });
    expect(await drain(mailbox)).toEqual([3, 4]);
  });

  test("block: put waits while full and completes once a take frees room", async () => {
    const mailbox = new Mailbox<string>({ name: "m", capacity: 2, policy: "block" });
    await mailbox.put("a");
    await mailbox.put("b");
    const blocked = mailbox.put("c");
    await settle();
    expect(Bun.peek.status(blocked)).toBe("pending");
    expect(counters(mailbox)).toEqual({ size: 2, rejected: 0, dropped: 0 });

    expect(await mailbox.take()).toBe("a");
    await blocked;
    expect(counters(mailbox)).toEqual({ size: 2, rejected: 0, dropped: 0 });
    expect(await drain(mailbox)).toEqual(["b", "c"]);
  });

  test("block: each take releases one blocked put, in order", async () => {
    const mailbox = new Mailbox<string>({ name: "m", capacity: 1, policy: "block" });
    await mailbox.put("a");
    const second = mailbox.put("b");
    const third = mailbox.put("c");
    await settle();
    expect([Bun.peek.status(second), Bun.peek.status(third)]).toEqual(["pending", "pending"]);

    expect(await mailbox.take()).toBe("a");
    await second;
    await settle();
    expect(Bun.peek.status(third)).toBe("pending");

    expect(await mailbox.take()).toBe("b");
    await third;
    expect(await mailbox.take()).toBe("c");
  });

  test("block: offer does not wait; it rejects when full", () => {
    const mailbox = new Mailbox<number>({ name: "m", capacity: 1, policy: "block" });
    expect([mailbox.offer(1), mailbox.offer(2)]).toEqual([true, false]);
    expect(counters(mailbox)).toEqual({ size: 1, rejected: 1, dropped: 0 });
  });

  test("block: a put blocked when the mailbox closes fails with MailboxClosedError", async () => {
    const mailbox = new Mailbox<number>({ name: "m", capacity: 1, policy: "block" });
    await mailbox.put(1);
    const blocked = mailbox.put(2);
    await settle();
    expect(Bun.peek.status(blocked)).toBe("pending");
    mailbox.close();
    await expect(blocked).rejects.toBeInstanceOf(MailboxClosedError);
    expect(await drain(mailbox)).toEqual([1]);
  });

  test.each([0, -1, Number.NaN])("capacity %p is refused", (capacity) => {
    expect(() => new Mailbox<number>({ name: "m", capacity, policy: "reject" })).toThrow("mailbox m: capacity must be >= 1");
  });
});

describe("control lane", () => {
  test.each<OverflowPolicy>(["reject", "block", "drop-oldest"])("control messages jump ahead of queued data (%s)", async (policy) => {
    const mailbox = new Mailbox<string>({ name: "m", capacity: 4, policy });
    mailbox.offer("data-1");
    mailbox.offer("data-2");
    mailbox.putControl("quit");
    mailbox.offer("data-3");
    mailbox.putControl("observe");
    expect(await drain(mailbox)).toEqual(["quit", "observe", "data-1", "data-2", "data-3"]);
  });

  test("control messages are accepted when the data lane is full", async () => {
    const mailbox = new Mailbox<string>({ name: "m", capacity: 1, policy: "reject" });
    expect(mailbox.offer("data")).toBe(true);
    mailbox.putControl("pause");
    expect(counters(mailbox)).toEqual({ size: 2, rejected: 0, dropped: 0 });
    expect(await drain(mailbox)).toEqual(["pause", "data"]);
  });

  test("control lane overflow throws MailboxFullError for the control lane", () => {
    const mailbox = new Mailbox<number>({ name: "m", capacity: 1, policy: "reject" });
    for (let index = 0; index < CONTROL_LANE_CAPACITY; index++) mailbox.putControl(index);
    expect(() => mailbox.putControl(CONTROL_LANE_CAPACITY)).toThrow(MailboxFullError);
    expect(() => mailbox.putControl(CONTROL_LANE_CAPACITY)).toThrow(`mailbox m/control is full (${CONTROL_LANE_CAPACITY} messages)`);
    expect(mailbox.size).toBe(CONTROL_LANE_CAPACITY);
  });

  test("a control message goes straight to a waiting taker", async () => {
    const mailbox = new Mailbox<string>({ name: "m", capacity: 1, policy: "reject" });
    const taken = mailbox.take();
    mailbox.putControl("observe");
    expect(await taken).toBe("observe");
    expect(mailbox.size).toBe(0);
  });
});

describe("take", () => {
  test("take on an empty mailbox waits and resolves with the next offer", async () => {
    const mailbox = new Mailbox<string>({ name: "m", capacity: 1, policy: "reject" });
    const taken = mailbox.take();
    await settle();
    expect(Bun.peek.status(taken)).toBe("pending");
    expect(mailbox.offer("hello")).toBe(true);
    expect(await taken).toBe("hello");
    // Delivered straight to the taker: nothing was queued.
    expect(counters(mailbox)).toEqual({ size: 0, rejected: 0, dropped: 0 });
  });

  test("several waiting takers are served in the order they asked", async () => {
    const mailbox = new Mailbox<string>({ name: "m", capacity: 1, policy: "reject" });
    const first = mailbox.take();
    const second = mailbox.take();
    mailbox.offer("a");
    mailbox.offer("b");
    expect([await first, await second]).toEqual(["a", "b"]);
  });

  test("interrupt wakes waiting takers with undefined without closing", async () => {
    const mailbox = new Mailbox<string>({ name: "m", capacity: 1, policy: "reject" });
    const first = mailbox.take();
    const second = mailbox.take();
    mailbox.interrupt();
    expect([await first, await second]).toEqual([undefined, undefined]);
    expect(mailbox.isClosed).toBe(false);
    expect(mailbox.offer("after")).toBe(true);
    expect(await mailbox.take()).toBe("after");
  });

  test("interrupt leaves queued messages in place", async () => {
    const mailbox = new Mailbox<string>({ name: "m", capacity: 2, policy: "reject" });
    mailbox.offer("a");
    mailbox.interrupt();
    expect(await mailbox.take()).toBe("a");
  });
});

describe("close", () => {
  test("close drains queued messages (control first), then take yields undefined", async () => {
    const mailbox = new Mailbox<string>({ name: "m", capacity: 4, policy: "reject" });
    mailbox.offer("a");
    mailbox.offer("b");
    mailbox.putControl("quit");
    mailbox.close();
    expect(mailbox.isClosed).toBe(true);
    const taken = [await mailbox.take(), await mailbox.take(), await mailbox.take(), await mailbox.take(), await mailbox.take()];
    expect(taken).toEqual(["quit", "a", "b", undefined, undefined]);
  });

  test("close wakes waiting takers with undefined", async () => {
    const mailbox = new Mailbox<string>({ name: "m", capacity: 1, policy: "reject" });
    const waiting = mailbox.take();
    mailbox.close();
    expect(await waiting).toBeUndefined();
  });

  test.each<OverflowPolicy>(["reject", "block", "drop-oldest"])("every way of sending to a closed mailbox throws MailboxClosedError (%s)", async (policy) => {
    const mailbox = new Mailbox<string>({ name: "closed-box", capacity: 2, policy });
    mailbox.close();
    expect(() => mailbox.offer("x")).toThrow(MailboxClosedError);
    expect(() => mailbox.putControl("x")).toThrow(MailboxClosedError);
    await expect(mailbox.put("x")).rejects.toThrow("mailbox closed-box is closed");
    expect(counters(mailbox)).toEqual({ size: 0, rejected: 0, dropped: 0 });
  });
});
