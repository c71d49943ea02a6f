// logctl's command line: one table of options, one parser from argv and environment to
// a frozen, validated command, and the help text generated from the same table.
//
// Parsing uses node:util parseArgs rather than cac (which the node's own entry point
// uses): cac's parser turns every numeric-looking value into a number, so
// `logctl search 0x80070005` would search for "2147942405" and a trace id or API key
// with leading zeros would lose them. parseArgs keeps every value as typed.

import { parseArgs } from "node:util";
import { SEARCH_LIMIT_MAX } from "../query/limits.ts";
import { UNIT_US } from "../query/filter.ts";
import {
  DEFAULT_URL,
  DRAIN_TIMEOUT_SECONDS_DEFAULT,
  DRAIN_TIMEOUT_SECONDS_MAX,
  INGEST_BATCH_LINES_DEFAULT,
  INGEST_BATCH_LINES_MAX,
  RUN_ID_CHARS_MAX,
  SEARCH_ALL_MAX_DEFAULT,
  SEARCH_ALL_MAX_LIMIT,
  SEARCH_EVENTS_DEFAULT,
  TAIL_BACKLOG_DEFAULT,
  TAIL_INTERVAL_MS_DEFAULT,
  TAIL_INTERVAL_MS_MAX,
  TAIL_INTERVAL_MS_MIN,
} from "./limits.ts";

/** The commands that administer the cluster rather than one node's logs; help lists them apart. */
const CLUSTER_COMMANDS = ["cluster", "shards", "drain", "undrain", "rebalance"] as const;
type ClusterCommandName = (typeof CLUSTER_COMMANDS)[number];
export const COMMANDS = ["status", "ingest", "search", "tail", ...CLUSTER_COMMANDS] as const;
export type CommandName = (typeof COMMANDS)[number];

export const INGEST_FORMATS = ["auto", "ndjson", "json", "text"] as const;
export type IngestFormat = (typeof INGEST_FORMATS)[number];

/** A command line logctl cannot run; exit status 2. */
export class UsageError extends Error {
  readonly code = "usage";
}

/** Where the node is and how to authenticate. */
export interface Connection {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:8080. */
  url: string;
  apiKey?: string;
}

/** The search filter as the CLI passes it on: values as typed; the node validates them. */
export interface QueryFilter {
  q: string;
  services: string[];
  levels: string[];
  hostnames: string[];
  traceIds: string[];
  /** RFC 3339 or epoch text, passed through; an "ago" duration (15m) is resolved to RFC 3339. */
  from?: string;
  to?: string;
}

interface Common {
  connection: Connection;
  json: boolean;
}

export type CliCommand =
  | { command: "help"; text: string }
  | ({ command: "status" } & Common)
  | ({ command: "ingest"; input: string; format: IngestFormat; service?: string; hostname?: string; batchLines: number; gzip: boolean; runId?: string } & Common)
  | ({ command: "search"; filter: QueryFilter; limit: number; all: boolean; max: number } & Common)
  | ({ command: "tail"; filter: QueryFilter; backlog: number; intervalMs: number } & Common)
  | ({ command: "cluster"; subcommand: "status" } & Common)
  | ({ command: "shards" } & Common)
  | ({ command: "drain"; node: string; wait: boolean; timeoutMs: number } & Common)
  | ({ command: "undrain"; node: string } & Common)
  | ({ command: "rebalance" } & Common);

interface OptionSpec {
  name: string;
  type: "string" | "boolean";
  multiple?: boolean;
  short?: string;
  /** Placeholder of the value in help. */
  value?: string;
  doc: string;
  scope: "global" | readonly CommandName[];
}

const FILTER_COMMANDS: readonly CommandName[] = ["search", "tail"];

