// Message templates derived from the Loghub samples (scripts/data/loghub-templates.json,
// rebuilt by `bun scripts/gen-dataset.ts templates`), and which of them serve each level.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Level } from "../../src/protocol/event.ts";
import { normalizeLevel } from "../../src/ingest/level.ts";

/** Where the derived templates live (a clone has no ../shared; the Loghub samples are in tests/fixtures). */
export const TEMPLATES_PATH = join(import.meta.dir, "../data/loghub-templates.json");

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
