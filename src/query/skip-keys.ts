// What a query needs a segment to hold, as keys of its skip index (a bloom filter of
// words, trace ids, services and hosts; storage/skip-index.ts). A segment whose index
// lacks what the tree requires holds no matching row and is not read. Pure.
//
// Keys are namespaced strings: `w:` a word of the message (words.ts), `t:` a trace id,
// `s:` a service, `h:` a hostname, and `v:` a (level, service) pair as `v:<level
// index>:<service>`. The pair is the stream a dashboard's `service:X level:ERROR`
// asks for: every row group holds every busy service, but few hold its errors. The SQL
// that lists a segment's keys is here too, so the two sides cannot drift apart.

import { LEVELS } from "../protocol/event.ts";
import { levelIndex } from "../storage/schema.ts";
import type { QueryNode } from "./ast.ts";
import { compare } from "./evaluate.ts";
import type { SearchFilter } from "./filter.ts";
import { requiredWords, WORD_SPLIT_RE2 } from "./words.ts";

/** true: no requirement. A key: the segment must hold it. all/any: every/some child holds. */
export type SkipTree = true | { key: string } | { all: SkipTree[] } | { any: SkipTree[] };

export const SKIP_KEY_PREFIX = { word: "w:", trace: "t:", service: "s:", host: "h:", serviceLevel: "v:" } as const;

/** Most (level, service) pairs one query asks for; past it the pair requirement is left out (it would prune little). */
const SERVICE_LEVEL_PAIRS_MAX = 64;

/** The key of rows of `service` at level index `level`. */
function serviceLevelKey(level: number, service: string): string {
  return `${SKIP_KEY_PREFIX.serviceLevel}${level}:${service}`;
}

function all(children: SkipTree[]): SkipTree {
  const needed = children.filter((child) => child !== true);
  return needed.length === 0 ? true : needed.length === 1 ? needed[0] : { all: needed };
}

function any(children: SkipTree[]): SkipTree {
  if (children.length === 0 || children.some((child) => child === true)) return true;
  return children.length === 1 ? children[0] : { any: children };
}

function ofNode(node: QueryNode): SkipTree {
  switch (node.type) {
    case "and":
      return all(node.children.map(ofNode));
    case "or":
      return any(node.children.map(ofNode));
    case "not":
      // A segment may hold rows without the term whatever it holds: nothing to require.
      return true;
    case "text":
      return all(requiredWords(node.value.toLowerCase(), node.prefix === true).map((word) => ({ key: SKIP_KEY_PREFIX.word + word })));
    case "match": {
      // Empty trace ids are not keys (most events have none).
      if (node.prefix || !("name" in node.field) || (node.field.name === "trace_id" && node.value === "")) return true;
      const prefix = node.field.name === "trace_id" ? SKIP_KEY_PREFIX.trace : node.field.name === "service" ? SKIP_KEY_PREFIX.service : node.field.name === "hostname" ? SKIP_KEY_PREFIX.host : undefined;
      return prefix ? { key: prefix + node.value } : true;
    }
    case "compare":
      return true;
  }
}

/** The services a conjunct allows when it is exact service matches only (one, or an OR of them); else null. */
function servicesOf(node: QueryNode): string[] | null {
  if (node.type === "match" && "name" in node.field && node.field.name === "service" && !node.prefix) return [node.value];
  if (node.type !== "or") return null;
  const lists = node.children.map(servicesOf);
  return lists.every((list) => list !== null) ? lists.flat() : null;
}

/** The level indexes a conjunct allows when it constrains the level only (a match, a comparison, or an OR of them); else null. */
function levelsOf(node: QueryNode): number[] | null {
  if (node.type === "match" && "name" in node.field && node.field.name === "level") {
    const index = LEVELS.indexOf(node.value as (typeof LEVELS)[number]);
    return index < 0 ? null : [index];
  }
  if (node.type === "compare" && "name" in node.field && node.field.name === "level") {
    return LEVELS.map((_, index) => index).filter((index) => compare(index, node.op, node.value));
  }
  if (node.type !== "or") return null;
  const lists = node.children.map(levelsOf);
  return lists.every((list) => list !== null) ? lists.flat() : null;
}

