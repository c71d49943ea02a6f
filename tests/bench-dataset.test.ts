// Goal: the benchmark dataset generator (scripts/gen-dataset.ts) is deterministic for a
// seed, has the cardinalities and skew it promises, plants each rare word exactly the
// stated number of times as a whole word, keeps timestamps inside the 24 h window and
// in order within the jitter, and its chunk files hold exactly the events it generates.
// Method: generate small datasets in memory (a few hundred thousand events, across a
// chunk boundary) and count; read whole-word matches with Sluice's own containsWords;
// decode the chunk files with the WAL codec. No timing is measured here.

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { NormalizedEvent } from "../src/protocol/event.ts";
import { LEVELS } from "../src/protocol/event.ts";
import { decodeBatch } from "../src/protocol/wal-batch.ts";
import { containsWords } from "../src/query/words.ts";
import {
  CHUNK_EVENTS,
  DATASET_SPAN_US,
  Dataset,
  JITTER_US_MAX,
  NEEDLE_COUNT_MAX,
  NEEDLE_COUNT_MIN,
  SERVICE_COUNT,
  TEMPLATES_PATH,
  TSV_COLUMNS,
  buildCatalog,
  deriveTemplates,
  loadTemplates,
  readFlatbuffersChunk,
  readTsvChunk,
  templatesForLevel,
  toTsv,
  writeChunk,
} from "../scripts/gen-dataset.ts";
import { ROOT, tempDir } from "./helpers/processes.ts";

const END_US = Date.UTC(2026, 10, 21) * 1000;
const templates = loadTemplates();

function allEvents(dataset: Dataset): NormalizedEvent[] {
  return [...dataset.batches()].flat();
}

// One shared dataset over two chunks (the boundary is where per-chunk streams meet).
const EVENTS = CHUNK_EVENTS + 50_000;
const dataset = new Dataset({ events: EVENTS, seed: 7, endUs: END_US }, templates);
const events = allEvents(dataset);

describe("determinism", () => {
  test("the same seed and end give the same events; another seed does not", () => {
    const again = new Dataset({ events: 5_000, seed: 7, endUs: END_US }, templates);
    const twice = new Dataset({ events: 5_000, seed: 7, endUs: END_US }, templates);
    const other = new Dataset({ events: 5_000, seed: 8, endUs: END_US }, templates);
    const first = allEvents(again);
    expect(allEvents(twice)).toEqual(first);
    expect(again.needles).toEqual(twice.needles);
    expect(again.traceSamples).toEqual(twice.traceSamples);
    expect(allEvents(other).map((event) => event.traceId)).not.toEqual(first.map((event) => event.traceId));
  });

  test("a chunk made alone equals the same chunk made in sequence", () => {
    const alone = new Dataset({ events: EVENTS, seed: 7, endUs: END_US }, templates);
    expect([...alone.chunkBatches(1)].flat()).toEqual(events.slice(CHUNK_EVENTS));
  });
});

