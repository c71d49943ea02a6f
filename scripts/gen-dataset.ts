// Seed-shaped benchmark dataset: a deterministic generator of log events (same seed and
// end time, same events) for the query benchmark (scripts/bench-query.ts) and anyone
// who needs realistic volume. Events are spread evenly over [end - 24 h, end) in
// event-time order with a little jitter; a few hundred services with Zipf-like
// popularity, each on its own few-to-dozens of hosts (thousands in all); traces of 1-8
// events, mostly in one service, interleaved as concurrent requests are; messages
// filled in from templates derived from the Loghub samples (scripts/data/
// loghub-templates.json, rebuilt by the `templates` command); and planted needles: a
// handful of made-up "rare words" each inside a known number of normal messages.
//
//   bun scripts/gen-dataset.ts stats --events 2000000            # generate, report speed and cardinalities
//   bun scripts/gen-dataset.ts tsv --events 2000000 --end 2026-11-21T00:00:00Z > events.tsv
//   bun scripts/gen-dataset.ts templates [--loghub-dir tests/fixtures/loghub]

import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Level, NormalizedEvent } from "../src/protocol/event.ts";
import { LEVELS } from "../src/protocol/event.ts";
import { normalizeLevel } from "../src/ingest/level.ts";
import { encodeBatch } from "../src/protocol/wal-batch.ts";
import { MINUTE_US } from "../src/storage/minute-counts.ts";
import type { Subprocess } from "bun";

const ROOT = resolve(import.meta.dir, "..");
/** Where the derived templates live (a clone has no ../shared; the Loghub samples are in tests/fixtures). */
export const TEMPLATES_PATH = join(ROOT, "scripts/data/loghub-templates.json");
/** Event-time span of a dataset, microseconds: 24 h. */
export const DATASET_SPAN_US = 24 * 3600 * 1_000_000;
/** Largest jitter of an event's time around its even slot, microseconds: events are ordered within this. */
export const JITTER_US_MAX = 50_000;
/** Services in the catalog. */
export const SERVICE_COUNT = 300;
/** Concurrent traces whose events interleave. */
const OPEN_TRACES = 32;
/** Slots of a weighted-choice table: a choice is one table read of 16 random bits. */
const CHOICE_SLOTS = 1 << 16;
/** Share of each level, before a service's error factor (ERROR a few %, as in production). */
const LEVEL_SHARES: Readonly<Record<Level, number>> = { TRACE: 0.01, DEBUG: 0.12, INFO: 0.755, WARN: 0.08, ERROR: 0.03, FATAL: 0.005 };
/** Weights of trace lengths 1..8 events. */
const TRACE_LENGTH_WEIGHTS = [30, 20, 15, 12, 9, 7, 4, 3];
/** Share of a trace's events logged by the trace's own service (the rest by a downstream one). */
const TRACE_OWN_SERVICE_SHARE = 0.85;
const REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-northeast-1"];

// ---------------------------------------------------------------------------------
// Random numbers: sfc32 (small, fast, passes PractRand), seeded through splitmix32.

class Random {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(seed: number) {
    let state = seed >>> 0;
    const split = () => {
      state = (state + 0x9e3779b9) | 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    for (let round = 0; round < 12; round++) this.u32();
  }

  /** A uniform unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A uniform integer in [0, n), n below 2^32. */
  below(n: number): number {
    return Math.floor((this.u32() / 4294967296) * n);
  }

  float(): number {
    return this.u32() / 4294967296;
  }
}

/** A table of CHOICE_SLOTS indices in proportion to `weights` (every positive weight gets a slot): `table[random >>> 16]` picks. */
function choiceTable(weights: readonly number[]): Uint32Array {
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  const positive = weights.filter((weight) => weight > 0).length;
  if (positive === 0 || positive > CHOICE_SLOTS) throw new Error(`choiceTable: ${positive} positive weights; need 1..${CHOICE_SLOTS}`);
  const spare = CHOICE_SLOTS - positive;
  const slots = weights.map((weight) => (weight > 0 ? 1 + Math.floor((weight / total) * spare) : 0));
  // Hand the slots lost to rounding to the heaviest weights.
  const order = weights.map((_, index) => index).sort((left, right) => weights[right] - weights[left]);
  for (let left = CHOICE_SLOTS - slots.reduce((sum, count) => sum + count, 0), at = 0; left > 0; left--, at++) slots[order[at % positive]]++;
  const table = new Uint32Array(CHOICE_SLOTS);
  let at = 0;
  slots.forEach((count, index) => table.fill(index, at, (at += count)));
  return table;
}

const hex8 = (word: number) => word.toString(16).padStart(8, "0");

/**
 * `length` random lowercase hex characters (for names made once; events use
 * TextScratch.hex). A part word takes the high halves of two draws: the catalog's
 * names depend on exactly this, so datasets already made stay reproducible.
 */
function randomHex(random: Random, length: number): string {
  let out = "";
  for (let left = length; left >= 8; left -= 8) out += hex8(random.u32());
  if (length % 8 > 0) out += (hex8(random.u32()).slice(0, 4) + hex8(random.u32()).slice(0, 4)).slice(0, length % 8);
  return out;
}

// ---------------------------------------------------------------------------------
// Templates derived from the Loghub samples.

/**
 * A message template: `parts` alternates literal text (even indices) and slots (odd):
 * `n<digits>` a number of that many digits, `h<chars>` that many hex characters, `ip`
 * an IPv4 address, `uuid`, `path` one of the file's paths.
 */
export interface Template {
  source: string;
  /** The level the original lines had, or null when their format carries none. */
  level: Level | null;
  /** Lines of the sample this template stands for. */
  weight: number;
  parts: string[];
}

export interface TemplateFile {
  about: string;
  paths: string[];
  templates: Template[];
}

/** Per Loghub system: the line's header pattern, capturing the level (or "") and the message. */
const LOGHUB_FORMATS: Readonly<Record<string, RegExp>> = {
  Android: /^\S+ \S+\s+\d+\s+\d+ ([VDIWEF]) (.*)$/,
  Apache: /^\[[^\]]+\] \[(\w+)\] (.*)$/,
  BGL: /^\S+ \d+ \S+ \S+ \S+ \S+ \S+ \S+ (\w+) (.*)$/,
  HDFS: /^\d+ \d+ \d+ (\w+) (.*)$/,
  HPC: /^\d+ \S+ ()(\S+ \S+ \d+ \d+ .*)$/,
  Hadoop: /^\S+ \S+ (\w+) \[[^\]]*\] (.*)$/,
  HealthApp: /^[^|]+\|()([^|]+\|\d+\|.*)$/,
  Linux: /^\w{3}\s+\d+ \S+ \S+ ()(.*)$/,
  Mac: /^\w{3}\s+\d+ \S+ \S+ ()(.*)$/,
  OpenSSH: /^\w{3}\s+\d+ \S+ \S+ ()(.*)$/,
  OpenStack: /^\S+ \S+ \S+ \d+ (\w+) (.*)$/,
  Proxifier: /^\[[^\]]+\] ()(.*)$/,
  Spark: /^\S+ \S+ (\w+) (.*)$/,
  Thunderbird: /^\S+ \d+ \S+ \S+ \w{3}\s+\d+ \S+ \S+ ()(.*)$/,
  Windows: /^\S+ \S+, (\w+)\s+(.*)$/,
  Zookeeper: /^\S+ \S+ - (\w+)\s+(.*)$/,
};
/** Longest template kept, characters: a few Android lines run to kilobytes. */
const TEMPLATE_CHARS_MAX = 400;
/** Templates kept per system and level (the most frequent), so the file stays small. */
const TEMPLATES_PER_SOURCE_LEVEL_MAX = 50;
const PATHS_MAX = 200;
/** Variable parts of a message, tried in this order; each match becomes a slot. */
const VARIABLE_PATTERN = /([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})|((?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.]))|((?<![\w.\/])\/(?:[\w.$-]+\/)+[\w.$-]*)|0x([0-9a-fA-F]+)|((?<![\w])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{8,}(?![\w]))|((?<![A-Za-z0-9])\d+(?![A-Za-z0-9]))/gi;