/** Every option, once per distinct meaning; a name may appear twice with different scopes and docs. */
export const OPTION_TABLE: readonly OptionSpec[] = [
  { name: "url", type: "string", value: "URL", doc: `node's HTTP API (env SLUICE_URL, default ${DEFAULT_URL})`, scope: "global" },
  { name: "api-key", type: "string", value: "KEY", doc: "API key, sent as Authorization: Bearer (env SLUICE_API_KEY)", scope: "global" },
  { name: "json", type: "boolean", doc: "machine-readable output: JSON for status, ingest and the cluster commands, NDJSON events for search and tail", scope: "global" },
  { name: "help", short: "h", type: "boolean", doc: "show help", scope: "global" },
  { name: "format", type: "string", value: "FORMAT", doc: "auto, ndjson, json or text (auto: by extension, else ndjson when the input starts with {)", scope: ["ingest"] },
  { name: "service", type: "string", multiple: true, value: "NAME", doc: "service of text lines", scope: ["ingest"] },
  { name: "hostname", type: "string", multiple: true, value: "NAME", doc: "hostname of text lines", scope: ["ingest"] },
  { name: "batch-lines", type: "string", value: "N", doc: `lines per request (default ${INGEST_BATCH_LINES_DEFAULT}, at most ${INGEST_BATCH_LINES_MAX})`, scope: ["ingest"] },
  { name: "gzip", type: "boolean", doc: "compress request bodies", scope: ["ingest"] },
  { name: "run-id", type: "string", value: "ID", doc: "Idempotency-Key prefix; reuse a failed run's id within 2 minutes to resend without duplicates", scope: ["ingest"] },
  { name: "service", type: "string", multiple: true, value: "NAME", doc: "only these services (repeat or comma-separate)", scope: FILTER_COMMANDS },
  { name: "level", type: "string", multiple: true, value: "LEVEL", doc: "only these levels: TRACE, DEBUG, INFO, WARN, ERROR, FATAL", scope: FILTER_COMMANDS },
  { name: "hostname", type: "string", multiple: true, value: "NAME", doc: "only these hostnames", scope: FILTER_COMMANDS },
  { name: "trace-id", type: "string", multiple: true, value: "ID", doc: "only these trace ids", scope: FILTER_COMMANDS },
  { name: "from", type: "string", value: "TIME", doc: "event time at or after: RFC 3339, epoch, or a duration ago (30s, 15m, 2h, 7d)", scope: FILTER_COMMANDS },
  { name: "to", type: "string", value: "TIME", doc: "event time before (same forms as --from)", scope: ["search"] },
  { name: "limit", type: "string", value: "N", doc: `events to print, or per page with --all (default ${SEARCH_EVENTS_DEFAULT}; with --all ${SEARCH_LIMIT_MAX}; at most ${SEARCH_LIMIT_MAX})`, scope: ["search"] },
  { name: "all", type: "boolean", doc: "follow next_cursor through every page, up to --max events", scope: ["search"] },
  { name: "max", type: "string", value: "N", doc: `most events --all prints (default ${SEARCH_ALL_MAX_DEFAULT})`, scope: ["search"] },
  { name: "limit", type: "string", value: "N", doc: `recent events to print first; 0 for only new ones (default ${TAIL_BACKLOG_DEFAULT})`, scope: ["tail"] },
  { name: "interval-ms", type: "string", value: "MS", doc: `poll interval (default ${TAIL_INTERVAL_MS_DEFAULT}, ${TAIL_INTERVAL_MS_MIN}..${TAIL_INTERVAL_MS_MAX})`, scope: ["tail"] },
  { name: "wait", type: "boolean", doc: "wait until the node owns no shards, printing progress on stderr; exit 1 if --timeout passes first", scope: ["drain"] },
  { name: "timeout", type: "string", value: "SECONDS", doc: `how long --wait waits (default ${DRAIN_TIMEOUT_SECONDS_DEFAULT}, at most ${DRAIN_TIMEOUT_SECONDS_MAX})`, scope: ["drain"] },
];

const COMMAND_USAGE: Record<CommandName, { args: string; doc: string }> = {
  status: { args: "", doc: "node health: ingestion, storage, WAL, query latency, actors, warnings" },
  ingest: { args: "FILE|-", doc: "send a log file (or stdin) in batches; prints progress and rejected lines" },
  search: { args: "[QUERY...]", doc: "search events, newest first; QUERY in the query language (words, \"phrases\", field:value, level:>=WARN, metadata.x:>5, AND OR NOT, parentheses; see the README)" },
  tail: { args: "[QUERY...]", doc: "print new matching events as they arrive, until Ctrl-C" },
  cluster: { args: "status", doc: "nodes, shards, replication and pending moves; exit status 1 when a node is down or a shard has no owner (so scripts can poll), else 0" },
  shards: { args: "", doc: "one row per shard: owner, epoch, state, target, WAL backlog, segments, last sequence" },
  drain: { args: "NODE", doc: "tell NODE to hand its shards to the others and take no new ones; prints how many it still owns" },
  undrain: { args: "NODE", doc: "let a drained NODE take shards again" },
  rebalance: { args: "", doc: "ask for the balanced shard plan now; prints the moves it starts" },
};

