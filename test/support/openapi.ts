import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

/**
 * The provider's public OpenAPI (a copy in test/fixtures), as a second source of truth next to the
 * simulator: its example bodies and its schemas.
 */

type Json = Record<string, unknown>;

/** The parsed document. */
export const openapi = parse(
  readFileSync(fileURLToPath(new URL("../fixtures/fullenrich-openapi.yml", import.meta.url)), "utf8"),
) as { paths: Record<string, Record<string, Json>>; components: { schemas: Record<string, Json> } };

/** The paths fullenrich-rx calls (the document also describes search and lookup endpoints it does not use). */
export const LIBRARY_PATHS = [
  "/account/keys/verify",
  "/account/credits",
  "/contact/enrich/bulk",
  "/contact/enrich/bulk/{enrichment_id}",
  "/contact/reverse/email/bulk",
  "/contact/reverse/email/bulk/{enrichment_id}",
] as const;

/** One example response body of the document. */
export interface ResponseExample {
  path: (typeof LIBRARY_PATHS)[number];
  method: "get" | "post";
  status: number;
  name: string;
  body: Json;
}

/** Every example response body (`example`, and each of `examples`) of the paths fullenrich-rx calls. */
export function responseExamples(): ResponseExample[] {
  const found: ResponseExample[] = [];
  for (const path of LIBRARY_PATHS) {
    for (const [method, operation] of Object.entries(openapi.paths[path] ?? {})) {
      const responses = (operation.responses ?? {}) as Record<string, Json>;
      for (const [status, response] of Object.entries(responses)) {
        const media = (response.content as Record<string, Json> | undefined)?.["application/json"];
        if (media === undefined) continue;
        const base = { path, method: method as "get" | "post", status: Number(status) };
        if (media.example !== undefined)
          found.push({ ...base, name: "example", body: media.example as Json });
        for (const [name, example] of Object.entries((media.examples ?? {}) as Record<string, Json>)) {
          found.push({ ...base, name, body: example.value as Json });
        }
      }
    }
  }
  return found;
}

/** A schema of the document, `$ref`s and single-entry `allOf`s resolved at its top. */
export function schemaNamed(name: string): Json {
  const schema = openapi.components.schemas[name];
  if (schema === undefined) throw new Error(`no schema ${name} in the OpenAPI`);
  return schema;
}

/** Resolves a `$ref` (or an `allOf` of refs, merged) to the schema it points at. */
export function resolve(schema: Json): Json {
  if (typeof schema.$ref === "string")
    return resolve(schemaNamed(schema.$ref.replace("#/components/schemas/", "")));
  if (Array.isArray(schema.allOf)) {
    const parts = (schema.allOf as Json[]).map(resolve);
    const properties = Object.assign(
      {},
      ...parts.map((part) => part.properties ?? {}),
      schema.properties ?? {},
    );
    return { ...schema, type: "object", properties, allOf: undefined };
  }
  return schema;
}