/** Splits a message into literal text and slots (see Template); paths found are added to `paths`. */
function templateParts(message: string, paths: Map<string, number>): string[] {
  const parts: string[] = [];
  let literal = "";
  let last = 0;
  for (const match of message.matchAll(VARIABLE_PATTERN)) {
    literal += message.slice(last, match.index);
    last = match.index + match[0].length;
    const [, uuid, ip, path, prefixedHex, hex, digits] = match;
    let slot: string;
    if (uuid) slot = "uuid";
    else if (ip) slot = "ip";
    else if (path) {
      paths.set(path, (paths.get(path) ?? 0) + 1);
      slot = "path";
    } else if (prefixedHex) {
      literal += "0x";
      slot = `h${prefixedHex.length}`;
    } else if (hex) slot = `h${hex.length}`;
    else slot = `n${Math.min(digits.length, 19)}`;
    parts.push(literal, slot);
    literal = "";
  }
  parts.push(literal + message.slice(last));
  return parts;
}

/** Derives the template file from a directory of Loghub `<System>_2k.log` samples. */
export function deriveTemplates(loghubDir: string): TemplateFile {
  const paths = new Map<string, number>();
  const templates: Template[] = [];
  for (const file of readdirSync(loghubDir).filter((name) => name.endsWith(".log")).sort()) {
    const source = file.replace(/_2k\.log$/, "");
    const format = LOGHUB_FORMATS[source];
    if (!format) throw new Error(`no header format for Loghub system ${source} (${file})`);
    const bySource = new Map<string, Template>();
    for (const line of readFileSync(join(loghubDir, file), "utf8").split("\n")) {
      const match = format.exec(line.trimEnd());
      if (!match || match[2].trim() === "" || match[2].length > TEMPLATE_CHARS_MAX) continue;
      const level = match[1] === "" ? null : normalizeLevel(match[1]);
      const parts = templateParts(match[2].trim(), paths);
      const key = `${level}\u0000${parts.join("\u0000")}`;
      const known = bySource.get(key);
      if (known) known.weight++;
      else bySource.set(key, { source, level, weight: 1, parts });
    }
    const ranked = [...bySource.values()].sort((left, right) => right.weight - left.weight);
    const kept = new Map<Level | null, number>();
    for (const template of ranked) {
      const count = kept.get(template.level) ?? 0;
      if (count >= TEMPLATES_PER_SOURCE_LEVEL_MAX) continue;
      kept.set(template.level, count + 1);
      templates.push(template);
    }
  }
  const about = "Message templates derived from the Loghub 2k samples (https://github.com/logpai/loghub) by `bun scripts/gen-dataset.ts templates`: parts alternate literal text and slots (n<digits>, h<hex chars>, ip, uuid, path).";
  return { about, paths: [...paths.entries()].sort((left, right) => right[1] - left[1]).slice(0, PATHS_MAX).map(([path]) => path), templates };
}

export function loadTemplates(): TemplateFile {
  const file = JSON.parse(readFileSync(TEMPLATES_PATH, "utf8")) as TemplateFile;
  if (!Array.isArray(file.templates) || file.templates.length === 0 || !Array.isArray(file.paths) || file.paths.length === 0) throw new Error(`${TEMPLATES_PATH}: not a template file (no templates or paths)`);
  return file;
}

// ---------------------------------------------------------------------------------
// The catalog: services, their popularity and hosts. Derived from the seed alone.

const SERVICE_DOMAINS = ["payment", "checkout", "auth", "user", "inventory", "search", "catalog", "cart", "order", "shipping", "billing", "notification", "email", "sms", "recommendation", "pricing", "fraud", "ledger", "gateway", "session", "profile", "media", "upload", "thumbnail", "geo", "analytics", "reporting", "audit", "config", "feature-flags", "identity", "invoice", "refund", "loyalty", "coupon", "review", "rating", "warehouse", "fulfillment", "tracking"];
const SERVICE_ROLES = ["service", "api", "worker", "consumer", "scheduler", "cache", "proxy", "sync"];
const BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz";

