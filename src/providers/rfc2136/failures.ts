/**
 * What the wire layer's errors mean to an operator: one DynipError each, saying what to fix in
 * the server's configuration or in RFC2136_*, and whether retrying can help; and, for an UPDATE
 * refused in part, one error naming every refused change and why.
 */

import { DynipError } from "../../errors.ts";
import type { Change } from "../../plan/changes.ts";
import { parseHeartbeatName } from "../../registry/heartbeat.ts";
import { DEFAULT_MAX_BYTES, DnsNetworkError, DnsRcodeError } from "./transport.ts";
import { TsigError } from "./tsig.ts";
import { DnsEncodeError, DnsFormatError, RCODE } from "./wire.ts";

/** The operations a key is used for. */
export type Operation = "transfer" | "update";

/** Where the failure happened, for the message. */
export interface FailureContext {
  /** `transfer` (AXFR) or `update`. */
  operation: Operation;
  /** `127.0.0.1:53` */
  server: string;
  zone: string;
  keyName: string;
  algorithm: string;
  /** The refused UPDATE's changes: their names and RRsets go into the advice. */
  changes?: readonly Change[];
  /** Records of the RRset at `name` (lower-case) of `type` at the last transfer; undefined: unknown. */
  rrsetSize?: (name: string, type: string) => number | undefined;
  /** Operations the key has succeeded at on this server (proof the server knows it), in this process. */
  succeeded?: ReadonlySet<Operation>;
}

/** An RFC 2136 failure in words; `awaitsOperator` when retrying cannot help until someone acts. */
export class Rfc2136Error extends DynipError {
  override name = "Rfc2136Error";
  constructor(
    message: string,
    private readonly operator: boolean,
    cause: unknown,
  ) {
    super(message, 1, { cause });
  }

  override get awaitsOperator(): boolean {
    return this.operator;
  }
}

/**
 * BIND's default limit of records in one RRset (`max-records-per-type`, BIND 9.18.28 and
 * later): an UPDATE that would pass it fails whole with SERVFAIL.
 */
export const BIND_MAX_RECORDS_PER_TYPE = 100;

/** The most refused changes one message lists; the rest are counted. */
const LISTED_CHANGES = 10;

/** True for a failure another attempt may not meet: no answer, or the server failing (SERVFAIL). */
export function isTransient(error: unknown): boolean {
  if (error instanceof DnsRcodeError) return error.rcode === RCODE.SERVFAIL;
  return error instanceof DnsNetworkError && !["too-large", "aborted"].includes(error.problem);
}

/**
 * True for an answer refusing an UPDATE that may be about some of its records only: any error
 * RCODE that is not a race (REFUSED by the update-policy, SERVFAIL past an RRset limit,
 * FORMERR, NOTZONE, NOTAUTH…), and BADKEY, with which Knot answers what its ACL denies
 * (per name and type with `update-owner`, `update-type`). Sending the message's parts apart
 * lets the rest land. Not BADSIG or BADTIME (the whole key or clock), nor no answer.
 */
export function isRefusal(error: unknown): boolean {
  if (error instanceof DnsRcodeError) return true;
  return error instanceof TsigError && error.by === "server" && error.problem === "BADKEY";
}

/** True for SERVFAIL: the server failed, or (BIND) an RRset would pass its limit. */
export function isServfail(error: unknown): boolean {
  return error instanceof DnsRcodeError && error.rcode === RCODE.SERVFAIL;
}

/**
 * `first` and `second` as one text: a period between them unless `first` already ends a
 * sentence (`.`, `?`, `!`), so no message reads "(NTP)?. TSIG"; `second` empty: `first`
 * ended by one mark.
 */
export function joinSentences(first: string, second: string): string {
  const head = first.trimEnd();
  const ended = /[.?!]$/.test(head);
  if (second === "") return ended ? head : `${head}.`;
  return ended ? `${head} ${second}` : `${head}. ${second}`;
}

/**
 * The managed domain a record of dynip's belongs to: an address record's owner, or the
 * domain under a heartbeat name (`_heartbeat-<ip>.D` → `D`); lower-case.
 */
function domainOfRecord(record: { name: string; type: string }): string {
  const name = record.name.toLowerCase();
  if (record.type !== "TXT") return name;
  const parent = name.slice(name.indexOf(".") + 1);
  return parseHeartbeatName(name, parent) === undefined ? name : parent;
}