function inScope(spec: OptionSpec, command: CommandName | undefined): boolean {
  return spec.scope === "global" || (command !== undefined && spec.scope.includes(command));
}

/** The parseArgs configuration: every option name once. */
function parseArgsOptions(): Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }> {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }> = {};
  for (const spec of OPTION_TABLE) {
    const known = options[spec.name];
    if (known && (known.type !== spec.type || Boolean(known.multiple) !== Boolean(spec.multiple))) {
      throw new Error(`logctl options: --${spec.name} is declared twice with different types`);
    }
    options[spec.name] = { type: spec.type, ...(spec.multiple ? { multiple: true } : {}), ...(spec.short ? { short: spec.short } : {}) };
  }
  return options;
}
const PARSE_ARGS_OPTIONS = parseArgsOptions();

/** Help for one command, or for logctl as a whole. */
export function helpText(command?: CommandName): string {
  const lines: string[] = [];
  if (command) {
    lines.push(`Usage: logctl ${command} ${COMMAND_USAGE[command].args}`.trimEnd(), "", COMMAND_USAGE[command].doc, "", "Options:");
  } else {
    lines.push("Usage: logctl [options] <command> [args]", "", "Admin and query CLI of a Sluice node.", "", "Commands:");
    const commandLine = (name: CommandName) => `  ${`${name} ${COMMAND_USAGE[name].args}`.padEnd(22)}${COMMAND_USAGE[name].doc}`;
    lines.push(...COMMANDS.filter((name) => !isClusterCommand(name)).map(commandLine), "", "Cluster commands:");
    lines.push(...CLUSTER_COMMANDS.map(commandLine), "", "Options:");
  }
  const optionLine = (spec: OptionSpec) => `  ${`${spec.short ? `-${spec.short}, ` : ""}--${spec.name}${spec.value ? ` ${spec.value}` : ""}`.padEnd(22)}${spec.doc}`;
  if (command) {
    const own = OPTION_TABLE.filter((spec) => spec.scope !== "global" && spec.scope.includes(command));
    lines.push(...(own.length > 0 ? own.map(optionLine) : ["  (none)"]), "", "Global options:");
  }
  lines.push(...OPTION_TABLE.filter((spec) => spec.scope === "global").map(optionLine));
  if (!command) lines.push("", "Run `logctl <command> --help` for a command's options.");
  return lines.join("\n");
}

type RawValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/**
 * Turns argv (without the runtime and script) and the environment into a command.
 * Throws UsageError for anything it cannot run. `nowMs` resolves "ago" durations.
 */
export function parseCliArgs(argv: readonly string[], env: Record<string, string | undefined>, nowMs: number): CliCommand {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof PARSE_ARGS_OPTIONS; allowPositionals: true; tokens: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: PARSE_ARGS_OPTIONS, allowPositionals: true, tokens: true, strict: true });
  } catch (error) {
    // parseArgs reports unknown options and missing values as TypeErrors; they are usage errors.
    throw new UsageError(error instanceof Error ? error.message : String(error), { cause: error });
  }
  const values = parsed.values as RawValues;
  const [first, ...rest] = parsed.positionals;
  if (first === undefined || first === "help") {
    const topic = rest[0];
    if (topic !== undefined && !isCommand(topic)) throw unknownCommand(topic);
    return Object.freeze({ command: "help", text: helpText(topic as CommandName | undefined) });
  }
  if (!isCommand(first)) throw unknownCommand(first);
  if (values.help) return Object.freeze({ command: "help", text: helpText(first) });
  for (const token of parsed.tokens) {
    if (token.kind !== "option") continue;
    if (!OPTION_TABLE.some((spec) => spec.name === token.name && inScope(spec, first))) {
      throw new UsageError(`--${token.name} is not an option of \`logctl ${first}\`; see logctl ${first} --help`);
    }
  }
  const common: Common = { connection: parseConnection(values, env), json: values.json === true };
  return Object.freeze(buildCommand(first, rest, values, common, nowMs));
}