export interface Catalog {
  /** Service names, most popular first. */
  services: string[];
  /** Share of events each service logs (same order), summing to 1. */
  serviceShares: number[];
  /** Each service's hosts (Kubernetes-style pod names). */
  hosts: string[][];
  /** Each service's host's region (same shape as hosts). */
  hostRegions: string[][];
  /** Each service's error factor: how much more (or less) than the usual share of ERROR and FATAL it logs. */
  errorFactors: number[];
}

export function buildCatalog(seed: number): Catalog {
  const random = new Random(seed ^ 0x5eed_ca7a);
  const names = SERVICE_DOMAINS.flatMap((domain) => SERVICE_ROLES.map((role) => `${domain}-${role}`));
  for (let index = names.length - 1; index > 0; index--) {
    const other = random.below(index + 1);
    [names[index], names[other]] = [names[other], names[index]];
  }
  const services = names.slice(0, SERVICE_COUNT);
  // Zipf with exponent 1: the top service logs ~16% of events, the last ~0.05%.
  const weights = services.map((_, rank) => 1 / (rank + 1));
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  const hosts = services.map((service, rank) => {
    const count = Math.max(2, Math.round(80 / Math.sqrt(rank + 1)));
    const replicaSet = randomHex(random, 10);
    return Array.from({ length: count }, () => `${service}-${replicaSet}-${Array.from({ length: 5 }, () => BASE36[random.below(36)]).join("")}`);
  });
  const hostRegions = hosts.map((list) => list.map(() => REGIONS[random.below(REGIONS.length)]));
  const errorFactors = services.map(() => 0.3 + 2.7 * random.float() * random.float());
  return { services, serviceShares: weights.map((weight) => weight / total), hosts, hostRegions, errorFactors };
}

// ---------------------------------------------------------------------------------
// Events.

const SLOT_NUMBER = 0;
const SLOT_HEX = 1;
const SLOT_IP = 2;
const SLOT_UUID = 3;
const SLOT_PATH = 4;
/** Most bytes a filled slot takes besides a path: a 32-character number or hex run, a UUID. */
const SLOT_BYTES_MAX = 40;
const utf8 = new TextEncoder();

interface CompiledTemplate {
  /** UTF-8 of each literal part. */
  literals: Uint8Array[];
  kinds: Uint8Array;
  lengths: Uint8Array;
}

function compileTemplate(template: Template): CompiledTemplate {
  const slots = template.parts.filter((_, index) => index % 2 === 1);
  const kindOf = (slot: string) => (slot[0] === "n" ? SLOT_NUMBER : slot[0] === "h" ? SLOT_HEX : slot === "ip" ? SLOT_IP : slot === "uuid" ? SLOT_UUID : SLOT_PATH);
  return {
    literals: template.parts.filter((_, index) => index % 2 === 0).map((literal) => utf8.encode(literal)),
    kinds: Uint8Array.from(slots, kindOf),
    lengths: Uint8Array.from(slots, (slot) => (/^[nh]\d+$/.test(slot) ? Math.min(Number(slot.slice(1)), 32) : 0)),
  };
}

const HEX_DIGITS = utf8.encode("0123456789abcdef");
const latin1 = new TextDecoder("latin1");
const utf8Decoder = new TextDecoder("utf-8");

/**
 * Builds strings as bytes in one scratch buffer and decodes them once: a flat string
 * made this way costs a fifth of one concatenated from pieces, and encodes faster.
 */
class TextScratch {
  readonly bytes: Uint8Array;
  length = 0;

  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity);
  }

  append(part: Uint8Array): void {
    const length = part.length;
    // A native copy costs more than a loop for the short parts most templates have.
    if (length > 24) this.bytes.set(part, this.length);
    else for (let index = 0; index < length; index++) this.bytes[this.length + index] = part[index];
    this.length += length;
  }

  byte(value: number): void {
    this.bytes[this.length++] = value;
  }

  hex(random: Random, count: number): void {
    const bytes = this.bytes;
    let at = this.length;
    for (let left = count; left > 0; ) {
      let word = random.u32();
      for (let nibble = 0; nibble < 8 && left > 0; nibble++, left--) {
        bytes[at++] = HEX_DIGITS[word & 15];
        word >>>= 4;
      }
    }
    this.length = at;
  }

  /** `count` decimal digits, the first not 0 unless it is the only one. */
  digits(random: Random, count: number): void {
    const bytes = this.bytes;
    let at = this.length;
    let word = 0;
    for (let index = 0; index < count; index++) {
      if (index % 9 === 0) word = random.u32();
      const digit = word % 10;
      word = (word - digit) / 10;
      bytes[at++] = 48 + (index === 0 && count > 1 && digit === 0 ? 1 + (word % 9) : digit);
    }
    this.length = at;
  }

  /** A decimal number 0..255. */
  octet(value: number): void {
    if (value >= 100) this.bytes[this.length++] = 48 + Math.floor(value / 100);
    if (value >= 10) this.bytes[this.length++] = 48 + (Math.floor(value / 10) % 10);
    this.bytes[this.length++] = 48 + (value % 10);
  }

  /** The bytes so far as a string, then empties the buffer; `ascii` when they surely are. */
  take(ascii: boolean): string {
    const out = (ascii ? latin1 : utf8Decoder).decode(this.bytes.subarray(0, this.length));
    this.length = 0;
    return out;
  }
}

/** Words that make a levelless line (syslog, sshd, …) read as a failure. */
const FAILURE_WORDS = /error|fail|exception|refused|denied|timed? ?out|unable|cannot|can not|panic|unavailable|invalid|broken|lost/i;

/**
 * Which templates serve each level, by weight: the ones whose lines had that level;
 * levelless lines also serve TRACE, DEBUG and INFO, and those that read as a failure
 * also WARN and ERROR (a few levels have too few templates of their own).
 */
export function templatesForLevel(templates: readonly Template[], level: Level): number[] {
  const failure = (template: Template) => FAILURE_WORDS.test(template.parts.filter((_, index) => index % 2 === 0).join(" "));
  const quiet = level === "TRACE" || level === "DEBUG" || level === "INFO";
  const weights = templates.map((template) => {
    if (template.level === level) return template.weight;
    if (template.level !== null) return level === "TRACE" && template.level === "DEBUG" ? template.weight : 0;
    return quiet || ((level === "WARN" || level === "ERROR") && failure(template)) ? template.weight : 0;
  });
  return weights.some((weight) => weight > 0) ? weights : templatesForLevel(templates, "ERROR");
}

