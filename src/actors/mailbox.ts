// A bounded mailbox with a named overflow policy and a priority lane for control
// messages (pause, quit, observe), which jump ahead of data.

/** What a full mailbox does with one more message. */
export type OverflowPolicy = "reject" | "block" | "drop-oldest";

export interface MailboxOptions {
  name: string;
  /** Data messages held at most; control messages have a small lane of their own. */
  capacity: number;
  policy: OverflowPolicy;
}

/** Control messages held at most: they are rare; more means a bug, so it throws. */
export const CONTROL_LANE_CAPACITY = 64;

export class MailboxFullError extends Error {
  readonly code = "mailbox_full";
  constructor(
    readonly mailbox: string,
    readonly capacity: number,
  ) {
    super(`mailbox ${mailbox} is full (${capacity} messages)`);
  }
}

export class MailboxClosedError extends Error {
  readonly code = "mailbox_closed";
  constructor(readonly mailbox: string) {
    super(`mailbox ${mailbox} is closed`);
  }
}

/** A FIFO ring buffer of fixed capacity; no shifting arrays on the hot path. */
class Ring<T> {
  private items: (T | undefined)[];
  private head = 0;
  size = 0;
  constructor(readonly capacity: number) {
    this.items = new Array(capacity);
  }
  push(item: T): void {
    this.items[(this.head + this.size) % this.capacity] = item;
    this.size++;
  }
  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.size--;
    return item;
  }
}

export class Mailbox<T> {
  private readonly data: Ring<T>;
  private readonly control = new Ring<T>(CONTROL_LANE_CAPACITY);
  private takers: ((value: T | undefined) => void)[] = [];
  private putters: (() => void)[] = [];
  private closed = false;
  /** Messages dropped by the drop-oldest policy, for observation. */
  dropped = 0;
  rejected = 0;

  constructor(readonly options: MailboxOptions) {
    if (!(options.capacity >= 1)) throw new Error(`mailbox ${options.name}: capacity must be >= 1`);
    this.data = new Ring<T>(options.capacity);
  }

  get size(): number {
    return this.data.size + this.control.size;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Offers a data message without waiting. Returns false (reject) or drops the oldest when full. */
  offer(message: T): boolean {
    if (this.closed) throw new MailboxClosedError(this.options.name);
    if (this.deliverToTaker(message)) return true;
    if (this.data.size >= this.options.capacity) {
      if (this.options.policy === "drop-oldest") {
        this.data.shift();
        this.dropped++;
      } else {
        this.rejected++;
        return false;
      }
    }
    this.data.push(message);
    return true;
  }

  /** Puts a data message; with the block policy waits for room, otherwise as offer but throwing when rejected. */
  async put(message: T): Promise<void> {
    while (this.options.policy === "block" && !this.closed && this.data.size >= this.options.capacity) {
      await new Promise<void>((resolve) => this.putters.push(resolve));
    }
    if (!this.offer(message)) throw new MailboxFullError(this.options.name, this.options.capacity);
  }

  /** Puts a control message ahead of all data. */
  putControl(message: T): void {
    if (this.closed) throw new MailboxClosedError(this.options.name);
    this.requeueFront(message);
  }

  /** Takes the next message, control first; resolves undefined once closed and empty. */
  take(): Promise<T | undefined> {
    const next = this.control.shift() ?? this.data.shift();
    if (next !== undefined) {
      this.putters.shift()?.();
      return Promise.resolve(next);
    }
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.takers.push(resolve));
  }

  /**
   * Puts a message in the control lane (ahead of all data, behind earlier control
   * messages), even on a closed mailbox: for a supervisor returning a message it took
   * in the same turn an actor failed.
   */
  requeueFront(message: T): void {
    if (this.deliverToTaker(message)) return;
    if (this.control.size < CONTROL_LANE_CAPACITY) this.control.push(message);
    else throw new MailboxFullError(`${this.options.name}/control`, CONTROL_LANE_CAPACITY);
  }

  /** Wakes pending takers with undefined without closing (a supervisor checking for a task failure). */
  interrupt(): void {
    for (const taker of this.takers.splice(0)) taker(undefined);
  }

  /** Stops accepting; pending takers get undefined once the mailbox drains; blocked putters are released to fail. */
  close(): void {
    this.closed = true;
    for (const taker of this.takers.splice(0)) taker(undefined);
    for (const putter of this.putters.splice(0)) putter();
  }

  private deliverToTaker(message: T): boolean {
    const taker = this.takers.shift();
    if (!taker) return false;
    taker(message);
    return true;
  }
}
