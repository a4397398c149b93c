/**
 * A server that refuses part of a pass, against real servers on loopback: one UPDATE is all or
 * nothing (RFC 2136 §3.7), so before, one refused record stopped every heartbeat refresh sent
 * with it, and cleanup later deleted the live host. Now the parts are sent apart, each address
 * with its heartbeats, the rest lands, and the pass still fails naming what was refused and why:
 *
 * - BIND's limit of 100 records per RRset (`max-records-per-type`, 9.18.28 and later), reached by
 *   100 addresses at one name or by 100 hosts behind one address: SERVFAIL;
 * - a managed name the README's narrow `update-policy` grant does not cover: REFUSED;
 * - on Knot, a name its ACL's `update-owner` rules do not cover, and an ACL without `update` or
 *   `transfer`: BADKEY, which the message tells apart from an unknown key;
 * - and, on a fake server, one that fails every UPDATE (SERVFAIL): that is no refusal of a part,
 *   and the whole is tried again as before.
 *
 * Skipped, with the reason in the test names, where named or knotd are missing.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { DnsRecord } from "../src/dns/record.ts";
import type { TsigKey } from "../src/dns/tsig-key.ts";
import type { Change } from "../src/plan/changes.ts";
import { signMessage } from "../src/providers/rfc2136/tsig.ts";
import { decodeMessage, encodeMessage, RCODE, tsigRecord } from "../src/providers/rfc2136/wire.ts";
import { formatHeartbeat, heartbeatName } from "../src/registry/heartbeat.ts";
import { runCli } from "./support/cli.ts";
import { fakeServer, frame, header } from "./support/fake-dns.ts";
import { type KnotOptions, type KnotServer, knotUnavailable, startKnot } from "./support/knot.ts";
import { type NamedServer, namedUnavailable, startNamed, type ZoneSpec } from "./support/named.ts";
import {
  addresses,
  D,
  type Digging,
  heartbeats,
  hostEnv,
  now,
  providerOn,
  type ServerKey,
  ZONE,
} from "./support/rfc2136-hosts.ts";

const ALL = `all.${ZONE}`;

/** Zone-file lines (names relative to the zone) for an address at `domain` and its heartbeat. */
function published(domain: string, ip: string, id: string, age: number): string[] {
  const relative = domain.slice(0, -ZONE.length - 1);
  const hb = heartbeatName(ip, domain).slice(0, -ZONE.length - 1);
  return [`${relative} 120 IN A ${ip}`, `${hb} 120 IN TXT ${formatHeartbeat(now() - age, id)}`];
}

/** 100 addresses at D, 10.0.0.1 … 10.0.0.100, each with a fresh heartbeat of host h<n>. */
const HUNDRED_ADDRESSES = Array.from({ length: 100 }, (_, i) =>
  published(D, `10.0.0.${i + 1}`, `h${i + 1}`, 300),
).flat();

/** One address, 10.0.0.1, shared by 100 hosts n1 … n100 (one NAT): 100 heartbeats at one name. */
const HUNDRED_SHARERS = [
  `internal 120 IN A 10.0.0.1`,
  ...Array.from({ length: 100 }, (_, i) => {
    const hb = heartbeatName("10.0.0.1", D).slice(0, -ZONE.length - 1);
    return `${hb} 120 IN TXT ${formatHeartbeat(now() - 300, `n${i + 1}`)}`;
  }),
];

/**
 * web-01 publishes 192.168.1.10 at D and at ALL, where `server` covers D only: the pass exits 1
 * naming the refused create, the heartbeat at D is refreshed all the same, and no address lands
 * at ALL. Returns the pass's stderr, for the words the server's refusal gets.
 */
async function refusedAtAll(server: ServerKey & Digging): Promise<string> {
  const before = now();
  const result = await runCli(
    ["update"],
    hostEnv(server, "web-01", "192.168.1.10", { COMBINED_DOMAIN: ALL }),
  );
  expect(result.code).toBe(1);
  expect(result.stderr).toContain(`create A ${ALL} 192.168.1.10`);
  expect((await heartbeats(server, "192.168.1.10"))["web-01"]).toBeGreaterThanOrEqual(before);
  expect(await addresses(server, ALL)).toEqual([]);
  return result.stderr;
}

const named = namedUnavailable();
const knot = knotUnavailable();