interface OpenTrace {
  traceId: string;
  serviceIndex: number;
  left: number;
  sample: TraceSample | null;
}

/** A trace the dataset holds, for lookups: its id, how many events it has and its service. */
export interface TraceSample {
  trace_id: string;
  events: number;
  service: string;
  first_timestamp_us: number;
}

/**
 * The fixed tables events are made from: compiled templates, choice tables, metadata
 * tails. They depend on the catalog and templates alone and draw no random numbers,
 * so one model serves every EventFactory of a dataset (the level tables alone are
 * ~75 MB).
 */
class EventModel {
  readonly compiled: CompiledTemplate[];
  readonly templateTables: Uint32Array[];
  readonly serviceTable: Uint32Array;
  readonly levelTables: Uint32Array[];
  readonly traceLengthTable: Uint32Array;
  readonly metadataTails: string[][];
  readonly paths: Uint8Array[];
  /** Most bytes a filled-in message can take. */
  readonly messageBytesMax: number;

  constructor(catalog: Catalog, templates: TemplateFile) {
    this.compiled = templates.templates.map(compileTemplate);
    this.paths = templates.paths.map((path) => utf8.encode(path));
    const bytesOf = (parts: Uint8Array[]) => parts.reduce((sum, part) => sum + part.length, 0);
    const slotBytesMax = Math.max(SLOT_BYTES_MAX, ...this.paths.map((path) => path.length));
    this.messageBytesMax = Math.max(...this.compiled.map((template) => bytesOf(template.literals) + template.kinds.length * slotBytesMax));
    this.templateTables = LEVELS.map((level) => choiceTable(templatesForLevel(templates.templates, level)));
    this.serviceTable = choiceTable(catalog.serviceShares);
    this.levelTables = catalog.errorFactors.map((factor) => choiceTable(LEVELS.map((level) => LEVEL_SHARES[level] * (level === "ERROR" || level === "FATAL" ? factor : 1))));
    this.traceLengthTable = choiceTable(TRACE_LENGTH_WEIGHTS);
    this.metadataTails = catalog.hostRegions.map((regions) => regions.map((region) => `,"region":"${region}"}`));
  }
}

/**
 * Makes events one at a time from its own random stream; the timestamp is the
 * caller's (the dataset spreads them over 24 h, live ingest uses the clock).
 * `model` must be made from the same catalog and templates.
 */
export class EventFactory {
  private readonly random: Random;
  private readonly compiled: CompiledTemplate[];
  private readonly templateTables: Uint32Array[];
  private readonly serviceTable: Uint32Array;
  private readonly levelTables: Uint32Array[];
  private readonly traceLengthTable: Uint32Array;
  private readonly open: OpenTrace[] = [];
  private readonly metadataTails: string[][];
  private readonly paths: Uint8Array[];
  private readonly scratch: TextScratch;
  private readonly id16 = new TextScratch(16);
  private readonly id32 = new TextScratch(32);
  /** Every this many traces one is sampled (0: none). */
  sampleEvery = 0;
  private tracesStarted = 0;
  readonly samples: TraceSample[] = [];

  constructor(
    readonly catalog: Catalog,
    templates: TemplateFile,
    seed: number,
    model: EventModel = new EventModel(catalog, templates),
  ) {
    this.random = new Random(seed);
    ({ compiled: this.compiled, paths: this.paths, templateTables: this.templateTables, serviceTable: this.serviceTable, levelTables: this.levelTables, traceLengthTable: this.traceLengthTable, metadataTails: this.metadataTails } = model);
    this.scratch = new TextScratch(model.messageBytesMax);
    for (let slot = 0; slot < OPEN_TRACES; slot++) this.open.push({ traceId: "", serviceIndex: 0, left: 0, sample: null });
  }

  /** The next event, at `timestampUs`; `needle`, when given, is placed as a whole word inside the message. */
  next(timestampUs: number, needle?: string): NormalizedEvent {
    const random = this.random;
    const trace = this.open[random.u32() & (OPEN_TRACES - 1)];
    if (trace.left === 0) this.startTrace(trace, timestampUs);
    trace.left--;
    if (trace.sample) trace.sample.events++;
    const serviceIndex = random.float() < TRACE_OWN_SERVICE_SHARE ? trace.serviceIndex : this.serviceTable[random.u32() >>> 16];
    const levelIndex = this.levelTables[serviceIndex][random.u32() >>> 16];
    const level = LEVELS[levelIndex];
    const hosts = this.catalog.hosts[serviceIndex];
    const hostIndex = random.below(hosts.length);
    let message = this.fill(this.compiled[this.templateTables[levelIndex][random.u32() >>> 16]]);
    if (needle !== undefined) message = insertWord(message, needle, random);
    return {
      timestampUs,
      level,
      service: this.catalog.services[serviceIndex],
      hostname: hosts[hostIndex],
      traceId: trace.traceId,
      spanId: this.hexId(16),
      message,
      metadata: `{"duration_ms":${this.durationMs(level)},"status":${this.status(level)}${this.metadataTails[serviceIndex][hostIndex]}`,
    };
  }

  /** Sampled traces still open have fewer events than planned; their counts are already what was emitted. */
  private startTrace(trace: OpenTrace, timestampUs: number): void {
    trace.traceId = this.hexId(32);
    trace.serviceIndex = this.serviceTable[this.random.u32() >>> 16];
    trace.left = this.traceLengthTable[this.random.u32() >>> 16] + 1;
    trace.sample = null;
    if (this.sampleEvery > 0 && this.tracesStarted++ % this.sampleEvery === 0) {
      trace.sample = { trace_id: trace.traceId, events: 0, service: this.catalog.services[trace.serviceIndex], first_timestamp_us: timestampUs };
      this.samples.push(trace.sample);
    }
  }

  /** A random hex id of 16 or 32 characters, decoded from a buffer of exactly that size (no view to make). */
  private hexId(length: 16 | 32): string {
    const buffer = length === 16 ? this.id16 : this.id32;
    buffer.length = 0;
    buffer.hex(this.random, length);
    return latin1.decode(buffer.bytes);
  }

