/**
 * What a command tells the outside world about each pass or cycle, shared by `update` and
 * `cleanup`: metrics for /metrics, and the notifier's pings and events (docs/operations.md,
 * "Notifications"). A dry run notifies nobody.
 */
import type { Config } from "../config/load.ts";
import { needsOperator } from "../errors.ts";
import { type EventData, type EventName, makeEvent } from "../observe/events.ts";
import { createMetrics, type Metrics } from "../observe/metrics.ts";
import { createNotifier, type Notifier } from "../observe/notifier.ts";

/** An event to send, and, for one that repeats while its cause lasts, what makes it new. */
export interface PendingEvent<N extends EventName = EventName> {
  name: N;
  data: EventData[N];
  /**
   * Events with a `repeat` key are sent when the key was not among the last loop's keys of the
   * same name: an instance id conflict or a brake hold is told when it starts or changes, not
   * every pass while it lasts. The memory is the process's: dynip keeps no state but DNS, so
   * each one-shot run (a systemd timer) tells what it finds again.
   */
  repeat?: string;
}

export interface Reporting {
  metrics: Metrics;
  notifier: Notifier;
  /** A pass or cycle starts. */
  begin(): void;
  /**
   * It ran: counts, events, pings. `ok` false (it did not fully succeed) counts as a failure,
   * sends the failure event and pings `/fail`. `failsCommand` (a one-shot command that exits
   * non-zero after this result, e.g. `cleanup --once` while the brake holds) pings `/fail` and
   * pushes Uptime Kuma `down` although `ok`, so the check agrees with the exit code.
   */
  end(result: {
    ok: boolean;
    summary: string;
    events: PendingEvent[];
    failsCommand?: boolean;
  }): void;
  /** It failed with `error`: counts (a blocker when only a person can fix it), pings, the event. */
  failed(error: Error, deleted?: number): void;
  /** Events outside a pass (a deregistration). */
  events(events: PendingEvent[]): void;
  /**
   * Milliseconds a one-shot command gives its notifications in all before it exits (the
   * notifier's `close`): 3 × NOTIFY_TIMEOUT_SECONDS + 1 s, one message's every attempt.
   */
  readonly closeMs: number;
}

/** Notification attempts per message: the first and two retries (notifier.ts). */
const ATTEMPTS = 3;

/**
 * Metrics and a notifier for `command`, with INSTANCE_ID as the events' source; a dry run gets
 * a notifier without targets. Throws nothing.
 */
export function createReporting(
  config: Config,
  command: "update" | "cleanup",
  dryRun: boolean,
): Reporting {
  const metrics = createMetrics(command);
  const notifier = createNotifier({
    ...(dryRun ? { webhookUrls: [], timeoutSeconds: 1 } : config.notify),
    instance: config.instanceId,
  });
  const source = { command, instance: config.instanceId };
  const lastKeys = new Map<EventName, Set<string>>();
  let startedAt = performance.now();

  function send(events: PendingEvent[]): void {
    const keys = new Map<EventName, Set<string>>();
    for (const e of events) {
      if (e.repeat !== undefined) {
        keys.set(e.name, (keys.get(e.name) ?? new Set()).add(e.repeat));
        if (lastKeys.get(e.name)?.has(e.repeat)) continue;
      }
      notifier.event(makeEvent(e.name, e.data, source));
    }
    for (const name of new Set([...lastKeys.keys(), ...keys.keys()])) {
      lastKeys.set(name, keys.get(name) ?? new Set());
    }
  }

  const failure = command === "update" ? "pass.failed" : "cycle.failed";
  const failureData = (error: string, deleted: number) =>
    (command === "update" ? { error } : { error, deleted }) as EventData[typeof failure];
  return {
    metrics,
    notifier,
    begin() {
      startedAt = performance.now();
      notifier.begin();
    },
    end({ ok, summary, events, failsCommand = false }) {
      metrics.cycle(ok ? "success" : "failure", new Date());
      send(events);
      if (!ok) notifier.event(makeEvent(failure, failureData(summary, 0), source));
      const durationMs = performance.now() - startedAt;
      notifier.end(
        ok && !failsCommand
          ? { ok, summary, durationMs }
          : { ok: false, error: summary, durationMs },
      );
    },
    failed(error, deleted = 0) {
      const operator = needsOperator(error);
      metrics.cycle("failure", new Date(), operator ? error.message : undefined);
      notifier.event(makeEvent(failure, failureData(error.message, deleted), source));
      notifier.end({ ok: false, error: error.message, durationMs: performance.now() - startedAt });
    },
    events: send,
    closeMs: ATTEMPTS * config.notify.timeoutSeconds * 1000 + 1000,
  };
}