/** The managed domains `changes` touch, each once, in order of first mention. */
function domainsOf(changes: readonly Change[]): string[] {
  return [...new Set(changes.map((c) => domainOfRecord(c.record)))];
}

/**
 * The update-policy that grants key `keyName` the managed names and nothing else (README,
 * "Your own DNS server (RFC 2136)"): per domain, the name and the heartbeat names below it,
 * types A, AAAA and TXT only. `domains` empty: a placeholder for the managed name.
 */
export function narrowGrant(keyName: string, domains: readonly string[]): string {
  const names = domains.length > 0 ? domains : ["<managed name>"];
  const grants = names.map((d) => `grant ${keyName} subdomain ${d}. A AAAA TXT;`);
  return `update-policy { ${grants.join(" ")} };`;
}

/**
 * The RRsets `changes` add to that held at least BIND's default limit at the last transfer, as
 * `name type (n records)`, each once; an RRset of heartbeats says it is hosts sharing one address.
 */
function fullRrsets(changes: readonly Change[], where: FailureContext): string[] {
  const full = new Map<string, string>();
  for (const change of changes) {
    if (change.kind !== "create") continue;
    const { name, type } = change.record;
    const size = where.rrsetSize?.(name.toLowerCase(), type);
    if (size === undefined || size < BIND_MAX_RECORDS_PER_TYPE) continue;
    const hosts = type === "TXT" ? `: the heartbeats of ${size} hosts sharing one address` : "";
    const held = `${size} records at the last read${hosts}`;
    full.set(`${name.toLowerCase()} ${type}`, `${name} ${type} (${held})`);
  }
  return [...full.values()];
}

/** True when the SERVFAIL for `changes` is explained by an RRset at BIND's default limit. */
export function atRrsetLimit(changes: readonly Change[], where: FailureContext): boolean {
  return fullRrsets(changes, where).length > 0;
}

/** One failure explained: `lead` says what happened, `fix` what to do; `operator` as Rfc2136Error. */
interface Explained {
  /** The short name of the cause: an RCODE or TSIG error name, or the error's class. */
  code: string;
  lead: string;
  fix?: string;
  operator: boolean;
}

/**
 * What shows the server knows the key, in words after "the same key": an earlier success of
 * the same operation, or of the other one; undefined when it never succeeded here.
 */
function keyProof(operation: Operation, succeeded?: ReadonlySet<Operation>): string | undefined {
  if (operation === "update") {
    if (succeeded?.has("update")) return "updated other names of the zone";
    return succeeded?.has("transfer") ? "transferred the zone" : undefined;
  }
  if (succeeded?.has("transfer")) return "transferred the zone before";
  return succeeded?.has("update") ? "updated the zone" : undefined;
}

/** BADKEY from the server: an unknown key, or (Knot) a request its ACL denies. */
function badKey(where: FailureContext, what: string): Explained {
  const { operation, server, keyName, algorithm } = where;
  const proof = keyProof(operation, where.succeeded);
  const acl =
    `the zone's acl must allow key ${keyName} \`action: ${operation}\`` +
    (operation === "update"
      ? `, and its update-owner / update-type rules, where set, cover ${domainsOf(where.changes ?? []).join(", ") || "every managed name"} (and the heartbeat names below) with A, AAAA and TXT`
      : "");
  if (proof !== undefined) {
    return {
      code: "BADKEY",
      lead: `DNS server ${server} refused key "${keyName}" (BADKEY) for ${what}`,
      fix: `the key works there (it ${proof}), so the server's ACL denies this ${operation} (Knot answers what its ACL denies with BADKEY): ${acl}`,
      operator: true,
    };
  }
  return {
    code: "BADKEY",
    lead: `DNS server ${server} does not know TSIG key "${keyName}" with ${algorithm} (BADKEY) for ${what}, or does not allow it this ${operation}`,
    fix:
      `RFC2136_TSIG_KEY and RFC2136_TSIG_ALGORITHM must match a key statement there: key "${keyName}" { algorithm ${algorithm}; secret "…"; }; ` +
      `or, on Knot (which answers what its ACL denies with BADKEY), ${acl}`,
    operator: true,
  };
}

