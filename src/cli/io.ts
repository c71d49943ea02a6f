// What a logctl command may touch besides the node: its output streams and the clock.
// Commands take this as a parameter, so the entry point is the only place that reads
// the process, and tests can run commands against a recorded output and a fake clock.

import { once } from "node:events";
import { pause } from "../sdk/connection.ts";

export interface CliIo {
  /** Writes text (with its own newlines) to stdout; resolves once the stream can take more, so a slow reader slows logctl instead of growing its buffer. */
  stdout(text: string): Promise<void>;
  stderr(text: string): void;
  /** True when stderr is a terminal: progress then rewrites one line instead of adding lines. */
  stderrIsTty: boolean;
  nowMs(): number;
  /** Resolves after `ms`, or early (without error) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

async function writeStdout(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, "drain");
}

/**
 * A reader that goes away (`logctl search | head`) closes the pipe: logctl stops
 * quietly, as if killed by SIGPIPE. Any other write failure is reported.
 */
function onStdoutError(error: NodeJS.ErrnoException): void {
  if (error.code === "EPIPE") process.exit(0);
  process.stderr.write(`logctl: cannot write to stdout: ${error.message}\n`);
  process.exit(1);
}

export function processIo(): CliIo {
  process.stdout.on("error", onStdoutError);
  return {
    stdout: writeStdout,
    stderr: (text) => void process.stderr.write(text),
    stderrIsTty: process.stderr.isTTY === true,
    nowMs: () => Date.now(),
    sleep: pause,
  };
}
