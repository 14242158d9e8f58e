/**
 * Drawing an explanation's trace, on real answers of the local stack's demo tenant
 * (`fixtures/explanations.json`: `POST /segments/{id}/explain/{contact}` for a
 * member and a non-member of seeded segments, a segment with a reference, a NOT,
 * a plain JsonLogic leaf and an excluded segment, manual include / exclude lists, a
 * static segment, a JsonLogic leaf that fails, a stored row behind the evaluation
 * and one that left; the two 404s).
 */
import { describe, expect, it } from "vitest";

import spec from "../../openapi.json";
import { ApiError, type ConditionType, type ErrorDetail, type Explanation } from "../src/api";
import { CONTACT_ID_PATTERN, explainProblem, idProblem, SEGMENT_ID_PATTERN, segmentTyped } from "../src/pages/Explain";
import { namesFrom, reasons, recheckText, relativeTime, type ShownNode, showTrace, storedMembership, type TraceNode } from "../src/trace";
import catalog from "./fixtures/condition-types.json";
import samples from "./fixtures/explanations.json";

const EXPLANATIONS = samples.explanations as unknown as Record<string, Explanation>;
const NAMES = namesFrom(catalog as unknown as ConditionType[], [
  { id: "engaged", name: "Engaged" },
  { id: "detractors", name: "Detractors" },
]);

function shown(sample: string): ShownNode {
  return showTrace(EXPLANATIONS[sample].trace as unknown as TraceNode, NAMES);
}

/** Every node of a drawn tree by its JSON pointer ("" is the root). */
function byPath(node: ShownNode, into = new Map<string, ShownNode>()): Map<string, ShownNode> {
  into.set(node.path, node);
  for (const child of node.children) byPath(child, into);
  return into;
}

function kinds(node: TraceNode): string[] {
  return [node.kind, ...(node.children ?? []).flatMap(kinds)];
}

describe("the rule tree of an explanation", () => {
  it("the samples hold every kind of node the engine writes", () => {
    const all = new Set(Object.values(EXPLANATIONS).flatMap((sample) => kinds(sample.trace as unknown as TraceNode)));
    expect([...all].sort()).toEqual(["and", "condition", "expression", "manual", "not", "or", "segment"]);
  });

  it("a member: every condition matched, labelled from the catalog, with the event counts it read", () => {
    const nodes = byPath(shown("engaged-member"));
    expect([...nodes.values()].map((node) => node.status)).toEqual(["matched", "matched", "matched"]);
    expect(nodes.get("")?.title).toBe("All of these (AND)");
    expect(nodes.get("/and/0")).toMatchObject({
      title: "Email action count: email opened at least 3 times in the last 30d",
      values: [{ name: "email.opened events counted", value: "5" }],
      recheckAt: "2026-12-06T00:48:29Z",
    });
  });

  it("a non-member: the failing condition is not matched and the one after it skipped, not failed", () => {
    const nodes = byPath(shown("engaged-non-member"));
    expect(nodes.get("")?.status).toBe("not-matched");
    expect(nodes.get("/and/0")).toMatchObject({ status: "not-matched", values: [{ name: "email.opened events counted", value: "0" }] });
    expect(nodes.get("/and/1")).toMatchObject({ status: "skipped", match: false });
  });

  it("everything under a short-circuited group is skipped, whatever it would say alone", () => {
    const nodes = byPath(shown("mix-member"));
    expect(nodes.get("/and/0/or/0")).toMatchObject({ status: "matched", kind: "segment", segmentId: "engaged", title: "In the segment “Engaged”" });
    for (const path of ["/and/0/or/1", "/and/0/or/1/and/0", "/and/0/or/1/and/0/!", "/and/0/or/1/and/1"]) {
      expect(nodes.get(path)?.status, path).toBe("skipped");
    }
    expect(nodes.get("/and/0/or/1/and/0/!")).toMatchObject({
      match: false,
      title: "Contact attribute: plan is 'free'",
      values: [{ name: "attributes.plan", value: "“pro”" }],
    });
    expect(nodes.get("/and/0/or/1/and/1")).toMatchObject({
      title: "JsonLogic",
      detail: '{">":[{"var":"attributes.custom.seats"},10]}',
      values: [{ name: "result", value: "true" }],
    });
  });

  it("an excluded segment is a NOT over the reference; the contact in it is not a member", () => {
    const nodes = byPath(shown("mix-excluded"));
    expect(nodes.get("/and/1")).toMatchObject({ kind: "not", title: "Not this (NOT)", status: "not-matched" });
    expect(nodes.get("/and/1/!")).toMatchObject({ status: "matched", title: "In the segment “Detractors”" });
    expect(nodes.get("/and/0")?.status).toBe("matched");
    expect(nodes.get("")?.status).toBe("not-matched");
  });

  it("manual lists and a static segment's list are one node saying so", () => {
    expect(shown("manual-included")).toMatchObject({ status: "matched", title: "Contact is included by hand", children: [] });
    expect(shown("manual-excluded")).toMatchObject({ status: "not-matched", title: "Contact is excluded by hand" });
    expect(shown("static-not-listed")).toMatchObject({ status: "not-matched", title: "Static segment: contact is not in its list" });
  });

  it("a JsonLogic leaf that fails shows its error beside its result", () => {
    expect(shown("expression-error").values).toEqual([
      { name: "result", value: "null" },
      { name: "error", value: 'Thrown: {"type":"NaN"} (in operator: +)' },
    ]);
  });

  it("the answer rests on the leaves that decided it, as the engine combined them", () => {
    const because = (sample: string) => reasons(shown(sample)).map(({ node, negated }) => [node.path, node.status, negated]);
    expect(because("engaged-member")).toEqual([
      ["/and/0", "matched", false],
      ["/and/1", "matched", false],
    ]);
    expect(because("engaged-non-member")).toEqual([["/and/0", "not-matched", false]]);
    expect(because("cold-leads-recheck")).toEqual([
      ["/or/0", "not-matched", false],
      ["/or/1", "not-matched", false],
    ]);
    expect(because("mix-member")).toEqual([
      ["/and/0/or/0", "matched", false],
      ["/and/1/!", "not-matched", true],
    ]);
    expect(because("mix-excluded")).toEqual([["/and/1/!", "matched", true]]);
    expect(because("manual-included")).toEqual([["", "matched", false]]);
  });

  it("a kind this app does not know is drawn from its description", () => {
    const node: TraceNode = { path: "", kind: "quota", match: true, recheck_at: null, description: "within the plan's quota" };
    expect(showTrace(node, NAMES)).toMatchObject({ title: "Within the plan's quota", status: "matched", values: [] });
  });

  it("a condition the catalog does not know keeps its type name", () => {
    const node: TraceNode = { path: "", kind: "condition", type: "crm_stage", params: {}, match: false, recheck_at: null, description: "stage is won" };
    expect(showTrace(node, NAMES).title).toBe("crm_stage: stage is won");
  });
});

