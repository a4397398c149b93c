/**
 * Secret notification URLs behind a TLS name mismatch, for the tests that prove no form of a
 * secret URL reaches the output: the error Bun gives for a certificate naming another host
 * quotes the URL as it parsed it (lower-case scheme and host, `..` resolved, a space as %20),
 * which matches none of the forms as given. Provides an HTTPS receiver with such a
 * certificate, the URLs in the forms a user may write, and a pattern for any trace of their
 * secrets.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Receiver, startReceiver } from "./receiver.ts";

/** The openssl binary that makes the certificate; tests skip without it. */
export const OPENSSL = Bun.which("openssl");

/** Any trace of the secrets in `secretUrls`, in every form a URL parser may write them. */
export const SECRETS = /SECRETUUID|KUMASECRET|WEBHOOKSECRET|WEBHOOK(%20|\+| )SECRET/;

/**
 * A Healthchecks URL, an Uptime Kuma URL and three webhook URLs for loopback `port`, each
 * with a secret and written as a user may: upper-case scheme or host, a `..` segment, a space.
 */
export function secretUrls(port: number) {
  return {
    healthchecks: `HTTPS://127.0.0.1:${port}/ping/SECRETUUID-3`,
    uptimeKuma: `https://LOCALHOST:${port}/api/push/KUMASECRET?status=up&msg=OK&ping=`,
    webhooks: [
      `https://LOCALHOST:${port}/hook?token=WEBHOOKSECRET`,
      `https://localhost:${port}/a/../hook?token=WEBHOOKSECRET2`,
      `https://localhost:${port}/hook?token=WEBHOOK SECRET3`,
    ],
  };
}

export interface MismatchedReceiver {
  receiver: Receiver;
  /** The certificate's PEM file (for NODE_EXTRA_CA_CERTS). */
  certFile: string;
  /** The certificate, PEM (for a fetch's `tls.ca`). */
  cert: string;
  /** Stops the receiver, then removes the certificate's directory. */
  stop(): Promise<void>;
}

/**
 * Starts an HTTPS receiver on loopback whose self-signed certificate names only
 * other.example, so a client that trusts the certificate still fails on the name. Throws when
 * openssl is missing or fails.
 */
export function startMismatchedReceiver(): MismatchedReceiver {
  const dir = mkdtempSync(join(tmpdir(), "dynip-tls-"));
  try {
    const [certFile, keyFile] = [join(dir, "cert.pem"), join(dir, "key.pem")];
    const made = Bun.spawnSync(
      [OPENSSL ?? "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        .concat(["-subj", "/CN=other.example", "-addext", "subjectAltName=DNS:other.example"])
        .concat(["-keyout", keyFile, "-out", certFile]),
    );
    if (made.exitCode !== 0) throw new Error(`openssl failed: ${made.stderr.toString()}`);
    const cert = readFileSync(certFile, "utf8");
    const receiver = startReceiver({ tls: { cert, key: readFileSync(keyFile, "utf8") } });
    return {
      receiver,
      certFile,
      cert,
      async stop() {
        await receiver.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
