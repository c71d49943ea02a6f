// The dataset: N events over [end - 24 h, end) in chunks of CHUNK_EVENTS, each chunk
// from its own random streams (so chunks can be made in parallel, in any order, and
// come out the same), needles planted at places planned from the seed alone.

import type { NormalizedEvent } from "../../src/protocol/event.ts";
import { buildCatalog, type Catalog } from "./catalog.ts";
import { EventFactory, EventModel, type TraceSample } from "./events.ts";
import { Random } from "./random.ts";
import { loadTemplates, type TemplateFile } from "./templates.ts";

/** Event-time span of a dataset, microseconds: 24 h. */
export const DATASET_SPAN_US = 24 * 3600 * 1_000_000;
/** Largest jitter of an event's time around its even slot, microseconds: events are ordered within this. */
export const JITTER_US_MAX = 50_000;

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
