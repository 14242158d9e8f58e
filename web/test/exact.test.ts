import { describe, expect, it } from "vitest";

import { ApiError, type Impact, type RuleCount } from "../src/api";
import { asOf, exactNote, explainHref, impactSizes, impactSummary, missingExactNote, moreThanListed, showsExact, unavailableReason } from "../src/pages/exactSize";

const now = new Date("2026-11-22T12:00:00Z");

function count(fields: Partial<RuleCount> = {}): RuleCount {
  return { count: 1234, path: "sql", as_of: "2026-11-22T11:57:00Z", evaluated_at: "2026-11-22T12:00:00Z", ...fields } as RuleCount;
}

function impact(fields: Partial<Impact> = {}): Impact {
  return {
    segment_id: "pro",
    version: 3,
    members: 120,
    after: 129,
    would_enter: 12,
    would_exit: 3,
    enter_examples: ["c1"],
    exit_examples: ["c2"],
    path: "sql",
    as_of: "2026-11-22T11:57:00Z",
    evaluated_at: "2026-11-22T12:00:00Z",
    ...fields,
  } as Impact;
}

describe("exact answers", () => {
  it("say they are exact and as of when, relative to now", () => {
    expect(exactNote(count(), now)).toMatch(/^exact, as of .+ \(3 minutes ago\)$/);
    expect(asOf(null, now)).toBe("as of an unknown time");
  });

  it("say when the per-contact path computed them", () => {
    expect(exactNote(count({ path: "per-contact" }), now)).toMatch(/, evaluated contact by contact$/);
  });

  it("headline the panel only when answered and the rule is not refused", () => {
    const ready = { kind: "ready" as const, count: count() };
    expect(showsExact(ready, "ready")).toBe(true);
    expect(showsExact(ready, "loading")).toBe(true); // the estimate is still on its way: the exact count is better
    expect(showsExact(ready, "invalid")).toBe(false); // the rule's errors are shown on its nodes instead
    expect(showsExact({ kind: "none" }, "ready")).toBe(false);
    expect(showsExact({ kind: "unavailable", reason: "no copy" }, "ready")).toBe(false);
  });

  it("are said to be missing only when the estimate is not exact itself", () => {
    const refused = { kind: "unavailable" as const, reason: "the copy is being rebuilt" };
    expect(missingExactNote(refused, false)).toBe("no exact count: the copy is being rebuilt");
    expect(missingExactNote(refused, true)).toBeNull(); // a small tenant read whole: nothing is missing
    expect(missingExactNote({ kind: "none" }, false)).toBeNull();
  });

  it("explain their absence in the API's own words", () => {
    const noCopy = new ApiError(409, "no analytical copy", [{ location: "request", path: "", message: "this tenant has no analytical copy yet" }]);
    expect(unavailableReason(noCopy)).toBe("this tenant has no analytical copy yet");
    expect(unavailableReason(new ApiError(502, "bad gateway", []))).toBe("bad gateway");
    expect(unavailableReason(new TypeError("Failed to fetch"))).toBe("Failed to fetch");
  });
});

describe("the impact of an edit", () => {
  it("is who would enter and exit, between two sizes", () => {
    expect(impactSummary(impact())).toBe("12 would enter, 3 would exit");
    expect(impactSizes(impact())).toBe("120 members now, 129 after saving");
    expect(impactSizes(impact({ members: 1, after: 0 }))).toBe("1 member now, 0 after saving");
    expect(impactSummary(impact({ would_enter: 12345, would_exit: 0 }))).toBe("12,345 would enter, 0 would exit");
  });

  it("says how many examples were left out", () => {
    expect(moreThanListed(12, 10)).toBe("and 2 more");
    expect(moreThanListed(3, 3)).toBeNull();
  });

  it("links each example to explain, ids encoded", () => {
    expect(explainHref("pro", "c1")).toBe("/explain/pro/c1");
    expect(explainHref("a:b", "x/y z")).toBe("/explain/a%3Ab/x%2Fy%20z");
  });
});