function buildCommand(command: CommandName, args: string[], values: RawValues, common: Common, nowMs: number): CliCommand {
  if (command === "status") {
    if (args.length > 0) throw new UsageError(`logctl status takes no arguments, got ${JSON.stringify(args[0])}`);
    return { command, ...common };
  }
  if (command === "ingest") return buildIngest(args, values, common);
  if (isClusterCommand(command)) return buildClusterCommand(command, args, values, common);
  const filter = parseFilterOptions(args, values, nowMs);
  if (command === "search") {
    const all = values.all === true;
    if (values.max !== undefined && !all) throw new UsageError("--max applies only with --all");
    const limitDefault = all ? SEARCH_LIMIT_MAX : SEARCH_EVENTS_DEFAULT;
    return {
      command,
      ...common,
      filter,
      all,
      limit: integerOption("limit", values.limit, { min: 1, max: SEARCH_LIMIT_MAX, default: limitDefault }),
      max: integerOption("max", values.max, { min: 1, max: SEARCH_ALL_MAX_LIMIT, default: SEARCH_ALL_MAX_DEFAULT }),
    };
  }
  return {
    command,
    ...common,
    filter,
    backlog: integerOption("limit", values.limit, { min: 0, max: SEARCH_LIMIT_MAX, default: TAIL_BACKLOG_DEFAULT }),
    intervalMs: integerOption("interval-ms", values["interval-ms"], { min: TAIL_INTERVAL_MS_MIN, max: TAIL_INTERVAL_MS_MAX, default: TAIL_INTERVAL_MS_DEFAULT, clampLow: true }),
  };
}