/** SERVFAIL for an UPDATE: an RRset at BIND's limit when the last transfer shows one, else the server failing. */
function servfail(error: DnsRcodeError, where: FailureContext): Explained {
  const full = fullRrsets(where.changes ?? [], where);
  if (full.length > 0) {
    return {
      code: "SERVFAIL",
      lead: error.message,
      fix:
        `it adds to ${full.join(", ")}, and BIND 9.18.28 and later refuse an RRset of more than max-records-per-type records (default ${BIND_MAX_RECORDS_PER_TYPE}; its log says "too many records"): ` +
        `raise it in the zone's statement (max-records-per-type 0; lifts the limit) or spread the hosts over more names`,
      operator: true,
    };
  }
  return {
    code: "SERVFAIL",
    lead: error.message,
    fix: `the server could not apply it, and its log says why (BIND: "too many records" when an RRset would pass max-records-per-type, default ${BIND_MAX_RECORDS_PER_TYPE})`,
    operator: false,
  };
}

/** An error RCODE that is not a race: the line the server needs, or the message as it came. */
function rcodeFailure(error: DnsRcodeError, where: FailureContext, what: string): Explained {
  const { operation, server, zone, keyName } = where;
  const code = error.rcodeName;
  if (error.rcode === RCODE.REFUSED && operation === "transfer") {
    return {
      code,
      lead: `DNS server ${server} refused ${what} to key "${keyName}" (REFUSED)`,
      fix: `its zone statement for ${zone} needs allow-transfer { key "${keyName}"; };`,
      operator: true,
    };
  }
  if (error.rcode === RCODE.REFUSED) {
    return {
      code,
      lead: `DNS server ${server} refused ${what} to key "${keyName}" (REFUSED)`,
      fix: `the update-policy of zone ${zone} must grant these names: ${narrowGrant(keyName, domainsOf(where.changes ?? []))} (one grant per managed name: it and the heartbeat names below it, nothing else in the zone)`,
      operator: true,
    };
  }
  if (error.rcode === RCODE.NOTAUTH) {
    return {
      code,
      lead: `DNS server ${server} is not authoritative for zone ${zone} (NOTAUTH)`,
      fix: "check RFC2136_ZONE, and that RFC2136_SERVER is the zone's primary",
      operator: true,
    };
  }
  if (error.rcode === RCODE.NOTZONE) {
    return {
      code,
      lead: `DNS server ${server} answered ${what} with NOTZONE`,
      fix: `a name is outside zone ${zone}`,
      operator: true,
    };
  }
  if (error.rcode === RCODE.SERVFAIL && operation === "update") return servfail(error, where);
  if (error.rcode === RCODE.NOTIMP) {
    return {
      code,
      lead: error.message,
      fix: `the server does not implement this for zone ${zone}: it must be a primary that accepts dynamic updates and zone transfers`,
      operator: true,
    };
  }
  return { code, lead: error.message, operator: false };
}

/** Any error of the wire layer, explained; undefined for errors it does not raise. */
function explain(error: unknown, where: FailureContext): Explained | undefined {
  const { operation, server, zone, keyName } = where;
  const what =
    operation === "transfer" ? `the transfer of zone ${zone}` : `the UPDATE of zone ${zone}`;
  if (error instanceof TsigError) {
    if (error.by === "server" && error.problem === "BADKEY") return badKey(where, what);
    if (error.by === "server" && error.problem === "BADSIG") {
      return {
        code: "BADSIG",
        lead: `DNS server ${server} rejected the TSIG signature of key "${keyName}" (BADSIG) for ${what}`,
        fix: "RFC2136_TSIG_SECRET is not that key's secret there (or RFC2136_TSIG_ALGORITHM differs)",
        operator: true,
      };
    }
    if (error.problem === "BADTIME") {
      return {
        code: "BADTIME",
        lead: joinSentences(
          `clock problem: ${error.message}`,
          "TSIG allows 300 s between this host's clock and the server's",
        ),
        fix: "run NTP on both (heartbeat ages rest on these clocks too)",
        operator: true,
      };
    }
    return {
      code: error.problem,
      lead: `DNS server ${server}, ${what}: ${error.message}`,
      operator: false,
    };
  }
  if (error instanceof DnsRcodeError) return rcodeFailure(error, where, what);
  if (error instanceof DnsFormatError || error instanceof DnsEncodeError) {
    return {
      code: error.name,
      lead: `DNS server ${server}, ${what}: ${error.message}`,
      operator: false,
    };
  }
  if (error instanceof DnsNetworkError) {
    const fix =
      error.problem === "refused"
        ? "Check RFC2136_SERVER (host:port)."
        : error.problem === "too-large"
          ? `dynip reads at most ${DEFAULT_MAX_BYTES / 2 ** 20} MiB of zone transfer: keep the managed names in a smaller zone (delegate a sub-zone such as dyn.example.com to the server) and set RFC2136_ZONE to it.`
          : undefined;
    return {
      code: error.problem,
      lead: joinSentences(`${error.message} (${what})`, fix ?? ""),
      operator: false,
    };
  }
  return undefined;
}