describe.skipIf(named !== undefined)(`BIND${named ? ` (skipped: ${named})` : ""}`, () => {
  let server: NamedServer;
  const start = async (zone: Omit<ZoneSpec, "name">) => {
    server = await startNamed({ zones: [{ name: ZONE, ...zone }] });
  };
  afterEach(async () => {
    await server?.stop();
  });

  test("100 addresses at one name: the new one is refused (max-records-per-type), the live one's heartbeat is refreshed", async () => {
    await start({ records: HUNDRED_ADDRESSES });
    const before = now();
    const result = await runCli(["update"], hostEnv(server, "h1", "10.0.0.1,10.0.0.200"));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`create A ${D} 10.0.0.200`);
    expect(result.stderr).toContain(`${D} A (100 records at the last read)`);
    expect(result.stderr).toContain("max-records-per-type");
    // The refresh went apart from the refused address and landed: cleanup keeps 10.0.0.1.
    expect((await heartbeats(server, "10.0.0.1")).h1).toBeGreaterThanOrEqual(before);
    expect(await addresses(server)).toHaveLength(100);
    expect(await addresses(server)).not.toContain("10.0.0.200");
    // The new address's heartbeat went with it: no heartbeat without its address.
    expect(await heartbeats(server, "10.0.0.200")).toEqual({});
  });

  test("100 hosts behind one address: the 101st host's heartbeat is refused at once, naming the limit", async () => {
    await start({ records: HUNDRED_SHARERS });
    const result = await runCli(["update"], hostEnv(server, "n101", "10.0.0.1"));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `${heartbeatName("10.0.0.1", D)} TXT (100 records at the last read: the heartbeats of 100 hosts sharing one address)`,
    );
    expect(result.stderr).toContain("max-records-per-type");
    expect(Object.keys(await heartbeats(server, "10.0.0.1"))).toHaveLength(100);
    // A host already among the 100 replaces its heartbeat in place: the RRset stays at 100.
    const before = now();
    expect((await runCli(["update"], hostEnv(server, "n7", "10.0.0.1"))).code).toBe(0);
    expect((await heartbeats(server, "10.0.0.1")).n7).toBeGreaterThanOrEqual(before);
  });

  test.each([
    [
      "a new address at a full name",
      HUNDRED_ADDRESSES,
      (read: DnsRecord[], ts: number): Change[] => [
        refresh(read, "10.0.0.1", "h1", ts),
        create(heartbeatName("10.0.0.200", D), "TXT", formatHeartbeat(ts, "h1")),
        create(D, "A", "10.0.0.200"),
      ],
      // The whole (SERVFAIL), the refresh alone (NOERROR), the new address alone (SERVFAIL).
      [2, 0, 2],
      1,
    ],
    [
      "a heartbeat at a full shared address",
      HUNDRED_SHARERS,
      (_: DnsRecord[], ts: number): Change[] => [
        create(heartbeatName("10.0.0.1", D), "TXT", formatHeartbeat(ts, "n101")),
      ],
      // One message: a SERVFAIL the read explains is not tried again.
      [2],
      0,
    ],
  ])(
    "%s: SERVFAIL at the limit is not retried, and the rest lands",
    async (_, records, changes, statuses, landed) => {
      await start({ records });
      const { provider, answers } = providerOn(server);
      const read = await provider.readDomain(D);
      const heard: Change[] = [];
      const error = await provider
        .apply(changes(read.records, now()), (part) => heard.push(...part))
        .then(
          () => undefined,
          (e: Error) => e,
        );
      expect(answers).toEqual(statuses);
      expect(heard).toHaveLength(landed);
      expect(error?.message).toContain("max-records-per-type");
      expect(error).toMatchObject({ awaitsOperator: true });
    },
  );

  test("the advice works: with max-records-per-type 0 the same pass lands", async () => {
    await start({
      records: HUNDRED_ADDRESSES,
      statements: [
        'allow-transfer { key "<key>"; };',
        "update-policy { grant <key> zonesub ANY; };",
        "max-records-per-type 0;",
      ],
    });
    const result = await runCli(["update"], hostEnv(server, "h1", "10.0.0.1,10.0.0.200"));
    expect(result.code).toBe(0);
    expect(await addresses(server)).toHaveLength(101);
  });

  test("a name the README's grant does not cover: refused with the narrow grant to add, the covered name's heartbeat refreshed", async () => {
    await start({
      records: published(D, "192.168.1.10", "web-01", 300),
      // The README's lines, one grant for INTERNAL_DOMAIN only.
      statements: [
        'allow-transfer { key "<key>"; };',
        `update-policy { grant <key> subdomain ${D}. A AAAA TXT; };`,
      ],
    });
    const stderr = await refusedAtAll(server);
    expect(stderr).toContain("(REFUSED)");
    expect(stderr).toContain(`update-policy { grant dynip-key subdomain ${ALL}. A AAAA TXT; }`);
    expect(stderr).not.toContain("zonesub");
    expect(await heartbeats(server, "192.168.1.10", ALL)).toEqual({});
  });
});

/** The refresh of `id`'s heartbeat at `ip` (at D) as read in `records`, to timestamp `ts`. */
function refresh(records: DnsRecord[], ip: string, id: string, ts: number): Change {
  const name = heartbeatName(ip, D);
  const before = records.find((r) => r.name === name && r.content.endsWith(`,${id}"`));
  if (!before) throw new Error(`no heartbeat of ${id} at ${name} was read`);
  const record = { name, type: "TXT" as const, content: formatHeartbeat(ts, id), ttl: 120 };
  return { kind: "replace", before, record, reason: "refresh" };
}

/** A new record at `name`. */
function create(name: string, type: "A" | "TXT", content: string): Change {
  return { kind: "create", record: { name, type, content, ttl: 120 }, reason: "new" };
}

