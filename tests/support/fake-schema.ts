import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";

/**
 * Request validation against Cloudflare's published OpenAPI 3.0 schema, so that a request the
 * real API might take but the schema forbids (a PATCH without `ttl`, say) fails in tests.
 */

const FIXTURE = new URL("../fixtures/cloudflare-dns.openapi.json", import.meta.url);
const COMPONENTS = "cf";

interface Parameter {
  name: string;
  in: string;
  schema?: unknown;
  $ref?: string;
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: { $ref?: string } }> };
}
interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; parameters: Record<string, Parameter> };
}

export interface SchemaValidator {
  /** Why the body of `method path` breaks the schema, or undefined when it is valid. */
  body(pathTemplate: string, method: string, body: unknown): string | undefined;
  /** Why the query of `method path` breaks the schema of its parameters, or undefined. */
  query(pathTemplate: string, method: string, query: URLSearchParams): string | undefined;
}

let cached: Promise<SchemaValidator> | undefined;

/** One validator per process: compiling the schema is the slow part, and it never changes. */
export function loadSchemaValidator(): Promise<SchemaValidator> {
  cached ??= Bun.file(FIXTURE)
    .json()
    .then((doc: OpenApiDocument) => createValidator(doc));
  return cached;
}

function newAjv(coerceTypes: boolean, doc: OpenApiDocument): Ajv {
  // OpenAPI's `discriminator` sits on anyOf here, which Ajv's discriminator support refuses;
  // record types are told apart by their `type` enums anyway.
  const ajv = new Ajv({ strict: false, allErrors: true, coerceTypes });
  addFormats(ajv);
  ajv.addSchema({ components: doc.components }, COMPONENTS);
  return ajv;
}

/** Point `#/components/...` references at the registered components document. */
function rebase(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(rebase);
  if (schema === null || typeof schema !== "object") return schema;
  return Object.fromEntries(
    Object.entries(schema).map(([key, value]) => [
      key,
      key === "$ref" && typeof value === "string" && value.startsWith("#/")
        ? `${COMPONENTS}${value}`
        : rebase(value),
    ]),
  );
}

function createValidator(doc: OpenApiDocument): SchemaValidator {
  const bodies = newAjv(false, doc);
  const queries = newAjv(true, doc);
  const recordTypes = Object.keys(doc.components.schemas)
    .map((name) => /^dns-records_([A-Z]+)Record$/.exec(name)?.[1])
    .filter((type): type is string => type !== undefined);
  const compiled = new Map<string, ValidateFunction>();
  const compile = (ajv: Ajv, key: string, schema: () => unknown) => {
    let validate = compiled.get(key);
    if (!validate) {
      validate = ajv.compile(rebase(schema()) as object);
      compiled.set(key, validate);
    }
    return validate;
  };
  const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

  const operation = (pathTemplate: string, method: string): Operation => {
    const found = doc.paths[pathTemplate]?.[method.toLowerCase()];
    if (!found) throw new Error(`no operation ${method} ${pathTemplate} in the OpenAPI schema`);
    return found;
  };

  /** Explain one record body the way a discriminator would: by the schema of its own type. */
  const explainRecord = (item: unknown, withId: boolean, errors: ErrorObject[]): string => {
    const type = (item as { type?: unknown } | null)?.type;
    if (typeof type !== "string") return describe(errors);
    if (!recordTypes.includes(type)) return `type must be one of ${recordTypes.join(", ")}`;
    const validate = compile(bodies, `record:${type}:${withId}`, () => ({
      allOf: [ref(`dns-records_${type}Record`)],
      ...(withId ? { required: ["id"], properties: { id: ref("dns-records_identifier") } } : {}),
    }));
    return validate(item) ? describe(errors) : describe(validate.errors ?? []);
  };

  const explainBatch = (body: unknown, errors: ErrorObject[]): string => {
    const lists = { deletes: "delete", patches: "patch", puts: "put", posts: "post" } as const;
    for (const [list, kind] of Object.entries(lists)) {
      const items = (body as Record<string, unknown> | null)?.[list];
      if (!Array.isArray(items)) continue;
      const validate = compile(bodies, `batch:${kind}`, () =>
        ref(`dns-records_dns-record-batch-${kind}`),
      );
      for (const [index, item] of items.entries()) {
        if (validate(item)) continue;
        const why =
          kind === "delete"
            ? describe(validate.errors ?? [])
            : explainRecord(item, kind !== "post", validate.errors ?? []);
        return `${list}[${index}]: ${why}`;
      }
    }
    return describe(errors);
  };

  return {
    body(pathTemplate, method, body) {
      const schema = operation(pathTemplate, method).requestBody?.content["application/json"]
        ?.schema;
      if (!schema) return undefined;
      const validate = compile(bodies, `body:${method}:${pathTemplate}`, () => schema);
      if (validate(body)) return undefined;
      const errors = validate.errors ?? [];
      return pathTemplate.endsWith("/batch")
        ? explainBatch(body, errors)
        : explainRecord(body, false, errors);
    },
    query(pathTemplate, method, query) {
      const parameters = (operation(pathTemplate, method).parameters ?? [])
        .map((p) => (p.$ref ? doc.components.parameters[p.$ref.split("/").pop() ?? ""] : p))
        .filter((p): p is Parameter => p?.in === "query");
      const validate = compile(queries, `query:${method}:${pathTemplate}`, () => ({
        type: "object",
        properties: Object.fromEntries(parameters.map((p) => [p.name, p.schema ?? {}])),
      }));
      const values: Record<string, unknown> = {};
      for (const p of parameters) {
        const value = query.get(p.name);
        if (value === null) continue;
        // `style: form, explode: false` arrays arrive comma-separated.
        values[p.name] =
          (p.schema as { type?: string }).type === "array" ? value.split(",") : value;
      }
      return validate(values) ? undefined : describe(validate.errors ?? [], "query parameter ");
    },
  };
}

/** Ajv errors as one readable line, without the noise of anyOf branches. */
function describe(errors: ErrorObject[], prefix = ""): string {
  const lines = errors
    .filter((e) => e.keyword !== "anyOf" && e.keyword !== "allOf")
    .map((e) => {
      const where = e.instancePath.slice(1).replaceAll("/", ".");
      const allowed =
        e.keyword === "enum" ? ` (${(e.params.allowedValues as unknown[]).join(", ")})` : "";
      return `${where ? `${prefix}${where} ` : ""}${e.message ?? e.keyword}${allowed}`;
    });
  return [...new Set(lines)].join("; ") || "does not match the schema";
}