  private fill(template: CompiledTemplate): string {
    const random = this.random;
    const scratch = this.scratch;
    scratch.append(template.literals[0]);
    for (let slot = 0; slot < template.kinds.length; slot++) {
      switch (template.kinds[slot]) {
        case SLOT_NUMBER:
          scratch.digits(random, template.lengths[slot]);
          break;
        case SLOT_HEX:
          scratch.hex(random, template.lengths[slot]);
          break;
        case SLOT_IP: {
          const word = random.u32();
          scratch.append(PRIVATE_NETWORK);
          scratch.octet(word & 0xff);
          scratch.byte(46);
          scratch.octet((word >>> 8) & 0xff);
          scratch.byte(46);
          scratch.octet(1 + ((word >>> 16) % 254));
          break;
        }
        case SLOT_UUID:
          for (const group of UUID_GROUPS) {
            if (group !== 8) scratch.byte(45);
            scratch.hex(random, group);
          }
          break;
        default:
          scratch.append(this.paths[random.u32() % this.paths.length]);
      }
      scratch.append(template.literals[slot + 1]);
    }
    return scratch.take(false);
  }

  /** Milliseconds, log-normal-ish: mostly tens, a tail into seconds; errors are slower. */
  private durationMs(level: Level): number {
    const base = Math.floor(Math.exp(this.random.float() * 5 + this.random.float() * 3));
    return level === "ERROR" || level === "FATAL" ? base * 3 : base;
  }

  private status(level: Level): number {
    const pick = this.random.u32() & 7;
    if (level === "ERROR" || level === "FATAL") return [500, 500, 500, 502, 503, 503, 504, 500][pick];
    if (level === "WARN") return [400, 401, 403, 404, 404, 409, 429, 429][pick];
    return [200, 200, 200, 200, 201, 204, 200, 304][pick];
  }
}

const PRIVATE_NETWORK = utf8.encode("10.");
const UUID_GROUPS = [8, 4, 4, 4, 12];

/** Puts `word` into `message` as a whole word: after a space near the middle, or at the end. */
function insertWord(message: string, word: string, random: Random): string {
  const space = message.indexOf(" ", random.below(Math.max(1, message.length)));
  return space < 0 ? `${message} ${word}` : `${message.slice(0, space + 1)}${word} ${message.slice(space + 1)}`;
}

// ---------------------------------------------------------------------------------
// The dataset: N events over [end - 24 h, end) in chunks of CHUNK_EVENTS, each chunk
// from its own random streams (so chunks can be made in parallel, in any order, and
// come out the same), needles planted at places planned from the seed alone.

export interface DatasetOptions {
  events: number;
  seed: number;
  /** End of the event-time window (exclusive), microseconds since the epoch. */
  endUs: number;
}

/** A rare word and how many events hold it (as a whole word, once each). */
export interface Needle {
  word: string;
  count: number;
}

/** Events per chunk: a chunk's files are made in memory (~150 MB) and loaded as one piece. */
export const CHUNK_EVENTS = 250_000;
/** Events per WAL batch of a chunk (the last batch of the last chunk may be shorter). */
export const BATCH_EVENTS = 1000;
/** Made-up rare words planted in a dataset. */
const NEEDLE_WORDS = 8;
/** Traces a dataset records for lookups, about (spread over its chunks). */
const TRACE_SAMPLES = 1000;
/** Fewest and most events a needle is planted in. */
export const NEEDLE_COUNT_MIN = 5;
export const NEEDLE_COUNT_MAX = 20;
/** Letters of a needle word: none of them hex digits, so no filled-in slot can spell one. */
const NEEDLE_LETTERS = "ghijklmnopqrstuvwxyz";

/** Events of chunk `chunk` of a dataset of `events`: CHUNK_EVENTS, fewer in the last chunk. */
export function chunkEventCount(events: number, chunk: number): number {
  return Math.min(CHUNK_EVENTS, events - chunk * CHUNK_EVENTS);
}

export class Dataset {
  readonly catalog: Catalog;
  readonly needles: Needle[];
  readonly startUs: number;
  readonly chunks: number;
  /** Traces sampled by the chunks made so far, in chunk order once every chunk has been made. */
  readonly traceSamples: TraceSample[] = [];
  /** Event index of each planted needle, ascending, and which word it is. */
  private readonly needleAt: { index: number; word: string }[];
  /** The event tables every chunk's factory shares, made with the first chunk. */
  private model?: EventModel;

  constructor(
    readonly options: DatasetOptions,
    private readonly templates: TemplateFile = loadTemplates(),
  ) {
    if (!Number.isSafeInteger(options.events) || options.events < 1) throw new Error(`events: ${options.events} is not a positive integer`);
    if (!Number.isSafeInteger(options.endUs) || options.endUs < DATASET_SPAN_US) throw new Error(`endUs: ${options.endUs} is not a time in microseconds`);
    this.startUs = options.endUs - DATASET_SPAN_US;
    this.chunks = Math.ceil(options.events / CHUNK_EVENTS);
    this.catalog = buildCatalog(options.seed);
    ({ needles: this.needles, at: this.needleAt } = planNeedles(options.events, NEEDLE_WORDS, options.seed));
  }

  /** Every event, in batches of BATCH_EVENTS, in event-time order within the jitter. */
  *batches(): Generator<NormalizedEvent[]> {
    for (let chunk = 0; chunk < this.chunks; chunk++) yield* this.chunkBatches(chunk);
  }

