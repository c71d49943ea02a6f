// Memtable parts: each flush's rows written as an uncompressed Parquet file
// (RowBuffer.parquetParts) in the data directory's tmp/, which queries and the seal
// read with read_parquet. Not durable and never fsynced: the WAL holds every row until
// a segment does, so a crash loses nothing here, and the next open removes what is left.
//
// Files rather than DuckDB tables: a CREATE TABLE from the same Parquet cost ~0.9 µs a
// row and a seal copied out of it as fast as out of the file, while the file costs
// DuckDB nothing to make and keeps the rows out of the process's memory (the page cache holds them).

import { randomBytes } from "node:crypto";
import { closeSync, openSync, readdirSync, readFileSync, rmSync, writeSync, writevSync } from "node:fs";
import { join } from "node:path";
import { memtablePartOwner, memtablePartPath, type DataPaths } from "./paths.ts";

/** This process's parts are named with it (see memtablePartPath). */
const OWNER = randomBytes(8).toString("hex");
let partCounter = 0;

/**
 * Writes a part's bytes (`parts`, one after another) to a new file; returns its path
 * and size. Synchronously, on purpose: a write of a flush's few hundred KB into the
 * page cache takes well under a millisecond, while fs.promises waits for a thread of
 * the pool DuckDB's statements hold (flushes averaged 130 ms behind seals that way).
 */
export function writeMemtablePart(paths: DataPaths, shard: number, parts: readonly Uint8Array[]): { path: string; bytes: number } {
  const path = memtablePartPath(paths, shard, OWNER, ++partCounter);
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const descriptor = openSync(path, "wx");
  try {
    let written = writevSync(descriptor, parts as Uint8Array[]);
    // writev may stop short (a signal, a full disk): write the rest part by part.
    for (const part of parts) {
      if (written >= part.length) {
        written -= part.length;
        continue;
      }
      for (let at = written; at < part.length; ) at += writeSync(descriptor, part, at, part.length - at);
      written = 0;
    }
  } catch (error) {
    try {
      closeSync(descriptor);
    } finally {
      rmSync(path, { force: true });
    }
    throw error;
  }
  closeSync(descriptor);
  return { path, bytes: total };
}

/** A part's bytes, synchronously (for the reason writeMemtablePart gives): a join of parts reads them back from the page cache. */
export function readMemtablePart(path: string): Uint8Array {
  return readFileSync(path);
}

/** Removes part files (synchronously, for the reason writeMemtablePart gives: a seal waits on this before it acks). */
export function removeMemtableParts(paths: readonly string[]): void {
  for (const path of paths) rmSync(path, { force: true });
}

/** Removes the part files of `shard` that other processes (a crashed one) left behind, and an earlier version's flush file. */
export function removeOrphanMemtableParts(paths: DataPaths, shard: number): void {
  for (const name of readdirSync(paths.tmp)) {
    const owner = memtablePartOwner(shard, name);
    if (owner !== undefined && owner !== OWNER) rmSync(join(paths.tmp, name), { force: true });
  }
}
