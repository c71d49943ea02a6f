// Events of a dataset, one at a time: a trace slot, a service by popularity, a level by
// the service's error factor, a host, a template filled in, metadata. The timestamp is
// the caller's.

import type { Level, NormalizedEvent } from "../../src/protocol/event.ts";
import { LEVELS } from "../../src/protocol/event.ts";
import type { Catalog } from "./catalog.ts";
import { choiceTable, Random } from "./random.ts";
import { templatesForLevel, type Template, type TemplateFile } from "./templates.ts";
import { latin1, TextScratch } from "./text-scratch.ts";

/** Concurrent traces whose events interleave. */
const OPEN_TRACES = 32;
/** Share of each level, before a service's error factor (ERROR a few %, as in production). */
const LEVEL_SHARES: Readonly<Record<Level, number>> = { TRACE: 0.01, DEBUG: 0.12, INFO: 0.755, WARN: 0.08, ERROR: 0.03, FATAL: 0.005 };
/** Weights of trace lengths 1..8 events. */
const TRACE_LENGTH_WEIGHTS = [30, 20, 15, 12, 9, 7, 4, 3];
/** Share of a trace's events logged by the trace's own service (the rest by a downstream one). */
const TRACE_OWN_SERVICE_SHARE = 0.85;

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
export class EventModel {
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
