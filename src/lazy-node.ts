/**
 * Node built-ins loaded on first use. In the compiled binary a static `import … from "node:…"`
 * is evaluated as soon as its chunk loads, used or not, and costs start-up time (node:fs about
 * a millisecond, more than a `--help` may take): these getters load a module only when a
 * command really reads a file or asks the host name (docs/architecture.md, "Start-up").
 */
// import.meta.require, not require: the bundler turns a bare `require("node:fs")` back into a
// static import at the top of the chunk, which is what this module exists to avoid.
export const nodeFs = (): typeof import("node:fs") => import.meta.require("node:fs");
export const nodeOs = (): typeof import("node:os") => import.meta.require("node:os");