describe.skipIf(knot !== undefined)(`Knot DNS${knot ? ` (skipped: ${knot})` : ""}`, () => {
  let server: KnotServer;
  const start = async (options: KnotOptions) => {
    server = await startKnot(ZONE, options);
  };
  afterEach(async () => {
    await server?.stop();
  });

  test("an ACL that may transfer but not update: BADKEY on the UPDATE is said to be the ACL, not the key", async () => {
    await start({ actions: ["transfer"] });
    const result = await runCli(["update"], hostEnv(server, "web-01", "192.168.1.10"));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `refused key "dynip-key" (BADKEY) for the UPDATE of zone ${ZONE}: the key works there (it transferred the zone), so the server's ACL denies this update`,
    );
    expect(result.stderr).toContain("`action: update`");
    expect(result.stderr).not.toContain("does not know TSIG key");
  });

  test("an ACL that may update but not transfer: BADKEY on the transfer names both causes, then the ACL once an update worked", async () => {
    await start({ actions: ["update"] });
    const result = await runCli(["update"], hostEnv(server, "web-01", "192.168.1.10"));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `does not know TSIG key "dynip-key" with hmac-sha256 (BADKEY) for the transfer of zone ${ZONE}, or does not allow it this transfer`,
    );
    expect(result.stderr).toContain("`action: transfer`");
    // In one process the key updates first: the transfer's BADKEY is the ACL.
    const { provider } = providerOn(server);
    await provider.apply([create(D, "A", "192.168.1.10")]);
    const error = await provider.readDomain(D).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).toContain(
      `refused key "dynip-key" (BADKEY) for the transfer of zone ${ZONE}: the key works there (it updated the zone), so the server's ACL denies this transfer`,
    );
    expect(error?.message).toContain("`action: transfer`");
  });

  test("a name the ACL's update-owner rules do not cover: that part is refused, the covered name's heartbeat refreshed", async () => {
    await start({ updateOwners: [D], records: published(D, "192.168.1.10", "web-01", 300) });
    const stderr = await refusedAtAll(server);
    expect(stderr).toContain("(BADKEY)");
    expect(stderr).toContain(`cover ${ALL}`);
  });
});

/**
 * A fake primary on 127.0.0.1 that answers each signed UPDATE with the next RCODE of `rcodes`
 * (the last one forever), signed with `key`, and counts the changes each message carried.
 */
async function failingServer(key: TsigKey, rcodes: number[]) {
  const sizes: number[] = [];
  const fake = await fakeServer((raw, socket) => {
    const request = decodeMessage(raw);
    sizes.push(request.authority.length);
    const rcode = rcodes[Math.min(sizes.length, rcodes.length) - 1] ?? RCODE.SERVFAIL;
    const answer = encodeMessage({
      ...header(request.id, request.opcode, rcode),
      questions: request.questions,
    });
    const mac = tsigRecord(request)?.data.mac ?? new Uint8Array(0);
    socket.end(frame(signMessage(answer, key, { requestMac: mac }).message));
  });
  return { ...fake, sizes };
}

describe("a server that fails every UPDATE (fake)", () => {
  const key: TsigKey = {
    name: "dynip-key",
    algorithm: "hmac-sha256",
    secret: Buffer.alloc(32, 1).toString("base64"),
  };
  // Two units: a refresh at 10.0.0.1, a new address 10.0.0.2 with its heartbeat.
  const changes: Change[] = [
    create(heartbeatName("10.0.0.2", D), "TXT", formatHeartbeat(now(), "h1")),
    create(D, "A", "10.0.0.2"),
    create(heartbeatName("10.0.0.1", D), "TXT", formatHeartbeat(now(), "h1")),
  ];
  // Quick retries, so the test does not wait out the real backoff.
  const provider = (port: number) => {
    const options = { timeoutMs: 2000, retries: 2, baseDelayMs: 10 };
    return providerOn({ host: "127.0.0.1", port, key }, options).provider;
  };

  test("SERVFAIL for every part: the whole is sent again after a backoff, and lands", async () => {
    // The whole and each of its two parts fail; the next whole lands.
    const fake = await failingServer(key, [RCODE.SERVFAIL, RCODE.SERVFAIL, RCODE.SERVFAIL, 0]);
    try {
      const applied = await provider(fake.port).apply(changes);
      expect(fake.sizes).toEqual([3, 2, 1, 3]);
      expect(applied.written).toHaveLength(3);
    } finally {
      await fake.close();
    }
  });

  test("SERVFAIL that lasts: the retries, then an error that awaits no one", async () => {
    const fake = await failingServer(key, [RCODE.SERVFAIL]);
    try {
      const error = await provider(fake.port)
        .apply(changes)
        .then(
          () => undefined,
          (e: Error) => e,
        );
      // Round 1 splits (3 messages), then the whole twice more (retries: 2).
      expect(fake.sizes).toEqual([3, 2, 1, 3, 3]);
      expect(error?.message).toContain("with SERVFAIL: the server could not apply it");
      expect(error).toMatchObject({ awaitsOperator: false });
    } finally {
      await fake.close();
    }
  });
});
