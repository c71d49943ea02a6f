// The query language parser: text -> syntax tree (ast.ts), or an error value naming
// the position and what was expected. Pure. The grammar (README, "Query language"):
//
//   query   := or
//   or      := and ("OR" and)*
//   and     := unary (["AND"] unary)*          AND is implied between terms
//   unary   := "NOT" unary | "-" term | primary
//   primary := "(" or ")" | term
//   term    := word | word* | "phrase" | "phrase"* | field ":" value
//   value   := word | "phrase" | word* (prefix) | op number | op level
//   field   := service | level | hostname | trace_id | span_id | message | metadata.<path>
//   op      := ">" | ">=" | "<" | "<="

import { normalizeLevel } from "../ingest/level.ts";
import { LEVELS, type Level } from "../protocol/event.ts";
import { COMPARE_OPS, isMetadataPath, QUERY_FIELDS, type CompareOp, type FieldRef, type QueryNode } from "./ast.ts";
import { QUERY_DEPTH_MAX, QUERY_TERMS_MAX, QUERY_TEXT_CHARS_MAX } from "./limits.ts";

export interface QuerySyntaxError {
  /** 1-based character position in the query text. */
  position: number;
  expected: string;
  message: string;
}

export type QueryParse = { ok: true; query: QueryNode | null } | { ok: false; error: QuerySyntaxError };

type Token = { kind: "word"; text: string; at: number } | { kind: "quoted"; text: string; at: number; end: number } | { kind: "("; at: number } | { kind: ")"; at: number };

class SyntaxFailure extends Error {
  constructor(readonly detail: QuerySyntaxError) {
    super(detail.message);
  }
}

function fail(at: number, expected: string, found: string): never {
  throw new SyntaxFailure({ position: at + 1, expected, message: `q: expected ${expected} at position ${at + 1}, found ${found}` });
}

const SPACE = /\s/;
const FIELD_SYNTAX = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_-]+)*$/;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < text.length) {
    const char = text[at];
    if (SPACE.test(char)) {
      at++;
    } else if (char === "(" || char === ")") {
      tokens.push(char === "(" ? { kind: "(", at } : { kind: ")", at });
      at++;
    } else if (char === '"') {
      let value = "";
      let index = at + 1;
      for (;;) {
        if (index >= text.length) fail(at, "a closing quote", "the end of the query (unclosed quote)");
        const next = text[index];
        if (next === '"') break;
        if (next === "\\" && index + 1 < text.length) {
          value += text[index + 1];
          index += 2;
        } else {
          value += next;
          index++;
        }
      }
      tokens.push({ kind: "quoted", text: value, at, end: index + 1 });
      at = index + 1;
    } else {
      let end = at;
      while (end < text.length && !SPACE.test(text[end]) && text[end] !== "(" && text[end] !== ")" && text[end] !== '"') end++;
      tokens.push({ kind: "word", text: text.slice(at, end), at });
      at = end;
    }
  }
  return tokens;
}

function describeToken(token: Token | undefined): string {
  if (!token) return "the end of the query";
  if (token.kind === "word") return JSON.stringify(token.text);
  if (token.kind === "quoted") return `the phrase ${JSON.stringify(token.text)}`;
  return `"${token.kind}"`;
}

