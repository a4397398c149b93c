/**
 * The world a notification test runs the real CLI in: a fake Cloudflare API and three loopback
 * receivers standing in for Healthchecks, Uptime Kuma and a webhook, fresh for every test, and
 * the environment that points `dynip` at all of them with a secret in every URL.
 */
import { afterEach, beforeEach, expect } from "bun:test";
import { apiEnv, type FakeCloudflare, startFakeCloudflare } from "./fake-cloudflare.ts";
import { type Receiver, startReceiver } from "./receiver.ts";

export const D = "internal.example.com";
export const MINUTE = 60_000;
/** The secret part of every URL: it must never show up in any output. */
export const KEY = "secret-key-7f3a9c";

export interface NotifyTargets {
  fake: FakeCloudflare;
  /** Healthchecks: `/ping/<KEY>/{instance}?create=1`. */
  hc: Receiver;
  /** Uptime Kuma: `/api/push/<KEY>`. */
  kuma: Receiver;
  /** The webhook: `/hooks/<KEY>`. */
  hook: Receiver;
  /**
   * The environment of host `instance` publishing `ips` (comma-separated) at D with every
   * target set, NOTIFY_TIMEOUT_SECONDS 1; `extra` last, so it may override or blank any of it.
   */
  env(instance: string, ips: string, extra?: Record<string, string>): Record<string, string>;
  /**
   * The Healthchecks pings to the check of `slug` so far, as `<suffix> <body's first line>`
   * (`(success)` for the bare URL); each one's method and `create=1` checked on the way.
   */
  pings(slug: string): string[];
}

/**
 * Registers a beforeEach that starts fresh targets and an afterEach that stops them, in the
 * calling test file. The fields of the object returned are replaced before every test: read
 * them inside tests and hooks only, never when the file loads.
 */
export function notifyTargets(): NotifyTargets {
  // Filled in by the beforeEach below, before any test reads them.
  const running = {} as Pick<NotifyTargets, "fake" | "hc" | "kuma" | "hook">;
  beforeEach(async () => {
    running.fake = await startFakeCloudflare({ now: Date.now() });
    [running.hc, running.kuma, running.hook] = [startReceiver(), startReceiver(), startReceiver()];
  });
  afterEach(async () => {
    const { fake, hc, kuma, hook } = running;
    await Promise.all([fake.stop(), hc.stop(), kuma.stop(), hook.stop()]);
  });
  return Object.assign(running, {
    env: (instance: string, ips: string, extra: Record<string, string> = {}) => ({
      ...apiEnv(running.fake),
      INTERNAL_DOMAIN: D,
      INTERNAL_IP_SOURCE: `static:${ips}`,
      EXTERNAL_IPV4_SOURCE: "none",
      EXTERNAL_IPV6_SOURCE: "none",
      INSTANCE_ID: instance,
      HEALTHCHECKS_URL: `${running.hc.origin}/ping/${KEY}/{instance}?create=1`,
      UPTIMEKUMA_URL: `${running.kuma.origin}/api/push/${KEY}?status=up&msg=OK&ping=`,
      WEBHOOK_URL: `${running.hook.origin}/hooks/${KEY}`,
      NOTIFY_TIMEOUT_SECONDS: "1",
      ...extra,
    }),
    pings: (slug: string) =>
      running.hc.requests.map((r) => {
        expect(r.method).toBe("POST");
        expect(r.query.get("create")).toBe("1");
        const suffix = r.path.slice(`/ping/${KEY}/${slug}`.length) || "(success)";
        return `${suffix} ${r.body.split("\n")[0]}`.trim();
      }),
  });
}
