import { readEnvironmentFile } from "../config/env-file.ts";
import { variableHints } from "../config/hints.ts";
import { CONFIG_VARIABLES, type Config, loadConfig, loadHealthSettings } from "../config/load.ts";
import { detect } from "../detect/detect.ts";
import type { Detection } from "../detect/source-types.ts";
import type { createLifecycle } from "../engine/lifecycle.ts";
import { exitCodeOf } from "../errors.ts";
import { type HealthOptions, probeHealth, startHealthServer } from "../observe/health.ts";
import { configureLogger, log } from "../observe/log.ts";
import { outLine } from "../observe/output.ts";
import { sleep } from "../util/sleep.ts";
import { flagOverrides } from "./args.ts";
import type { Reporting } from "./reporting.ts";

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
  const config = loadConfig({ env, overrides: flagOverrides(args) });
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

/**
 * `--healthcheck`: asks the `command` running here for its /healthz (HEALTH_PORT and
 * HEALTH_ADDRESS alone, from the environment and `--env-file`) and prints the answer. Throws a
 * DynipError, exit 1, when it is unhealthy, does not answer, or HEALTH_PORT is unset.
 */
export async function printHealthcheck(
  args: Record<string, unknown>,
  command: "update" | "cleanup",
): Promise<void> {
  const { port, address } = loadHealthSettings(environment(args));
  outLine(await probeHealth(port, address, command));
}

/** What a long-lived `update` or `cleanup` hands `runUntilStopped`. */
export interface LongLived {
  command: "update" | "cleanup";
  config: Config;
  reporting: Reporting;
  /** From `stopSignal`, and the stop budget made from it (`createLifecycle`). */
  stop: AbortSignal;
  ending: Pick<ReturnType<typeof createLifecycle>, "remainingMs" | "dispose">;
  intervalSeconds: number;
  /** One loop as the start line names it: "pass", "cleanup cycle". */
  loopName: string;
  /** /healthz beyond the defaults: the updater's name for a loop and its failures in a row. */
  health?: Pick<HealthOptions, "what" | "maxConsecutiveFailures">;
  /** One loop, reported to metrics and the notification targets; throws what it throws. */
  loop(): Promise<void>;
  /** The ERROR line for a loop that threw (a configuration error is thrown instead). */
  failed(error: Error): string;
  /** Runs after the last loop, before the stop is told (the updater's DEREGISTER_ON_STOP). */
  beforeStop?(): Promise<void>;
}

/**
 * The loop of a long-lived command: serves /healthz and /metrics when HEALTH_PORT is set, runs
 * `loop` every `intervalSeconds` until `stop` fires, then sends the stop's `/log` line and lets
 * the notifications run until 0.5 s before the stop budget ends. A loop's error is logged and
 * the next loop comes; a configuration error found at run time (exit 2) ends it all and is
 * thrown, after the health server and the notifications are closed.
 */
export async function runUntilStopped(options: LongLived): Promise<void> {
  const { config, reporting, stop, ending, intervalSeconds } = options;
  const health =
    config.healthPort === undefined
      ? undefined
      : startHealthServer({
          port: config.healthPort,
          hostname: config.healthAddress,
          metrics: reporting.metrics,
          intervalSeconds,
          ...options.health,
        });
  if (health) log.info(`serving /healthz and /metrics on port ${health.port}`);
  log.info(`long-lived: one ${options.loopName} every ${intervalSeconds}s until SIGTERM`);
  while (!stop.aborted) {
    try {
      await options.loop();
    } catch (error) {
      // A configuration error found at run time (a zone apex) will not heal: exit 2.
      if (exitCodeOf(error) === 2) {
        await health?.stop();
        await reporting.notifier.close(reporting.closeMs);
        ending.dispose();
        throw error;
      }
      log.error(options.failed(error as Error));
    }
    await sleep(intervalSeconds * 1000, stop);
  }
  await options.beforeStop?.();
  // What is still queued or in flight is cut at the budget's end, so the process can exit.
  reporting.notifier.stopped(`dynip ${options.command} on ${config.instanceId} stopped`);
  await reporting.notifier.close(Math.max(0, ending.remainingMs() - 500));
  await health?.stop();
  ending.dispose();
  log.info("stopped");
}
