// `logctl search` and `logctl tail`: the search API page by page, events printed one
// line each (or as NDJSON with --json).
//
// tail polls: each poll asks for events at or after the newest event time printed so
// far (from= is inclusive) and drops the ids it already printed at that time. Polling
// works on event time, so an event that arrives late with an older timestamp than
// what tail has shown is not printed; the server-side live tail will not have that gap.

import type { ApiEvent, SearchPage, SluiceClient } from "./client.ts";
import { formatClientError, formatEventLine, formatMissingShards } from "./format.ts";
import type { CliIo } from "./io.ts";
import { TAIL_PAGES_PER_POLL_MAX } from "./limits.ts";
import type { CliCommand, QueryFilter } from "./options.ts";
import { SEARCH_LIMIT_MAX } from "../query/limits.ts";
import { formatTimestampUs } from "../ingest/timestamp.ts";

export type SearchCommand = Extract<CliCommand, { command: "search" }>;
export type TailCommand = Extract<CliCommand, { command: "tail" }>;

/** The query string of a search request; pure. */
export function searchParams(filter: QueryFilter, limit: number, cursor?: string | null, fromOverride?: string): URLSearchParams {
  const params = new URLSearchParams();
  if (filter.q !== "") params.set("q", filter.q);
  for (const service of filter.services) params.append("service", service);
  for (const level of filter.levels) params.append("level", level);
  for (const hostname of filter.hostnames) params.append("hostname", hostname);
  for (const traceId of filter.traceIds) params.append("trace_id", traceId);
  const from = fromOverride ?? filter.from;
  if (from !== undefined) params.set("from", from);
  if (filter.to !== undefined) params.set("to", filter.to);
  params.set("limit", String(limit));
  if (cursor) params.set("cursor", cursor);
  return params;
}

/** One event as printed: a line, or its JSON. */
function renderEvent(event: ApiEvent, json: boolean): string {
  return json ? JSON.stringify(event) : formatEventLine(event);
}

export async function runSearch(command: SearchCommand, io: CliIo, client: SluiceClient): Promise<number> {
  const wanted = command.all ? command.max : command.limit;
  let printed = 0;
  let cursor: string | null = null;
  let reportedPartial = false;
  do {
    const result = await client.search(searchParams(command.filter, Math.min(command.limit, wanted - printed), cursor));
    if (!result.ok) {
      io.stderr(`logctl: ${formatClientError(result.error)}\n`);
      return 1;
    }
    const page = result.value;
    if (page.partial && !reportedPartial) io.stderr(`logctl: ${formatMissingShards(page.missing_shards)}\n`);
    reportedPartial ||= page.partial === true;
    const events = page.logs.slice(0, wanted - printed);
    if (events.length > 0) await io.stdout(`${events.map((event) => renderEvent(event, command.json)).join("\n")}\n`);
    printed += events.length;
    cursor = page.next_cursor;
  } while (command.all && cursor && printed < wanted);
  if (command.all && cursor && printed >= wanted) io.stderr(`logctl: stopped at --max ${command.max} events; more may match\n`);
  return 0;
}

/** Events tail printed at its newest event time, so the next poll (from= that time, inclusive) can skip them. */
export interface TailCursor {
  newest?: string;
  idsAtNewest: Set<string>;
}

/**
 * Takes one poll's events (any order), returns the ones not printed yet oldest first,
 * and advances the cursor past them. Pure apart from updating `cursor`.
 */
export function takeNewEvents(cursor: TailCursor, events: readonly ApiEvent[]): ApiEvent[] {
  const fresh = events.filter((event) => (cursor.newest === undefined || event.timestamp >= cursor.newest) && !(event.timestamp === cursor.newest && cursor.idsAtNewest.has(event.id)));
  const unique = [...new Map(fresh.map((event) => [event.id, event])).values()];
  unique.sort((left, right) => (left.timestamp === right.timestamp ? compare(left.id, right.id) : compare(left.timestamp, right.timestamp)));
  const last = unique[unique.length - 1];
  if (last === undefined) return unique;
  if (last.timestamp !== cursor.newest) {
    cursor.newest = last.timestamp;
    cursor.idsAtNewest = new Set();
  }
  for (const event of unique) if (event.timestamp === cursor.newest) cursor.idsAtNewest.add(event.id);
  return unique;
}

function compare(left: string, right: string): number {
  return left < right ? -1 : left > right ? 1 : 0;
}

/** Milliseconds since the epoch as the API writes times (microsecond digits), so they compare as text. */
export function apiTimestamp(ms: number): string {
  return formatTimestampUs(ms * 1000);
}

/** Polls until `signal` aborts; exit status 0 then, 1 when a poll fails. */
export async function runTail(command: TailCommand, io: CliIo, client: SluiceClient, signal: AbortSignal): Promise<number> {
  const cursor: TailCursor = { idsAtNewest: new Set() };
  // Without a backlog, "new" starts now; otherwise at the newest of the backlog.
  if (command.backlog === 0) cursor.newest = apiTimestamp(io.nowMs());
  let limit = command.backlog === 0 ? SEARCH_LIMIT_MAX : command.backlog;
  let wasPartial = false;
  while (!signal.aborted) {
    const poll = await pollOnce(command, cursor, limit, client, signal);
    if (signal.aborted) break;
    if (!poll.ok) {
      io.stderr(`logctl: ${poll.message}\n`);
      return 1;
    }
    if (poll.partial && !wasPartial) io.stderr(`logctl: ${formatMissingShards(poll.missingShards)}\n`);
    wasPartial = poll.partial;
    if (poll.truncated) io.stderr(`logctl: more than ${TAIL_PAGES_PER_POLL_MAX * SEARCH_LIMIT_MAX} events matched since the last poll; some may not be shown\n`);
    const events = takeNewEvents(cursor, poll.events);
    if (events.length > 0) await io.stdout(`${events.map((event) => renderEvent(event, command.json)).join("\n")}\n`);
    limit = SEARCH_LIMIT_MAX;
    await io.sleep(command.intervalMs, signal);
  }
  return 0;
}

type Poll = { ok: true; events: ApiEvent[]; partial: boolean; missingShards?: SearchPage["missing_shards"]; truncated: boolean } | { ok: false; message: string };

/**
 * One poll: events at or after the cursor's time, following pages up to
 * TAIL_PAGES_PER_POLL_MAX. Before anything was printed, only the newest `limit` (the backlog).
 */
async function pollOnce(command: TailCommand, cursor: TailCursor, limit: number, client: SluiceClient, signal: AbortSignal): Promise<Poll> {
  const poll: Extract<Poll, { ok: true }> = { ok: true, events: [], partial: false, truncated: false };
  const backlogOnly = cursor.newest === undefined;
  let pageCursor: string | null = null;
  for (let page = 0; page < TAIL_PAGES_PER_POLL_MAX; page++) {
    const result = await client.search(searchParams(command.filter, limit, pageCursor, cursor.newest), signal);
    if (!result.ok) return result.error.kind === "aborted" ? poll : { ok: false, message: formatClientError(result.error) };
    poll.events.push(...result.value.logs);
    if (result.value.partial) {
      poll.partial = true;
      poll.missingShards = result.value.missing_shards;
    }
    pageCursor = result.value.next_cursor;
    if (backlogOnly || !pageCursor) return poll;
  }
  poll.truncated = true;
  return poll;
}
