/**
 * The notifier in-process, against loopback receivers: its bounded close, what a full queue
 * gives up, one `/log` per pass, redirects, the stop, the instance slug, and secret URLs kept
 * out of the log in every form a fetch error may quote them.
 */
import { afterEach, beforeEach, describe, expect, spyOn, test } from "bun:test";
import { makeEvent } from "../src/observe/events.ts";
import { configureLogger, redact } from "../src/observe/log.ts";
import {
  createNotifier,
  describeError,
  instanceSlug,
  MAX_QUEUED,
  makeRoom,
  type Notifier,
  type NotifierOptions,
  type QueuedMessage,
  scrubUrls,
  secretForms,
} from "../src/observe/notifier.ts";
import { type Receiver, startReceiver } from "./support/receiver.ts";
import { OPENSSL, SECRETS, secretUrls, startMismatchedReceiver } from "./support/secret-urls.ts";
import { until } from "./support/wait.ts";

const D = "internal.example.com";
const source = { command: "cleanup" as const, instance: "ops" };

let receivers: Receiver[] = [];
let stderr: string[] = [];
let spy: ReturnType<typeof spyOn>;
let notifiers: Notifier[] = [];

beforeEach(() => {
  // The warnings are the subject: at the default level, whatever a test file before set.
  configureLogger({ level: "info", format: "pretty" });
  stderr = [];
  spy = spyOn(console, "error").mockImplementation((line: unknown) => {
    stderr.push(String(line));
  });
});
afterEach(async () => {
  await Promise.all(notifiers.map((n) => n.close(0)));
  spy.mockRestore();
  await Promise.all(receivers.map((r) => r.stop()));
  [receivers, notifiers] = [[], []];
});

function receiver(): Receiver {
  const r = startReceiver();
  receivers.push(r);
  return r;
}

function notifier(options: Partial<NotifierOptions>): Notifier {
  const n = createNotifier({ webhookUrls: [], timeoutSeconds: 1, instance: "ops", ...options });
  notifiers.push(n);
  return n;
}

const gone = (i: number) =>
  makeEvent(
    "host.gone",
    {
      domain: D,
      host: `web-${i}`,
      addresses: [`10.0.${i >> 8}.${i & 255}`],
      lastHeartbeatAgeSeconds: 1000,
    },
    source,
  );

const warnings = () => stderr.filter((l) => l.includes("notification to"));
/**
 * The warnings about `r`'s target. (The logger prints a run of equal lines once, with a count,
 * when the next line comes: a line may arrive in the next test.)
 */
const warningsAbout = (r: Receiver) => warnings().filter((l) => l.includes(`:${r.port})`));

describe("close", () => {
  test("aborts what is in flight and drops what waits at its deadline, then sends nothing", async () => {
    const hook = receiver();
    hook.answer("hang");
    const n = notifier({ webhookUrls: [`${hook.origin}/hook/abc`], timeoutSeconds: 60 });
    for (let i = 0; i < 4; i++) n.event(gone(i));
    await until(() => hook.requests.length === 1);
    const started = performance.now();
    await n.close(300);
    const ms = performance.now() - started;
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(1000);
    expect(warningsAbout(hook)).toHaveLength(1);
    expect(warningsAbout(hook)[0]).toContain("out of time at exit: 4 message(s) not sent");
    n.event(gone(9));
    n.begin();
    await Bun.sleep(100);
    expect(hook.requests).toHaveLength(1);
  });

  test("one deadline for everything queued, not a timeout per message", async () => {
    const hook = receiver();
    hook.answer("hang");
    const n = notifier({ webhookUrls: [`${hook.origin}/hook/abc`], timeoutSeconds: 1 });
    for (let i = 0; i < 5; i++) n.event(gone(i));
    const started = performance.now();
    // 3 x 1 s + 1 s, as a one-shot command gives it; five messages would take 5 x 3.75 s.
    await n.close(4000);
    expect(performance.now() - started).toBeLessThan(4500);
    expect(hook.requests.length).toBeLessThanOrEqual(4);
  });

  test("a queue that drains in time: close resolves as soon as it is empty", async () => {
    const hc = receiver();
    const n = notifier({ healthchecksUrl: `${hc.origin}/ping/abc` });
    n.begin();
    n.end({ ok: true, summary: "done", durationMs: 1 });
    const started = performance.now();
    await n.close(10_000);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(hc.requests.map((r) => r.path)).toEqual(["/ping/abc/start", "/ping/abc"]);
    expect(warningsAbout(hc)).toEqual([]);
  });
});

