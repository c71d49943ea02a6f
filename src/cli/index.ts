// logctl's public surface for tests and other tools: the parser, the client, the pure
// formatters and the chunker. Commands themselves run through src/cli/logctl.ts.

export { parseCliArgs, helpText, integerOption, resolveTime, UsageError, type CliCommand, type Connection, type QueryFilter } from "./options.ts";
export { SluiceClient, interpretResponse, type ApiEvent, type ClientError, type Result, type SearchPage } from "./client.ts";
export { escapeControls, formatBytes, formatClientError, formatCount, formatEventLine, formatHealth, formatIngestProgress, formatIngestSummary, formatMissingShards, type IngestTally, type InputRejection } from "./format.ts";
export { LineChunker, absoluteLine, chunkBody, type LineChunk } from "./line-chunker.ts";
export { formatFromPath, sniffFormat, CONTENT_TYPES, type BodyFormat } from "./input-format.ts";
export { addOutcome, interpretIngestResult, retryDelayMs, ProgressLine } from "./ingest.ts";
export { apiTimestamp, searchParams, takeNewEvents, type TailCursor } from "./search.ts";