describe("shape", () => {
  test("every event is well formed", () => {
    for (const event of events.slice(0, 20_000)) {
      expect(LEVELS).toContain(event.level);
      expect(event.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(event.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(event.message.length).toBeGreaterThan(0);
      const metadata = JSON.parse(event.metadata);
      expect(Object.keys(metadata)).toEqual(["duration_ms", "status", "region"]);
      expect(typeof metadata.duration_ms).toBe("number");
    }
  });

  test("cardinalities: a few hundred services, thousands of hosts, each host in one service", () => {
    const catalog = buildCatalog(7);
    expect(catalog.services.length).toBe(SERVICE_COUNT);
    const hostCount = catalog.hosts.reduce((sum, hosts) => sum + hosts.length, 0);
    expect(hostCount).toBeGreaterThanOrEqual(2000);
    expect(hostCount).toBeLessThanOrEqual(5000);
    expect(Math.min(...catalog.hosts.map((hosts) => hosts.length))).toBeGreaterThanOrEqual(2);
    expect(Math.max(...catalog.hosts.map((hosts) => hosts.length))).toBeLessThanOrEqual(100);
    const services = new Set(events.map((event) => event.service));
    const hosts = new Map<string, string>();
    for (const event of events) {
      expect(hosts.get(event.hostname) ?? event.service).toBe(event.service);
      hosts.set(event.hostname, event.service);
    }
    expect(services.size).toBeGreaterThanOrEqual(250);
    expect(hosts.size).toBeGreaterThanOrEqual(2000);
  });

  test("popularity is Zipf-like: the top service logs 10-25%, the top ten under two thirds", () => {
    const perService = new Map<string, number>();
    for (const event of events) perService.set(event.service, (perService.get(event.service) ?? 0) + 1);
    const shares = [...perService.values()].sort((left, right) => right - left).map((count) => count / events.length);
    expect(shares[0]).toBeGreaterThan(0.1);
    expect(shares[0]).toBeLessThan(0.25);
    expect(shares.slice(0, 10).reduce((sum, share) => sum + share, 0)).toBeLessThan(2 / 3);
  });

  test("levels are skewed: mostly INFO, ERROR a few percent, every level present", () => {
    const share = (level: string) => events.filter((event) => event.level === level).length / events.length;
    expect(share("INFO")).toBeGreaterThan(0.6);
    expect(share("ERROR")).toBeGreaterThan(0.01);
    expect(share("ERROR")).toBeLessThan(0.08);
    for (const level of LEVELS) expect(share(level)).toBeGreaterThan(0);
  });

  test("trace ids are unique per trace: 1-8 events each, mostly in one service", () => {
    const traces = new Map<string, string[]>();
    for (const event of events) traces.set(event.traceId, [...(traces.get(event.traceId) ?? []), event.service]);
    const sizes = [...traces.values()].map((services) => services.length);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(8);
    expect(traces.size).toBeGreaterThan(events.length / 5);
    let ownService = 0;
    for (const services of traces.values()) ownService += services.filter((service) => service === services[0]).length;
    expect(ownService / events.length).toBeGreaterThan(0.75);
  });

  test("sampled traces exist with the recorded number of events", () => {
    expect(dataset.traceSamples.length).toBeGreaterThan(500);
    const byTrace = new Map<string, number>();
    for (const event of events) byTrace.set(event.traceId, (byTrace.get(event.traceId) ?? 0) + 1);
    for (const sample of dataset.traceSamples) expect({ trace: sample.trace_id, events: byTrace.get(sample.trace_id) }).toEqual({ trace: sample.trace_id, events: sample.events });
  });
});

describe("time", () => {
  test("timestamps lie in [end - 24 h, end), in order within the jitter, spread evenly", () => {
    const startUs = END_US - DATASET_SPAN_US;
    let previous = startUs;
    const perHour = new Array<number>(24).fill(0);
    for (const event of events) {
      expect(event.timestampUs).toBeGreaterThanOrEqual(startUs);
      expect(event.timestampUs).toBeLessThan(END_US);
      expect(event.timestampUs).toBeGreaterThan(previous - 2 * JITTER_US_MAX - 1);
      previous = event.timestampUs;
      perHour[Math.floor((event.timestampUs - startUs) / 3600e6)]++;
    }
    for (const count of perHour) expect(Math.abs(count - events.length / 24)).toBeLessThan(events.length / 24 / 50);
  });
});

describe("needles", () => {
  test("each rare word is in exactly its stated number of messages, as a whole word", () => {
    expect(dataset.needles.length).toBe(8);
    for (const needle of dataset.needles) {
      expect(needle.count).toBeGreaterThanOrEqual(NEEDLE_COUNT_MIN);
      expect(needle.count).toBeLessThanOrEqual(NEEDLE_COUNT_MAX);
      const holding = events.filter((event) => event.message.includes(needle.word));
      expect({ word: needle.word, count: holding.length }).toEqual({ word: needle.word, count: needle.count });
      for (const event of holding) expect(containsWords(event.message.toLowerCase(), needle.word)).toBe(true);
    }
  });

  test("no template or path could spell a rare word by itself", () => {
    const literal = JSON.stringify(templates).toLowerCase();
    for (const needle of dataset.needles) expect(literal.includes(needle.word)).toBe(false);
  });
});

describe("templates", () => {
  test("the committed template file is what the Loghub samples give", () => {
    expect(JSON.parse(readFileSync(TEMPLATES_PATH, "utf8"))).toEqual(JSON.parse(JSON.stringify(deriveTemplates(join(ROOT, "tests/fixtures/loghub")))));
  });

  test.each(LEVELS.map((level) => [level]))("level %s has templates from several Loghub systems", (level) => {
    const weights = templatesForLevel(templates.templates, level);
    const sources = new Set(templates.templates.filter((_, index) => weights[index] > 0).map((template) => template.source));
    expect(sources.size).toBeGreaterThanOrEqual(level === "FATAL" ? 1 : 3);
  });

  test("slots are filled at generation: messages of one template differ, and most messages are distinct", () => {
    const sample = events.slice(0, 10_000).map((event) => event.message);
    expect(new Set(sample).size).toBeGreaterThan(sample.length / 2);
  });
});

describe("files", () => {
  test("a chunk's FlatBuffers and TSV files hold exactly its events", async () => {
    const directory = tempDir("dataset");
    try {
      const small = new Dataset({ events: 3_000, seed: 3, endUs: END_US }, templates);
      // A chunk comes out the same each time it is made (see determinism above).
      const expected = [...small.chunkBatches(0)].flat();
      const summary = writeChunk(small, 0, directory.path);
      expect(summary.events).toBe(3_000);
      expect(summary.counts_per_minute.reduce((sum, count) => sum + count, 0)).toBe(3_000);
      const decoded = (await readFlatbuffersChunk(directory.path, 0)).flatMap((batch) => {
        const result = decodeBatch(batch);
        if (!result.ok) throw new Error(result.error);
        return result.events;
      });
      expect(decoded).toEqual(expected);
      const rows = new TextDecoder().decode(await readTsvChunk(directory.path, 0));
      expect(rows).toBe(toTsv(expected));
      expect(rows.split("\n").filter(Boolean).every((row) => row.split("\t").length === TSV_COLUMNS.length)).toBe(true);
    } finally {
      directory.remove();
    }
  });

  test("TSV escapes tabs, newlines and backslashes", () => {
    const event: NormalizedEvent = { timestampUs: 1, level: "INFO", service: "s", hostname: "h", traceId: "t", spanId: "", message: "a\tb\nc\\d", metadata: "{}" };
    expect(toTsv([event])).toBe("1\tINFO\ts\th\tt\t\ta\\tb\\nc\\\\d\t{}\n");
  });
});
