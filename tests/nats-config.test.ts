// Goal: the pure parts of the nats-server child: versions parse from `nats-server
// --version` output and from server INFO, compare correctly, and the generated config
// asks for an fsync on every write exactly when the server supports it (2.10.0+), with
// our max_payload and -1 (a free port) for port 0.
// Method: tables of version strings and comparisons; the config text checked line by
// line for a set of options, without starting a server.

import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { NATS_MAX_PAYLOAD_BYTES, natsConfigText, parseNatsVersion, versionAtLeast, type NatsServerOptions, type NatsServerVersion } from "../src/nats/server-process.ts";

function version(text: string): NatsServerVersion {
  return parseNatsVersion(text);
}

describe("parseNatsVersion", () => {
  test.each<[string, NatsServerVersion]>([
    ["nats-server: v2.9.10", { text: "2.9.10", major: 2, minor: 9, patch: 10 }],
    ["nats-server: v2.10.23\n", { text: "2.10.23", major: 2, minor: 10, patch: 23 }],
    ["2.10.23", { text: "2.10.23", major: 2, minor: 10, patch: 23 }],
    ["v2.11.0-RC.1", { text: "2.11.0", major: 2, minor: 11, patch: 0 }],
    ["nats-server: v2.12.1 (go1.24)", { text: "2.12.1", major: 2, minor: 12, patch: 1 }],
    ["10.200.3000", { text: "10.200.3000", major: 10, minor: 200, patch: 3000 }],
    ["  bash: nats-server: command not found  ", { text: "bash: nats-server: command not found", major: 0, minor: 0, patch: 0 }],
    ["", { text: "", major: 0, minor: 0, patch: 0 }],
    ["v2.10", { text: "v2.10", major: 0, minor: 0, patch: 0 }],
  ])("parses %p", (text, expected) => {
    expect(parseNatsVersion(text)).toEqual(expected);
  });
});

describe("versionAtLeast", () => {
  test.each<[string, [number, number, number], boolean]>([
    ["2.10.0", [2, 10, 0], true],
    ["2.10.1", [2, 10, 0], true],
    ["2.9.25", [2, 10, 0], false],
    ["2.9.99", [2, 10, 0], false],
    ["2.11.0", [2, 10, 23], true],
    ["2.10.22", [2, 10, 23], false],
    ["2.10.23", [2, 10, 23], true],
    ["3.0.0", [2, 10, 23], true],
    ["1.99.99", [2, 0, 0], false],
    ["2.2.0", [2, 10, 0], false],
    ["2.10.0", [2, 2, 0], true],
    ["0.0.0", [0, 0, 0], true],
    ["0.0.0", [0, 0, 1], false],
  ])("%s >= %p is %p", (text, [major, minor, patch], expected) => {
    expect(versionAtLeast(version(text), major, minor, patch)).toBe(expected);
  });
});

describe("natsConfigText", () => {
  const directory = "/data/nats";
  const base: NatsServerOptions = { directory, port: 4222 };

  test("a 2.10 server: the whole config, with sync_interval: always", () => {
    expect(natsConfigText(base, version("2.10.23"))).toBe(
      [
        'server_name: "sluice-local"',
        'listen: "127.0.0.1:4222"',
        `max_payload: ${NATS_MAX_PAYLOAD_BYTES}`,
        "max_pending: 268435456",
        'write_deadline: "10s"',
        'http: "127.0.0.1:-1"',
        "jetstream {",
        `  store_dir: ${JSON.stringify(join(directory, "jetstream"))}`,
        "  max_memory_store: 268435456",
        "  sync_interval: always",
        "}",
        "",
      ].join("\n"),
    );
  });

  test.each<[string, boolean]>([
    ["2.9.10", false],
    ["2.9.25", false],
    ["0.0.0", false],
    ["2.10.0", true],
    ["2.10.23", true],
    ["2.11.4", true],
    ["3.0.0", true],
  ])("version %s: sync_interval: always is present = %p", (text, present) => {
    const lines = natsConfigText(base, version(text)).split("\n");
    expect(lines.filter((line) => line.includes("sync_interval"))).toEqual(present ? ["  sync_interval: always"] : []);
  });

  test("max_payload is the 8 MiB limit", () => {
    expect(NATS_MAX_PAYLOAD_BYTES).toBe(8 * 1024 * 1024);
    expect(natsConfigText(base, version("2.10.23")).split("\n")).toContain("max_payload: 8388608");
  });

  test.each<[string, Partial<NatsServerOptions>, string[]]>([
    ["port 0 is -1 (a free port); the monitor defaults to a free port", { port: 0 }, ['listen: "127.0.0.1:-1"', 'http: "127.0.0.1:-1"']],
    ["a fixed client port", { port: 4222 }, ['listen: "127.0.0.1:4222"', 'http: "127.0.0.1:-1"']],
    ["monitor port 0 is -1", { port: 0, monitorPort: 0 }, ['listen: "127.0.0.1:-1"', 'http: "127.0.0.1:-1"']],
    ["a fixed monitor port", { port: 0, monitorPort: 8222 }, ['listen: "127.0.0.1:-1"', 'http: "127.0.0.1:8222"']],
    ["monitor port -1 disables monitoring", { port: 0, monitorPort: -1 }, ['listen: "127.0.0.1:-1"']],
    ["another host", { port: 14222, host: "0.0.0.0", monitorPort: 18222 }, ['listen: "0.0.0.0:14222"', 'http: "0.0.0.0:18222"']],
  ])("%s", (_what, options, expected) => {
    const lines = natsConfigText({ ...base, ...options }, version("2.10.23")).split("\n");
    expect(lines.filter((line) => line.startsWith("listen:") || line.startsWith("http:"))).toEqual(expected);
  });

  test("server name and store directory are quoted as JSON strings", () => {
    const text = natsConfigText({ directory: '/tmp/with "quotes"', port: 0, serverName: "node-1" }, version("2.10.23"));
    expect(text.split("\n").filter((line) => line.includes("server_name") || line.includes("store_dir"))).toEqual(['server_name: "node-1"', '  store_dir: "/tmp/with \\"quotes\\"/jetstream"']);
  });

  test("extra config is appended verbatim at the end", () => {
    const extra = "cluster {\n  name: c1\n  listen: 127.0.0.1:-1\n}";
    expect(natsConfigText({ ...base, extraConfig: extra }, version("2.9.10"))).toEndWith(`}\n${extra}\n`);
  });
});