/**
 * The (level, service) pairs a row must be one of, when the filter's conjuncts (its
 * list parameters and the query's top-level AND) constrain both; true otherwise.
 */
function serviceLevelTree(filter: SearchFilter): SkipTree {
  const conjuncts = !filter.query ? [] : filter.query.type === "and" ? filter.query.children : [filter.query];
  const narrowest = <T>(lists: (T[] | null)[]): T[] | null =>
    lists.filter((list): list is T[] => list !== null).reduce<T[] | null>((best, list) => (best === null || new Set(list).size < new Set(best).size ? list : best), null);
  const services = narrowest([filter.services.length > 0 ? [...filter.services] : null, ...conjuncts.map(servicesOf)]);
  const levels = narrowest([filter.levels.length > 0 ? filter.levels.map(levelIndex) : null, ...conjuncts.map(levelsOf)]);
  if (!services || !levels) return true;
  const pairs = new Set<string>();
  for (const level of levels) for (const service of services) pairs.add(serviceLevelKey(level, service));
  if (pairs.size > SERVICE_LEVEL_PAIRS_MAX) return true;
  // No pair can match: a segment holds no such row (an empty `any` requires nothing, so say it with a key no row has).
  if (pairs.size === 0) return { key: `${SKIP_KEY_PREFIX.serviceLevel}none` };
  return any([...pairs].map((key) => ({ key })));
}

/** The keys a segment must hold to have a row matching `filter` (its q and its list parameters). */
export function skipTree(filter: SearchFilter): SkipTree {
  const oneOf = (prefix: string, values: readonly string[]): SkipTree => any(values.map((value) => ({ key: prefix + value })));
  return all([
    filter.services.length > 0 ? oneOf(SKIP_KEY_PREFIX.service, filter.services) : true,
    filter.hostnames.length > 0 ? oneOf(SKIP_KEY_PREFIX.host, filter.hostnames) : true,
    filter.traceIds.length > 0 && !filter.traceIds.includes("") ? oneOf(SKIP_KEY_PREFIX.trace, filter.traceIds) : true,
    filter.query ? ofNode(filter.query) : true,
    serviceLevelTree(filter),
  ]);
}

/** Whether a segment whose index answers `has` may hold a matching row. */
export function mayMatch(tree: SkipTree, has: (key: string) => boolean): boolean {
  if (tree === true) return true;
  if ("key" in tree) return has(tree.key);
  if ("all" in tree) return tree.all.every((child) => mayMatch(child, has));
  return tree.any.some((child) => mayMatch(child, has));
}

/**
 * SQL listing the distinct skip keys of the rows `source` selects (a table or a
 * read_parquet call). Words are split from lower(message) exactly as words.ts reads
 * them; empty trace ids are not keys. `perBlock`: the source has a `block` column, and
 * the keys are listed per block, as (block, key).
 */
export function skipKeysSql(source: string, perBlock = false): string {
  const words = `list_transform(regexp_split_to_array(lower(message), '${WORD_SPLIT_RE2}'), lambda w: '${SKIP_KEY_PREFIX.word}' || w)`;
  const fields = `['${SKIP_KEY_PREFIX.trace}' || trace_id, '${SKIP_KEY_PREFIX.service}' || service, '${SKIP_KEY_PREFIX.host}' || hostname, '${SKIP_KEY_PREFIX.serviceLevel}' || level || ':' || service]`;
  const block = perBlock ? "block, " : "";
  // One pass over the rows: a segment is read once, not once per kind of key.
  return `SELECT DISTINCT ${block}key FROM (SELECT ${block}unnest(list_concat(${fields}, ${words})) AS key FROM ${source}) WHERE key NOT IN ('${SKIP_KEY_PREFIX.word}', '${SKIP_KEY_PREFIX.trace}')`;
}
