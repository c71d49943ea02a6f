// The query language's syntax tree and its canonical printer. One tree serves the
// search, aggregate and tail endpoints, the CLI and (later) alert rules: the parser
// builds it, the planner turns it into SQL with bound parameters, and the evaluator
// runs it over events in memory. Pure.

import { LEVELS } from "../protocol/event.ts";

/** Fields a term may name besides `metadata.<path>`. `message:` is the same as a bare word. */
export const QUERY_FIELDS = ["service", "level", "hostname", "trace_id", "span_id", "message"] as const;
export type QueryField = (typeof QUERY_FIELDS)[number];

/** A metadata path segment: letters, digits, `_` and `-` (JSON keys beyond that cannot be named). */
export const METADATA_SEGMENT_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

/** Whether every segment of a metadata path is valid (values off the wire may not even be strings). */
export function isMetadataPath(segments: readonly unknown[]): boolean {
  return segments.every((segment) => typeof segment === "string" && METADATA_SEGMENT_PATTERN.test(segment));
}

export type CompareOp = ">" | ">=" | "<" | "<=";
export const COMPARE_OPS: readonly CompareOp[] = [">=", "<=", ">", "<"];

export type QueryNode =
  | { type: "and"; children: QueryNode[] }
  | { type: "or"; children: QueryNode[] }
  | { type: "not"; child: QueryNode }
  /** The message holds `value` as whole words, case-insensitively (words.ts); with `prefix` the last word may run on. */
  | { type: "text"; value: string; prefix?: boolean }
  /** A field equals `value` exactly, or starts with it when `prefix`. Metadata fields are `{ metadata: ["a", "b"] }`. */
  | { type: "match"; field: FieldRef; value: string; prefix: boolean }
  /** A level or a numeric metadata value compared with `value`. */
  | { type: "compare"; field: FieldRef; op: CompareOp; value: number };

export type FieldRef = { name: Exclude<QueryField, "message"> } | { metadata: string[] };

export function fieldName(field: FieldRef): string {
  return "name" in field ? field.name : `metadata.${field.metadata.join(".")}`;
}

/** Words that cannot stand bare in a query: operators, and anything with syntax in it. */
const RESERVED_WORDS = new Set(["AND", "OR", "NOT"]);
const BARE_WORD = /^[^\s()"\\:*<>=-][^\s()"\\:*]*$/;

/** A value as the parser reads it back: bare when it can be, quoted otherwise. */
export function quoteValue(value: string): string {
  if (BARE_WORD.test(value) && !RESERVED_WORDS.has(value) && !/^[<>]=?/.test(value)) return value;
  return `"${value.replace(/[\\"]/g, (char) => `\\${char}`)}"`;
}

function levelName(index: number): string {
  return LEVELS[index] ?? String(index);
}

/**
 * The canonical text of a tree: parsing it gives the same tree back. AND is written
 * out, OR groups are parenthesized inside AND, so precedence never depends on reading.
 */
export function printQuery(node: QueryNode): string {
  switch (node.type) {
    case "and":
      return node.children.map((child) => (child.type === "or" ? `(${printQuery(child)})` : printQuery(child))).join(" AND ");
    case "or":
      return node.children.map((child) => (child.type === "and" ? `(${printQuery(child)})` : printQuery(child))).join(" OR ");
    case "not":
      return `NOT ${node.child.type === "and" || node.child.type === "or" ? `(${printQuery(node.child)})` : printQuery(node.child)}`;
    case "text":
      return `${quoteValue(node.value)}${node.prefix ? "*" : ""}`;
    case "match":
      return `${fieldName(node.field)}:${quoteValue(node.value)}${node.prefix ? "*" : ""}`;
    case "compare": {
      const isLevel = "name" in node.field && node.field.name === "level";
      return `${fieldName(node.field)}:${node.op}${isLevel ? levelName(node.value) : String(node.value)}`;
    }
  }
}

