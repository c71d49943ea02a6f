// NATS subjects, stream and consumer names: every name on the wire is built here.

/** The JetStream stream that is Sluice's write-ahead log. */
export const WAL_STREAM = "SLUICE_WAL";
/** Root of the WAL subjects: `sluice.wal.<tenant>.<shard>`. */
export const WAL_SUBJECT_ROOT = "sluice.wal";
/** Root of the per-shard query subjects: `sluice.query.<shard>`. */
export const QUERY_SUBJECT_ROOT = "sluice.query";
/** Where the gateway says a query's client went away: every shard stops work on it. */
export const QUERY_CANCEL_SUBJECT = "sluice.query.cancel";
/** Where consumers report events they had to reject: `sluice.rejects.<tenant>`. */
export const REJECTS_SUBJECT_ROOT = "sluice.rejects";
/** Where nodes announce ingest flow (open, or pause: the node is behind); see flow.ts. */
export const FLOW_SUBJECT = "sluice.flow";
/** Queue group shared by every replica that can answer a shard's queries. */
export const QUERY_QUEUE_GROUP = "sluice-partition";

/** Optional header naming the payload format; without it the consumer sniffs. */
export const FORMAT_HEADER = "Sluice-Format";
/** Optional headers giving service and hostname to plain-text payloads. */
export const SERVICE_HEADER = "Sluice-Service";
export const HOSTNAME_HEADER = "Sluice-Hostname";

export type PayloadFormat = "flatbuffers" | "ndjson" | "json" | "text";
export const PAYLOAD_FORMATS: readonly PayloadFormat[] = ["flatbuffers", "ndjson", "json", "text"];

/** Tenants are subject tokens and path parts: keep them to a safe alphabet. */
const TENANT_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const DEFAULT_TENANT = "default";

export function isValidTenant(tenant: string): boolean {
  return TENANT_PATTERN.test(tenant);
}

export function walSubject(tenant: string, shard: number): string {
  return `${WAL_SUBJECT_ROOT}.${tenant}.${shard}`;
}

/** Subjects the WAL stream captures: one per shard, so a publish to a shard that does not exist gets no ack. */
export function walStreamSubjects(shardCount: number): string[] {
  return Array.from({ length: shardCount }, (_, shard) => walShardFilter(shard));
}

export function walShardFilter(shard: number): string {
  return `${WAL_SUBJECT_ROOT}.*.${shard}`;
}

/** Parses `sluice.wal.<tenant>.<shard>`; null for anything else. */
export function parseWalSubject(subject: string): { tenant: string; shard: number } | null {
  const parts = subject.split(".");
  if (parts.length !== 4 || `${parts[0]}.${parts[1]}` !== WAL_SUBJECT_ROOT) return null;
  const shard = Number(parts[3]);
  if (!Number.isInteger(shard) || shard < 0 || !isValidTenant(parts[2])) return null;
  return { tenant: parts[2], shard };
}

export function shardConsumerName(shard: number): string {
  return `shard-${String(shard).padStart(3, "0")}`;
}

export function querySubject(shard: number): string {
  return `${QUERY_SUBJECT_ROOT}.${shard}`;
}

export function rejectsSubject(tenant: string): string {
  return `${REJECTS_SUBJECT_ROOT}.${tenant}`;
}

/**
 * The filter subjects of a
 * tenant's tail, one group per consumer ("lane"), from the WAL stream's subjects
 * (`sluice.wal.*.<shard>`). nats-server 2.9 accepts only a filter that is a subset of
 * ONE stream subject (`sluice.wal.acme.*` spans all of them and is refused), so there
 * a tenant needs a consumer per shard; 2.10+ takes every shard's subject in one
 * consumer's filter_subjects.
 */
export function tenantLaneFilters(tenant: string, streamSubjects: readonly string[], multipleFilters: boolean): string[][] {
  const subjects: string[] = [];
  for (const subject of streamSubjects) {
    // A shard's subject is exactly its walShardFilter; anything else is not ours.
    const shard = Number(subject.slice(subject.lastIndexOf(".") + 1));
    if (Number.isInteger(shard) && shard >= 0 && walShardFilter(shard) === subject) subjects.push(walSubject(tenant, shard));
  }
  if (subjects.length === 0) return [];
  return multipleFilters ? [subjects] : subjects.map((subject) => [subject]);
}

/** Name prefix of a tail's ordered consumer (JetStream appends `_<serial>`). */
export function tailConsumerPrefix(tenant: string, unique: string): string {
  return `sluice-tail-${tenant}-${unique}`;
}
