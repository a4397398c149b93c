/**
 * The TSIG algorithms dynip accepts (RFC 8945 §6), the ones BIND's `tsig-keygen -a` offers,
 * strongest default first: what RFC2136_TSIG_ALGORITHM may say and what the signer implements.
 */
export const TSIG_ALGORITHMS = [
  "hmac-sha256",
  "hmac-sha512",
  "hmac-sha384",
  "hmac-sha224",
  "hmac-sha1",
] as const;

export type TsigAlgorithm = (typeof TSIG_ALGORITHMS)[number];
