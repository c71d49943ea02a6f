// logctl's public surface for tests and other tools: the parser, the client, the pure
// formatters (cluster tables included) and the chunker. Commands themselves run
// through src/cli/logctl.ts.

export { parseCliArgs, helpText, integerOption, resolveTime, UsageError, type CliCommand, type Connection, type QueryFilter } from "./options.ts";
export { SluiceClient, interpretResponse, type ApiEvent, type ClientError, type Result, type SearchPage } from "./client.ts";
export { escapeControls, formatBytes, formatClientError, formatCount, formatEventLine, formatHealth, formatIngestProgress, formatIngestSummary, formatMissingShards, formatTable, type IngestTally, type InputRejection, type TableColumn } from "./format.ts";
export { LineChunker, absoluteLine, chunkBody, type LineChunk } from "./line-chunker.ts";
export { formatFromPath, sniffFormat, CONTENT_TYPES, type BodyFormat } from "./input-format.ts";
export { addOutcome, interpretIngestResult, retryDelayMs, ProgressLine } from "./ingest.ts";
export {
  clusterProblems,
  drainStateOf,
  formatAge,
  formatClusterStatus,
  formatClusterSummary,
  formatDrainReply,
  formatMovesTable,
  formatNodesTable,
  formatRebalance,
  formatReplication,
  formatShardsTable,
  formatShardSummaryTable,
} from "./cluster.ts";
export { apiTimestamp, searchParams, takeNewEvents, type TailCursor } from "./search.ts";
