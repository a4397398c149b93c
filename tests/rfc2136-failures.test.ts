/**
 * The RFC 2136 provider's pure parts, as tables: how a pass's changes fall into units that must
 * land together, how sendInParts isolates a refused unit, and the words of every failure
 * (src/providers/rfc2136/failures.ts). What the servers themselves answer is proven against a
 * real named and Knot in rfc2136-servers and rfc2136-refusals.
 */
import { describe, expect, test } from "bun:test";
import type { DnsRecord, ManagedRecordType } from "../src/dns/record.ts";
import type { Change } from "../src/plan/changes.ts";
import {
  describeFailure,
  describeRefusals,
  type FailureContext,
  isRefusal,
  joinSentences,
  narrowGrant,
  type Operation,
} from "../src/providers/rfc2136/failures.ts";
import { sendInParts, unitsOf } from "../src/providers/rfc2136/parts.ts";
import { DnsNetworkError, DnsRcodeError } from "../src/providers/rfc2136/transport.ts";
import { TsigError } from "../src/providers/rfc2136/tsig.ts";
import { RCODE } from "../src/providers/rfc2136/wire.ts";
import { heartbeatName } from "../src/registry/heartbeat.ts";

const ZONE = "example.test";
const D = `internal.${ZONE}`;
const ALL = `all.${ZONE}`;
const SERVER = "127.0.0.1:53";

/** A record dynip writes: readable as one (DnsRecord) and writable (RecordData). */
type Managed = DnsRecord & { type: ManagedRecordType };

function record(name: string, type: ManagedRecordType, content: string): Managed {
  return { ref: `${name} ${type} ${content}`, name, type, content, ttl: 120 };
}
const address = (ip: string, domain = D) => record(domain, ip.includes(":") ? "AAAA" : "A", ip);
const heartbeat = (ip: string, id: string, domain = D, ts = 1_700_000_000) =>
  record(heartbeatName(ip, domain), "TXT", `"${ts},${id}"`);

const create = (r: Managed): Change => ({ kind: "create", record: r, reason: "new" });
const remove = (r: DnsRecord): Change => ({ kind: "delete", record: r, reason: "gone" });
const refresh = (ip: string, id: string, domain = D): Change => ({
  kind: "replace",
  before: heartbeat(ip, id, domain),
  record: heartbeat(ip, id, domain, 1_700_000_300),
  reason: "refresh",
});

const where = (operation: Operation, extra: Partial<FailureContext> = {}): FailureContext => ({
  operation,
  server: SERVER,
  zone: ZONE,
  keyName: "dynip-key",
  algorithm: "hmac-sha256",
  ...extra,
});

describe("units: what must land together", () => {
  const newAddress = [create(heartbeat("10.0.0.2", "h1")), create(address("10.0.0.2"))];
  const withdrawal = [remove(address("10.0.0.3")), remove(heartbeat("10.0.0.3", "h1"))];

  test.each([
    ["a refresh alone", [refresh("10.0.0.1", "h1")], [1]],
    ["a new address with its heartbeat", newAddress, [2]],
    ["a withdrawal with its heartbeat", withdrawal, [2]],
    [
      "a refresh, a new address, a withdrawal: three units",
      [...withdrawal, refresh("10.0.0.1", "h1"), ...newAddress],
      [2, 1, 2],
    ],
    [
      "the same address at two domains: two units",
      [create(address("10.0.0.2")), create(address("10.0.0.2", ALL))],
      [1, 1],
    ],
    [
      "IPv6 written two ways is one address",
      [create(heartbeat("2001:db8::1", "h1")), create(record(D, "AAAA", "2001:DB8:0::1"))],
      [2],
    ],
    [
      "an address record replaced by another joins both addresses' changes",
      [
        remove(heartbeat("10.0.0.1", "h1")),
        {
          kind: "replace",
          before: address("10.0.0.1"),
          record: address("10.0.0.9"),
          reason: "moved",
        } as Change,
        create(heartbeat("10.0.0.9", "h1")),
      ],
      [3],
    ],
    ["a TXT record at another name is its own unit", [create(record(D, "TXT", '"x"'))], [1]],
  ])("%s", (_, changes, sizes) => {
    const units = unitsOf(changes);
    expect(units.map((u) => u.length)).toEqual(sizes);
    // Every change once, each unit in the given order.
    expect(units.flat().toSorted()).toEqual([...changes].toSorted());
    for (const unit of units) {
      expect(unit).toEqual(changes.filter((c) => unit.includes(c)));
    }
  });
});

