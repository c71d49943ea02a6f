// Plans a query tree into a SQL predicate over the stored columns. User input never
// reaches the SQL text: every value, and every metadata path, is a bound parameter;
// column names come from a fixed table, and a tree from the wire is re-checked here
// (the shard plans what the gateway parsed). Pure.

import { LEVELS } from "../protocol/event.ts";
import { COMPARE_OPS, METADATA_SEGMENT_PATTERN, type FieldRef, type QueryNode } from "./ast.ts";
import { QUERY_DEPTH_MAX, QUERY_TERMS_MAX } from "./limits.ts";
import type { SqlParam } from "../storage/duckdb.ts";

const COLUMNS: Record<string, string> = { service: "service", level: "level", hostname: "hostname", trace_id: "trace_id", span_id: "span_id" };

export class QueryPlanError extends Error {
  readonly code = "bad_query";
}

/** Escapes LIKE wildcards so a term matches literally. */
export function likeContains(term: string): string {
  return `%${term.replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
}

/** The predicate for `node`; `bind` adds a parameter and returns its placeholder. */
export function planPredicate(node: QueryNode, bind: (value: SqlParam) => string): string {
  let leaves = 0;
  const plan = (current: QueryNode, depth: number): string => {
    if (depth > QUERY_DEPTH_MAX * 2) throw new QueryPlanError(`query nests deeper than ${QUERY_DEPTH_MAX}`);
    switch (current.type) {
      case "and":
      case "or":
        if (!Array.isArray(current.children) || current.children.length === 0) throw new QueryPlanError(`${current.type} without terms`);
        return `(${current.children.map((child) => plan(child, depth + 1)).join(current.type === "and" ? " AND " : " OR ")})`;
      case "not":
        return `(NOT ${plan(current.child, depth + 1)})`;
      case "text":
        countLeaf();
        return `(message ILIKE ${bind(likeContains(checkString(current.value)))} ESCAPE '\\')`;
      case "match": {
        countLeaf();
        const value = checkString(current.value);
        if ("name" in current.field && current.field.name === "level") {
          const index = LEVELS.indexOf(value as (typeof LEVELS)[number]);
          if (index < 0 || current.prefix) throw new QueryPlanError(`level ${JSON.stringify(value)} is not one of ${LEVELS.join(", ")}`);
          return `(level = ${bind(index)})`;
        }
        const column = columnSql(current.field, bind);
        return current.prefix ? `(starts_with(${column}, ${bind(value)}))` : `(${column} = ${bind(value)})`;
      }
      case "compare": {
        countLeaf();
        if (!COMPARE_OPS.includes(current.op)) throw new QueryPlanError(`comparison ${JSON.stringify(current.op)} is not one of ${COMPARE_OPS.join(" ")}`);
        if (typeof current.value !== "number" || !Number.isFinite(current.value)) throw new QueryPlanError("a comparison needs a finite number");
        if ("name" in current.field) {
          if (current.field.name !== "level") throw new QueryPlanError(`${current.field.name} cannot be compared, only level and metadata numbers`);
          return `(level ${current.op} ${bind(current.value)})`;
        }
        return `(TRY_CAST(${columnSql(current.field, bind)} AS DOUBLE) ${current.op} ${bind(current.value)})`;
      }
      default:
        throw new QueryPlanError(`unknown query node ${JSON.stringify((current as { type?: unknown }).type)}`);
    }
  };
  const countLeaf = () => {
    if (++leaves > QUERY_TERMS_MAX) throw new QueryPlanError(`query has more than ${QUERY_TERMS_MAX} terms`);
  };
  return plan(node, 0);
}

function checkString(value: unknown): string {
  if (typeof value !== "string") throw new QueryPlanError("a query value is not a string");
  return value;
}

/** A column, or a metadata value by its path (bound; rows whose metadata is not JSON have none). */
function columnSql(field: FieldRef, bind: (value: SqlParam) => string): string {
  if ("metadata" in field) {
    if (!Array.isArray(field.metadata) || field.metadata.length === 0 || !field.metadata.every((segment) => typeof segment === "string" && METADATA_SEGMENT_PATTERN.test(segment))) {
      throw new QueryPlanError("a metadata path must be segments of letters, digits, _ and -");
    }
    const path = bind(`$.${field.metadata.map((segment) => `"${segment}"`).join(".")}`);
    return `(CASE WHEN json_valid(metadata) THEN json_extract_string(metadata, ${path}) END)`;
  }
  const column = COLUMNS[(field as { name?: unknown }).name as string];
  if (!column) throw new QueryPlanError(`unknown field ${JSON.stringify((field as { name?: unknown }).name)}`);
  return column;
}