class Parser {
  private index = 0;
  private terms = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly textLength: number,
  ) {}

  parse(): QueryNode | null {
    if (this.tokens.length === 0) return null;
    const node = this.parseOr(0);
    const extra = this.peek();
    if (extra) fail(extra.at, "a term, AND, OR or NOT", describeToken(extra));
    return node;
  }

  private peek(): Token | undefined {
    return this.tokens[this.index];
  }

  private at(): number {
    return this.peek()?.at ?? this.textLength;
  }

  private isWord(token: Token | undefined, word: string): boolean {
    return token?.kind === "word" && token.text === word;
  }

  private parseOr(depth: number): QueryNode {
    const children = [this.parseAnd(depth)];
    while (this.isWord(this.peek(), "OR")) {
      this.index++;
      children.push(this.parseAnd(depth));
    }
    return combine("or", children);
  }

  private parseAnd(depth: number): QueryNode {
    const children = [this.parseUnary(depth)];
    for (;;) {
      const next = this.peek();
      if (!next || next.kind === ")" || this.isWord(next, "OR")) break;
      if (this.isWord(next, "AND")) this.index++;
      children.push(this.parseUnary(depth));
    }
    return combine("and", children);
  }

  private parseUnary(depth: number): QueryNode {
    const token = this.peek();
    if (depth > QUERY_DEPTH_MAX) fail(this.at(), `at most ${QUERY_DEPTH_MAX} levels of nesting`, "deeper nesting");
    if (this.isWord(token, "NOT")) {
      this.index++;
      return { type: "not", child: this.parseUnary(depth + 1) };
    }
    const next = this.tokens[this.index + 1];
    if (token?.kind === "word" && token.text === "-" && next && next.at === token.at + 1 && (next.kind === "quoted" || next.kind === "(")) {
      // -"a phrase", -(a OR b): exclusion of a phrase or a group.
      this.index++;
      return { type: "not", child: this.parsePrimary(depth + 1) };
    }
    if (token?.kind === "word" && token.text.startsWith("-") && token.text.length > 1) {
      // -word, -field:value: Lucene's and KQL's exclusion.
      this.index++;
      return { type: "not", child: this.parseWordTerm({ text: token.text.slice(1), at: token.at + 1 }) };
    }
    return this.parsePrimary(depth);
  }

  private parsePrimary(depth: number): QueryNode {
    const token = this.peek();
    if (!token) fail(this.textLength, "a term", "the end of the query");
    if (token.kind === "(") {
      this.index++;
      if (this.peek()?.kind === ")") fail(this.at(), "a term inside the parentheses", '")"');
      const inner = this.parseOr(depth + 1);
      if (this.peek()?.kind !== ")") fail(this.at(), '")" to close the "(" at position ' + (token.at + 1), describeToken(this.peek()));
      this.index++;
      return inner;
    }
    if (token.kind === ")") return fail(token.at, "a term", '")" without a matching "("');
    this.index++;
    if (token.kind === "quoted") return this.leaf(this.takeStar(token) ? { type: "text", value: token.text, prefix: true } : { type: "text", value: token.text }, token.at);
    if (token.text === "AND" || token.text === "OR") fail(token.at, "a term before " + token.text, token.text);
    return this.parseWordTerm(token);
  }

  /** Consumes a `*` written right after a quoted value ("connection ref"*: a prefix). */
  private takeStar(quoted: { end: number }): boolean {
    const star = this.peek();
    if (star?.kind !== "word" || star.text !== "*" || star.at !== quoted.end) return false;
    this.index++;
    return true;
  }

  private leaf(node: QueryNode, at: number): QueryNode {
    if (++this.terms > QUERY_TERMS_MAX) fail(at, `at most ${QUERY_TERMS_MAX} terms`, "more");
    return node;
  }

  /** A bare word, or field:value (the value may be the quoted token right after the colon). */
  private parseWordTerm(token: { text: string; at: number }): QueryNode {
    const colon = token.text.indexOf(":");
    const name = colon > 0 ? token.text.slice(0, colon) : "";
    // Anything naming metadata is a field (and a bad path an error), not text that happens to hold a colon.
    if (colon <= 0 || !(FIELD_SYNTAX.test(name) || name.startsWith("metadata."))) {
      if (token.text.includes("*") && !/^[^*]+\*$/.test(token.text)) fail(token.at + token.text.indexOf("*"), "a * only at the end of a word (prefix match)", JSON.stringify(token.text));
      return this.leaf(token.text.endsWith("*") ? { type: "text", value: token.text.slice(0, -1), prefix: true } : { type: "text", value: token.text }, token.at);
    }
    const field = parseField(name, token.at);
    let raw = token.text.slice(colon + 1);
    let quoted = false;
    let valueAt = token.at + colon + 1;
    if (raw === "") {
      const next = this.peek();
      if (next?.kind !== "quoted" || next.at !== valueAt) fail(valueAt, `a value after "${name}:"`, describeToken(next));
      this.index++;
      raw = next.text;
      quoted = true;
      valueAt = next.at;
      if (this.takeStar(next)) {
        // service:"my api"* : a quoted prefix.
        if (field !== "message" && raw.includes("*")) fail(valueAt, "a * only at the end of a value (prefix match)", JSON.stringify(`${raw}*`));
        return this.matchOrLevel(field, raw, true, valueAt, token.at);
      }
    }
    if (field === "message") {
      // message:x is exactly the bare word x (quoted: the phrase).
      return quoted ? this.leaf({ type: "text", value: raw }, token.at) : this.parseWordTerm({ text: raw, at: valueAt });
    }
    const op = quoted ? undefined : COMPARE_OPS.find((candidate) => raw.startsWith(candidate));
    if (op) return this.leaf(parseComparison(field, op, raw.slice(op.length), valueAt + op.length, name), token.at);
    let prefix = false;
    if (!quoted && raw.endsWith("*")) {
      prefix = true;
      raw = raw.slice(0, -1);
    }
    if (!quoted && raw.includes("*")) fail(valueAt + raw.indexOf("*"), "a * only at the end of a value (prefix match)", JSON.stringify(raw));
    if (raw === "" && !quoted) fail(valueAt, `a value after "${name}:"`, prefix ? '"*" alone' : "nothing");
    return this.matchOrLevel(field, raw, prefix, valueAt, token.at);
  }

  private matchOrLevel(field: FieldRef | "message", raw: string, prefix: boolean, valueAt: number, termAt: number): QueryNode {
    if (field === "message") return this.leaf(prefix ? { type: "text", value: raw, prefix: true } : { type: "text", value: raw }, termAt);
    if ("name" in field && field.name === "level") {
      if (prefix) fail(valueAt, "a level without *", JSON.stringify(`${raw}*`));
      return this.leaf({ type: "match", field, value: parseLevel(raw, valueAt), prefix: false }, termAt);
    }
    return this.leaf({ type: "match", field, value: raw, prefix }, termAt);
  }
}

