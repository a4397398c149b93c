/** Which Cloudflare zone holds each managed domain, and whether a domain is its zone's apex. */
import { apexRefusal } from "../../config/fields.ts";
import { DynipError } from "../../errors.ts";
import { log } from "../../observe/log.ts";
import { CloudflareApiError, isAuthFailure } from "./api-errors.ts";
import type { CloudflareClient } from "./client.ts";

export interface ZoneOptions {
  /** CF_ZONE_ID: every managed domain is in this zone, and no lookup is made. */
  zoneId?: string;
  /** ALLOW_ZONE_APEX */
  allowApex: boolean;
}

export interface Zones {
  /**
   * The id of the zone holding `domain`: CF_ZONE_ID, or the client's lookup (longest suffix
   * first, remembered). Throws a DynipError (exit 2) for a domain found to be its zone's apex
   * without ALLOW_ZONE_APEX: its hand-made records would be cleanup's to delete.
   */
  zoneOf(domain: string): Promise<string>;
  /**
   * Before cleanup's first deletion in a zone known only by CF_ZONE_ID, where no lookup saw
   * whether a managed name is the zone's apex: asks the zone's name once (`GET /zones/{id}`). A
   * token that may not read it is said once, and cleanup goes on. Throws a DynipError (exit 2)
   * for an apex without ALLOW_ZONE_APEX.
   */
  checkApex(domains: readonly string[]): Promise<void>;
}

/** Zones of the managed domains for one process; lookups are remembered by the client. */
export function createZones(client: CloudflareClient, options: ZoneOptions): Zones {
  const checked = new Set<string>();
  return {
    async zoneOf(domain) {
      if (options.zoneId) return options.zoneId;
      const zone = await client.findZone(domain);
      if (!options.allowApex && zone.name === domain.toLowerCase()) {
        throw new DynipError(apexRefusal(domain, "is the apex of its Cloudflare zone"), 2);
      }
      return zone.id;
    },

    async checkApex(domains) {
      const zoneId = options.zoneId;
      if (zoneId === undefined || options.allowApex || checked.has(zoneId)) return;
      let name: string;
      try {
        name = await client.zoneName(zoneId);
      } catch (error) {
        const refused = error instanceof CloudflareApiError && error.status === 403;
        if (!isAuthFailure(error) && !refused) throw error;
        checked.add(zoneId);
        log.warn(
          "cannot read the name of zone CF_ZONE_ID (the token lacks Zone → Zone → Read), so a " +
            "managed name at the zone's apex would go unnoticed; give it that permission",
        );
        return;
      }
      checked.add(zoneId);
      const apex = domains.find((d) => d.toLowerCase() === name);
      if (apex) throw new DynipError(apexRefusal(apex, "is the apex of zone CF_ZONE_ID"), 2);
    },
  };
}
