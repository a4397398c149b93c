/**
 * TSIG keys as configuration gives them (RFC 8945): the algorithms dynip accepts and what a
 * secret must look like. Shared by the configuration schema and the RFC 2136 signer.
 */

/**
 * The TSIG algorithms dynip accepts (RFC 8945 §6), the ones BIND's `tsig-keygen -a` offers,
 * the default first.
 */
export const TSIG_ALGORITHMS = [
  "hmac-sha256",
  "hmac-sha512",
  "hmac-sha384",
  "hmac-sha224",
  "hmac-sha1",
] as const;

export type TsigAlgorithm = (typeof TSIG_ALGORITHMS)[number];

/** A TSIG key as named.conf's `key "<name>" { algorithm …; secret "…"; };` holds it. */
export interface TsigKey {
  /** Key name, such as `dynip-key`. */
  name: string;
  algorithm: TsigAlgorithm;
  /** The secret in base64, as `tsig-keygen` prints it. */
  secret: string;
}

/**
 * The bytes of a base64 secret (standard alphabet, padding optional, whitespace ignored), or
 * undefined when it is not base64 or empty. Never throws, and never echoes the secret.
 */
export function secretBytes(secret: string): Buffer | undefined {
  const compact = secret.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) return undefined;
  if (compact.replace(/=+$/, "").length % 4 === 1) return undefined;
  return Buffer.from(compact, "base64");
}
