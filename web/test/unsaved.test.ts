import { describe, expect, it } from "vitest";

import { type DraftFields, draftKey, justSaved } from "../src/unsaved";

const FIELDS: DraftFields = {
  id: "vip",
  name: "VIPs",
  description: "",
  type: "shared",
  rule: { tag: { tags: ["vip"] } },
  includeText: "c1\nc2",
  excludeText: "",
  excludeSegments: ["a", "b"],
};

describe("draftKey: an edit is what a save would send differently", () => {
  it("is the same for the same segment written differently", () => {
    const same = { ...FIELDS, id: " vip ", includeText: "c1, c2\n\n", excludeSegments: ["b", "a"] };
    expect(draftKey(same)).toBe(draftKey(FIELDS));
  });

  it("changes with every field a save sends", () => {
    const edits: Partial<DraftFields>[] = [
      { id: "vips" },
      { name: "VIP" },
      { description: "the best" },
      { type: "pinned" },
      { rule: { tag: { tags: ["vip", "gold"] } } },
      { rule: null },
      { includeText: "c1" },
      { excludeText: "c3" },
      { excludeSegments: ["a"] },
    ];
    for (const edit of edits) expect(draftKey({ ...FIELDS, ...edit }), JSON.stringify(edit)).not.toBe(draftKey(FIELDS));
  });

  it("ignores what a static segment does not send", () => {
    const fixed = { ...FIELDS, type: "static" };
    expect(draftKey({ ...fixed, rule: null, excludeText: "c9", excludeSegments: [] })).toBe(draftKey(fixed));
    expect(draftKey({ ...fixed, includeText: "c1" })).not.toBe(draftKey(fixed));
  });
});

describe("justSaved: the notice of a save that opened the address", () => {
  it("is the saved version of this segment while it is the current one", () => {
    const state = { saved: { id: "vip", version: 1 } };
    expect(justSaved(state, "vip", 1)).toEqual({ id: "vip", version: 1 });
    expect(justSaved(state, "vip", 2)).toBeUndefined(); // saved again since
    expect(justSaved(state, "other", 1)).toBeUndefined();
    expect(justSaved(null, "vip", 1)).toBeUndefined();
    expect(justSaved({ saved: "vip" }, "vip", 1)).toBeUndefined();
  });
});