  /** The events of one chunk, in batches of BATCH_EVENTS; its sampled traces join traceSamples as it ends. */
  *chunkBatches(chunk: number): Generator<NormalizedEvent[]> {
    const { events, endUs, seed } = this.options;
    const first = chunk * CHUNK_EVENTS;
    const end = first + chunkEventCount(events, chunk);
    const chunkSeed = (seed ^ Math.imul(chunk + 1, 0x9e37_79b1)) >>> 0;
    this.model ??= new EventModel(this.catalog, this.templates);
    const factory = new EventFactory(this.catalog, this.templates, chunkSeed, this.model);
    factory.sampleEvery = Math.max(1, Math.floor((end - first) / 3 / Math.ceil(TRACE_SAMPLES / this.chunks)));
    const jitter = new Random(chunkSeed ^ 0x7177_7e12);
    const spacingUs = DATASET_SPAN_US / events;
    let needle = this.needleAt.findIndex((planted) => planted.index >= first);
    if (needle < 0) needle = this.needleAt.length;
    for (let batchFirst = first; batchFirst < end; batchFirst += BATCH_EVENTS) {
      const batch: NormalizedEvent[] = [];
      for (let index = batchFirst; index < Math.min(end, batchFirst + BATCH_EVENTS); index++) {
        const slotUs = this.startUs + Math.floor((index + 0.5) * spacingUs);
        const timestampUs = Math.min(endUs - 1, Math.max(this.startUs, slotUs + jitter.below(2 * JITTER_US_MAX + 1) - JITTER_US_MAX));
        const word = this.needleAt[needle]?.index === index ? this.needleAt[needle++].word : undefined;
        batch.push(factory.next(timestampUs, word));
      }
      yield batch;
    }
    this.traceSamples.push(...factory.samples.filter((sample) => sample.events > 0));
  }
}

/** Chooses the needle words, how often each appears and at which event indices (from the seed alone). */
function planNeedles(events: number, words: number, seed: number): { needles: Needle[]; at: { index: number; word: string }[] } {
  const random = new Random(seed ^ 0x6e65_6564);
  const needles: Needle[] = [];
  const taken = new Set<number>();
  const at: { index: number; word: string }[] = [];
  while (needles.length < words) {
    let word = "";
    for (let letter = 0; letter < 4; letter++) word += NEEDLE_LETTERS[random.below(NEEDLE_LETTERS.length)];
    word += String(1000 + random.below(9000));
    if (needles.some((needle) => needle.word === word)) continue;
    const count = Math.min(NEEDLE_COUNT_MIN + random.below(NEEDLE_COUNT_MAX - NEEDLE_COUNT_MIN + 1), Math.floor((events - taken.size) / 2));
    if (count < 1) break;
    needles.push({ word, count });
    for (let placed = 0; placed < count; ) {
      const index = random.below(events);
      if (taken.has(index)) continue;
      taken.add(index);
      at.push({ index, word });
      placed++;
    }
  }
  return { needles, at: at.sort((left, right) => left.index - right.index) };
}

/** Events of `catalog`'s services with the clock's timestamps, for live ingest beside the dataset. */
export function liveEvents(catalog: Catalog, seed: number): EventFactory {
  return new EventFactory(catalog, loadTemplates(), seed ^ 0x11fe_11fe);
}

// ---------------------------------------------------------------------------------
// ClickHouse TabSeparated rows (the column order of the benchmark's table).

/** Columns of a TSV row, in order. */
export const TSV_COLUMNS = ["timestamp_us", "level", "service", "hostname", "trace_id", "span_id", "message", "metadata"] as const;
const TSV_SPECIAL = /[\t\n\\]/;

function tsvEscape(text: string): string {
  return TSV_SPECIAL.test(text) ? text.replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n") : text;
}

/** The events as TabSeparated lines, each ending in a newline. */
export function toTsv(events: readonly NormalizedEvent[]): string {
  let out = "";
  for (const event of events) {
    out += `${event.timestampUs}\t${event.level}\t${event.service}\t${event.hostname}\t${event.traceId}\t${event.spanId}\t${tsvEscape(event.message)}\t${tsvEscape(event.metadata)}\n`;
  }
  return out;
}

// ---------------------------------------------------------------------------------
// Dataset files: per chunk, the FlatBuffers WAL batches as Sluice takes them (each
// preceded by its length, u32 little-endian) and the same events as ClickHouse
// TabSeparated rows, both zstd-compressed, and a summary written last (its presence
// says the chunk is complete); dataset.json merges the summaries. Making the events
// once, ahead of the load, keeps generation out of the load figures.

/** Version of the dataset file layout; a directory of another version is made again. */
const DATASET_FILES_VERSION = 1;
/** Minutes in the dataset's window: expected counts are kept per minute. */
const WINDOW_MINUTES = DATASET_SPAN_US / MINUTE_US;
/** zstd level of the chunk files: fast to make, ~4x smaller. */
const ZSTD_LEVEL = 3;

/** What a chunk (or, merged, the whole dataset) holds, for checking answers. */
export interface DatasetSummary {
  version: number;
  events: number;
  seed: number;
  end_us: number;
  start_us: number;
  chunks: number;
  needles: Needle[];
  trace_samples: TraceSample[];
  /** Services, most popular first. */
  services: string[];
  /** service -> level -> events. */
  counts_by_service_level: Record<string, Record<string, number>>;
  /** Events per minute of the window, from start_us (index 0) on. */
  counts_per_minute: number[];
  flatbuffers_bytes: number;
  tsv_bytes: number;
}

export function chunkFiles(dir: string, chunk: number): { flatbuffers: string; tsv: string; summary: string } {
  const base = join(dir, `chunk-${String(chunk).padStart(5, "0")}`);
  return { flatbuffers: `${base}.fb.zst`, tsv: `${base}.tsv.zst`, summary: `${base}.json` };
}

export const datasetSummaryPath = (dir: string) => join(dir, "dataset.json");

function sameDataset(summary: Pick<DatasetSummary, "version" | "events" | "seed" | "end_us">, options: DatasetOptions): boolean {
  return summary.version === DATASET_FILES_VERSION && summary.events === options.events && summary.seed === options.seed && summary.end_us === options.endUs;
}

function readJson<T>(path: string): T | undefined {
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as T) : undefined;
}

