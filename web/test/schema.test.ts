import { describe, expect, it } from "vitest";

import catalog from "./fixtures/condition-types.json";
import { formSchema } from "../src/schema";
import type { Json } from "../src/rule";

function nullBranches(schema: Json): number {
  if (Array.isArray(schema)) return schema.reduce<number>((sum, item) => sum + nullBranches(item), 0);
  if (typeof schema !== "object" || schema === null) return 0;
  const own = Array.isArray(schema.anyOf) ? schema.anyOf.filter((b) => JSON.stringify(b) === '{"type":"null"}').length : 0;
  return own + Object.values(schema).reduce<number>((sum, value) => sum + nullBranches(value), 0);
}

describe("formSchema", () => {
  it("an optional parameter is its own schema, with the parent's title and description", () => {
    const optional: Json = {
      anyOf: [{ type: "string", pattern: "^\\d+d$" }, { type: "null" }],
      default: null,
      title: "Within",
      description: "window",
    };
    expect(formSchema({ type: "object", properties: { within: optional } })).toEqual({
      type: "object",
      properties: { within: { type: "string", pattern: "^\\d+d$", title: "Within", description: "window" } },
    });
  });

  it("several non-null branches stay a choice, without the null one", () => {
    const campaign: Json = { anyOf: [{ type: "string" }, { type: "array", items: { type: "string" } }, { type: "null" }], default: null };
    expect(formSchema(campaign)).toEqual({ anyOf: [{ type: "string" }, { type: "array", items: { type: "string" } }] });
  });

  it("a tuple is draft-07 items, and number-or-integer one number", () => {
    const between: Json = { type: "array", prefixItems: [{ type: "string" }, { type: "string" }], minItems: 2 };
    expect(formSchema(between)).toEqual({ type: "array", items: [{ type: "string" }, { type: "string" }], minItems: 2 });
    const gte: Json = { anyOf: [{ type: "number" }, { type: "integer" }, { type: "null" }], default: null, title: "Gte" };
    expect(formSchema(gte)).toEqual({ type: "number", title: "Gte" });
    const bounded: Json = { anyOf: [{ type: "number", minimum: 0 }, { type: "integer" }] };
    expect(formSchema(bounded)).toEqual(bounded);
  });

  it("schemas without null branches are unchanged, and the input is never modified", () => {
    const plain: Json = { type: "object", properties: { a: { anyOf: [{ type: "string" }, { type: "integer" }] } } };
    const before = JSON.stringify(plain);
    expect(formSchema(plain)).toEqual(plain);
    expect(JSON.stringify(plain)).toBe(before);
  });

  it.each(catalog.map((entry) => [entry.name, entry.schema] as const))("%s: no null branch is left", (_, schema: unknown) => {
    const form = formSchema(schema as Json);
    expect(nullBranches(form)).toBe(0);
    expect(JSON.stringify(form)).not.toContain("prefixItems");
  });

  it("the catalog has optional parameters to simplify", () => {
    expect(catalog.map((entry) => nullBranches(entry.schema as unknown as Json)).reduce((a, b) => a + b, 0)).toBeGreaterThan(20);
  });
});