describe("a full queue", () => {
  const msg = (kind: QueuedMessage["kind"], url: string): QueuedMessage => ({
    kind,
    method: "POST",
    url,
  });
  test.each([
    // waiting, incoming kind, dropped, waiting after (before the push)
    [["s1", "l1", "s2", "l2"], "status", "log", ["s1", "s2", "l2"]],
    [["s1", "l1", "s2", "l2"], "log", "log", ["s1", "s2", "l2"]],
    [["s1", "s2", "s3"], "status", "status", ["s2", "s3"]],
    [["s1", "s2", "s3"], "log", undefined, ["s1", "s2", "s3"]],
    [["l1", "l2"], "log", "log", ["l2"]],
  ] as const)("%p + a %s message: drops the oldest %p", (waiting, kind, dropped, after) => {
    const queue = waiting.map((u) => msg(u.startsWith("s") ? "status" : "log", u));
    expect(makeRoom(queue, kind)).toBe(dropped);
    expect(queue.map((m) => m.url)).toEqual([...after]);
  });

  test("keeps the newest status pings of a target that hung, and warns of the drops", async () => {
    const hc = receiver();
    hc.answer("hang");
    const n = notifier({ healthchecksUrl: `${hc.origin}/ping/abc`, timeoutSeconds: 60 });
    const passes = MAX_QUEUED; // 2 pings each: half of them cannot wait
    for (let i = 1; i <= passes; i++) {
      n.begin();
      n.end({ ok: true, summary: `pass ${i}`, durationMs: 1 });
    }
    await until(() => hc.requests.length === 1);
    hc.answer(200);
    hc.release();
    await n.close(30_000);
    expect(hc.requests).toHaveLength(MAX_QUEUED + 1);
    expect(hc.requests.at(-1)?.body).toBe(`pass ${passes}`);
    expect(hc.requests.at(-1)?.path).toBe("/ping/abc");
    const dropped = warningsAbout(hc).filter((l) => l.includes("messages waiting"));
    expect(dropped.length).toBeGreaterThanOrEqual(1);
    expect(dropped[0]).toContain("dropped the oldest status message");
  }, 60_000);
});

describe("one /log per pass", () => {
  test("a cleanup that deletes 150 hosts: start, one /log, success; every event to the webhook", async () => {
    const [hc, hook] = [receiver(), receiver()];
    const n = notifier({
      healthchecksUrl: `${hc.origin}/ping/abc`,
      webhookUrls: [`${hook.origin}/hook/abc`],
    });
    n.begin();
    for (let i = 0; i < 150; i++) n.event(gone(i));
    n.end({ ok: true, summary: "cycle done: 300 record(s) deleted", durationMs: 5 });
    await n.close(30_000);
    expect(hc.requests.map((r) => r.path)).toEqual([
      "/ping/abc/start",
      "/ping/abc/log",
      "/ping/abc",
    ]);
    const lines = hc.requests[1]?.body.split("\n") ?? [];
    expect(lines).toHaveLength(51);
    expect(lines[0]).toBe(gone(0).text);
    expect(lines.at(-1)).toBe("and 100 more event(s)");
    expect(hc.requests[2]?.body).toBe("cycle done: 300 record(s) deleted");
    expect(hook.requests).toHaveLength(150);
    expect([...warningsAbout(hc), ...warningsAbout(hook)]).toEqual([]);
  });

  test("a failure event goes to the webhook only; /fail carries it", async () => {
    const [hc, hook] = [receiver(), receiver()];
    const n = notifier({
      healthchecksUrl: `${hc.origin}/ping/abc`,
      webhookUrls: [`${hook.origin}/hook/abc`],
    });
    n.begin();
    n.event(makeEvent("cycle.failed", { error: "boom", deleted: 0 }, source));
    n.end({ ok: false, error: "boom", durationMs: 5 });
    await n.close(5000);
    expect(hc.requests.map((r) => r.path)).toEqual(["/ping/abc/start", "/ping/abc/fail"]);
    expect(hook.requests).toHaveLength(1);
  });
});

describe("the stop", () => {
  test("a /log line, neither success nor failure; no exit-status ping", async () => {
    const hc = receiver();
    const n = notifier({ healthchecksUrl: `${hc.origin}/ping/abc` });
    n.stopped("dynip update on web-01 stopped");
    await n.close(5000);
    expect(hc.requests.map((r) => [r.path, r.body])).toEqual([
      ["/ping/abc/log", "dynip update on web-01 stopped"],
    ]);
  });
});

describe("redirects", () => {
  test("a 3xx is a failure naming where it leads, by scheme and host only; not retried", async () => {
    const hc = receiver();
    hc.answer(301, { Location: "https://hc.example.com/ping/REDIRECTSECRET/web-01" });
    const n = notifier({ healthchecksUrl: `${hc.origin}/ping/PINGSECRET/web-01` });
    n.begin();
    await n.close(5000);
    expect(hc.requests).toHaveLength(1);
    expect(warningsAbout(hc)).toHaveLength(1);
    expect(warningsAbout(hc)[0]).toContain(
      "HTTP 301: redirects to https://hc.example.com/…, which is not followed",
    );
    expect(stderr.join("\n")).not.toMatch(/REDIRECTSECRET|PINGSECRET/);
  });
});

