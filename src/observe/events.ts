/**
 * What dynip tells the outside world happened (docs/operations.md, "Notifications"): events in
 * one versioned schema, built from what a pass or a cycle did. Pure; the notifier sends them.
 */

import type { Change } from "../plan/changes.ts";
import type { Conflict } from "../plan/update-plan.ts";

/** The `schema` of every event; a change that breaks a consumer gets a new version. */
export const EVENT_SCHEMA = "dynip.event.v1";

/** The payload of each event, by its name. Addresses are canonical; ages in seconds. */
export interface EventData {
  /** An updater published an address it had not published before. */
  "address.added": { domain: string; type: "A" | "AAAA"; address: string };
  /** An updater's address of one family at a domain changed from `old` to `new`. */
  "address.changed": { domain: string; type: "A" | "AAAA"; old: string; new: string };
  /** An updater withdrew an address: it lost it, or it deregistered. */
  "address.withdrawn": {
    domain: string;
    type: "A" | "AAAA";
    address: string;
    reason: "gone" | "deregistered";
  };
  /**
   * Cleanup deleted what a host published: it stopped beating. `host` is the instance id of its
   * heartbeat, null for an address that had none; `addresses` what it held at `domain`.
   */
  "host.gone": {
    domain: string;
    host: string | null;
    addresses: string[];
    lastHeartbeatAgeSeconds: number | null;
  };
  /** Cleanup's mass-deletion brake held these deletions back. */
  "deletions.held": { domain: string; addresses: string[]; records: number; reason: string };
  /** A pass of `dynip update` failed. */
  "pass.failed": { error: string };
  /** A cycle of `dynip cleanup` failed; `deleted` records went before it did. */
  "cycle.failed": { error: string; deleted: number };
  /** Another host uses this INSTANCE_ID (docs/ownership.md, "Instance id conflicts"). */
  "instance.conflict": { domain: string; address: string; reason: string };
}

export type EventName = keyof EventData;

/** One event as every webhook receives it (JSON). */
export interface DynipEvent<N extends EventName = EventName> {
  schema: typeof EVENT_SCHEMA;
  event: N;
  /** When it happened, ISO 8601 UTC. */
  time: string;
  /** Who says so: the command, and its INSTANCE_ID. */
  source: { command: "update" | "cleanup"; instance: string };
  /** One line for people: what chat services (Slack, Discord's /slack endpoint) show. */
  text: string;
  /** The same line again, for services that want `message` (Gotify). */
  message: string;
  /** A short title (`dynip: host gone`), for services that show one (Gotify, ntfy). */
  title: string;
  data: EventData[N];
}

const TITLES: Record<EventName, string> = {
  "address.added": "address added",
  "address.changed": "address changed",
  "address.withdrawn": "address withdrawn",
  "host.gone": "host gone",
  "deletions.held": "deletions held",
  "pass.failed": "update failed",
  "cycle.failed": "cleanup failed",
  "instance.conflict": "instance id conflict",
};

/** An event of `name` from `source`, at `at`, with its text. */
export function makeEvent<N extends EventName>(
  name: N,
  data: EventData[N],
  source: DynipEvent["source"],
  at: Date = new Date(),
): DynipEvent<N> {
  const text = (SENTENCES[name] as (e: EventData[N], instance: string) => string)(
    data,
    source.instance,
  );
  return {
    schema: EVENT_SCHEMA,
    event: name,
    time: at.toISOString(),
    source,
    text,
    message: text,
    title: `dynip: ${TITLES[name]}`,
    data,
  };
}

/** The `text` of each event: one sentence, addresses and domains in full. */
const SENTENCES: { [N in EventName]: (e: EventData[N], instance: string) => string } = {
  "address.added": (e, instance) => `${instance} published ${e.address} at ${e.domain}`,
  "address.changed": (e, instance) => `${instance} moved ${e.domain} from ${e.old} to ${e.new}`,
  "address.withdrawn": (e, instance) =>
    `${instance} withdrew ${e.address} from ${e.domain}${e.reason === "deregistered" ? " (deregistered)" : ""}`,
  "host.gone": (e) => {
    const who = e.host === null ? "a host without heartbeat" : `host ${e.host}`;
    const what = e.addresses.length > 0 ? e.addresses.join(", ") : "its heartbeat";
    const age =
      e.lastHeartbeatAgeSeconds === null
        ? ""
        : ` (last heartbeat ${e.lastHeartbeatAgeSeconds} s ago)`;
    return `${who} is gone: cleanup deleted ${what} from ${e.domain}${age}`;
  },
  "deletions.held": (e) =>
    `cleanup is holding the deletion of ${e.addresses.length} address(es) in ${e.domain}: ${e.reason}`,
  "pass.failed": (e, instance) => `update on ${instance} failed: ${e.error}`,
  "cycle.failed": (e, instance) =>
    `cleanup on ${instance} failed${e.deleted > 0 ? ` after deleting ${e.deleted} record(s)` : ""}: ${e.error}`,
  "instance.conflict": (e, instance) =>
    `instance id conflict on ${instance}: ${e.address} at ${e.domain}: ${e.reason}`,
};

type AddressEvent =
  | { name: "address.added"; data: EventData["address.added"] }
  | { name: "address.changed"; data: EventData["address.changed"] }
  | { name: "address.withdrawn"; data: EventData["address.withdrawn"] };

/**
 * The address events of changes an updater applied: per domain and record type, a withdrawn
 * address paired with an added one is a change (in the order planned), the rest are added or
 * withdrawn. Heartbeats and settings rewrites are no events. In domain order as planned, then
 * changed, added, withdrawn. Pure.
 */
export function addressEvents(changes: readonly Change[], deregistered = false): AddressEvent[] {
  const groups = new Map<
    string,
    { added: string[]; removed: string[]; domain: string; type: "A" | "AAAA" }
  >();
  for (const change of changes) {
    if (change.record.type !== "A" && change.record.type !== "AAAA") continue;
    if (change.kind === "replace") continue;
    const domain = change.record.name.toLowerCase();
    const type = change.record.type;
    const key = `${domain} ${type}`;
    const group = groups.get(key) ?? { added: [], removed: [], domain, type };
    groups.set(key, group);
    (change.kind === "create" ? group.added : group.removed).push(change.record.content);
  }
  return [...groups.values()].flatMap(({ added, removed, domain, type }): AddressEvent[] => {
    const pairs = Math.min(added.length, removed.length);
    const reason = deregistered ? "deregistered" : "gone";
    return [
      ...added.slice(0, pairs).map(
        (address, i): AddressEvent => ({
          name: "address.changed",
          data: { domain, type, old: removed[i] as string, new: address },
        }),
      ),
      ...added.slice(pairs).map(
        (address): AddressEvent => ({
          name: "address.added",
          data: { domain, type, address },
        }),
      ),
      ...removed.slice(pairs).map(
        (address): AddressEvent => ({
          name: "address.withdrawn",
          data: { domain, type, address, reason },
        }),
      ),
    ];
  });
}

/** The conflict events of a pass, each conflict once. */
export function conflictData(conflicts: readonly Conflict[]): EventData["instance.conflict"][] {
  return conflicts.map((c) => ({ domain: c.domain, address: c.ip, reason: c.reason }));
}