/** `lead: fix`, or `lead` alone. */
function sentence(explained: Explained): string {
  return explained.fix === undefined ? explained.lead : `${explained.lead}: ${explained.fix}`;
}

/**
 * The error the operator sees for a wire-layer error (anything else is returned as it is):
 * - TSIG refused by the server: BADKEY (key name or algorithm unknown there, or on Knot an ACL
 *   that denies this operation; said to be the ACL when the key has succeeded at something
 *   here), BADSIG (another secret), BADTIME (the clocks differ by more than the fudge) — all
 *   await an operator;
 * - REFUSED: the server's policy; the `allow-transfer` line, or the narrow `update-policy`
 *   grant for the domains of `where.changes`, it needs;
 * - NOTAUTH: not authoritative for RFC2136_ZONE (or not its primary); NOTZONE: a name outside;
 *   NOTIMP: no dynamic updates or transfers there;
 * - SERVFAIL on an UPDATE that adds to an RRset of 100 or more records at the last read:
 *   BIND's `max-records-per-type`, awaiting an operator; any other SERVFAIL, no answer, a
 *   malformed answer: the message as it came, not awaiting anyone.
 */
export function describeFailure(error: unknown, where: FailureContext): Error {
  const explained = explain(error, where);
  if (explained === undefined) return error instanceof Error ? error : new Error(String(error));
  return new Rfc2136Error(sentence(explained), explained.operator, error);
}

/** `create A internal.example.com 10.0.0.2`: a change without its reason. */
function brief(change: Change): string {
  const verb = { create: "create", replace: "update", delete: "delete" }[change.kind];
  const { type, name, content } = change.record;
  return `${verb} ${type} ${name} ${content}`;
}

/** Changes listed, the first LISTED_CHANGES of them, the rest counted. */
function listed(changes: readonly Change[]): string {
  const shown = changes.slice(0, LISTED_CHANGES).map(brief).join(", ");
  const more = changes.length - LISTED_CHANGES;
  return more > 0 ? `${shown} and ${more} more` : shown;
}

/**
 * One error for an UPDATE sent in parts of which some were refused (`refused`: each part's
 * changes and error, in send order; `landed` of `total` changes landed). Refusals of one cause
 * are named together with what to fix (describeFailure's advice for those changes). Awaits an
 * operator when any cause does, or when something landed: the server works, and refuses these.
 * A lone refusal of every change reads as describeFailure's message.
 */
export function describeRefusals(
  refused: readonly { changes: readonly Change[]; error: unknown }[],
  counts: { landed: number; total: number },
  where: FailureContext,
): Error {
  const byCause = new Map<string, { changes: Change[]; error: unknown }>();
  for (const part of refused) {
    const code = explain(part.error, where)?.code ?? String(part.error);
    const group = byCause.get(code);
    if (group) group.changes.push(...part.changes);
    else byCause.set(code, { changes: [...part.changes], error: part.error });
  }
  const groups = [...byCause.values()];
  const first = groups[0];
  if (counts.landed === 0 && groups.length === 1 && first) {
    return describeFailure(first.error, { ...where, changes: first.changes });
  }
  const explained = groups.map((g) => ({
    changes: g.changes,
    why: explain(g.error, { ...where, changes: g.changes }),
    error: g.error,
  }));
  const count = groups.reduce((n, g) => n + g.changes.length, 0);
  const parts = explained.map(({ changes, why, error }) => {
    const reason = why ? `(${why.code}): ${why.fix ?? why.lead}` : `: ${String(error)}`;
    return `${listed(changes)} ${reason}`;
  });
  const operator = counts.landed > 0 || explained.some((e) => e.why?.operator === true);
  return new Rfc2136Error(
    `DNS server ${where.server} refused ${count} of ${counts.total} change(s) to zone ${where.zone}, each address sent apart from the others (${counts.landed} change(s) landed): ${parts.join("; ")}`,
    operator,
    first?.error,
  );
}