describe("the stored membership and the next re-check", () => {
  const now = new Date("2026-11-28T22:50:00Z");

  it("agrees with the evaluation: what the row says, no warning", () => {
    expect(storedMembership(EXPLANATIONS["engaged-member"], now)).toMatchObject({
      text: expect.stringMatching(/^member since .* \(4 minutes ago\)$/),
      disagreement: null,
    });
    expect(storedMembership(EXPLANATIONS["engaged-non-member"], now)).toEqual({ text: "not a member", disagreement: null });
    expect(storedMembership(EXPLANATIONS.exited, now).text).toMatch(/^not a member: left .* \(2 minutes ago\)$/);
  });

  it("a stored row behind the evaluation is said plainly", () => {
    const { disagreement } = storedMembership(EXPLANATIONS["stale-stored-member"], now);
    expect(disagreement).toContain("The stored membership says a member, but evaluating now says not a member.");
  });

  it("re-check: none, ahead, or past", () => {
    expect(recheckText(null, now)).toBe(
      "No re-check scheduled: time alone does not change this answer, only new data or a new version of the segment.",
    );
    expect(recheckText(EXPLANATIONS["cold-leads-recheck"].recheck_at, now)).toMatch(
      /^Re-checked .* \(in 1 month\): the earliest time alone can change the answer\.$/,
    );
    expect(relativeTime("2026-12-06T00:48:29Z", now)).toBe("in 7 days");
    expect(relativeTime("2026-11-28T22:47:52Z", now)).toBe("2 minutes ago");
    expect(relativeTime("2026-11-28T22:50:00.400Z", now)).toBe("now");
    expect(relativeTime("2026-11-29T23:00:00Z", now)).toBe("in 1 day");
  });
});

describe("ids and the API's refusals in words", () => {
  const schemas = spec.components.schemas;

  it("the id patterns are the API's", () => {
    expect(SEGMENT_ID_PATTERN.source).toBe(schemas.SegmentCreate.properties.exclude_segments.items.pattern);
    expect(CONTACT_ID_PATTERN.source).toBe(schemas.SegmentCreate.properties.include_contacts.items.pattern);
  });

  it("names what is wrong before asking", () => {
    expect(idProblem("", "c1")).toBe("Choose a segment.");
    expect(idProblem("engaged", "")).toBe("Type a contact id.");
    expect(idProblem("-engaged", "c1")).toMatch(/^“-engaged” is not a segment id/);
    expect(idProblem("engaged", "c#1")).toMatch(/^“c#1” is not a contact id: .*no '#'/);
    expect(idProblem("engaged", "x".repeat(257))).toMatch(/is not a contact id/);
    expect(idProblem("engaged", "c108")).toBeNull();
  });

  it("a segment is typed by its id or by its name", () => {
    const segments = [
      { id: "engaged", name: "Engaged" },
      { id: "vip", name: "Big spenders" },
      { id: "vip_eu", name: "big spenders" },
    ];
    expect(segmentTyped(" engaged ", segments)).toBe("engaged");
    expect(segmentTyped("ENGAGED", segments)).toBe("engaged");
    expect(segmentTyped("Big spenders", segments)).toBe("Big spenders"); // two segments share the name
    expect(segmentTyped("nope", segments)).toBe("nope");
  });

  it("a 404 names the segment or the contact it did not find", () => {
    const refusal = (name: "unknown-contact" | "unknown-segment") => {
      const { status, body } = samples.errors[name];
      return new ApiError(status, body.message, body.errors as ErrorDetail[]);
    };
    expect(explainProblem(refusal("unknown-contact"), "engaged", "nobody99")).toMatch(/^No contact “nobody99” in this tenant\./);
    expect(explainProblem(refusal("unknown-segment"), "nope", "c1")).toBe("No segment “nope” in this tenant.");
    const conflict = new ApiError(409, "the stored segment no longer compiles", [
      { location: "path", path: "/segment_id", message: "unknown segment 'gone'" },
    ]);
    expect(explainProblem(conflict, "x", "c1")).toBe("the stored segment no longer compiles: unknown segment 'gone'");
  });
});