describe("sendInParts: a refused unit is isolated, the rest lands", () => {
  const refused = new DnsRcodeError(RCODE.REFUSED, "update", ZONE, SERVER);
  const changes = [
    refresh("10.0.0.1", "h1"),
    create(heartbeat("10.0.0.2", "h1", ALL)),
    create(address("10.0.0.2", ALL)),
    refresh("10.0.0.3", "h1"),
    refresh("10.0.0.4", "h1"),
  ];

  /** A server that refuses any message with a change at ALL, and records each message. */
  function server(refuses: (c: Change) => boolean, error: unknown = refused) {
    const messages: Change[][] = [];
    return {
      messages,
      sender: {
        async send(part: Change[]) {
          messages.push(part);
          if (part.some(refuses)) throw error;
          return undefined;
        },
        judge,
      },
    };
  }
  const atAll = (c: Change) => c.record.name.endsWith(ALL);
  const judge = (error: unknown) => (isRefusal(error) ? "split" : "throw") as "split" | "throw";

  test("messages: the whole, then halves by unit, each in apply order", async () => {
    const { messages, sender } = server(atAll);
    const outcome = await sendInParts(changes, sender);
    expect(outcome.landed).toBe(3);
    expect(outcome.refused).toEqual([{ changes: changes.slice(1, 3), error: refused }]);
    expect(messages.map((m) => m.map((c) => changes.indexOf(c)))).toEqual([
      [0, 1, 2, 3, 4],
      [0, 1, 2],
      [0],
      [1, 2],
      [3, 4],
    ]);
  });

  test("an error that is not a refusal is thrown at once, after what landed", async () => {
    const lost = new DnsNetworkError("timeout", SERVER, "no complete answer within 5000 ms");
    const { messages, sender } = server(atAll, lost);
    expect(sendInParts(changes, sender)).rejects.toBe(lost);
    expect(messages).toHaveLength(1);
  });

  test("a race is recorded and the other parts still go", async () => {
    const outcome = await sendInParts(changes, {
      // The message with ALL and other names is refused; ALL's unit alone finds it changed.
      async send(part: Change[]) {
        if (!part.some(atAll)) return undefined;
        if (part.every(atAll)) return "race" as const;
        throw refused;
      },
      judge,
    });
    expect(outcome.raced).toEqual([{ changes: changes.slice(1, 3), race: "race" }]);
    expect(outcome.refused).toEqual([]);
    expect(outcome.landed).toBe(3);
  });

  test("a refusal judged `whole` is recorded for the whole message, unsplit", async () => {
    const { messages, sender } = server(() => true);
    const outcome = await sendInParts(changes, { ...sender, judge: () => "whole" });
    expect(outcome.refused).toEqual([{ changes, error: refused }]);
    expect(messages).toHaveLength(1);
  });

  test("everything refused: 2u − 1 messages, each unit refused alone", async () => {
    const { messages, sender } = server(() => true);
    const outcome = await sendInParts(changes, sender);
    expect(outcome.landed).toBe(0);
    expect(outcome.refused.map((r) => r.changes.length)).toEqual([1, 2, 1, 1]);
    expect(messages).toHaveLength(2 * 4 - 1);
  });
});

