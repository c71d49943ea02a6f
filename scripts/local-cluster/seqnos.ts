// The exact-once check of the cluster tests and benchmark: producers number their
// events (metadata.seqno 0..n-1), and afterwards every number must be found once.

/** Every metadata.seqno a node finds for `q` (through export, which streams all matches), duplicates included. */
export async function exportedSeqnos(httpUrl: string, q = ""): Promise<number[]> {
  const response = await fetch(`${httpUrl}/api/v1/logs/export?format=ndjson&from=0${q ? `&q=${encodeURIComponent(q)}` : ""}`);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`export ${response.status}: ${text.slice(0, 300)}`);
  const seqnos: number[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    const event = JSON.parse(line);
    if (event.partial || event.error) throw new Error(`export incomplete: ${line.slice(0, 300)}`);
    if (typeof event.metadata?.seqno === "number") seqnos.push(event.metadata.seqno);
  }
  return seqnos;
}

/** The numbers of 0..expected-1 missing from `seqnos`, and how many of `seqnos` repeat one. */
function shortfall(seqnos: readonly number[], expected: number): { missing: number[]; duplicated: number } {
  const seen = new Set(seqnos);
  const missing: number[] = [];
  for (let seqno = 0; seqno < expected; seqno++) if (!seen.has(seqno)) missing.push(seqno);
  return { missing, duplicated: seqnos.length - seen.size };
}

/** Loss and duplicates of `seqnos` against 0..expected-1. */
export function lossAndDuplicates(seqnos: readonly number[], expected: number): { lost: number; duplicated: number } {
  const { missing, duplicated } = shortfall(seqnos, expected);
  return { lost: missing.length, duplicated };
}

/** "found N of M; missing K (first: ...); D duplicates". */
export function describeShortfall(found: readonly number[], expected: number): string {
  const { missing, duplicated } = shortfall(found, expected);
  return `found ${found.length} of ${expected}; missing ${missing.length} (first: ${missing.slice(0, 20).join(", ")}); ${duplicated} duplicates`;
}
