/**
 * A condition type's JSON Schema as the params form should show it.
 *
 * The catalog's schemas come from pydantic, which writes every optional parameter
 * as `anyOf: [<its schema>, {"type": "null"}]` with `default: null`. A form would
 * make a marketer pick "option 1" or "option 2" before typing a window; leaving
 * the parameter out already means null, so the null branch is dropped and a field
 * left empty is simply not sent. Two more spellings the form library does not read
 * are rewritten to ones it does: a tuple (`prefixItems`, JSON Schema 2020-12) as
 * draft-07's `items: [...]`, and `anyOf: [number, integer]` as one number field.
 */
import type { Json, JsonObject } from "./rule";

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNull(branch: Json): boolean {
  return isObject(branch) && branch.type === "null" && Object.keys(branch).length === 1;
}

function isNumeric(branch: Json): boolean {
  return isObject(branch) && Object.keys(branch).length === 1 && (branch.type === "number" || branch.type === "integer");
}

/** The schema as the params form reads it (see the module docstring); the input is not changed. */
export function formSchema(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(formSchema);
  if (!isObject(schema)) return schema;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) out[key] = formSchema(value);
  if (Array.isArray(out.prefixItems) && out.items === undefined) {
    out.items = out.prefixItems;
    delete out.prefixItems;
  }
  const branches = out.anyOf;
  if (!Array.isArray(branches)) return out;
  let kept = branches.filter((branch) => !isNull(branch));
  if (kept.length > 1 && kept.every(isNumeric)) kept = [{ type: "number" }];
  if (kept.length === branches.length && kept.length > 1) return out;
  delete out.anyOf;
  if (out.default === null) delete out.default;
  if (kept.length === 1 && isObject(kept[0])) return { ...kept[0], ...out };
  return { ...out, anyOf: kept };
}
