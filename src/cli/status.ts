// `logctl status`: the node's health as a short summary, or its raw JSON with --json.

import type { SluiceClient } from "./client.ts";
import { formatClientError, formatHealth } from "./format.ts";
import type { CliIo } from "./io.ts";

/** Exit status 0 when the node answered (whatever its health), 1 when it did not. */
export async function runStatus(json: boolean, io: CliIo, client: SluiceClient): Promise<number> {
  const result = await client.health();
  if (!result.ok) {
    io.stderr(`logctl: ${formatClientError(result.error)}\n`);
    return 1;
  }
  if (json) await io.stdout(`${JSON.stringify(result.value, null, 2)}\n`);
  else await io.stdout(`${formatHealth(result.value).join("\n")}\n`);
  return 0;
}
