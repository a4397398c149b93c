import { hostname } from "node:os";
import { readEnvironmentFile } from "../config/env-file.ts";
import { variableHints } from "../config/hints.ts";
import { CONFIG_VARIABLES, type Config, loadConfig } from "../config/load.ts";
import { detect } from "../detect/detect.ts";
import type { Detection } from "../detect/source-types.ts";
import { configureLogger, log } from "../observe/log.ts";
import { flagOverrides } from "./args.ts";

/**
 * The environment to configure from: the `--env-file` assignments, overridden by every variable
 * the real environment sets to something other than blanks. Throws a ConfigError when the file
 * cannot be read.
 */
export function environment(args: Record<string, unknown>): Record<string, string | undefined> {
  const path = args["env-file"];
  if (typeof path !== "string" || path === "") return process.env;
  const merged: Record<string, string | undefined> = Object.fromEntries(readEnvironmentFile(path));
  for (const [name, value] of Object.entries(process.env)) {
    if (value?.trim()) merged[name] = value;
  }
  return merged;
}

/** Validates environment + flags (exit 2 on any problem, before any request) and sets up logging. */
export function configFrom(args: Record<string, unknown>): Config {
  const env = environment(args);
  // Before validating: a misspelled domain variable ends in "no managed domain", and the hint
  // is what explains it.
  for (const hint of variableHints(
    env,
    CONFIG_VARIABLES.map((v) => v.name),
  ))
    log.warn(hint);
  const config = loadConfig({ env, overrides: flagOverrides(args), hostname });
  configureLogger({ level: config.logLevel, format: config.logFormat });
  for (const warning of config.warnings) log.warn(warning);
  return config;
}

/**
 * Detects only what some managed domain publishes: with INTERNAL_DOMAIN alone no echo
 * service is asked for a public address, so a LAN-only host needs no internet.
 */
export function detectorFor(config: Config): () => Promise<Detection> {
  const { internal, external, ipv6, combined } = config.domains;
  const none = { kind: "none" } as const;
  return () =>
    detect({
      internalSource: internal || combined ? config.internalSource : none,
      ipv4Source: external || combined ? config.ipv4Source : none,
      ipv6Source: ipv6 || combined ? config.ipv6Source : none,
      internalCidrs: config.internalCidrs,
      include: config.interfaces,
      exclude: config.excludeInterfaces,
      timeoutMs: config.detectTimeoutSeconds * 1000,
    });
}

/** Resolves after `ms`, or at once when the signal fires. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * SIGTERM/SIGINT end a long-lived command after its current pass, with exit 0. The
 * handlers matter doubly as PID 1 in a container, where unhandled SIGTERM is ignored.
 * A second signal does not wait any longer.
 */
export function stopSignal(what = "pass"): AbortSignal {
  const controller = new AbortController();
  const onSignal = (name: string) => {
    // The user asked twice: stop waiting for the pass. The only exit outside cli.ts.
    if (controller.signal.aborted) process.exit(0);
    controller.abort();
    log.info(`received ${name}: finishing the current ${what}, then exiting`);
  };
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("SIGINT", () => onSignal("SIGINT"));
  return controller.signal;
}
