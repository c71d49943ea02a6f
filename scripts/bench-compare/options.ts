// The ingest comparison's options: one parser from the command line's raw values to a
// frozen, complete configuration, starting from named defaults (the issue's: at least
// 60 s and 30M events per system), or from the --quick ones, and refusing what makes
// no sense. Every queue and in-flight bound of the load generators is here.

import { resolve } from "node:path";
import { CHUNK_EVENTS } from "../gen-dataset.ts";
import { SYSTEMS, type SystemName } from "./load-messages.ts";

export interface CompareOptions {
  quick: boolean;
  systems: readonly SystemName[];
  /** Full-speed phase: at least this long ... */
  seconds: number;
  /** ... and until this many events are acked (0: by time alone) ... */
  events: number;
  /** ... but never longer than this (a slower system then runs by time, and says so). */
  secondsMax: number;
  /** The rate-capped phase at half the full-speed rate (Sluice paths only); 0 skips it. */
  halfSeconds: number;
  /** Longest wait after a full-speed phase for Sluice's storage work and ClickHouse's merges to go idle. */
  settleSeconds: number;
  /** Distinct events cycled through (the same for every system). */
  poolEvents: number;
  seed: number;
  /** Load-generator threads per system. */
  producers: number;
  shards: number;
  /** SDK: batches in flight per logger (the SDK's inFlightBatchesMax). */
  sdkInFlight: number;
  httpEventsPerBody: number;
  httpInFlight: number;
  httpGzip: boolean;
  clickhouseRowsPerInsert: number;
  clickhouseInFlight: number;
  postgresRowsPerCopy: number;
  postgresInFlight: number;
  probeIntervalMs: number;
  json?: string;
  /** Run each Sluice node under Bun's CPU profiler, writing .cpuprofile files here. */
  nodeProf?: string;
}

/** The issue's defaults: sustained means at least 60 s and 30M events. */
export const DEFAULTS: Omit<CompareOptions, "quick" | "systems" | "json" | "nodeProf"> = {
  seconds: 60,
  events: 30_000_000,
  // A system at 170k events/s reaches 30M in it; slower ones run by time.
  secondsMax: 180,
  halfSeconds: 30,
  settleSeconds: 30,
  // ~350 MB per encoding; cycled (with new timestamps each pass, see pool.ts) ~30 times in
  // a 30M-event phase. A pass holds each service's events of one pass, so a repeated
  // message is a pass's worth of that service's rows away: beyond any compressor's window.
  poolEvents: 1_000_000,
  seed: 42,
  producers: 1,
  shards: 16,
  // The SDK's default (LOGGER_IN_FLIGHT_BATCHES_DEFAULT): what a service gets.
  sdkInFlight: 4,
  // ~1.7 MB bodies, 8 at once: the node parses a body on one core, so several keep both busy.
  httpEventsPerBody: 5_000,
  httpInFlight: 8,
  httpGzip: false,
  // ClickHouse wants big, few INSERTs; 18.16 parses one INSERT on one thread, so two keep two cores busy.
  clickhouseRowsPerInsert: 100_000,
  clickhouseInFlight: 2,
  // A COPY is one transaction; 10,000 rows keeps commits cheap relative to the rows.
  postgresRowsPerCopy: 10_000,
  postgresInFlight: 2,
  probeIntervalMs: 100,
};

/** --quick: every system end to end in under a minute, for development (figures mean little). */
export const QUICK: Partial<CompareOptions> = {
  seconds: 3,
  events: 200_000,
  secondsMax: 5,
  halfSeconds: 3,
  settleSeconds: 2,
  poolEvents: 100_000,
  clickhouseRowsPerInsert: 20_000,
  postgresRowsPerCopy: 5_000,
};

/** Ranges options are clamped to. */
const RANGES: Partial<Record<keyof CompareOptions, readonly [number, number]>> = {
  seconds: [1, 3600],
  events: [0, 10_000_000_000],
  secondsMax: [1, 7200],
  halfSeconds: [0, 3600],
  settleSeconds: [0, 600],
  poolEvents: [1000, 10_000_000],
  producers: [1, 16],
  shards: [1, 256],
  sdkInFlight: [1, 64],
  httpEventsPerBody: [1, 100_000],
  httpInFlight: [1, 256],
  clickhouseRowsPerInsert: [1, 1_000_000],
  clickhouseInFlight: [1, 64],
  postgresRowsPerCopy: [1, 1_000_000],
  postgresInFlight: [1, 64],
  probeIntervalMs: [10, 10_000],
  seed: [0, 2 ** 32 - 1],
};

export class OptionsError extends Error {}

function parseSystems(raw: unknown): SystemName[] {
  if (raw === undefined || raw === true) return [...SYSTEMS];
  const names = String(raw)
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  const unknown = names.filter((name) => !(SYSTEMS as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length === 0) throw new OptionsError(`--systems: unknown ${unknown.join(", ") || "(empty)"}; choose from ${SYSTEMS.join(", ")}`);
  // Run in the canonical order (ClickHouse first, so Sluice's ratios are known as it goes).
  return SYSTEMS.filter((system) => names.includes(system));
}

/** Raw command-line values (camelCase keys named as in CompareOptions) to frozen options. */
export function parseCompareOptions(raw: Record<string, unknown>): Readonly<CompareOptions> {
  const quick = raw.quick === true;
  const options: Record<string, unknown> = { ...DEFAULTS, ...(quick ? QUICK : {}) };
  for (const key of Object.keys(RANGES) as (keyof CompareOptions)[]) {
    const given = raw[key];
    if (given === undefined) continue;
    const value = Number(given);
    if (!Number.isFinite(value)) throw new OptionsError(`--${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}: ${JSON.stringify(given)} is not a number`);
    const [min, max] = RANGES[key]!;
    options[key] = Math.min(max, Math.max(min, Math.floor(value)));
  }
  // Given alone, --seconds also sets the cap, so "--seconds 300" runs 300 s rather than being cut to the default cap.
  if (raw.secondsMax === undefined && raw.seconds !== undefined) options.secondsMax = Math.max(options.secondsMax as number, options.seconds as number);
  if ((options.secondsMax as number) < (options.seconds as number)) throw new OptionsError(`--seconds-max ${options.secondsMax} is below --seconds ${options.seconds}`);
  // Each load-generator thread makes whole chunks of the pool (see pool.ts).
  const chunks = Math.ceil((options.poolEvents as number) / CHUNK_EVENTS);
  if ((options.producers as number) > chunks) throw new OptionsError(`--producers ${options.producers}: a pool of ${options.poolEvents} events has ${chunks} chunk(s) of ${CHUNK_EVENTS}, one thread each at most; raise --pool-events`);
  if (raw.httpGzip !== undefined) options.httpGzip = raw.httpGzip === true;
  return Object.freeze({ ...(options as unknown as CompareOptions), quick, systems: Object.freeze(parseSystems(raw.systems)), json: raw.json === undefined ? undefined : String(raw.json), nodeProf: raw.nodeProf === undefined ? undefined : resolve(String(raw.nodeProf)) });
}
