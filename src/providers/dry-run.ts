import { type Change, describeChange } from "../plan/changes.ts";
import type { Provider } from "./provider.ts";

/**
 * `--dry-run`: reads go to `inner` as they would; changes are printed (`would create A …`, in
 * the order given) and kept in `changes`, and nothing is sent. Nothing lands, so `onApplied`
 * is never called and `apply` reports nothing written or deleted. checkDeletable asks `inner`
 * (a read), so a dry run refuses what the real run would.
 */
export function createDryRun(
  inner: Provider,
  print: (line: string) => void,
): Provider & { readonly changes: readonly Change[] } {
  const changes: Change[] = [];
  return {
    name: `dry run of ${inner.name}`,
    capabilities: inner.capabilities,
    style: inner.style,
    readDomain: (domain, options) => inner.readDomain(domain, options),
    readHeartbeats: (domain, ips, known) => inner.readHeartbeats(domain, ips, known),
    checkDeletable: (domains) => inner.checkDeletable(domains),
    async apply(given) {
      for (const change of given) {
        print(`would ${describeChange(change)}`);
        changes.push(change);
      }
      return { written: [], deleted: [] };
    },
    get changes() {
      return changes;
    },
  };
}
