// Flush on exit: on SIGTERM or SIGINT the logger is closed (flushed within its close
// deadline), then the signal is raised again so the process ends exactly as it would
// have without the logger: a Node/Bun process with no other handler for the signal
// dies of it (exit status 128 + signal number). If the application handles the signal
// itself, the logger only flushes and leaves the exit to it. A second signal while
// flushing exits at once. On beforeExit (the event loop ran dry) the logger is closed
// too, which delivers what is buffered before the process ends.

type ExitSignal = "SIGTERM" | "SIGINT";
const EXIT_SIGNALS: readonly ExitSignal[] = ["SIGTERM", "SIGINT"];

/** Installs the hooks; returns the function that removes them (close() calls it). */
export function installExitHooks(close: () => Promise<unknown>): () => void {
  let closing: Promise<unknown> | undefined;
  const uninstall = () => {
    for (const signal of EXIT_SIGNALS) process.off(signal, onSignal);
    process.off("beforeExit", onBeforeExit);
  };
  const reraise = (signal: ExitSignal) => {
    // Only when nobody else listens: their handler decides how the process ends.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const reportFailure = (error: unknown) => console.error("[sluice-logger] flush on exit failed:", error);
  const exit = (signal: ExitSignal) => {
    uninstall();
    reraise(signal);
  };
  function onSignal(signal: ExitSignal): void {
    if (closing) {
      exit(signal);
      return;
    }
    closing = close();
    // Flushed or not, the process goes on to end as the signal says.
    closing.catch(reportFailure).then(() => exit(signal));
  }
  function onBeforeExit(): void {
    if (closing) return;
    closing = close();
    closing.then(uninstall, reportFailure);
  }
  for (const signal of EXIT_SIGNALS) process.on(signal, onSignal);
  process.on("beforeExit", onBeforeExit);
  return uninstall;
}
