// Memtable parts: each flush's rows written as an uncompressed Parquet file
// (RowBuffer.parquetParts) in the data directory's tmp/, which queries and the seal
// read with read_parquet. Not durable and never fsynced: the WAL holds every row until
// a segment does, so a crash loses nothing here, and the next open removes what is left.
//
// Files rather than DuckDB tables: a CREATE TABLE from the same Parquet cost ~0.9 µs a
// row and a seal copied out of it as fast as out of the file, while the file costs
// DuckDB nothing to make and keeps the rows out of the process's memory (the page cache holds them).

import { readdirSync, rmSync } from "node:fs";
import { open, rm } from "node:fs/promises";
import { join } from "node:path";
import { memtablePartPath, memtablePartPid, type DataPaths } from "./paths.ts";

let partCounter = 0;

/** Writes a part's bytes (`parts`, one after another) to a new file; resolves with its path and size. */
export async function writeMemtablePart(paths: DataPaths, shard: number, parts: readonly Uint8Array[]): Promise<{ path: string; bytes: number }> {
  const path = memtablePartPath(paths, shard, process.pid, ++partCounter);
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const handle = await open(path, "wx");
  try {
    const written = (await handle.writev(parts as Uint8Array[])).bytesWritten;
    // writev may stop short (a signal, a full disk): write the rest part by part.
    if (written < total) {
      let skip = written;
      for (const part of parts) {
        if (skip >= part.length) {
          skip -= part.length;
          continue;
        }
        const rest = part.subarray(skip);
        skip = 0;
        for (let at = 0; at < rest.length; ) at += (await handle.write(rest, at, rest.length - at)).bytesWritten;
      }
    }
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(path, { force: true });
    throw error;
  }
  await handle.close();
  return { path, bytes: total };
}

export async function removeMemtableParts(paths: readonly string[]): Promise<void> {
  await Promise.all(paths.map((path) => rm(path, { force: true })));
}

/** Removes the part files of `shard` that other processes (a crashed one) left behind. */
export function removeOrphanMemtableParts(paths: DataPaths, shard: number): void {
  let names: string[];
  try {
    names = readdirSync(paths.tmp);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = memtablePartPid(shard, name);
    if (pid !== undefined && pid !== process.pid) rmSync(join(paths.tmp, name), { force: true });
  }
}
