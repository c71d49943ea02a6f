// Waiting on a condition with a deadline: tests never sleep for synchronization.

export async function waitFor<T>(probe: () => T | Promise<T>, options: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${options.what ?? "condition"} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await Bun.sleep(options.intervalMs ?? 50);
  }
}
