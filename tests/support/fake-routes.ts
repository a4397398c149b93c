import type { CloudflareErrorDetail } from "../../src/providers/cloudflare/api-errors.ts";
import { dnsValidationError, errors } from "./fake-errors.ts";
import { filterRecords, paginate, sortRecords } from "./fake-list.ts";
import {
  type BatchLists,
  createRecord,
  deleteRecord,
  getRecord,
  patchRecord,
  putRecord,
  runBatch,
  type ZoneStore,
} from "./fake-records.ts";
import type { SchemaValidator } from "./fake-schema.ts";

/** Authentication and routing of the fake API; answers are success envelopes, failures throw. */

export interface RouteContext {
  token: string;
  tokenId: string;
  zones: { id: string; name: string }[];
  stores: Map<string, ZoneStore>;
  validator: SchemaValidator;
  /** When the zones were created (the fake's start). */
  created: string;
  /** The fake clock as ISO 8601. */
  now: () => string;
  maxBatchOperations: number;
  maxRecords: number;
  violation: (text: string) => void;
}

export interface RoutedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
}

type Body = Record<string, unknown>;

const RECORD_ID = /^[0-9a-f]{32}$/;

export function envelope(
  success: boolean,
  result: unknown,
  errors: CloudflareErrorDetail[],
  extra: object = {},
) {
  return { success, errors, messages: [], result, ...extra };
}

function authenticate(header: string | undefined, token: string): void {
  if (header === undefined) throw errors.missingAuth();
  const bearer = /^Bearer ([A-Za-z0-9_-]+)$/.exec(header);
  if (!bearer) throw errors.malformedAuth();
  if (bearer[1] !== token) throw errors.invalidToken();
}

export function route(
  context: RouteContext,
  request: RoutedRequest,
  raw: string,
  headers: { authorization?: string; "content-type"?: string },
): unknown {
  authenticate(headers.authorization, context.token);
  const { method, path } = request;
  const [first, zoneId, collection, recordId, ...rest] = path.split("/").slice(1);
  if (path === "/user/tokens/verify") {
    return operation(context, request, "/user/tokens/verify", ["GET"], () => ({
      ...envelope(true, { id: context.tokenId, status: "active" }, []),
      messages: [{ code: 10000, message: "This API Token is valid and active" }],
    }));
  }
  if (first !== "zones" || rest.length > 0) throw errors.unknownPath();
  if (zoneId === undefined) {
    return operation(context, request, "/zones", ["GET"], () => listZones(context, request.query));
  }
  const zone = context.zones.find((z) => z.id === zoneId);
  const store = context.stores.get(zoneId);
  if (!zone || !store) throw errors.noRoute(path);
  if (collection === undefined) {
    return operation(context, request, "/zones/{zone_id}", ["GET"], () =>
      envelope(true, zoneResult(context, zone), []),
    );
  }
  if (collection !== "dns_records") throw errors.unknownPath();
  const write = { now: context.now(), maxRecords: context.maxRecords };
  const body = () =>
    jsonBody(context, request, raw, headers["content-type"], recordTemplate(recordId));
  if (recordId === undefined) {
    return operation(context, request, "/zones/{zone_id}/dns_records", ["GET", "POST"], () =>
      method === "GET"
        ? listRecords(store, request.query)
        : envelope(true, createRecord(store, body(), write), []),
    );
  }
  if (recordId === "batch") {
    return operation(context, request, "/zones/{zone_id}/dns_records/batch", ["POST"], () => {
      const options = { ...write, maxOperations: context.maxBatchOperations };
      return envelope(true, runBatch(store, body() as Partial<BatchLists<Body>>, options), []);
    });
  }
  if (!RECORD_ID.test(recordId)) throw errors.noRoute(path);
  const template = "/zones/{zone_id}/dns_records/{dns_record_id}";
  return operation(context, request, template, ["GET", "PATCH", "PUT", "DELETE"], () => {
    if (method === "GET") return envelope(true, getRecord(store, recordId), []);
    if (method === "DELETE") return envelope(true, { id: deleteRecord(store, recordId).id }, []);
    const update = method === "PATCH" ? patchRecord : putRecord;
    return envelope(true, update(store, recordId, body(), write), []);
  });
}

function recordTemplate(recordId: string | undefined): string {
  if (recordId === undefined) return "/zones/{zone_id}/dns_records";
  if (recordId === "batch") return "/zones/{zone_id}/dns_records/batch";
  return "/zones/{zone_id}/dns_records/{dns_record_id}";
}

/** Check the method and the query against the operation's schema, then run it. */
function operation(
  context: RouteContext,
  request: RoutedRequest,
  template: string,
  methods: string[],
  run: () => unknown,
): unknown {
  if (!methods.includes(request.method)) throw errors.methodNotAllowed();
  const problem = context.validator.query(template, request.method, request.query);
  if (problem) {
    context.violation(`${request.method} ${request.path}: ${problem}`);
    throw dnsValidationError(problem);
  }
  return run();
}

/** The JSON body, checked against the operation's request schema. */
function jsonBody(
  context: RouteContext,
  request: RoutedRequest,
  raw: string,
  contentType: string | undefined,
  template: string,
): Body {
  if (!contentType?.toLowerCase().startsWith("application/json")) throw errors.contentType();
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    context.violation(`${request.method} ${request.path}: body is not JSON`);
    throw errors.invalidBody();
  }
  const problem = context.validator.body(template, request.method, body);
  if (problem) {
    context.violation(`${request.method} ${request.path}: ${problem}`);
    throw dnsValidationError(problem);
  }
  return body as Body;
}

/**
 * Counted afresh on every request, like the live API's offset paging: a zone that changes
 * between two page requests shifts records across pages and changes `total_count`.
 */
function listRecords(store: ZoneStore, query: URLSearchParams) {
  const selection = new URLSearchParams(query);
  selection.delete("page");
  selection.delete("per_page");
  selection.sort();
  const records = store.listing(selection.toString(), (all) =>
    sortRecords(filterRecords(all, query), query),
  );
  const { result, result_info } = paginate(records, query, 100);
  return envelope(true, result, [], { result_info });
}

function listZones(context: RouteContext, query: URLSearchParams) {
  const name = query.get("name")?.toLowerCase();
  const zones = context.zones.filter((z) => name === undefined || z.name.toLowerCase() === name);
  const { result, result_info } = paginate(zones, query, 20);
  return envelope(
    true,
    result.map((z) => zoneResult(context, z)),
    [],
    { result_info },
  );
}

function zoneResult(context: RouteContext, zone: { id: string; name: string }) {
  const account = { id: context.tokenId, name: "Fake account" };
  return {
    id: zone.id,
    name: zone.name,
    status: "active",
    paused: false,
    type: "full",
    development_mode: 0,
    name_servers: ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
    original_name_servers: null,
    original_registrar: null,
    original_dnshost: null,
    created_on: context.created,
    modified_on: context.created,
    activated_on: context.created,
    meta: { step: 2, custom_certificate_quota: 0, page_rule_quota: 3, phishing_detected: false },
    owner: { ...account, type: "user" },
    account,
    permissions: ["#dns_records:edit", "#dns_records:read", "#zone:read"],
    plan: {
      id: "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
      name: "Free Website",
      price: 0,
      currency: "USD",
    },
  };
}