function parseField(name: string, at: number): FieldRef | "message" {
  if (name.startsWith("metadata.")) {
    const segments = name.slice("metadata.".length).split(".");
    if (!isMetadataPath(segments)) fail(at, "a metadata path of letters, digits, _ and -", JSON.stringify(name));
    return { metadata: segments };
  }
  if (!(QUERY_FIELDS as readonly string[]).includes(name)) fail(at, `a field (${QUERY_FIELDS.join(", ")}, metadata.<path>); quote the word to search for it as text`, JSON.stringify(`${name}:`));
  return name === "message" ? "message" : { name: name as Exclude<(typeof QUERY_FIELDS)[number], "message"> };
}

function parseLevel(raw: string, at: number): Level {
  const level = normalizeLevel(raw);
  if (!level) fail(at, `a level (${LEVELS.join(", ")})`, JSON.stringify(raw));
  return level;
}

function parseComparison(field: FieldRef, op: CompareOp, raw: string, at: number, name: string): QueryNode {
  if ("name" in field) {
    if (field.name !== "level") fail(at - op.length, `a comparison only on level or a numeric metadata field, not ${name}`, JSON.stringify(op));
    return { type: "compare", field, op, value: LEVELS.indexOf(parseLevel(raw, at)) };
  }
  const value = raw.trim() === "" ? Number.NaN : Number(raw);
  if (!Number.isFinite(value)) fail(at, `a number after "${op}"`, JSON.stringify(raw));
  // -0 + 0 is 0: the printed form reads back the same.
  return { type: "compare", field, op, value: value + 0 };
}

/** and/or of one child is the child; nested and-in-and (or-in-or) is flattened. */
function combine(type: "and" | "or", children: QueryNode[]): QueryNode {
  const flat = children.flatMap((child) => (child.type === type ? child.children : [child]));
  return flat.length === 1 ? flat[0] : { type, children: flat };
}

/** Parses a query; an empty or blank one is `null` (everything matches). */
export function parseQuery(text: string): QueryParse {
  if (text.length > QUERY_TEXT_CHARS_MAX) {
    return { ok: false, error: { position: QUERY_TEXT_CHARS_MAX + 1, expected: `at most ${QUERY_TEXT_CHARS_MAX} characters`, message: `q is ${text.length} characters, over the ${QUERY_TEXT_CHARS_MAX} limit` } };
  }
  try {
    return { ok: true, query: new Parser(tokenize(text), text.length).parse() };
  } catch (error) {
    if (error instanceof SyntaxFailure) return { ok: false, error: error.detail };
    throw error;
  }
}
