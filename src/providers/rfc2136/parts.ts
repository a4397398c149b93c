/**
 * A pass's changes when the server refuses part of one UPDATE (docs/provider.md, "RFC 2136"):
 * an UPDATE is all or nothing (RFC 2136 §3.7), so one refused record (an RRset past the
 * server's limit, a name the update-policy does not cover) would stop every heartbeat refresh
 * sent with it, and cleanup would later delete a live host. The changes fall into units that
 * must land together (an address record and the heartbeats that vouch for it); a refused
 * message of several units is sent again as two halves, units kept whole, until each refusal is
 * isolated and everything else has landed.
 */
import type { Change } from "../../plan/changes.ts";
import { canonicalIp, parseHeartbeatName } from "../../registry/heartbeat.ts";

/**
 * What a unit is about, as `<domain lower-case> <canonical address>`: an A or AAAA record at
 * `D` and a TXT record at `_heartbeat-<ip>.D` of the same address share one key. Any other
 * record (never written by dynip) is its own unit, keyed by its owner, type and data.
 */
function unitKey(record: Change["record"]): string {
  const name = record.name.toLowerCase();
  if (record.type === "A" || record.type === "AAAA") {
    return `${name} ${canonicalIp(record.content) ?? record.content}`;
  }
  const domain = name.slice(name.indexOf(".") + 1);
  const ip = record.type === "TXT" ? parseHeartbeatName(name, domain) : undefined;
  return ip === undefined ? `${name} ${record.type} ${record.content}` : `${domain} ${ip}`;
}

/** The records a change touches: a replacement's old and new, else its one record. */
function touched(change: Change): Change["record"][] {
  return change.kind === "replace" ? [change.before, change.record] : [change.record];
}

/**
 * `changes` in units that must land together or not at all: every change about one address at
 * one domain (its address record, its heartbeats; a replacement joins its old and new
 * address). So no split can leave an address without the heartbeat that lets cleanup judge it,
 * or a withdrawn heartbeat behind its still published address. Units come in the order of
 * their first change; each keeps the given order. Pure.
 */
export function unitsOf(changes: readonly Change[]): Change[][] {
  // Union-find over change positions, joined through the keys they share.
  const parent = changes.map((_, i) => i);
  const root = (i: number): number => {
    let r = i;
    while (parent[r] !== r) r = parent[r] ?? r;
    parent[i] = r;
    return r;
  };
  const firstWith = new Map<string, number>();
  changes.forEach((change, i) => {
    for (const key of touched(change).map(unitKey)) {
      const first = firstWith.get(key);
      if (first === undefined) firstWith.set(key, i);
      else parent[Math.max(root(first), root(i))] = Math.min(root(first), root(i));
    }
  });
  const units = new Map<number, Change[]>();
  changes.forEach((change, i) => {
    const r = root(i);
    const unit = units.get(r);
    if (unit) unit.push(change);
    else units.set(r, [change]);
  });
  return [...units.values()];
}

/** What became of a pass's changes sent in parts. */
export interface PartsOutcome<Race> {
  /** How many changes landed. */
  landed: number;
  /** Units refused on their own (or messages refused whole), with the error, in send order. */
  refused: { changes: Change[]; error: unknown }[];
  /** Messages whose prerequisites no longer held, with what `send` said, in send order. */
  raced: { changes: Change[]; race: Race }[];
}

/** How sendInParts talks to the server. */
export interface PartSender<Race> {
  /**
   * Sends `changes` (in the given order) as one message: resolves undefined when the server
   * applied it (the caller reports it as landed), a `Race` when a prerequisite no longer
   * held; throws anything else.
   */
  send(changes: Change[]): Promise<Race | undefined>;
  /**
   * What an error `send` threw means: `split`, a refusal that may be about some of the
   * message's records only (or a message too large): its halves are sent, and a unit alone is
   * refused; `whole`, a refusal of the message as it stands, recorded without splitting;
   * `throw`, no refusal (no answer, a key the server rejects): thrown at once.
   */
  judge(error: unknown): "split" | "whole" | "throw";
}

/**
 * Sends `changes` (apply order) as one message and, while a message of several units is
 * refused with an error judged `split`, its two halves one after the other (the first ⌈n/2⌉
 * units, then the rest; each half in the given order), until every unit has landed, raced or
 * been refused alone (or whole, when judged so). At most 2u − 1 messages for u units. Throws
 * the first error judged `throw`, after what landed before it has landed: the caller reports
 * each part as it lands.
 */
export async function sendInParts<Race>(
  changes: readonly Change[],
  sender: PartSender<Race>,
): Promise<PartsOutcome<Race>> {
  const position = new Map(changes.map((change, i) => [change, i]));
  const inOrder = (units: Change[][]) =>
    units.flat().sort((a, b) => (position.get(a) ?? 0) - (position.get(b) ?? 0));
  const outcome: PartsOutcome<Race> = { landed: 0, refused: [], raced: [] };

  async function deliver(units: Change[][]): Promise<void> {
    const part = inOrder(units);
    let race: Race | undefined;
    try {
      race = await sender.send(part);
    } catch (error) {
      const verdict = sender.judge(error);
      if (verdict === "throw") throw error;
      if (verdict === "whole" || units.length === 1) {
        outcome.refused.push({ changes: part, error });
        return;
      }
      const half = Math.ceil(units.length / 2);
      await deliver(units.slice(0, half));
      await deliver(units.slice(half));
      return;
    }
    if (race === undefined) outcome.landed += part.length;
    else outcome.raced.push({ changes: part, race });
  }

  await deliver(unitsOf(changes));
  return outcome;
}