/** Makes one chunk's files (temporary names, renamed into place, summary last). */
export function writeChunk(dataset: Dataset, chunk: number, dir: string): DatasetSummary {
  const files = chunkFiles(dir, chunk);
  const frames: Uint8Array[] = [];
  let tsv = "";
  const counts: Record<string, Record<string, number>> = {};
  const perMinute = new Array<number>(WINDOW_MINUTES).fill(0);
  const samplesBefore = dataset.traceSamples.length;
  let events = 0;
  for (const batch of dataset.chunkBatches(chunk)) {
    const bytes = encodeBatch(batch);
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, bytes.length, true);
    frames.push(length, bytes);
    tsv += toTsv(batch);
    for (const event of batch) {
      const byLevel = (counts[event.service] ??= {});
      byLevel[event.level] = (byLevel[event.level] ?? 0) + 1;
      perMinute[Math.floor((event.timestampUs - dataset.startUs) / MINUTE_US)]++;
    }
    events += batch.length;
  }
  const flatbuffers = Bun.zstdCompressSync(Buffer.concat(frames), { level: ZSTD_LEVEL });
  const rows = Bun.zstdCompressSync(Buffer.from(tsv), { level: ZSTD_LEVEL });
  writeFileSync(`${files.flatbuffers}.tmp`, flatbuffers);
  renameSync(`${files.flatbuffers}.tmp`, files.flatbuffers);
  writeFileSync(`${files.tsv}.tmp`, rows);
  renameSync(`${files.tsv}.tmp`, files.tsv);
  const summary: DatasetSummary = {
    version: DATASET_FILES_VERSION,
    events,
    seed: dataset.options.seed,
    end_us: dataset.options.endUs,
    start_us: dataset.startUs,
    chunks: 1,
    needles: [],
    trace_samples: dataset.traceSamples.slice(samplesBefore),
    services: [],
    counts_by_service_level: counts,
    counts_per_minute: perMinute,
    flatbuffers_bytes: flatbuffers.length,
    tsv_bytes: rows.length,
  };
  writeFileSync(`${files.summary}.tmp`, JSON.stringify(summary));
  renameSync(`${files.summary}.tmp`, files.summary);
  return summary;
}

export interface WriteDatasetOptions {
  /** Processes making chunks at once (default 2: the development machine's cores). */
  jobs?: number;
  log?: (line: string) => void;
  /** Each child process is added here (Children.add), so a caller's cleanup can end it while it runs. */
  children?: { add(child: Subprocess): unknown };
}

/**
 * Makes (or finds already made) the dataset's files in `dir`, chunks in parallel
 * child processes, with progress every 5 s; returns the merged summary (dataset.json).
 */
export async function writeDataset(dir: string, options: DatasetOptions, writeOptions: WriteDatasetOptions = {}): Promise<DatasetSummary> {
  const known = readJson<DatasetSummary>(datasetSummaryPath(dir));
  const filesPresent = (chunks: number) => Array.from({ length: chunks }, (_, chunk) => chunkFiles(dir, chunk)).every((files) => existsSync(files.flatbuffers) && existsSync(files.tsv));
  // dataset.json outlives the chunk files (--delete-dataset-files): missing chunks are made again.
  if (known && sameDataset(known, options) && filesPresent(known.chunks)) return known;
  mkdirSync(dir, { recursive: true });
  const dataset = new Dataset(options);
  const log = writeOptions.log ?? ((line: string) => console.error(line));
  const jobs = Math.max(1, writeOptions.jobs ?? 2);
  const started = performance.now();
  // A chunk once done stays done (workers skip it), so each check reads only the summaries of chunks not yet seen done.
  const doneChunks = new Set<number>();
  const done = () => {
    for (let chunk = 0; chunk < dataset.chunks; chunk++) if (!doneChunks.has(chunk) && isChunkDone(dir, chunk, options)) doneChunks.add(chunk);
    return doneChunks.size;
  };
  const doneAtStart = done();
  const workers = Array.from({ length: jobs }, (_, worker) =>
    Bun.spawn([process.execPath, import.meta.path, "write-chunks", "--out", dir, "--events", String(options.events), "--seed", String(options.seed), "--end", String(options.endUs), "--worker", `${worker}/${jobs}`], { stdout: "inherit", stderr: "inherit" }),
  );
  for (const worker of workers) writeOptions.children?.add(worker);
  const progress = setInterval(() => {
    const chunks = done();
    const seconds = (performance.now() - started) / 1000;
    const rate = ((chunks - doneAtStart) * CHUNK_EVENTS) / seconds;
    log(`  generated ${Math.min(options.events, chunks * CHUNK_EVENTS).toLocaleString()} / ${options.events.toLocaleString()} events, ${Math.round(rate).toLocaleString()} events/s, ETA ${rate > 0 ? Math.round(((dataset.chunks - chunks) * CHUNK_EVENTS) / rate) : "?"} s`);
  }, 5000);
  try {
    const codes = await Promise.all(workers.map((worker) => worker.exited));
    if (codes.some((code) => code !== 0)) throw new Error(`dataset generation failed: worker exit codes ${codes.join(", ")}`);
  } finally {
    clearInterval(progress);
  }
  const summary = mergeSummaries(dir, dataset);
  writeFileSync(datasetSummaryPath(dir), JSON.stringify(summary));
  log(`  dataset: ${summary.events.toLocaleString()} events in ${Math.round((performance.now() - started) / 1000)} s, ${Math.round(summary.flatbuffers_bytes / 2 ** 20)} MB FlatBuffers + ${Math.round(summary.tsv_bytes / 2 ** 20)} MB TSV (zstd) in ${dir}`);
  return summary;
}

function isChunkDone(dir: string, chunk: number, options: DatasetOptions): boolean {
  const files = chunkFiles(dir, chunk);
  if (!existsSync(files.flatbuffers) || !existsSync(files.tsv)) return false;
  const summary = readJson<DatasetSummary>(files.summary);
  // A chunk's summary counts the chunk's own events.
  return summary !== undefined && summary.chunks === 1 && sameDataset(summary, { ...options, events: chunkEventCount(options.events, chunk) });
}

