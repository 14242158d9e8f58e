import { describe, expect, it } from "vitest";

import { configuredApi } from "../src/config";

describe("configuredApi", () => {
  it("reads the deployed API's URL, and null as the page's own origin", () => {
    expect(configuredApi({ api: "https://abc.execute-api.eu-west-1.amazonaws.com/v1/" })).toBe(
      "https://abc.execute-api.eu-west-1.amazonaws.com/v1/",
    );
    expect(configuredApi({ api: null })).toBeNull();
  });

  it("refuses what is not a config, saying what it expected", () => {
    expect(() => configuredApi([])).toThrow('expected {"api"');
    expect(() => configuredApi({})).toThrow('expected {"api"');
    expect(() => configuredApi({ api: 3 })).toThrow("not 3");
    expect(() => configuredApi({ api: "example.com" })).toThrow('not "example.com"');
    expect(() => configuredApi({ api: "javascript:alert(1)" })).toThrow("http(s) URL");
  });
});
