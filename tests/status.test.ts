/** The human status table (src/observe/status-report.ts) from a report, without the API. */
import { describe, expect, test } from "bun:test";
import { renderReport, type StatusReport } from "../src/observe/status-report.ts";

function report(owners: string[]): StatusReport {
  return {
    instanceId: "web-01",
    thresholdSeconds: 900,
    domains: [
      {
        domain: "all.example.com",
        serverTime: "2026-01-01T00:00:00.000Z",
        clock: "cloudflare",
        addresses: [
          {
            address: "5.6.7.8",
            type: "A",
            owner: owners[0] ?? null,
            owners,
            ageSeconds: 30,
            state: "fresh",
            mine: false,
            cleanup: 0,
            skewSeconds: null,
            reason: "",
            conflict: null,
          },
        ],
      },
    ],
    detected: {
      internal: { ok: true, source: "none", addresses: [] },
      ipv4: { ok: true, source: "none", addresses: [] },
      ipv6: { ok: true, source: "none", addresses: [] },
    },
  };
}

const CLOCK = { id: "cloudflare", owner: "Cloudflare", absent: "Cloudflare sent no Date" };

const ownerCell = (owners: string[]) => {
  const row = renderReport(report(owners), CLOCK).split("\n")[2] ?? "";
  return row.split(/\s{2,}/)[3];
};

describe("status table", () => {
  test.each([
    [["web-01"], "web-01"],
    [["a", "b", "c"], "a,b,c"],
    [Array.from({ length: 12 }, (_, i) => `nat-host-${i}`), "nat-host-0,nat-host-1,nat-host-2,+9"],
    [["x".repeat(60)], `${"x".repeat(39)}…`],
  ])("OWNER of %p is %p: at most 40 characters", (owners, cell) => {
    expect(ownerCell(owners)).toBe(cell);
    expect((cell ?? "").length).toBeLessThanOrEqual(40);
  });
});