describe("the words of each failure", () => {
  test.each([
    ["is the clock right (NTP)?", "TSIG allows", "is the clock right (NTP)? TSIG allows"],
    ["the answer stopped.", "Check it", "the answer stopped. Check it"],
    ["no answer", "Check it", "no answer. Check it"],
    ["really!  ", "Next", "really! Next"],
    ["no answer", "", "no answer."],
    ["a hint (listening on TCP?)", "", "a hint (listening on TCP?)."],
  ])("joinSentences(%p, %p)", (first, second, joined) => {
    expect(joinSentences(first, second)).toBe(joined);
  });

  test.each([
    new TsigError(
      "BADTIME",
      "server",
      "the server found the request's time 1 outside its fudge (BADTIME; its clock says 3601): is the clock right (NTP)?",
      RCODE.NOTAUTH,
      3601,
    ),
    new TsigError(
      "BADTIME",
      "client",
      "the answer was signed at 1, 3600 s from the local clock (fudge 300 s): is the clock right (NTP)?",
      RCODE.NOERROR,
    ),
  ])("BADTIME ($by): a clock problem, one mark per sentence", (error) => {
    const message = describeFailure(error, where("transfer")).message;
    expect(message).toStartWith("clock problem: ");
    expect(message).toContain("(NTP)? TSIG allows 300 s");
    expect(message).toContain("run NTP on both");
    expect(message).not.toMatch(/[.?!][.?!]/);
  });

  test.each([
    ["refused", "connection refused (is the DNS server running and listening on TCP?)"],
    ["timeout", "no complete answer within 5000 ms"],
    ["too-large", "answer larger than 67108864 bytes"],
  ] as const)("no answer (%s): one mark per sentence", (problem, detail) => {
    const message = describeFailure(
      new DnsNetworkError(problem, SERVER, detail),
      where("transfer"),
    ).message;
    expect(message).not.toMatch(/[.?!][.?!]/);
    expect(message).toContain(detail);
  });

  test("a transfer past 64 MiB names the cap and the way out", () => {
    const message = describeFailure(
      new DnsNetworkError("too-large", SERVER, "answer larger than 67108864 bytes"),
      where("transfer"),
    ).message;
    expect(message).toContain("dynip reads at most 64 MiB of zone transfer");
    expect(message).toContain("delegate a sub-zone");
  });

  test("REFUSED on an update: the narrow grant per managed domain, never the whole zone", () => {
    const error = new DnsRcodeError(RCODE.REFUSED, "update", ZONE, SERVER);
    const changes = [
      refresh("10.0.0.1", "h1"),
      create(heartbeat("10.0.0.1", "h1", ALL)),
      create(address("10.0.0.1", ALL)),
    ];
    const message = describeFailure(error, where("update", { changes })).message;
    expect(message).toBe(
      `DNS server ${SERVER} refused the UPDATE of zone ${ZONE} to key "dynip-key" (REFUSED): ` +
        `the update-policy of zone ${ZONE} must grant these names: ` +
        `update-policy { grant dynip-key subdomain ${D}. A AAAA TXT; grant dynip-key subdomain ${ALL}. A AAAA TXT; }; ` +
        "(one grant per managed name: it and the heartbeat names below it, nothing else in the zone)",
    );
    expect(message).not.toContain("zonesub");
    expect(narrowGrant("k", [])).toBe(
      "update-policy { grant k subdomain <managed name>. A AAAA TXT; };",
    );
  });

  const badKey = new TsigError("BADKEY", "server", "BADKEY", RCODE.NOTAUTH);
  test.each([
    [
      "update",
      [],
      'does not know TSIG key "dynip-key" with hmac-sha256 (BADKEY) for the UPDATE',
      "`action: update`",
    ],
    [
      "transfer",
      [],
      'does not know TSIG key "dynip-key" with hmac-sha256 (BADKEY) for the transfer',
      "`action: transfer`",
    ],
    [
      "update",
      ["transfer"],
      "the key works there (it transferred the zone), so the server's ACL denies this update",
      "`action: update`",
    ],
    [
      "update",
      ["transfer", "update"],
      "(it updated other names of the zone)",
      "cover internal.example.test",
    ],
    [
      "transfer",
      ["update"],
      "the key works there (it updated the zone), so the server's ACL denies this transfer",
      "`action: transfer`",
    ],
    ["transfer", ["transfer"], "(it transferred the zone before)", "`action: transfer`"],
  ] as const)("BADKEY on a %s after %p: %s", (operation, succeeded, text, acl) => {
    const changes = [create(address("10.0.0.1"))];
    const error = describeFailure(
      badKey,
      where(operation, { succeeded: new Set(succeeded), changes }),
    );
    expect(error.message).toContain(text);
    expect(error.message).toContain(acl);
    expect(error).toMatchObject({ awaitsOperator: true });
    if (succeeded.length > 0) expect(error.message).not.toContain("does not know");
  });

  test("SERVFAIL adding to an RRset of 100: BIND's max-records-per-type, awaiting an operator", () => {
    const error = new DnsRcodeError(RCODE.SERVFAIL, "update", ZONE, SERVER);
    const changes = [create(heartbeat("10.0.0.2", "h1")), create(address("10.0.0.2"))];
    const sizes = new Map([[`${D} A`, 100]]);
    const full = describeFailure(
      error,
      where("update", { changes, rrsetSize: (n, t) => sizes.get(`${n} ${t}`) }),
    );
    expect(full.message).toContain(`${D} A (100 records at the last read)`);
    expect(full.message).toContain("max-records-per-type");
    expect(full).toMatchObject({ awaitsOperator: true });
    sizes.set(`${D} A`, 99);
    const other = describeFailure(
      error,
      where("update", { changes, rrsetSize: (n, t) => sizes.get(`${n} ${t}`) }),
    );
    expect(other.message).toContain("its log says why");
    expect(other).toMatchObject({ awaitsOperator: false });
  });

  test("refusals of two causes: each named with its changes, the count of what landed", () => {
    const refused = new DnsRcodeError(RCODE.REFUSED, "update", ZONE, SERVER);
    const servfail = new DnsRcodeError(RCODE.SERVFAIL, "update", ZONE, SERVER);
    const error = describeRefusals(
      [
        { changes: [create(address("10.0.0.5", ALL))], error: refused },
        { changes: [create(address("10.0.0.6"))], error: servfail },
        { changes: [create(address("10.0.0.7", ALL))], error: refused },
      ],
      { landed: 2, total: 5 },
      where("update"),
    );
    expect(error.message).toStartWith(
      `DNS server ${SERVER} refused 3 of 5 change(s) to zone ${ZONE}, each address sent apart from the others (2 change(s) landed): ` +
        `create A ${ALL} 10.0.0.5, create A ${ALL} 10.0.0.7 (REFUSED): the update-policy of zone ${ZONE} must grant these names: update-policy { grant dynip-key subdomain ${ALL}. A AAAA TXT; }; `,
    );
    expect(error.message).toContain(
      `; create A ${D} 10.0.0.6 (SERVFAIL): the server could not apply it`,
    );
    // The server took the rest: these need someone.
    expect(error).toMatchObject({ awaitsOperator: true });
  });

  test("one cause refusing everything reads as that cause alone", () => {
    const refused = new DnsRcodeError(RCODE.REFUSED, "update", ZONE, SERVER);
    const changes = [create(address("10.0.0.5"))];
    const error = describeRefusals(
      [{ changes, error: refused }],
      { landed: 0, total: 1 },
      where("update"),
    );
    expect(error.message).toBe(describeFailure(refused, where("update", { changes })).message);
  });
});
