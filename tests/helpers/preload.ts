// Loaded before every test file (bunfig.toml): after the last test, nothing a test
// started (nats-server, nodes) is left running and no temporary directory is left.

import { afterAll } from "bun:test";
import { cleanupTestResources } from "./processes.ts";

afterAll(() => cleanupTestResources());
