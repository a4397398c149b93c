/**
 * Warnings about variables dynip does not know but that look meant for it: a misspelling of
 * one of its own (`INTERNAL_DOMIAN`, `LOGLEVEL`), or a variable of another Cloudflare updater
 * (`CLOUDFLARE_API_TOKEN`, `DOMAINS`, `PROXIED`). Unknown variables are otherwise ignored, so
 * without a hint such a setting would silently do nothing.
 */

/** Other updaters' variables (cloudflare-ddns, ddclient-style images, oznu/cloudflare-ddns…). */
const FOREIGN: Record<string, string> = {
  CLOUDFLARE_API_TOKEN: "CF_API_TOKEN",
  CLOUDFLARE_API_TOKEN_FILE: "CF_API_TOKEN_FILE",
  CF_API_TOKEN_PATH: "CF_API_TOKEN_FILE",
  API_KEY: "CF_API_TOKEN",
  CF_API_KEY: "CF_API_TOKEN (a scoped token; global API keys are not supported)",
  CLOUDFLARE_API_KEY: "CF_API_TOKEN (a scoped token; global API keys are not supported)",
  CF_ZONE: "CF_ZONE_ID",
  ZONE: "CF_ZONE_ID (or let dynip find the zone from the domains)",
  ZONE_ID: "CF_ZONE_ID",
  CLOUDFLARE_ZONE_ID: "CF_ZONE_ID",
  DOMAINS: "INTERNAL_DOMAIN, EXTERNAL_DOMAIN, IPV6_DOMAIN or COMBINED_DOMAIN",
  DOMAIN: "INTERNAL_DOMAIN, EXTERNAL_DOMAIN, IPV6_DOMAIN or COMBINED_DOMAIN",
  SUBDOMAIN: "INTERNAL_DOMAIN, EXTERNAL_DOMAIN, IPV6_DOMAIN or COMBINED_DOMAIN (the full name)",
  RECORD_NAME: "INTERNAL_DOMAIN, EXTERNAL_DOMAIN, IPV6_DOMAIN or COMBINED_DOMAIN",
  IP4_DOMAINS: "EXTERNAL_DOMAIN",
  IP6_DOMAINS: "IPV6_DOMAIN",
  PROXIED: "CF_PROXIED",
  TTL: "RECORD_TTL",
  IP4_PROVIDER: "EXTERNAL_IPV4_SOURCE",
  IP6_PROVIDER: "EXTERNAL_IPV6_SOURCE",
  UPDATE_CRON: "UPDATE_INTERVAL (seconds)",
  INTERVAL: "UPDATE_INTERVAL",
  DELETE_ON_STOPPING: "DEREGISTER_ON_STOP",
  RRTYPE: "the domain variables (A and AAAA follow from the addresses)",
};

/**
 * Edit distance of two strings (insertions, deletions, substitutions, adjacent swaps: the
 * optimal string alignment distance), or `limit + 1` as soon as it is known to exceed `limit`.
 * Only a band of width 2 × limit + 1 around the diagonal is filled, and the work stops at the
 * first row whose every cell is past the limit: cheap enough to compare every variable of a
 * large environment at start-up.
 */
export function editDistance(a: string, b: string, limit = Math.max(a.length, b.length)): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  const far = limit + 1;
  // Rows i-2, i-1 and i of the table, as flat arrays over j = 0..b.length.
  let older = new Array<number>(b.length + 1).fill(far);
  let above = Array.from({ length: b.length + 1 }, (_, j) => (j <= limit ? j : far));
  for (let i = 1; i <= a.length; i++) {
    const row = new Array<number>(b.length + 1).fill(far);
    if (i <= limit) row[0] = i;
    let best = row[0] as number;
    for (let j = Math.max(1, i - limit); j <= Math.min(b.length, i + limit); j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(
        (above[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (above[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, (older[j - 2] as number) + 1);
      }
      row[j] = Math.min(d, far);
      best = Math.min(best, row[j] as number);
    }
    if (best > limit) return far;
    older = above;
    above = row;
  }
  return Math.min(above[b.length] as number, far);
}

/**
 * One warning per variable of `env` that dynip does not read but that looks meant for it: in
 * FOREIGN, or within two edits of one of `known` (the closest are named; equal but for case
 * is closest); only names of six characters or more are compared, so PATH, TERM or TZ never
 * are. Sorted by name. Pure.
 */
export function variableHints(
  env: Record<string, string | undefined>,
  known: readonly string[],
): string[] {
  const names = new Set(known);
  return Object.keys(env)
    .filter((name) => !names.has(name) && env[name] !== undefined)
    .sort()
    .flatMap((name) => {
      const foreign = FOREIGN[name];
      if (foreign) return [`${name} is not a dynip setting: use ${foreign}`];
      if (name.length < 6) return [];
      // The closest of those within two edits (equal but for case is closest of all). Names
      // whose lengths differ by more than two are further apart than that: not compared.
      const near = known.filter((k) => Math.abs(k.length - name.length) <= 2);
      if (near.length === 0) return [];
      const upper = name.toUpperCase();
      const distances = near.map((k) => [k, editDistance(upper, k, 2)] as const);
      const best = Math.min(...distances.map(([, d]) => d));
      const close = best <= 2 ? distances.filter(([, d]) => d === best).map(([k]) => k) : [];
      return close.length > 0
        ? [`${name} is not a dynip setting and is ignored: did you mean ${close.join(" or ")}?`]
        : [];
    });
}
