import { describe, expect, it } from "vitest";

import { movedIndex } from "../src/chartKeys";

describe("movedIndex: the chart's read-out by keyboard", () => {
  it("steps by one with the arrows and by ten with the page keys, within the points", () => {
    expect(movedIndex("ArrowLeft", 5, 30)).toBe(4);
    expect(movedIndex("ArrowDown", 5, 30)).toBe(4);
    expect(movedIndex("ArrowRight", 5, 30)).toBe(6);
    expect(movedIndex("ArrowUp", 5, 30)).toBe(6);
    expect(movedIndex("PageDown", 5, 30)).toBe(0);
    expect(movedIndex("PageUp", 25, 30)).toBe(29);
    expect(movedIndex("ArrowLeft", 0, 30)).toBe(0);
    expect(movedIndex("ArrowRight", 29, 30)).toBe(29);
  });

  it("goes to the ends with Home and End, and ignores other keys", () => {
    expect(movedIndex("Home", 12, 30)).toBe(0);
    expect(movedIndex("End", 12, 30)).toBe(29);
    expect(movedIndex("Tab", 12, 30)).toBeNull();
    expect(movedIndex("ArrowLeft", 0, 0)).toBeNull();
  });
});