describe("{instance}", () => {
  test.each([
    ["web-01", "web-01"],
    ["Web_01", "web_01"],
    ["ip-10-0-1-23.ec2.internal", "ip-10-0-1-23-ec2-internal"],
    ["NODE-A.Example.COM", "node-a-example-com"],
    ["host:8080/x", "host-8080-x"],
    ["a+b@c~d%e{f}", "a-b-c-d-e-f-"],
    ["..", "--"],
  ])("%p becomes the Healthchecks slug %p", (instance, slug) => {
    expect(instanceSlug(instance)).toBe(slug);
    expect(slug).toMatch(/^[a-z0-9_-]+$/);
  });

  test("in every URL, as that slug", async () => {
    const [hc, hook] = [receiver(), receiver()];
    const n = notifier({
      instance: "ip-10-0-1-23.EC2.internal",
      healthchecksUrl: `${hc.origin}/ping/key/dynip-{instance}?create=1`,
      webhookUrls: [`${hook.origin}/hook/{instance}`],
    });
    n.begin();
    n.event(gone(1));
    await n.close(5000);
    expect(hc.requests[0]?.path).toBe("/ping/key/dynip-ip-10-0-1-23-ec2-internal/start");
    expect(hook.requests[0]?.path).toBe("/hook/ip-10-0-1-23-ec2-internal");
  });
});

describe("secret URLs", () => {
  test.each([
    [
      "https://LOCALHOST:1/hook?token=WEBHOOKSECRET",
      "https://localhost:1/hook?token=WEBHOOKSECRET",
    ],
    ["HTTPS://h.example/ping/SECRETUUID-3", "https://h.example/ping/SECRETUUID-3"],
    [
      "https://h.example/a/../hook?token=WEBHOOKSECRET2",
      "https://h.example/hook?token=WEBHOOKSECRET2",
    ],
    [
      "https://h.example/hook?token=WEBHOOK SECRET3",
      "https://h.example/hook?token=WEBHOOK%20SECRET3",
    ],
    ["https://h.example/hook?token=WEBHOOK SECRET3", "?token=WEBHOOK+SECRET3"],
    ["https://h.example/ping/k/dynip-{instance}", "https://h.example/ping/k/dynip-%7Binstance%7D"],
  ])("%p is registered in its parsed form %p too", (raw, quoted) => {
    expect(secretForms(raw, raw)).toContain(quoted);
  });

  test("short parts are not registered alone", () => {
    expect(secretForms("https://h.example/a?b=1", "https://h.example/a?b=1")).not.toContain("/a");
    expect(secretForms("https://h.example/", "https://h.example/")).not.toContain("/");
  });

  test.each([
    [
      'ERR_TLS_CERT_ALTNAME_INVALID fetching "https://localhost:1/hook?token=X". For more information, pass `verbose: true` in the second argument to fetch()',
      'ERR_TLS_CERT_ALTNAME_INVALID fetching "<url>"',
    ],
    ["connect to HTTP://Host.Example:8443/a b failed", "connect to <url> b failed"],
    ["refused: localhost:8080/hook?token=X", "refused: localhost:8080/…"],
    ["ECONNREFUSED: Unable to connect", "ECONNREFUSED: Unable to connect"],
  ])("an error's text is scrubbed of URLs: %p", (message, said) => {
    expect(describeError(new TypeError(message))).toBe(said);
    expect(scrubUrls(message)).not.toMatch(/token=|\/hook|\/a\b/);
  });

  // A TLS name mismatch (support/secret-urls.ts): the error quotes the URL as Bun parsed it.
  test.skipIf(!OPENSSL)(
    `a TLS failure's error quotes no URL in any form${OPENSSL ? "" : " (skipped: no openssl)"}`,
    async () => {
      const tls = startMismatchedReceiver();
      try {
        const p = tls.receiver.port;
        const urls = secretUrls(p);
        const trusting: typeof fetch = Object.assign(
          (url: string | URL | Request, init?: RequestInit) =>
            fetch(url, { ...init, tls: { ca: tls.cert } } as RequestInit),
          { preconnect: fetch.preconnect },
        );
        const n = notifier({
          fetch: trusting,
          retries: 0,
          healthchecksUrl: urls.healthchecks,
          uptimeKumaUrl: urls.uptimeKuma,
          webhookUrls: urls.webhooks,
        });
        n.begin();
        n.event(gone(1));
        n.end({ ok: true, summary: "done", durationMs: 1 });
        await n.close(10_000);
        const said = stderr.join("\n");
        expect(warningsAbout(tls.receiver)).toHaveLength(5);
        expect(said).toContain("ERR_TLS_CERT_ALTNAME_INVALID");
        expect(said).not.toMatch(SECRETS);
        // The parsed forms are registered too, for any other line that might quote them.
        expect(redact(`https://localhost:${p}/hook?token=WEBHOOK%20SECRET3`)).not.toContain(
          "SECRET",
        );
        expect(redact(`https://127.0.0.1:${p}/ping/SECRETUUID-3/start`)).not.toContain("SECRET");
      } finally {
        await tls.stop();
      }
    },
    30_000,
  );
});