function mergeSummaries(dir: string, dataset: Dataset): DatasetSummary {
  const merged: DatasetSummary = {
    version: DATASET_FILES_VERSION,
    events: 0,
    seed: dataset.options.seed,
    end_us: dataset.options.endUs,
    start_us: dataset.startUs,
    chunks: dataset.chunks,
    needles: dataset.needles,
    trace_samples: [],
    services: dataset.catalog.services,
    counts_by_service_level: {},
    counts_per_minute: new Array<number>(WINDOW_MINUTES).fill(0),
    flatbuffers_bytes: 0,
    tsv_bytes: 0,
  };
  for (let chunk = 0; chunk < dataset.chunks; chunk++) {
    const summary = readJson<DatasetSummary>(chunkFiles(dir, chunk).summary);
    if (!summary) throw new Error(`chunk ${chunk} of ${dir} is missing`);
    merged.events += summary.events;
    merged.trace_samples.push(...summary.trace_samples);
    for (const [service, byLevel] of Object.entries(summary.counts_by_service_level)) {
      const into = (merged.counts_by_service_level[service] ??= {});
      for (const [level, count] of Object.entries(byLevel)) into[level] = (into[level] ?? 0) + count;
    }
    summary.counts_per_minute.forEach((count, minute) => (merged.counts_per_minute[minute] += count));
    merged.flatbuffers_bytes += summary.flatbuffers_bytes;
    merged.tsv_bytes += summary.tsv_bytes;
  }
  if (merged.events !== dataset.options.events) throw new Error(`chunks of ${dir} hold ${merged.events} events, not ${dataset.options.events}`);
  return merged;
}

/** One chunk's WAL batches (FlatBuffers, as encodeBatch made them). */
export async function readFlatbuffersChunk(dir: string, chunk: number): Promise<Uint8Array[]> {
  const bytes = new Uint8Array(await Bun.zstdDecompress(await Bun.file(chunkFiles(dir, chunk).flatbuffers).bytes()));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const batches: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    const length = view.getUint32(at, true);
    if (at + 4 + length > bytes.length) throw new Error(`chunk ${chunk} of ${dir} is truncated at byte ${at}`);
    batches.push(bytes.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return batches;
}

/** One chunk's TabSeparated rows. */
export async function readTsvChunk(dir: string, chunk: number): Promise<Uint8Array> {
  return new Uint8Array(await Bun.zstdDecompress(await Bun.file(chunkFiles(dir, chunk).tsv).bytes()));
}

// ---------------------------------------------------------------------------------
// CLI.

/** `--end` as microseconds: RFC 3339, or epoch microseconds; default now, floored to the minute. */
export function parseEndUs(raw: unknown): number {
  if (raw === undefined || raw === "") return Math.floor(Date.now() / 60_000) * 60_000 * 1000;
  const text = String(raw);
  const endUs = /^\d+$/.test(text) ? Number(text) : Date.parse(text) * 1000;
  if (!Number.isSafeInteger(endUs) || endUs < DATASET_SPAN_US) throw new Error(`--end: ${JSON.stringify(text)} is not an RFC 3339 time or epoch microseconds`);
  return endUs;
}

async function main(): Promise<void> {
  const { default: cac } = await import("cac");
  const cli = cac("gen-dataset");
  const dataOptions = (command: ReturnType<typeof cli.command>) =>
    command.option("--events <n>", "events", { default: 2_000_000 }).option("--seed <n>", "PRNG seed", { default: 1 }).option("--end <time>", "end of the 24 h window (RFC 3339 or epoch µs); default now, floored to the minute");
  const datasetOptions = (options: Record<string, unknown>): DatasetOptions => ({ events: Number(options.events), seed: Number(options.seed), endUs: parseEndUs(options.end) });
  cli.command("templates", "rebuild scripts/data/loghub-templates.json from the Loghub samples").option("--loghub-dir <dir>", "the samples", { default: join(ROOT, "tests/fixtures/loghub") }).action((options) => {
    const file = deriveTemplates(String(options.loghubDir));
    writeFileSync(TEMPLATES_PATH, `${JSON.stringify(file)}\n`);
    console.error(`${file.templates.length} templates, ${file.paths.length} paths -> ${TEMPLATES_PATH}`);
  });
  dataOptions(cli.command("stats", "generate the events in memory; report speed, cardinalities and needles")).action((options) => {
    const dataset = new Dataset(datasetOptions(options));
    const started = performance.now();
    const services = new Set<string>();
    const hosts = new Set<string>();
    const traces = new Set<string>();
    const levels: Record<string, number> = {};
    let count = 0;
    let chars = 0;
    for (const batch of dataset.batches()) {
      for (const event of batch) {
        services.add(event.service);
        hosts.add(event.hostname);
        if (traces.size < 1_000_000) traces.add(event.traceId);
        levels[event.level] = (levels[event.level] ?? 0) + 1;
        chars += event.message.length;
      }
      count += batch.length;
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(JSON.stringify({ events: count, events_per_s: Math.round(count / seconds), services: services.size, hosts: hosts.size, traces_in_first_million: traces.size, levels, message_chars_mean: Math.round(chars / count), needles: dataset.needles, trace_samples: dataset.traceSamples.length, first_trace: dataset.traceSamples[0] }, null, 2));
  });
  dataOptions(cli.command("tsv", "write the events as ClickHouse TabSeparated rows to stdout")).action(async (options) => {
    const writer = Bun.stdout.writer();
    for (const batch of new Dataset(datasetOptions(options)).batches()) {
      writer.write(toTsv(batch));
      await writer.flush();
    }
    await writer.end();
  });
  dataOptions(cli.command("write", "make the dataset files (FlatBuffers batches and TSV, zstd, per chunk) in --out"))
    .option("--out <dir>", "directory of the dataset files")
    .option("--jobs <n>", "processes making chunks at once", { default: 2 })
    .action(async (options) => {
      if (!options.out) throw new Error("--out is required");
      const summary = await writeDataset(resolve(String(options.out)), datasetOptions(options), { jobs: Number(options.jobs) });
      console.log(JSON.stringify({ events: summary.events, end_us: summary.end_us, needles: summary.needles, trace_samples: summary.trace_samples.length }));
    });
  // Internal: one of writeDataset's workers, making every chunk c with c % of == index.
  dataOptions(cli.command("write-chunks", ""))
    .option("--out <dir>", "")
    .option("--worker <index/of>", "")
    .action((options) => {
      const [index, of] = String(options.worker).split("/").map(Number);
      const dataset = new Dataset(datasetOptions(options));
      for (let chunk = index; chunk < dataset.chunks; chunk += of) {
        if (!isChunkDone(String(options.out), chunk, dataset.options)) writeChunk(dataset, chunk, String(options.out));
      }
    });
  cli.help();
  cli.parse();
  if (!cli.matchedCommand && !cli.options.help) cli.outputHelp();
}

if (import.meta.main) await main();
