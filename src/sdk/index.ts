// The producer SDK's public surface (`import … from "sluice/sdk"`): the buffered,
// non-blocking logger for services, the lower-level producer helper that resolves per
// send, and the flow gate both use. The pino adapter is its own entry, "sluice/sdk/pino",
// so that importing the SDK never loads it.

export { createLogger, SluiceLogger, type LogRecord, type LoggerStats } from "./logger.ts";
export { LoggerError, type Compression, type FullBufferPolicy, type LoggerOptions, type WireFormat } from "./options.ts";
export {
  LOGGER_BATCH_AGE_MS_DEFAULT,
  LOGGER_BATCH_BYTES_DEFAULT,
  LOGGER_BATCH_EVENTS_DEFAULT,
  LOGGER_BUFFER_BYTES_DEFAULT,
  LOGGER_BUFFER_EVENTS_DEFAULT,
  LOGGER_CLOSE_TIMEOUT_MS_DEFAULT,
  LOGGER_RETRY_WINDOW_MS_DEFAULT,
} from "./limits.ts";
export { createProducer, Producer, ProducerError, type ProducerOptions, type SendResult } from "./producer.ts";
export { FlowGate, FlowWaitTimeout } from "./flow-gate.ts";
