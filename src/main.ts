#!/usr/bin/env bun
/**
 * The binary's entry (scripts/build.ts): `--version` is answered before anything else is
 * loaded, and every other command loads the CLI as a separate chunk. In a compiled bundle each
 * chunk's `node:` built-ins are evaluated when the chunk loads, so what a command does not
 * need costs it nothing (docs/architecture.md, "Start-up").
 */
import pkg from "../package.json" with { type: "json" };

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v")) {
  // console.log is Bun's own writer: Node's process.stdout stream would cost milliseconds.
  console.log(pkg.version);
} else {
  const { run } = await import("./cli.ts");
  process.exitCode = await run(argv);
}
