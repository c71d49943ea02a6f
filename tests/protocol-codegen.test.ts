// Goal: the committed TypeScript in src/protocol/generated/ is exactly what
// scripts/codegen.sh makes from src/protocol/wal-batch.fbs, so nobody edited it by
// hand and nobody changed the schema without regenerating.
// Method: run the script into a temporary directory and compare every file. That
// needs the pinned flatc; without it the comparison is skipped with the reason. The
// script's own guards (missing flatc, foreign files) are checked with or without it.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const REPO_ROOT = join(import.meta.dir, "..");
const SCRIPT = join(REPO_ROOT, "scripts/codegen.sh");
const COMMITTED = join(REPO_ROOT, "src/protocol/generated");
const FLATC_VERSION_PINNED = "2.0.8";

const scratch = mkdtempSync(join(tmpdir(), "sluice-codegen-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function flatcVersion(): string | undefined {
  if (!Bun.which("flatc")) return undefined;
  return Bun.spawnSync(["flatc", "--version"]).stdout.toString().trim().split(" ").at(-1);
}
const installedVersion = flatcVersion();
const skipReason =
  installedVersion === undefined
    ? "flatc is not on PATH (apt-get install flatbuffers-compiler)"
    : installedVersion !== FLATC_VERSION_PINNED
      ? `flatc ${installedVersion} is installed; the committed code is pinned to ${FLATC_VERSION_PINNED}`
      : undefined;
if (skipReason) console.warn(`protocol-codegen: skipping the regeneration check: ${skipReason}`);

/** Every file under `directory`, by relative path, with its text. */
function readTree(directory: string): Record<string, string> {
  const tree: Record<string, string> = {};
  for (const entry of readdirSync(directory, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    tree[relative(directory, path)] = readFileSync(path, "utf8");
  }
  return tree;
}

/** Found once, so a test may run the script with a PATH that lacks them. */
const BASH = Bun.which("bash") ?? "/bin/bash";
const DIRNAME = Bun.which("dirname") ?? "/usr/bin/dirname";

function runCodegen(outDirectory: string, env: Record<string, string | undefined> = process.env) {
  const result = Bun.spawnSync([BASH, SCRIPT, outDirectory], { cwd: REPO_ROOT, env });
  return { exitCode: result.exitCode, stderr: result.stderr.toString() };
}

describe("scripts/codegen.sh", () => {
  test.skipIf(skipReason !== undefined)(
    `regenerating yields the committed files${skipReason ? ` (skipped: ${skipReason})` : ""}`,
    () => {
      const regenerated = join(scratch, "generated");
      const run = runCodegen(regenerated);
      expect(run).toEqual({ exitCode: 0, stderr: "" });
      const committed = readTree(COMMITTED);
      expect(Object.keys(committed).length).toBeGreaterThan(0);
      expect(readTree(regenerated)).toEqual(committed);
    },
  );

  test("without flatc it fails and says how to install it", () => {
    // A PATH holding only what the script needs before it looks for flatc.
    const bin = join(scratch, "bin-without-flatc");
    mkdirSync(bin);
    symlinkSync(DIRNAME, join(bin, "dirname"));
    const run = runCodegen(join(scratch, "never-written"), { PATH: bin });
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain("apt-get install flatbuffers-compiler");
  });

  test("it refuses to replace a directory holding files flatc did not write", () => {
    const target = join(scratch, "hand-written");
    mkdirSync(target);
    writeFileSync(join(target, "keep.ts"), "export const handWritten = true;\n");
    const run = runCodegen(target);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain("refusing to replace");
    expect(readTree(target)).toEqual({ "keep.ts": "export const handWritten = true;\n" });
  });
});
