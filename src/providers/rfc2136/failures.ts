/**
 * What the wire layer's errors mean to an operator: one DynipError each, saying what to fix in
 * the server's configuration or in RFC2136_*, and whether retrying can help.
 */
import { DynipError } from "../../errors.ts";
import { DnsNetworkError, DnsRcodeError } from "./transport.ts";
import { TsigError } from "./tsig.ts";
import { DnsEncodeError, DnsFormatError, RCODE } from "./wire.ts";

/** Where the failure happened, for the message. */
export interface FailureContext {
  /** `transfer` (AXFR) or `update`. */
  operation: "transfer" | "update";
  /** `127.0.0.1:53` */
  server: string;
  zone: string;
  keyName: string;
  algorithm: string;
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

/** True for a failure another attempt may not meet: no answer, or the server failing (SERVFAIL). */
export function isTransient(error: unknown): boolean {
  if (error instanceof DnsRcodeError) return error.rcode === RCODE.SERVFAIL;
  return error instanceof DnsNetworkError && !["too-large", "aborted"].includes(error.problem);
}

/**
 * The error the operator sees for a wire-layer error (anything else is returned as it is):
 * - TSIG refused by the server: BADKEY (key name or algorithm unknown there), BADSIG (another
 *   secret), BADTIME (the clocks differ by more than the fudge) — all await an operator;
 * - REFUSED: the server's policy; the `allow-transfer` or `update-policy` line it needs;
 * - NOTAUTH: not authoritative for RFC2136_ZONE (or not its primary); NOTZONE: a name outside;
 * - SERVFAIL, no answer, a malformed answer: the message as it came, not awaiting anyone.
 */
export function describeFailure(error: unknown, where: FailureContext): Error {
  const { operation, server, zone, keyName, algorithm } = where;
  const what =
    operation === "transfer" ? `the transfer of zone ${zone}` : `the UPDATE of zone ${zone}`;
  const fail = (message: string, operator: boolean) => new Rfc2136Error(message, operator, error);
  if (error instanceof TsigError) {
    if (error.by === "server" && error.problem === "BADKEY") {
      return fail(
        `DNS server ${server} does not know TSIG key "${keyName}" with ${algorithm} (BADKEY) for ${what}: ` +
          `RFC2136_TSIG_KEY and RFC2136_TSIG_ALGORITHM must match a key statement there: key "${keyName}" { algorithm ${algorithm}; secret "…"; };`,
        true,
      );
    }
    if (error.by === "server" && error.problem === "BADSIG") {
      return fail(
        `DNS server ${server} rejected the TSIG signature of key "${keyName}" (BADSIG) for ${what}: ` +
          "RFC2136_TSIG_SECRET is not that key's secret there (or RFC2136_TSIG_ALGORITHM differs)",
        true,
      );
    }
    if (error.problem === "BADTIME") {
      return fail(
        `clock problem: ${error.message}. TSIG allows 300 s between this host's clock and the ` +
          "server's: run NTP on both (heartbeat ages rest on these clocks too)",
        true,
      );
    }
    return fail(`DNS server ${server}, ${what}: ${error.message}`, false);
  }
  if (error instanceof DnsRcodeError) {
    if (error.rcode === RCODE.REFUSED) {
      const line =
        operation === "transfer"
          ? `allow-transfer { key "${keyName}"; };`
          : `update-policy { grant ${keyName} zonesub ANY; };`;
      return fail(
        `DNS server ${server} refused ${what} to key "${keyName}" (REFUSED): its zone statement for ${zone} needs ${line}`,
        true,
      );
    }
    if (error.rcode === RCODE.NOTAUTH) {
      return fail(
        `DNS server ${server} is not authoritative for zone ${zone} (NOTAUTH): check RFC2136_ZONE, and that RFC2136_SERVER is the zone's primary`,
        true,
      );
    }
    if (error.rcode === RCODE.NOTZONE) {
      return fail(
        `DNS server ${server} answered ${what} with NOTZONE: a name is outside zone ${zone}`,
        true,
      );
    }
    return fail(error.message, false);
  }
  if (error instanceof DnsFormatError || error instanceof DnsEncodeError) {
    return fail(`DNS server ${server}, ${what}: ${error.message}`, false);
  }
  if (error instanceof DnsNetworkError) {
    const hint = error.problem === "refused" ? " Check RFC2136_SERVER (host:port)." : "";
    return fail(`${error.message} (${what}).${hint}`, false);
  }
  return error instanceof Error ? error : new Error(String(error));
}