function buildIngest(args: string[], values: RawValues, common: Common): CliCommand {
  if (args.length !== 1) throw new UsageError(`logctl ingest takes one FILE (or - for stdin), got ${args.length}`);
  const format = (values.format ?? "auto") as string;
  if (!(INGEST_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format: ${JSON.stringify(format)} is not one of ${INGEST_FORMATS.join(", ")}`);
  const service = singleValue("service", values.service);
  const hostname = singleValue("hostname", values.hostname);
  if ((format === "ndjson" || format === "json") && (service !== undefined || hostname !== undefined)) {
    throw new UsageError(`--service and --hostname label text lines; ${format} events carry their own`);
  }
  const runId = values["run-id"] as string | undefined;
  if (runId !== undefined && !new RegExp(`^[A-Za-z0-9_-]{1,${RUN_ID_CHARS_MAX}}$`).test(runId)) {
    throw new UsageError(`--run-id must be 1..${RUN_ID_CHARS_MAX} characters of [A-Za-z0-9_-]`);
  }
  return {
    command: "ingest",
    ...common,
    input: args[0],
    format: format as IngestFormat,
    service,
    hostname,
    batchLines: integerOption("batch-lines", values["batch-lines"], { min: 1, max: INGEST_BATCH_LINES_MAX, default: INGEST_BATCH_LINES_DEFAULT }),
    gzip: values.gzip === true,
    runId,
  };
}

function buildClusterCommand(command: ClusterCommandName, args: string[], values: RawValues, common: Common): CliCommand {
  if (command === "cluster") {
    if (args[0] === undefined) throw new UsageError("logctl cluster takes a subcommand: logctl cluster status");
    if (args[0] !== "status") throw new UsageError(`unknown subcommand ${JSON.stringify(args[0])} of logctl cluster; use logctl cluster status`);
    if (args.length > 1) throw new UsageError(`logctl cluster status takes no arguments, got ${JSON.stringify(args[1])}`);
    return { command, subcommand: "status", ...common };
  }
  if (command === "shards" || command === "rebalance") {
    if (args.length > 0) throw new UsageError(`logctl ${command} takes no arguments, got ${JSON.stringify(args[0])}`);
    return { command, ...common };
  }
  if (args.length !== 1) throw new UsageError(`logctl ${command} takes one NODE (a node id, as logctl cluster status lists them), got ${args.length}`);
  const node = args[0];
  if (node.trim() === "") throw new UsageError(`logctl ${command}: NODE is empty`);
  if (command === "undrain") return { command, ...common, node };
  const wait = values.wait === true;
  if (values.timeout !== undefined && !wait) throw new UsageError("--timeout applies only with --wait");
  const timeoutSeconds = integerOption("timeout", values.timeout, { min: 1, max: DRAIN_TIMEOUT_SECONDS_MAX, default: DRAIN_TIMEOUT_SECONDS_DEFAULT });
  return { command: "drain", ...common, node, wait, timeoutMs: timeoutSeconds * 1000 };
}

function parseFilterOptions(args: string[], values: RawValues, nowMs: number): QueryFilter {
  const from = values.from === undefined ? undefined : resolveTime("from", values.from as string, nowMs);
  const to = values.to === undefined ? undefined : resolveTime("to", values.to as string, nowMs);
  return {
    q: args.join(" "),
    services: listValue(values.service),
    levels: listValue(values.level),
    hostnames: listValue(values.hostname),
    traceIds: listValue(values["trace-id"]),
    ...(from !== undefined ? { from } : {}),
    ...(to !== undefined ? { to } : {}),
  };
}

function parseConnection(values: RawValues, env: Record<string, string | undefined>): Connection {
  const raw = (values.url as string | undefined) ?? env.SLUICE_URL ?? DEFAULT_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch (error) {
    throw new UsageError(`--url / SLUICE_URL: ${JSON.stringify(raw)} is not a URL`, { cause: error });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`--url / SLUICE_URL: ${JSON.stringify(raw)} is not an http:// or https:// URL`);
  const apiKey = ((values["api-key"] as string | undefined) ?? env.SLUICE_API_KEY ?? "").trim();
  const base = `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
  return apiKey === "" ? { url: base } : { url: base, apiKey };
}

/** An "ago" duration (90s, 15m, 2h, 7d) becomes the RFC 3339 time that long before now; anything else passes through. */
export function resolveTime(name: string, raw: string, nowMs: number): string {
  const match = /^(\d+)([smhd])$/.exec(raw.trim());
  if (!match) return raw;
  const agoMs = (Number(match[1]) * UNIT_US[match[2]]) / 1000;
  if (agoMs > nowMs) throw new UsageError(`--${name}: ${raw} ago is before 1970`);
  return new Date(nowMs - agoMs).toISOString();
}

/** Parses a non-negative integer option; above `max` it is clamped, below `min` an error unless `clampLow`. */
export function integerOption(name: string, raw: unknown, range: { min: number; max: number; default: number; clampLow?: boolean }): number {
  if (raw === undefined) return range.default;
  const text = String(raw).replace(/_/g, "");
  if (!/^\d+$/.test(text)) throw new UsageError(`--${name}: ${JSON.stringify(String(raw))} is not a whole number`);
  const value = Number(text);
  if (value < range.min && !range.clampLow) throw new UsageError(`--${name}: ${value} is below the minimum of ${range.min}`);
  return Math.min(range.max, Math.max(range.min, value));
}

function singleValue(name: string, raw: unknown): string | undefined {
  const list = raw === undefined ? [] : (raw as string[]);
  if (list.length > 1) throw new UsageError(`--${name} is given ${list.length} times; ingest takes one`);
  return list[0];
}

/** Repeated and comma-separated values, flattened (the node accepts both forms). */
function listValue(raw: unknown): string[] {
  if (raw === undefined) return [];
  return (raw as string[]).flatMap((value) => value.split(",")).map((value) => value.trim()).filter((value) => value !== "");
}

function isCommand(name: string): name is CommandName {
  return (COMMANDS as readonly string[]).includes(name);
}

function isClusterCommand(name: CommandName): name is ClusterCommandName {
  return (CLUSTER_COMMANDS as readonly string[]).includes(name);
}

function unknownCommand(name: string): UsageError {
  return new UsageError(`unknown command ${JSON.stringify(name)}; commands: ${COMMANDS.join(", ")} (see logctl --help)`);
}
